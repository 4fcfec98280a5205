"""The verify document: the one writer and the one reader of `aichain verify --json`.

- `aichain.verify/v1` is frozen as it was first released: written only on request
  (`write(v, version=1)`) and still read, for archived files.
- `aichain.verify/v2` (what `--json` prints) carries the request and the checks it required,
  so a reader can tell which checks were required; it is read strictly: duplicate keys, NaN
  and infinities, unknown members and members of the wrong type are refused.

A document's own `verified` and `trust` members are never taken: `reconcile` recomputes them
from its checks with the one rule (`findings.verdict`, `findings.trust_of`) and refuses a
document that contradicts itself or lacks a check its request requires.

    >>> from aichain_audit.verify.findings import CheckStatus, Finding, Verification
    >>> v = Verification((Finding("lineage.root", CheckStatus.PASS),))
    >>> read(write(v), "v.json") == v
    True
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aichain_audit.errors import InputError
from aichain_audit.verify.findings import (
    NEVER_SKIP,
    CheckStatus,
    Finding,
    Requirement,
    Verification,
    VerifiedModel,
    trust_of,
    verdict,
)
from aichain_audit.verify.request import RequestRecord, missing_requirements, required_checks

if TYPE_CHECKING:
    from aichain_audit.verify.lineage_root import ReadManifest

SCHEMA_V1 = "aichain.verify/v1"
SCHEMA_V2 = "aichain.verify/v2"
SCHEMA = SCHEMA_V2  # what `aichain verify --json` prints
SCHEMAS = (SCHEMA_V1, SCHEMA_V2)
MAX_DOCUMENT_BYTES = 64 << 20
# Unix seconds up to the end of year 9999: any later "time" is refused, never rendered.
MAX_TIME = 253_402_300_799
_STATUSES = {str(s) for s in CheckStatus}


# --- writing -----------------------------------------------------------------------------
def _check(f: Finding, version: int) -> dict[str, Any]:
    out = {
        "name": f.name,
        "status": str(f.status),
        "artifact": f.artifact,
        "expected": f.expected,
        "actual": f.actual,
        "detail": f.detail,
    }
    if version >= 2 and f.trust is not None:
        out["trust"] = f.trust
    return out


def _model_v1(v: Verification) -> dict[str, Any] | None:
    m = v.model
    if m is None:
        return None
    out: dict[str, Any] = {"path": m.given}
    if m.downloaded:
        out["downloaded"] = True
    if v.root is not None:
        out["digest"] = m.digest
    return out


def _model_v2(m: VerifiedModel | None) -> dict[str, Any] | None:
    if m is None:
        return None
    return {
        "path": m.given,
        "digest": m.digest,
        "sha256": m.sha256,
        "size": m.size,
        "expected": m.expected,
        "downloaded": m.downloaded,
    }


def _request(r: RequestRecord | None) -> dict[str, Any] | None:
    if r is None:
        return None
    return {
        "model": r.model,
        "lineage": r.lineage,
        "receipt": r.receipt,
        "datasets": list(r.datasets),
        "mlflow_run": r.mlflow_run,
        "chain": r.chain,
        "chain_id": r.chain_id,
        "registry": r.registry,
        "trust": list(r.trust),
        "require_pinned": r.require_pinned,
        "confirmations": r.confirmations,
    }


def document(v: Verification, version: int = 2) -> dict[str, Any]:
    """The verify document of `v` as a JSON value (`version` 2, or the frozen 1)."""
    if version == 1:
        return {
            "schema": SCHEMA_V1,
            "tool": v.tool,
            "verified": v.verified,
            "trust": v.trust,
            "root": v.root,
            "subject": v.subject,
            "model": _model_v1(v),
            "ledger": v.ledger,
            "mlflow": v.mlflow,
            "checks": [_check(f, 1) for f in v.findings],
        }
    if version != 2:
        raise ValueError(f"no verify document version {version}")
    return {
        "schema": SCHEMA_V2,
        "tool": v.tool,
        "verified": v.verified,
        "trust": v.trust,
        "request": _request(v.request),
        "required": [
            {"name": r.name, "artifact": r.artifact, "under": r.under} for r in v.required
        ],
        "unmet": [r.describe() for r in v.unmet],
        "root": v.root,
        "subject": v.subject,
        "model": _model_v2(v.model),
        "lineage": v.lineage,
        "ledger": v.ledger,
        "mlflow": v.mlflow,
        "checks": [_check(f, 2) for f in v.findings],
    }


def write(v: Verification, version: int = 2) -> bytes:
    """The document's bytes: UTF-8 JSON, one object, a final newline."""
    return (json.dumps(document(v, version), indent=2, ensure_ascii=False, allow_nan=False)
            + "\n").encode()  # fmt: skip


# --- reading -----------------------------------------------------------------------------
class _Refused(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"member {key!r} appears twice")
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"{text} is not a finite number")
    return value


MAX_DEPTH = 64  # a verify document nests a few levels; a deeper one is refused before parsing
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def nesting_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in JSON text (strings skipped), without parsing
    it: the parser recurses once per level, and enough levels overflow the C stack."""
    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    steps = (1 if b in b"[{" else -1 for b in brackets)
    return max(itertools.accumulate(steps, initial=0))


def parse_json(data: bytes, where: str) -> Any:
    """Strict JSON: duplicate keys, NaN, infinities and runaway nesting refused (InputError)."""
    if nesting_depth(data) > MAX_DEPTH:
        raise InputError(f"{where}: refused: JSON nested too deeply (over {MAX_DEPTH} levels)")
    try:
        text = data.decode("utf-8")
        return json.loads(
            text, object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float
        )
    except _Refused as exc:
        raise InputError(f"{where}: refused: {exc}") from None
    except RecursionError:
        raise InputError(f"{where}: refused: JSON nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{where}: not JSON ({exc})") from None


class _Reader:
    """Member access with the document's path in every error."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, path: str, why: str) -> InputError:
        return InputError(f"{self.where}: {path}: {why}")

    def obj(self, value: Any, path: str, allowed: frozenset[str] | None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, "must be a JSON object")
        if allowed is not None:
            unknown = sorted(set(value) - allowed)
            if unknown:
                raise self.fail(path, f"unknown member {unknown[0]!r}")
            missing = sorted(allowed - set(value))
            if missing:
                raise self.fail(path, f"missing member {missing[0]!r}")
        return value

    def typed(self, value: Any, path: str, kind: Callable[[Any], bool], what: str) -> Any:
        if not kind(value):
            raise self.fail(path, f"must be {what}")
        return value

    def str_or_none(self, value: Any, path: str) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise self.fail(path, "must be a string or null")

    def string(self, value: Any, path: str) -> str:
        if isinstance(value, str):
            return value
        raise self.fail(path, "must be a string")

    def int_or_none(self, value: Any, path: str) -> int | None:
        if value is None or _is_int(value):
            return value  # type: ignore[no-any-return]
        raise self.fail(path, "must be an integer or null")

    def boolean(self, value: Any, path: str) -> bool:
        if isinstance(value, bool):
            return value
        raise self.fail(path, "must be true or false")

    def strings(self, value: Any, path: str) -> tuple[str, ...]:
        items = self.typed(value, path, lambda x: isinstance(x, list), "a list")
        return tuple(self.string(x, f"{path}[{i}]") for i, x in enumerate(items))


def _is_int(x: Any) -> bool:
    return type(x) is int


_CHECK = frozenset({"name", "status", "artifact", "expected", "actual", "detail"})
_REQUEST = frozenset(
    {"model", "lineage", "receipt", "datasets", "mlflow_run", "chain", "chain_id", "registry",
     "trust", "require_pinned", "confirmations"}
)  # fmt: skip
_MODEL_V2 = frozenset({"path", "digest", "sha256", "size", "expected", "downloaded"})
_TOP_V2 = frozenset(
    {"schema", "tool", "verified", "trust", "request", "required", "unmet", "root", "subject",
     "model", "lineage", "ledger", "mlflow", "checks"}
)  # fmt: skip


def _findings(r: _Reader, raw: Any, version: int) -> tuple[Finding, ...]:
    items = r.typed(raw, "checks", lambda x: isinstance(x, list), "a list")
    out = []
    for i, c in enumerate(items):
        path = f"checks[{i}]"
        allowed = (_CHECK | {"trust"}) if version >= 2 and isinstance(c, dict) and "trust" in c \
            else _CHECK if version >= 2 else None  # fmt: skip
        c = r.obj(c, path, allowed)
        status = r.string(c.get("status"), f"{path}.status")
        if status not in _STATUSES:
            known = ", ".join(sorted(_STATUSES))
            raise r.fail(f"{path}.status", f"{status!r} is not one of {known}")
        detail = c.get("detail")
        out.append(
            Finding(
                name=r.string(c.get("name"), f"{path}.name"),
                status=CheckStatus(status),
                artifact=r.str_or_none(c.get("artifact"), f"{path}.artifact"),
                expected=c.get("expected"),
                actual=c.get("actual"),
                detail=r.string("" if version == 1 and detail is None else detail,
                                f"{path}.detail"),
                trust=r.str_or_none(c.get("trust"), f"{path}.trust"),
            )
        )  # fmt: skip
    return tuple(out)


def _times(r: _Reader, raw: Any) -> dict[str, Any] | None:
    """The ledger member: an object whose times and blocks are integers a report can show."""
    if raw is None:
        return None
    ledger = r.obj(raw, "ledger", None)
    for key in ("chain_id", "block_read", "read_at"):
        value = r.int_or_none(ledger.get(key), f"ledger.{key}")
        if value is not None and not 0 <= value <= (MAX_TIME if key == "read_at" else 2**63):
            raise r.fail(f"ledger.{key}", f"{value} is out of range")
    records = ledger.get("records") or []
    r.typed(records, "ledger.records", lambda x: isinstance(x, list), "a list")
    for i, rec in enumerate(records):
        rec = r.obj(rec, f"ledger.records[{i}]", None)
        for key in ("time", "block"):
            value = r.int_or_none(rec.get(key), f"ledger.records[{i}].{key}")
            if value is not None and not 0 <= value <= (MAX_TIME if key == "time" else 2**63):
                raise r.fail(f"ledger.records[{i}].{key}", f"{value} is out of range")
    return ledger


def _request_of(r: _Reader, raw: Any) -> RequestRecord | None:
    if raw is None:
        return None
    q = r.obj(raw, "request", _REQUEST)
    chain = r.string(q["chain"], "request.chain")
    if chain not in ("embedded", "json-rpc"):
        raise r.fail("request.chain", "must be embedded or json-rpc")
    confirmations = r.int_or_none(q["confirmations"], "request.confirmations")
    if confirmations is None or confirmations < 1:
        raise r.fail("request.confirmations", "must be an integer of at least 1")
    return RequestRecord(
        model=r.string(q["model"], "request.model"),
        lineage=r.str_or_none(q["lineage"], "request.lineage"),
        receipt=r.str_or_none(q["receipt"], "request.receipt"),
        datasets=r.strings(q["datasets"], "request.datasets"),
        mlflow_run=r.str_or_none(q["mlflow_run"], "request.mlflow_run"),
        chain=chain,
        chain_id=r.int_or_none(q["chain_id"], "request.chain_id"),
        registry=r.str_or_none(q["registry"], "request.registry"),
        trust=r.strings(q["trust"], "request.trust"),
        require_pinned=r.boolean(q["require_pinned"], "request.require_pinned"),
        confirmations=confirmations,
    )


def _required_of(r: _Reader, raw: Any) -> tuple[Requirement, ...]:
    items = r.typed(raw, "required", lambda x: isinstance(x, list), "a list")
    out = []
    for i, q in enumerate(items):
        q = r.obj(q, f"required[{i}]", frozenset({"name", "artifact", "under"}))
        out.append(
            Requirement(
                r.string(q["name"], f"required[{i}].name"),
                r.str_or_none(q["artifact"], f"required[{i}].artifact"),
                r.boolean(q["under"], f"required[{i}].under"),
            )
        )
    return tuple(out)


def _model_of(r: _Reader, raw: Any, version: int) -> VerifiedModel | None:
    if raw is None:
        return None
    m = r.obj(raw, "model", _MODEL_V2 if version >= 2 else None)
    digest = r.str_or_none(m.get("digest"), "model.digest")
    sha = r.str_or_none(m.get("sha256"), "model.sha256")
    if version == 1 and sha is None and digest is not None and digest.startswith("sha256:"):
        sha = digest  # v1 named no plain SHA-256; a file up to the shard size has one as digest
    size = r.int_or_none(m.get("size"), "model.size")
    if size is not None and size < 0:
        raise r.fail("model.size", "must not be negative")
    return VerifiedModel(
        given=r.string(m.get("path"), "model.path"),
        digest=digest,
        sha256=sha,
        size=size,
        expected=r.str_or_none(m.get("expected"), "model.expected"),
        downloaded=r.boolean(m.get("downloaded", False), "model.downloaded"),
    )


def _v1_trust(findings: tuple[Finding, ...]) -> tuple[Finding, ...]:
    """v1 did not put the trust level on the ledger finding; its detail opens with it."""
    out = []
    for f in findings:
        if f.name == "ledger.record" and f.detail.startswith("trust "):
            level = f.detail.removeprefix("trust ").split(";", 1)[0].strip()
            f = Finding(f.name, f.status, f.artifact, f.expected, f.actual, f.detail, level)
        out.append(f)
    return tuple(out)


@dataclass(frozen=True)
class ReadDocument:
    """A verify document as read: the verification it records, and what it states of itself."""

    schema: str
    verification: Verification
    stated_verified: bool
    stated_trust: str


def read_document(data: bytes, where: str) -> ReadDocument:
    """Reads a v1 or v2 verify document (InputError when it is not one, or is malformed)."""
    raw = parse_json(data, where)
    r = _Reader(where)
    if not isinstance(raw, dict) or raw.get("schema") not in SCHEMAS:
        raise InputError(
            f"{where}: not an {SCHEMA_V2} or {SCHEMA_V1} document (aichain verify --json)"
        )
    schema = raw["schema"]
    version = 2 if schema == SCHEMA_V2 else 1
    doc = r.obj(raw, "document", _TOP_V2 if version == 2 else None)
    if not isinstance(doc.get("checks"), list) or not isinstance(doc.get("verified"), bool):
        raise InputError(f"{where}: an {schema} document needs 'verified' and 'checks'")
    findings = _findings(r, doc["checks"], version)
    if version == 1:
        findings = _v1_trust(findings)
    mlflow = doc.get("mlflow")
    if mlflow is not None:
        r.obj(mlflow, "mlflow", None)
    lineage = doc.get("lineage")
    if lineage is not None:
        r.obj(lineage, "lineage", None)
    if version == 2:
        request = _request_of(r, doc["request"])
        required = _required_of(r, doc["required"])
        r.strings(doc["unmet"], "unmet")
    else:
        request = None
        mlflow_ran = mlflow is not None or any(f.name.startswith("mlflow.") for f in findings)
        names = (*NEVER_SKIP, *(("mlflow.run", "mlflow.root") if mlflow_ran else ()))
        required = tuple(Requirement(n) for n in names)
    verification = Verification(
        findings=findings,
        required=required,
        request=request,
        root=r.str_or_none(doc.get("root"), "root"),
        subject=r.str_or_none(doc.get("subject"), "subject"),
        model=_model_of(r, doc.get("model"), version),
        lineage=lineage,
        ledger=_times(r, doc.get("ledger")),
        mlflow=mlflow,
        tool=r.string(doc.get("tool", ""), "tool"),
    )
    return ReadDocument(schema, verification, doc["verified"], r.string(doc.get("trust"), "trust"))


def read(data: bytes, where: str) -> Verification:
    """The verification a document records (its stated verdict is not part of it)."""
    return read_document(data, where).verification


def reconcile(doc: ReadDocument, manifest: ReadManifest, where: str) -> Verification:
    """The document's verification, once it is shown to agree with itself and with what its
    request requires of this lineage; else an InputError naming why (exit 2).

    Refused: a stated verdict or trust level that its checks do not give (by the one rule), a
    `required` list that leaves out a check the request requires, and (unless a check errored,
    so that the verification could not complete) a required check with no finding at all."""
    v = doc.verification
    if v.root != manifest.root.hex() or v.subject != manifest.subject:
        raise InputError(
            f"{where}: verifies root {str(v.root)[:16]}… subject {str(v.subject)[:24]}…, not "
            f"this lineage's (root {manifest.root.hex()[:16]}…); refusing to report another "
            "lineage's findings"
        )
    if doc.schema == SCHEMA_V2:
        if v.request is None:
            raise InputError(f"{where}: an {SCHEMA_V2} document must record its request")
        run_involved = v.mlflow is not None or any(f.name.startswith("mlflow.") for f in v.findings)
        model_shown = v.model.given if v.model is not None else v.request.model
        minimum = required_checks(
            v.request, manifest, model_shown=model_shown, run_involved=run_involved
        )
        left_out = missing_requirements(v.required, minimum)
        if left_out:
            raise InputError(
                f"{where}: its request requires {left_out[0].describe()}, which the document "
                "does not list as required"
            )
    _model_agrees(v, manifest, where)
    if doc.stated_verified != verdict(v.findings, v.required):
        said = "verified" if doc.stated_verified else "not verified"
        raise InputError(
            f"{where}: it states {said}, but its checks say otherwise "
            f"({_why(v)}); a document's verdict is recomputed, never taken"
        )
    if doc.stated_trust != trust_of(v.findings):
        raise InputError(
            f"{where}: it states trust {doc.stated_trust!r}, but its ledger.record check gives "
            f"{trust_of(v.findings)!r}; a document's trust is recomputed, never taken"
        )
    if not v.errored:
        absent = v.not_run
        if absent:
            raise InputError(
                f"{where}: it has no {absent[0].describe()} check, which its request requires"
            )
    return v


def _model_agrees(v: Verification, manifest: ReadManifest, where: str) -> None:
    """The model a document says it hashed must agree with its own `model.digest` check and
    with the lineage: exports name that digest as the report's subject, so a document whose
    checks were flipped to pass while it still names a tampered model's digest is refused."""
    m = v.model
    models = manifest.of_kind("model")
    if m is None or m.digest is None or not models:
        return
    want = str(models[0]["digest"])
    if m.expected is not None and m.expected != want:
        raise InputError(
            f"{where}: it expected model digest {m.expected}, but the lineage's model is {want}"
        )
    if m.digest.startswith("sha256:") and m.sha256 not in (None, m.digest):
        raise InputError(f"{where}: its model's sha256 and digest name different bytes")
    for f in v.findings:
        if f.name != "model.digest" or f.artifact != m.given:
            continue
        if f.actual is not None and f.actual != m.digest:
            raise InputError(
                f"{where}: its model.digest check saw {f.actual}, but it names the model "
                f"verified as {m.digest}"
            )
        if f.status is CheckStatus.PASS and m.digest != want:
            raise InputError(
                f"{where}: its model.digest check passes, but the model it verified "
                f"({m.digest}) is not the lineage's ({want})"
            )


def _why(v: Verification) -> str:
    bad = v.failed or v.errored
    if bad:
        return f"{bad[0].name} {bad[0].status.upper()}"
    if v.unmet:
        return f"{v.unmet[0].describe()} did not pass"
    return "every required check passed"
