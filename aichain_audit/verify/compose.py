"""The composer: runs every check of a verification and lets none of the never-skip ones
(`model.digest`, `lineage.root`, `ledger.record`) be skipped.

A check that cannot complete becomes an `error` finding rather than an exception, so every
other check still runs and the report shows them all; the verdict is `Verification.verified`,
and the exit code is `errors.verification_exit_code` (a failure outranks an error).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aichain_audit import __version__
from aichain_audit.errors import AichainError
from aichain_audit.fingerprint.paths import PathPolicy
from aichain_audit.receipt import ReceiptPointer, load_receipt, receipt_path
from aichain_audit.verify.datasets import check_datasets
from aichain_audit.verify.findings import SCHEMA, CheckStatus, Finding, Verification
from aichain_audit.verify.ledger import check_ledger_records
from aichain_audit.verify.lineage_root import ReadManifest, check_root, read_manifest
from aichain_audit.verify.model import check_model

if TYPE_CHECKING:
    from aichain_audit.ledger import ChainSettings


def _error(name: str, artifact: str | None, exc: AichainError) -> Finding:
    return Finding(name, CheckStatus.ERROR, artifact, None, None, exc.message)


def verify_lineage(
    model: Path,
    lineage: Path,
    settings: ChainSettings,
    *,
    receipt: Path | None = None,
    datasets: Sequence[Path] = (),
    pins: Sequence[str] = (),
    policy: PathPolicy = PathPolicy(),
) -> Verification:
    """Verifies a deployed model against its lineage, the pinned ledger and its datasets."""
    findings: list[Finding] = []
    facts: dict[str, Any] = {"schema": SCHEMA, "tool": __version__, "model": {"path": str(model)}}
    try:
        manifest: ReadManifest | None = read_manifest(lineage)
    except AichainError as exc:
        manifest = None
        findings.append(_error("lineage.root", str(lineage), exc))
    if manifest is None:
        return Verification("none", tuple(findings), facts)
    facts.update(root=manifest.root.hex(), subject=manifest.subject)
    findings.extend(check_root(manifest))
    try:
        model_findings = check_model(model, manifest)
    except AichainError as exc:  # the model file cannot be read at all
        model_findings = [_error("model.digest", str(model), exc)]
    findings.extend(model_findings)
    digests = [
        f.actual for f in model_findings if f.name == "model.digest" and f.artifact == str(model)
    ]
    facts["model"]["digest"] = digests[0] if digests else None
    pointer: ReceiptPointer | None = None
    where = receipt if receipt is not None else receipt_path(lineage)
    if receipt is not None or where.exists():
        try:
            pointer = load_receipt(where)
        except AichainError as exc:
            findings.append(_error("receipt.registry", str(where), exc))
    ledger_findings, ledger, ledger_facts = check_ledger_records(
        manifest, settings, pins, pointer, where if pointer is not None else None
    )
    findings.extend(ledger_findings)
    facts["ledger"] = ledger_facts or None
    try:
        findings.extend(check_datasets(datasets, manifest, policy))
    except AichainError as exc:
        findings.append(_error("dataset", ", ".join(map(str, datasets)), exc))
    trust = ledger.trust if ledger is not None else "none"
    return Verification(trust, tuple(findings), facts)


def verification_document(v: Verification) -> dict[str, Any]:
    """The `aichain.verify/v1` document `--json` prints."""
    return {
        "schema": SCHEMA,
        "tool": v.facts.get("tool", __version__),
        "verified": v.verified,
        "trust": v.trust,
        "root": v.facts.get("root"),
        "subject": v.facts.get("subject"),
        "model": v.facts.get("model"),
        "ledger": v.facts.get("ledger"),
        "checks": [f.to_dict() for f in v.findings],
    }
