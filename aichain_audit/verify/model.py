"""`model.digest`, `model.subject` and `model.semantic`: the deployed model's bytes against
the lineage.

Bytes first: the model file (and each external data file the lineage names) is hashed and
compared with its leaf (`model.digest`), and the subject recomputed from them (`model.subject`,
a failure only when it differs); no ONNX parsing is needed when they
match. Only on a mismatch is the model parsed, to explain what changed (graph, weights with
the tensors named, or metadata only); a model that no longer parses is still a failed digest,
never an input error.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aichain_audit.errors import AichainError, Unreadable
from aichain_audit.fingerprint.hashing import FileDigest, digest_bytes
from aichain_audit.fingerprint.model import format_of
from aichain_audit.fingerprint.paths import argument_name
from aichain_audit.inputfile import read_input
from aichain_audit.lineage import Leaf, derive_subject, file_leaf
from aichain_audit.verify.diff import InputKind, diff_leaves, renamed_leaves
from aichain_audit.verify.findings import CheckStatus, Finding
from aichain_audit.verify.lineage_root import ReadManifest
from aichain_audit.verify.request import data_file_shown


@dataclass(frozen=True)
class ModelCheck:
    """The model's findings, and the model file as this check hashed it: its digest (SPEC
    section 3), plain SHA-256 and size, and the digest the lineage expected."""

    findings: list[Finding]
    digest: str | None = None
    sha256: str | None = None
    size: int | None = None
    expected: str | None = None


def check_model(model: Path, manifest: ReadManifest, shown: str | None = None) -> ModelCheck:
    """Findings for the model file, its external data files, and its semantic fingerprint;
    `shown` names the model in findings (the MLflow URI it was downloaded from, say)."""
    shown = str(model) if shown is None else shown
    models = manifest.of_kind("model")
    if not models:
        return ModelCheck([
            Finding("model.digest", CheckStatus.FAIL, shown, None, None,
                    "the lineage names no model: it does not describe this (or any) model")
        ])  # fmt: skip
    leaf = models[0]
    fmt = format_of(model)
    data = read_input(model, limit=fmt.max_file_size, what="model")
    actual = FileDigest(digest_bytes(data), len(data))
    plain = (
        actual.digest
        if actual.digest.startswith("sha256:")
        else "sha256:" + hashlib.sha256(data).hexdigest()
    )
    findings = [_compare(shown, leaf, actual)]
    fresh: list[Leaf] = [file_leaf("model", leaf["path"], actual.digest, actual.size)]
    # Where onnx and onnxruntime read it: beside the model path as given, even a link's.
    base = fmt.data_folder(model)
    unhashed: set[CheckStatus] = set()  # the statuses of data files that could not be hashed
    for data_leaf in manifest.of_kind("model-data"):
        path = data_file_shown(shown, str(data_leaf["path"]))
        try:
            got = fmt.digest_data_file(base, data_leaf["path"], str(path))
        except AichainError as exc:  # missing, a folder or FIFO, outside: not the file recorded
            # Unreadable: what it holds is unknown, so an error (no verdict), not a failure.
            status = CheckStatus.ERROR if isinstance(exc, Unreadable) else CheckStatus.FAIL
            unhashed.add(status)
            findings.append(
                Finding("model.digest", status, path, _expected(data_leaf), None,
                        f"external data file: {exc.message}")
            )  # fmt: skip
            continue
        findings.append(_compare(path, data_leaf, got, "external data file"))
        fresh.append(file_leaf("model-data", data_leaf["path"], got.digest, got.size))
    if CheckStatus.ERROR in unhashed:  # the semantics cannot be compared without those bytes
        findings.append(
            Finding("model.semantic", CheckStatus.ERROR, shown, None, None,
                    "not compared: an external data file could not be read")
        )  # fmt: skip
        return ModelCheck(findings, actual.digest, plain, actual.size, str(leaf["digest"]))
    subject = derive_subject(fresh)
    # Without a data file the subject differs anyway; that file's own finding says why.
    if not unhashed and subject != manifest.subject:
        findings.append(
            Finding("model.subject", CheckStatus.FAIL, shown, manifest.subject, subject,
                    "the subject (model and its data files) differs from the lineage's")
        )  # fmt: skip
    if all(f.status is CheckStatus.PASS for f in findings):
        findings.append(
            Finding("model.semantic", CheckStatus.PASS, shown, None, None,
                    "the same bytes: graph, weights and metadata are the lineage's")
        )  # fmt: skip
    else:
        findings.append(_explain(model, manifest, leaf, shown))
    return ModelCheck(findings, actual.digest, plain, actual.size, str(leaf["digest"]))


def _expected(leaf: Leaf) -> str:
    return f"{leaf['path']}: {leaf['digest']}"


def _compare(shown: str, leaf: Leaf, actual: FileDigest, what: str = "model file") -> Finding:
    ok = actual.digest == leaf["digest"] and actual.size == leaf["size"]
    return Finding(
        "model.digest", CheckStatus.PASS if ok else CheckStatus.FAIL, shown, _expected(leaf),
        actual.digest, f"{what}, {actual.size:,} bytes" + ("" if ok else " (changed)"),
    )  # fmt: skip


def _explain(model: Path, manifest: ReadManifest, leaf: Leaf, shown: str) -> Finding:
    """What changed in the model's semantics, from a fresh fingerprint (the same fingerprinter
    `aichain fingerprint` uses)."""
    from aichain_audit.fingerprint.interface import ModelFingerprinter

    try:
        fresh = ModelFingerprinter().fingerprint([model]).leaves
    except AichainError as exc:
        why = f"the model no longer parses, or its external data cannot be read: {exc.message}"
        return Finding("model.semantic", CheckStatus.FAIL, shown, None, None, why)
    # Compared under the name the lineage records, whatever the deployed file is called.
    renamed = renamed_leaves(fresh, InputKind.MODEL, argument_name(model), leaf["path"])
    kinds = ("model-semantic", "tensor")
    diff = diff_leaves(manifest.of_kind(*kinds), [x for x in renamed if x["kind"] in kinds])
    if diff.empty:
        return Finding("model.semantic", CheckStatus.PASS, shown, None, None,
                       "bytes differ but graph, weights and metadata are the same")  # fmt: skip
    parts: list[str] = []
    before = next((c.before for c in diff.changed if c.kind == "model-semantic"), None)
    after = next((c.after for c in diff.changed if c.kind == "model-semantic"), None)
    if before is not None and after is not None:
        parts = [p for p in ("graph", "weights", "metadata") if before[p] != after[p]]
    tensors = [c for c in diff.of_kind("tensor")]
    named = ", ".join(
        f"{(c.after or c.before or {}).get('name')} ({(c.after or c.before or {}).get('tensor')})"
        for c in tensors[:10]
    )
    more = f" and {len(tensors) - 10} more" if len(tensors) > 10 else ""
    detail = f"changed: {', '.join(parts) or 'tensors'}"
    if parts == ["metadata"]:
        detail = (
            "only metadata changed (names, doc strings, producer): graph and weights are the same"
        )
    if tensors:
        detail += f"; tensors: {named}{more}"
    return Finding(
        "model.semantic", CheckStatus.FAIL, shown,
        None if before is None else {p: before[p] for p in ("graph", "weights", "metadata")},
        None if after is None else {p: after[p] for p in ("graph", "weights", "metadata")},
        detail,
    )  # fmt: skip
