"""The evidence builder: reads the lineage, its receipt, the artifacts and a verification,
and computes the plain SHA-256 digests exports need. The only report module that reads files.

Artifact paths are resolved, as recorded, under the artifacts folder (the lineage's own
folder unless one is given); a path that escapes it is never read. A file that is absent is
said to be absent: a report never fails because an artifact is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import tomllib
from collections import Counter
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from aichain_audit import __version__
from aichain_audit.errors import AichainError, InputError, UsageError
from aichain_audit.fingerprint.model import FORMATS as MODEL_FORMATS
from aichain_audit.fingerprint.model import ModelFormat
from aichain_audit.inputfile import open_regular, read_input
from aichain_audit.lineage import (
    CONFIG,
    DATASET,
    MLFLOW_INPUT,
    MLFLOW_PARAM,
    MLFLOW_RUN,
    MODEL,
    MODEL_DATA,
    MODEL_SEMANTIC,
    NAME,
    PARENT,
    SKIPPED,
)
from aichain_audit.receipt import MAX_RECEIPT_BYTES, parse_receipt, receipt_path
from aichain_audit.report import explorers
from aichain_audit.report.evidence import (
    IMPORTED,
    NOT_VERIFIED,
    VERIFIED_NOW,
    Artifact,
    Check,
    Evidence,
    Ledger,
    LedgerRecord,
    LineageNode,
    Mapping,
    ModelFacts,
    Receipt,
    Verdict,
)
from aichain_audit.tracking.client import dataset_input
from aichain_audit.verify.document import MAX_DOCUMENT_BYTES, read_document, reconcile
from aichain_audit.verify.findings import CheckStatus, Finding, Verification
from aichain_audit.verify.lineage_root import ReadManifest, read_manifest
from aichain_audit.verify.request import dataset_name

_CHUNK = 1 << 20

_FORMATS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".parquet": "Parquet",
    ".json": "JSON",
    ".jsonl": "JSON Lines",
    ".txt": "text",
    ".npy": "NumPy array",
    ".npz": "NumPy archive",
    ".arrow": "Arrow",
    ".feather": "Feather",
    ".png": "PNG image",
    ".jpg": "JPEG image",
    ".jpeg": "JPEG image",
    ".yaml": "YAML",
    ".yml": "YAML",
    ".toml": "TOML",
    # a model's suffix names its format (not a sniffed one: a `.bin` is as often ONNX data)
    **{s: f"{f.name} model" for f in MODEL_FORMATS for s in f.suffixes if s not in f.sniffed},
}


@dataclass(frozen=True)
class ReportInputs:
    """What a report is built from (the CLI's arguments, as plain objects)."""

    lineage: Path
    artifacts: Path | None = None  # default: the lineage's folder
    receipt: Path | None = None  # default: NAME.receipt.json beside NAME.json
    verification: Verification | None = None  # a verification run now
    findings: Path | None = None  # a saved verify document (aichain.verify/v2 or v1)


def build_evidence(inputs: ReportInputs) -> Evidence:
    """Gathers the evidence of one report; bad input is an `AichainError` (exit 2)."""
    if inputs.verification is not None and inputs.findings is not None:
        raise UsageError("--verify and --findings exclude each other")
    manifest = read_manifest(inputs.lineage)
    base = inputs.artifacts if inputs.artifacts is not None else inputs.lineage.parent
    if inputs.artifacts is not None and not inputs.artifacts.is_dir():
        raise InputError(f"{inputs.artifacts}: --artifacts must be a folder")
    root = manifest.root.hex()
    verification = inputs.verification
    source = VERIFIED_NOW if verification is not None else NOT_VERIFIED
    if inputs.findings is not None:
        verification = _read_findings(inputs.findings, manifest)
        source = IMPORTED
    folders = _dataset_folders(inputs.verification if inputs.artifacts is None else None)
    sources = _mlflow_sources(inputs.verification if inputs.artifacts is None else None, manifest)
    at = _verified_model(inputs.verification)
    model_format = _model_format(manifest, base, at)
    found = _artifacts(manifest, base, folders, sources, model_format, at)
    artifacts = found if verification is None else _as_verified(found, verification)
    artifacts = _shown(artifacts, verification)
    model = _model_facts(manifest, base, artifacts, found, model_format, at, verification)
    receipt = _receipt(inputs, manifest)
    verdict = _verdict(source, verification, inputs.findings, receipt, manifest)
    stated = manifest.stated_root if isinstance(manifest.stated_root, str) else None
    names = [str(leaf["value"]) for leaf in manifest.of_kind(NAME)]
    runs = [str(leaf["run_id"]) for leaf in manifest.of_kind(MLFLOW_RUN)]
    evidence = Evidence(
        tool=__version__,
        generated_at=int(time.time()),
        lineage_path=str(inputs.lineage),
        artifacts_folder=str(base),
        root=root,
        stated_root=stated,
        subject=manifest.subject,
        name=names[0] if names else None,
        leaves=len(manifest.leaves),
        parents=tuple(str(leaf["root"]) for leaf in manifest.of_kind(PARENT)),
        mlflow_run=runs[0] if runs else None,
        params=tuple(
            (str(leaf["name"]), str(leaf["value"])) for leaf in manifest.of_kind(MLFLOW_PARAM)
        ),
        config_values=tuple(
            (str(leaf["path"]), str(leaf["pointer"]), _json(leaf["value"]))
            for leaf in manifest.of_kind(CONFIG)
        ),
        skipped=tuple(
            (str(leaf["path"]), str(leaf["reason"])) for leaf in manifest.of_kind(SKIPPED)
        ),
        artifacts=artifacts,
        model=model,
        receipt=receipt,
        verdict=verdict,
        graph=_graph(manifest, artifacts),
    )
    return _with_mappings(evidence)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


# --- a verification -------------------------------------------------------------------------
def _read_findings(path: Path, manifest: ReadManifest) -> Verification:
    """A saved verify document about this very lineage whose stated verdict and trust agree
    with its checks, else an InputError naming why (`verify.document.reconcile`)."""
    data = read_input(path, limit=MAX_DOCUMENT_BYTES, what="verification document")
    return reconcile(read_document(data, str(path)), manifest, str(path))


def _str_or_none(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else _json(value)


def _check(f: Finding) -> Check:
    return Check(
        name=f.name,
        status=str(f.status),
        artifact=f.artifact,
        expected=_str_or_none(f.expected),
        actual=_str_or_none(f.actual),
        detail=f.detail,
    )


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def _ledger(raw: dict[str, Any] | None) -> Ledger | None:
    if not isinstance(raw, dict) or _int(raw.get("chain_id")) is None:
        return None
    chain_id = int(raw["chain_id"])
    records = []
    for r in raw.get("records") or []:
        if not isinstance(r, dict):
            continue
        anchorer, tx = str(r.get("anchorer")), _str_or_none(r.get("tx"))
        records.append(
            LedgerRecord(
                anchorer=anchorer,
                status=str(r.get("status")),
                block=_int(r.get("block")),
                time=_int(r.get("time")),
                tx=tx,
                revocation_reason=_str_or_none(r.get("revocation_reason")),
                counted=r.get("counted") is True,
                tx_url=explorers.tx_url(chain_id, tx),
                anchorer_url=explorers.address_url(chain_id, anchorer),
            )
        )
    registry = str(raw.get("registry"))
    return Ledger(
        chain_id=chain_id,
        chain_name=explorers.chain_name(chain_id),
        registry=registry,
        registry_url=explorers.address_url(chain_id, registry),
        block_read=_int(raw.get("block_read")) or 0,
        read_at=_int(raw.get("read_at")),
        records=tuple(records),
    )


# What a check is called in a report's sentences.
_CHECK_WORDS = {
    "lineage.root": "lineage root",
    "model.digest": "model digest",
    "model.subject": "model subject",
    "model.semantic": "model semantics",
    "ledger.record": "ledger record",
    "ledger.batch": "batch path",
    "ledger.trust": "pinned trust",
    "receipt.registry": "receipt registry",
    "dataset": "datasets",
    "mlflow.run": "MLflow run",
    "mlflow.root": "MLflow lineage root",
    "mlflow.params": "MLflow params",
    "mlflow.datasets": "MLflow dataset inputs",
    "mlflow.model": "MLflow logged model",
}


def _not_checked(v: Verification, manifest: ReadManifest) -> tuple[str, ...]:
    """What the lineage holds that this verification did not check."""
    ran = set(v.checks_run)
    out = []
    files = manifest.of_kind(DATASET)
    if files and "dataset" not in ran:
        out.append(
            f"datasets ({len(files)} file{'s' if len(files) != 1 else ''} in the lineage; "
            "verify with --dataset)"
        )
    elif files:
        covered = {f.artifact for f in v.findings if f.name == "dataset"}
        left = [leaf for leaf in files if str(leaf["path"]) not in covered]
        if left:
            out.append(f"{len(left)} dataset file{'s' if len(left) != 1 else ''} of the lineage "
                       "not given to --dataset")  # fmt: skip
    if manifest.of_kind(MLFLOW_RUN) and "mlflow.run" not in ran:
        out.append("the MLflow run the lineage names")
    out.extend(f"{req.describe()} (required, did not run)" for req in v.not_run)
    return tuple(out)


def _verdict(
    source: str,
    v: Verification | None,
    findings: Path | None,
    receipt: Receipt | None,
    manifest: ReadManifest,
) -> Verdict:
    if v is None:
        anchored = (
            f"its receipt names transaction {receipt.tx} on chain {receipt.chain_id}, as the "
            "producer states it"
            if receipt is not None
            else "no receipt was found beside it"
        )
        return Verdict(
            source=NOT_VERIFIED,
            verified=None,
            trust=None,
            headline=(
                "The model, the datasets and the ledger record were not checked, and the "
                f"ledger was not read. This report shows the lineage as it states itself; "
                f"{anchored}. To verify: aichain report LINEAGE --verify MODEL."
            ),
        )
    checks = tuple(_check(f) for f in v.findings)
    failing = tuple(c for c in checks if c.status in ("fail", "error"))
    verified, trust = v.verified, v.trust
    given = v.model.given if v.model is not None else None
    checked = tuple(dict.fromkeys(_CHECK_WORDS.get(n, n) for n in v.checks_run))
    not_checked = _not_checked(v, manifest)
    if verified:
        headline = (
            f"Every required check passed for {given} (trust {trust}); checked: "
            f"{', '.join(checked)}."
        )
    else:
        named = "; ".join(f"{c.name} {c.status.upper()}: {c.artifact or '-'}" for c in failing)
        headline = f"Verification of {given} failed (trust {trust}): " + (
            named if named else "a required check did not run"
        )
    if not_checked:
        headline += " Not checked: " + "; ".join(not_checked) + "."
    if source == IMPORTED:
        headline = f"Imported from {findings}, not re-checked. " + headline
    mlflow = v.mlflow
    return Verdict(
        source=source,
        verified=verified,
        trust=trust,
        headline=headline,
        model_as_given=given,
        imported_from=str(findings) if findings is not None else None,
        failing=failing,
        ledger=_ledger(v.ledger),
        mlflow=_mlflow_facts(mlflow),
        checks=checks,
        checked=checked,
        not_checked=not_checked,
    )


def _mlflow_facts(facts: Any) -> dict[str, str] | None:
    """The verification's MLflow facts in words: its notes (a list) joined into one."""
    if not isinstance(facts, dict):
        return None
    shown = {str(k): str(v) for k, v in facts.items() if k != "notes"}
    notes = facts.get("notes")
    if isinstance(notes, list) and notes:
        shown["note"] = "; ".join(str(n) for n in notes)
    return shown


def _as_verified(artifacts: tuple[Artifact, ...], v: Verification) -> tuple[Artifact, ...]:
    """The model artifact as the verification hashed it: a verification report's subject is
    the artifact that was verified, never a file of the same name found beside the lineage.
    The lineage's digest stays what was expected."""
    m = v.model
    if m is None:
        return artifacts
    out = []
    for a in artifacts:
        if a.kind == MODEL:
            if m.digest is None:
                a = replace(a, present=False, sha256=None, size=None, matches="unreadable",
                            note=f"{m.given} was not read by the verification",
                            verified_as=m.given)  # fmt: skip
            else:
                same = m.digest == a.lineage_digest and m.size == a.lineage_size
                a = replace(a, present=True, sha256=m.sha256, size=m.size,
                            matches="yes" if same else "no",
                            note=f"as hashed when verifying {m.given}",
                            verified_as=m.given)  # fmt: skip
        out.append(a)
    return tuple(out)


# --- the receipt, as it states -----------------------------------------------------------
def _receipt(inputs: ReportInputs, manifest: ReadManifest) -> Receipt | None:
    where = inputs.receipt if inputs.receipt is not None else receipt_path(inputs.lineage)
    if inputs.receipt is None and not where.exists():
        return None
    data = read_input(where, limit=MAX_RECEIPT_BYTES, what="receipt")
    pointer = parse_receipt(data, str(where))  # validates; the rest is shown as stated
    raw = json.loads(data)
    chain_id = _int(raw.get("chain_id"))
    batch = None
    if pointer.batch is not None:
        b = pointer.batch
        batch = f"lineage {b.index + 1} of {b.size}, batch root {b.root}"
    tx = _str_or_none(raw.get("tx"))
    return Receipt(
        path=str(where),
        root=pointer.root,
        subject=pointer.subject,
        matches_lineage=pointer.root == manifest.root.hex() and pointer.subject == manifest.subject,
        chain=_str_or_none(raw.get("chain")),
        chain_id=chain_id,
        registry=pointer.registry,
        anchorer=_str_or_none(raw.get("anchorer")),
        tx=tx,
        block=_int(raw.get("block")),
        block_time=_int(raw.get("block_time")),
        batch=batch,
        tx_url=explorers.tx_url(chain_id, tx),
    )


# --- artifacts ----------------------------------------------------------------------------
def _format(kind: str, path: str, model: ModelFormat | None = None) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    if kind == MODEL:
        return f"{model.name} model" if model is not None else "model"
    if kind == MODEL_DATA:
        return f"{model.name} {model.data_word}" if model is not None else "model data"
    if kind == CONFIG:
        return f"{_FORMATS.get(suffix, 'config')} config"
    return _FORMATS.get(suffix, f"{suffix[1:]} file" if suffix else "file")


def plain_sha256(base: Path, recorded: str) -> tuple[str | None, int | None, str]:
    """(sha256:HEX, size, "") of the file `recorded` names under `base`, or (None, None,
    why) when it is absent, outside `base`, or not a readable regular file."""
    from aichain_audit.fingerprint.paths import resolve_inside

    try:
        target = resolve_inside(base, recorded)
    except AichainError as exc:
        return None, None, f"not read: {exc.message}"
    if not os.path.lexists(target):
        return None, None, f"absent from {base}"
    return _hash_file(target, recorded)


def _hash_file(target: Path, shown: str) -> tuple[str | None, int | None, str]:
    """(sha256:HEX, size, "") of the regular file at `target`, or (None, None, why)."""
    try:
        fd = open_regular(target, shown)
    except AichainError as exc:
        return None, None, f"not read: {exc.message}"
    h, size = hashlib.sha256(), 0
    try:
        while block := os.read(fd, _CHUNK):
            h.update(block)
            size += len(block)
    except OSError as exc:
        return None, None, f"not read: {exc.strerror}"
    finally:
        os.close(fd)
    return "sha256:" + h.hexdigest(), size, ""


def _dataset_folders(v: Verification | None) -> dict[str, Path]:
    """Where a verification run for this report found its datasets: each `--dataset PATH`'s
    recorded name, and the folder its leaves resolve in (PATH's parent), as `verify` did."""
    if v is None or v.request is None:
        return {}
    folders: dict[str, Path] = {}
    for given in v.request.datasets:
        folders.setdefault(dataset_name(given), Path(os.path.dirname(os.path.abspath(given))))
    return folders


def _mlflow_sources(v: Verification | None, manifest: ReadManifest) -> dict[str, Path]:
    """Where a verification run for this report hashed the datasets of an MLflow lineage:
    for each `mlflow-input` leaf naming a dataset leaf, whose source is a local file the
    verification hashed (an `mlflow.datasets` pass or fail for that leaf), the folder the
    leaf's path resolves in at that source. Only paths the lineage records; nothing remote."""
    if v is None:
        return {}
    hashed = {f.artifact for f in v.findings
              if f.name == "mlflow.datasets" and str(f.status) in ("pass", "fail")}  # fmt: skip
    found: dict[str, Path] = {}
    for leaf in manifest.of_kind(MLFLOW_INPUT):
        leaf_path = leaf.get("dataset")
        if not isinstance(leaf_path, str) or leaf_path not in hashed:
            continue
        key = (leaf["name"], leaf["digest"], leaf["source_type"], leaf["source"])
        local = dataset_input(*key).local_path
        if local is None:
            continue
        source = os.path.abspath(local)
        if source.endswith("/" + leaf_path):
            found.setdefault(leaf_path, Path(source[: -len(leaf_path)]))
    return found


def _dataset_base(path: str, base: Path, folders: dict[str, Path]) -> Path:
    for name, folder in folders.items():
        if path == name or path.startswith(name + "/"):
            return folder
    return base


def _shown(artifacts: tuple[Artifact, ...], v: Verification | None) -> tuple[Artifact, ...]:
    """Each artifact's match in a person's words: a config is bound by its values, never
    "absent"; a dataset found nowhere that the verification did not look at is "not located"."""
    looked = {} if v is None else {f.artifact: str(f.status) for f in v.findings
                                   if f.name == "dataset"}  # fmt: skip
    out = []
    for a in artifacts:
        shown = a.matches
        if a.kind == CONFIG:
            shown = "bound by values"
        elif a.kind == DATASET and a.matches == "absent" and v is not None:
            status = looked.get(a.path)
            shown = "not located" if status is None else f"not here; verified: {status}"
        out.append(replace(a, shown=shown))
    return tuple(out)


def _artifacts(
    manifest: ReadManifest,
    base: Path,
    folders: dict[str, Path] | None = None,
    sources: dict[str, Path] | None = None,
    model: ModelFormat | None = None,
    at: ModelAt | None = None,
) -> tuple[Artifact, ...]:
    """Every file the lineage names, hashed where it is: the model's files where the
    verification run for this report found them (`at`), else under `base`; a dataset where
    the verification's --dataset or MLflow source had it, else under `base`."""
    found: list[Artifact] = []
    order = {MODEL: 0, MODEL_DATA: 1, DATASET: 2}
    files = sorted(
        manifest.of_kind(MODEL, MODEL_DATA, DATASET),
        key=lambda leaf: (order[leaf["kind"]], str(leaf["path"]).encode()),
    )
    for leaf in files:
        path, digest, size = str(leaf["path"]), str(leaf["digest"]), int(leaf["size"])
        kind = str(leaf["kind"])
        if at is not None and kind in (MODEL, MODEL_DATA):
            sha, now, why = at.hash(kind, path)
            found.append(_artifact(kind, path, _format(kind, path, model), digest, size,
                                   sha, now, why))  # fmt: skip
            continue
        source = (sources or {}).get(path) if leaf["kind"] == DATASET else None
        where = _dataset_base(path, base, folders or {}) if leaf["kind"] == DATASET else base
        where = source if source is not None else where
        sha, now, why = plain_sha256(where, path)
        if sha is None and where != base:  # not where the verification was given it: beside
            where = base
            sha, now, why = plain_sha256(where, path)
        if os.path.realpath(where) == os.path.realpath(base):
            where = base  # the verification's dataset was the one beside the lineage
        if sha is not None and where != base:
            why = (
                f"resolved at its MLflow source {where / path}, as the verification hashed it"
                if where == source
                else f"resolved under {where}, as the verification's --dataset"
            )
        if sha is not None and not digest.startswith("sha256:"):
            why = f"resolved under {where}" if where != base else ""
        found.append(_artifact(kind, path, _format(kind, path, model), digest, size, sha, now,
                               why))  # fmt: skip
    values = Counter(str(leaf["path"]) for leaf in manifest.of_kind(CONFIG))
    for path in sorted(values, key=str.encode):
        sha, now, why = plain_sha256(base, path)
        note = f"the lineage binds its {values[path]} values, not its bytes"
        found.append(
            Artifact(CONFIG, path, _format(CONFIG, path), None, None, sha is not None, sha, now,
                     "not-comparable" if sha else "absent" if why.startswith("absent")
                     else "unreadable", note if sha else f"{why}; {note}")
        )  # fmt: skip
    return tuple(found)


def _artifact(
    kind: str,
    path: str,
    fmt: str,
    digest: str,
    size: int,
    sha: str | None,
    now: int | None,
    why: str,
) -> Artifact:
    """A file leaf as found: its plain SHA-256 compared with the lineage's digest where the
    lineage holds a plain one (a file of one shard, SPEC 3)."""
    if sha is None:
        matches = "absent" if why.startswith("absent") else "unreadable"
    elif digest.startswith("sha256:"):
        matches = "yes" if sha == digest and now == size else "no"
    else:
        matches = "not-comparable"
        why = "the lineage holds a sharded digest; aichain verify compares it" + (
            f" ({why})" if why else ""
        )
    return Artifact(kind, path, fmt, digest, size, sha is not None, sha, now, matches, why)


# --- the model -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelAt:
    """The model a verification run for this report read, where it read it: MODEL as given
    (a file, or a checkpoint folder), the format `verify` read it as, the model leaf's file
    in it and the folder its model-data files are found in (SPEC 8.1 rule 5, 13.2)."""

    given: str
    path: Path
    reader: ModelFormat
    main: Path
    data: Path

    def hash(self, kind: str, recorded: str) -> tuple[str | None, int | None, str]:
        """(sha256:HEX, size, why) of the model leaf's file or of the model-data file
        `recorded`, found as the verification found it."""
        if kind == MODEL:
            sha, size, why = _hash_file(self.main, recorded)
            return sha, size, why or f"read from {self.given}, as the verification read it"
        shown = f"{self.given.rstrip('/')}/{recorded}" if self.reader.folders else recorded
        if not os.path.lexists(self.data.joinpath(*recorded.split("/"))):
            return None, None, f"absent from {self.data}"
        try:
            target = self.reader.data_path(self.data, recorded, shown)
        except AichainError as exc:
            return None, None, f"not read: {exc.message}"
        sha, size, why = _hash_file(target, shown)
        return sha, size, why or f"resolved under {self.data}, as the verification hashed it"


def _verified_model(v: Verification | None) -> ModelAt | None:
    """Where the model of a verification run for this report is: MODEL as given, when it is
    a local path (not an MLflow model downloaded into a folder gone since) that is still
    there; None otherwise (its files are then looked for under the artifacts folder)."""
    from aichain_audit.fingerprint.model import format_of

    if v is None or v.model is None or v.model.downloaded or v.model.digest is None:
        return None
    given = v.model.given
    path = Path(given)
    if not os.path.lexists(path):
        return None
    try:
        reader = format_of(path)
        _, main = reader.main_file(path)
        return ModelAt(given, path, reader, main, reader.data_folder(path))
    except AichainError:
        return None


def _model_format(
    manifest: ReadManifest, base: Path, at: ModelAt | None = None
) -> ModelFormat | None:
    """The format of the lineage's model: the one whose scheme its model-semantic leaf names;
    without that leaf, the opaque format that reads its file (a `.bin` by its first bytes,
    so only when it is present: the verified model, else the one under `base`); None when
    neither is known here."""
    from aichain_audit.fingerprint.model import format_for
    from aichain_audit.fingerprint.paths import resolve_inside

    models = manifest.of_kind(MODEL)
    if not models:
        return None
    semantic = manifest.of_kind(MODEL_SEMANTIC)
    if semantic:
        scheme = semantic[0]["scheme"]
        return next((f for f in MODEL_FORMATS if f.scheme == scheme), None)
    try:
        found = format_for(at.main if at is not None else
                           resolve_inside(base, str(models[0]["path"])))  # fmt: skip
    except AichainError:
        return None
    return found if found is not None and found.scheme is None else None


def _model_facts(
    manifest: ReadManifest,
    base: Path,
    artifacts: tuple[Artifact, ...],
    found: tuple[Artifact, ...],
    fmt: ModelFormat | None = None,
    at: ModelAt | None = None,
    verification: Verification | None = None,
) -> ModelFacts | None:
    """The model's semantic fingerprint from the lineage, and its structure read from its
    files (where the verification read them, else under `base`), only when they hold the
    very bytes the report is about."""
    models = manifest.of_kind(MODEL)
    if not models:
        return None
    path = str(models[0]["path"])
    semantic = manifest.of_kind(MODEL_SEMANTIC)
    s = semantic[0] if semantic else {}
    named = f"a {fmt.name} model" if fmt is not None else "this model"
    facts = ModelFacts(
        path=path,
        graph=s.get("graph"),
        weights=s.get("weights"),
        metadata=s.get("metadata"),
        tensors_in_lineage=len(manifest.of_kind("tensor")),
        format=fmt.name if fmt is not None else "",
        scheme=s.get("scheme"),
        opaque="" if semantic else (
            f"no semantic fingerprint: the lineage records {named} by its bytes only, so a "
            "change to it is found but cannot be explained (no graph, weights or tensor to "
            "name)"
        ),
    )  # fmt: skip
    artifact = next(a for a in artifacts if a.kind == MODEL)
    if not artifact.present:
        return replace(facts, note=f"the model file is {artifact.note or 'not read'}")
    if artifact.matches == "no":
        note = "the model file differs from the lineage; its structure is not shown"
        return replace(facts, note=note)
    changed = next((a for a in artifacts if a.kind == MODEL_DATA and a.matches == "no"), None)
    if changed is not None:
        note = (f"the model's file {changed.path} differs from the lineage; its structure is "
                "not shown")  # fmt: skip
        return replace(facts, note=note)
    beside = next(a for a in found if a.kind == MODEL)
    if artifact.verified_as is not None and beside.sha256 != artifact.sha256:
        where = (f"the verified model is not beside the lineage under {base}" if at is None
                 else f"{at.given} changed after it was verified")  # fmt: skip
        return replace(facts, note=f"{where}; its structure is not shown")
    bad = _model_file_failed(verification)
    if bad is not None:
        note = f"the verification found {bad} changed; the model's structure is not shown"
        return replace(facts, note=note)
    if fmt is None:
        return replace(facts, note="the model's format is not known to this aichain")
    try:
        return _read_model(facts, base, path, fmt, at)
    except AichainError as exc:
        return replace(facts, note=f"the model file could not be read: {exc.message}")


def _model_file_failed(v: Verification | None) -> str | None:
    """The first model file a verification found changed, added or missing, if any."""
    if v is None:
        return None
    bad = next((f for f in v.findings if f.name in ("model.digest", "model.subject")
                and f.status in (CheckStatus.FAIL, CheckStatus.ERROR)), None)  # fmt: skip
    return None if bad is None else bad.artifact or "a model file"


def _read_model(
    facts: ModelFacts, base: Path, path: str, fmt: ModelFormat, at: ModelAt | None = None
) -> ModelFacts:
    """What the model's format describes of it: the model the verification read, as it
    was given (a checkpoint folder, or a file), by the format it was read as; else a
    checkpoint folder when a folder format of the lineage's scheme reads `base` and names
    `path` its model file, else the model file under `base`."""
    from aichain_audit.fingerprint.paths import resolve_inside

    same = [f for f in MODEL_FORMATS if f.scheme == fmt.scheme]
    for f in same:
        if at is not None and f is at.reader:
            reader, target, described = f, at.path, at.given
            break
        if at is None and f.folders and f.recognises(base) and f.main_file(base)[0] == path:
            reader, target, described = f, base, str(base)
            break
    else:
        target = resolve_inside(base, path)
        files = [f for f in same if not f.folders] or [fmt]
        reader = next((f for f in files if f.recognises(target)), files[0])
        described = path
    d = reader.describe(target, described)
    return replace(
        facts,
        read=True,
        described=described,
        format=d.format,
        architecture=d.architecture,
        parameters=d.parameters,
        dtypes=d.dtypes,
        tensors=d.tensors,
        tensor_bytes=d.tensor_bytes,
        facts=d.facts,
        ir_version=d.ir_version,
        producer=d.producer,
        doc_string=d.doc_string,
        opsets=d.opsets,
        operators=d.operators,
        nodes=d.nodes,
    )


# --- the lineage graph --------------------------------------------------------------------
def _graph(
    manifest: ReadManifest, artifacts: tuple[Artifact, ...]
) -> tuple[tuple[LineageNode, ...], tuple[tuple[str, str], ...]]:
    """Datasets, configs and parent lineages -> training run -> model."""
    nodes: list[LineageNode] = []
    groups: dict[str, list[Artifact]] = {}
    for a in artifacts:
        if a.kind == DATASET:
            top = a.path.split("/", 1)[0] + ("/" if "/" in a.path else "")
            groups.setdefault(top, []).append(a)
    for i, (top, files) in enumerate(groups.items()):
        size = sum(a.lineage_size or 0 for a in files)
        n = len(files)
        nodes.append(LineageNode(f"dataset-{i}", "dataset", top,
                                 f"{n} file{'s' if n != 1 else ''}, {size:,} bytes"))  # fmt: skip
    configs = [a for a in artifacts if a.kind == CONFIG]
    for i, a in enumerate(configs):
        nodes.append(LineageNode(f"config-{i}", "config", a.path, a.note.split("; ")[-1]))
    for i, leaf in enumerate(manifest.of_kind(PARENT)):
        nodes.append(LineageNode(f"parent-{i}", "parent", "parent lineage",
                                 f"root {leaf['root']}"))  # fmt: skip
    runs = [str(leaf["run_id"]) for leaf in manifest.of_kind(MLFLOW_RUN)]
    params = len(manifest.of_kind(MLFLOW_PARAM))
    run_detail = (
        f"MLflow run {runs[0]}, {params} param{'s' if params != 1 else ''}"
        if runs else "no training run recorded in the lineage"
    )  # fmt: skip
    inputs = [n.id for n in nodes]
    nodes.append(LineageNode("run", "run", "training run", run_detail))
    model = next((a for a in artifacts if a.kind == MODEL), None)
    if model is not None:
        nodes.append(LineageNode("model", "model", model.path, manifest.subject))
    else:
        nodes.append(LineageNode("model", "model", "no model", "the lineage has no model"))
    edges = [(i, "run") for i in inputs] + [("run", "model")]
    return tuple(nodes), tuple(edges)


# --- the regulatory mapping ---------------------------------------------------------------
def load_clauses() -> list[dict[str, Any]]:
    """The framework texts (frameworks.toml beside this module)."""
    text = resources.files("aichain_audit.report").joinpath("frameworks.toml").read_text("utf-8")
    clauses: list[dict[str, Any]] = tomllib.loads(text)["clause"]
    return clauses


def _with_mappings(e: Evidence) -> Evidence:
    from dataclasses import replace

    datasets = [a for a in e.artifacts if a.kind == DATASET]
    configs = [a for a in e.artifacts if a.kind == CONFIG]
    v = e.verdict
    ledger = v.ledger
    facts = {
        "datasets": f"{len(datasets)} dataset file{'s' if len(datasets) != 1 else ''} "
        f"({sum(a.lineage_size or 0 for a in datasets):,} bytes) identified by digest",
        "configs": f"{len(e.config_values)} config values from {len(configs)} file"
        f"{'s' if len(configs) != 1 else ''}",
        "params": f"{len(e.params)} MLflow params of run {e.mlflow_run}"
        if e.mlflow_run else "no MLflow run recorded",
        "model": (f"the model {e.model.path} by file digest and {e.model.scheme} fingerprint"
                  if e.model.scheme else f"the model {e.model.path} by file digest only")
        if e.model else "no model in the lineage",
        "parents": f"{len(e.parents)} parent lineage{'s' if len(e.parents) != 1 else ''}"
        if e.parents else "no parent lineage recorded",
        "ledger": (
            f"the ledger record on chain {ledger.chain_id}, registry {ledger.registry}, read at "
            f"block {ledger.block_read} with trust {v.trust}"
            if ledger is not None
            else "the ledger was not read for this report"
        ),
        "verification": (
            "nothing was verified"
            if v.verified is None
            else f"verification {'passed' if v.verified else 'FAILED'}"
            + (f" for: {', '.join(v.checked)}" if v.checked else "")
            + (f"; not checked: {'; '.join(v.not_checked)}" if v.not_checked else "")
            + (" (imported, not re-checked)" if v.source == IMPORTED else "")
        ),
    }  # fmt: skip
    shown = _shown_by_evidence(e)
    mappings = []
    for c in load_clauses():
        keys = c["evidence"]
        missing = tuple(_EVIDENCE_WORDS[k] for k in keys if not shown[k])
        coverage = ("covered" if not missing else
                    "partly" if len(missing) < len(keys) else "not shown")  # fmt: skip
        mappings.append(
            Mapping(
                framework=c["framework"],
                clause=c["clause"],
                title=c["title"],
                shows=c["shows"],
                cannot_show=c["cannot_show"],
                here="; ".join(facts[k] for k in keys),
                coverage=coverage,
                missing=missing,
            )
        )
    return replace(e, mappings=tuple(mappings))


# What each kind of evidence a clause lists is called in its summary.
_EVIDENCE_WORDS = {
    "datasets": "datasets",
    "configs": "config values",
    "params": "MLflow params",
    "model": "the model",
    "parents": "parent lineages",
    "ledger": "the ledger record",
    "verification": "a passing verification",
}


def _shown_by_evidence(e: Evidence) -> dict[str, bool]:
    """Which evidence this report both holds and verified (docs/report.md, "Regulatory
    mapping"): nothing is shown by a report whose verification failed or did not run."""
    v = e.verdict
    if v.verified is not True:
        return dict.fromkeys(_EVIDENCE_WORDS, False)
    passed = {(c.name, c.artifact) for c in v.checks if c.status == "pass"}
    datasets = [a.path for a in e.artifacts if a.kind == DATASET]
    return {
        "datasets": bool(datasets) and all(("dataset", p) in passed for p in datasets),
        "configs": bool(e.config_values),
        "params": bool(e.params) and any(n == "mlflow.run" for n, _ in passed),
        "model": e.model is not None,
        "parents": bool(e.parents),
        "ledger": v.ledger is not None and any(n == "ledger.record" for n, _ in passed),
        "verification": True,
    }
