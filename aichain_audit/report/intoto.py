"""in-toto Statement v1: the model (plain SHA-256; for a verification, the model that was
verified, as hashed then) as subject, the lineage and its anchor as
predicate, so the lineage travels through supply-chain tooling that signs statements.

The predicate type is `PREDICATE_TYPE`; its fields are documented in docs/report.md. The
statement is written as pretty JSON (`.intoto.json`), or as one line (JSON Lines,
`.intoto.jsonl`), or signed in a DSSE envelope (`report.dsse`) whose payload is the one-line
statement.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aichain_audit.errors import InputError
from aichain_audit.report.evidence import Evidence
from aichain_audit.report.interface import Renderer

if TYPE_CHECKING:
    from aichain_audit.report.dsse import SigningKey

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://aichain-audit.dev/lineage/v1"


class InTotoRenderer(Renderer):
    name = "intoto"
    media_type = "application/vnd.in-toto+json"

    def render(self, evidence: Evidence) -> bytes:
        return document(evidence)


def document(
    evidence: Evidence, *, one_line: bool = False, sign: SigningKey | None = None
) -> bytes:
    """The statement as pretty JSON, or as one JSON Lines line (`one_line`); with `sign`, the
    DSSE envelope of the one-line statement (itself pretty or one line)."""
    model = evidence.model_artifact
    if model is None:
        raise InputError("an in-toto statement needs a model: this lineage has none")
    if model.sha256 is None:
        raise InputError(
            f"an in-toto statement needs the model file's SHA-256: {model.path} is "
            f"{model.note} (give --artifacts DIR)"
        )
    doc = statement(evidence)
    if sign is not None:
        from aichain_audit.report.dsse import envelope

        doc = envelope(encode(doc, one_line=True).rstrip(b"\n"), sign)
    return encode(doc, one_line=one_line)


def encode(doc: dict[str, Any], *, one_line: bool) -> bytes:
    """Pretty JSON, or one line of JSON Lines (ASCII: no character of a value can end it)."""
    if one_line:
        return (json.dumps(doc, separators=(",", ":"), ensure_ascii=True) + "\n").encode()
    return (json.dumps(doc, indent=2, ensure_ascii=True) + "\n").encode()


def statement(e: Evidence) -> dict[str, Any]:
    model = e.model_artifact
    assert model is not None and model.sha256 is not None
    v = e.verdict
    predicate: dict[str, Any] = {
        "lineage": {
            "schema": "aichain.lineage/v1",
            "root": e.root,
            "subject": e.subject,
            "name": e.name,
            "leaves": e.leaves,
            "parents": list(e.parents),
            "mlflowRun": e.mlflow_run,
        },
        "artifacts": [
            {
                "kind": a.kind,
                "path": a.path,
                "lineageDigest": a.lineage_digest,
                "sha256": a.sha256.removeprefix("sha256:") if a.sha256 else None,
                "size": a.size if a.size is not None else a.lineage_size,
                "present": a.present,
            }
            for a in e.artifacts
        ],
        "anchor": None,
        "verification": None,
        "generator": {"tool": "aichain-audit", "version": e.tool, "time": e.generated_at},
    }
    if e.receipt is not None:
        r = e.receipt
        predicate["anchor"] = {
            "source": "receipt (as the producer states it; not checked)",
            "chainId": r.chain_id,
            "registry": r.registry,
            "anchorer": r.anchorer,
            "tx": r.tx,
            "block": r.block,
            "blockTime": r.block_time,
            "batch": r.batch,
        }
    if v.verified is not None:
        ledger = v.ledger
        predicate["verification"] = {
            "source": v.source,
            "importedFrom": v.imported_from,
            "verified": v.verified,
            "trust": v.trust,
            "model": v.model_as_given,
            "expectedModelDigest": model.lineage_digest,
            "checked": list(v.checked),
            "notChecked": list(v.not_checked),
            "ledger": None
            if ledger is None
            else {
                "chainId": ledger.chain_id,
                "registry": ledger.registry,
                "blockRead": ledger.block_read,
                "readAt": ledger.read_at,
                "records": [
                    {
                        "anchorer": r.anchorer,
                        "status": r.status,
                        "block": r.block,
                        "time": r.time,
                        "tx": r.tx,
                        "counted": r.counted,
                        "revocationReason": r.revocation_reason,
                    }
                    for r in ledger.records
                ],
            },
            "checks": [
                {"name": c.name, "status": c.status, "artifact": c.artifact} for c in v.checks
            ],
        }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {
                "name": model.verified_as or model.path,
                "digest": {"sha256": model.sha256.split(":", 1)[1]},
            }
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }


RENDERER = InTotoRenderer()
