"""`model.digest`, `model.subject` and `model.semantic`: the deployed model's bytes against
the lineage.

Bytes first: the model file (and each data file the lineage names, and for a checkpoint
folder every file it holds) is hashed as it streams and compared with its leaf
(`model.digest`), and the subject recomputed from them (`model.subject`, a failure only when
it differs); no model is parsed when they match. Only on a mismatch is the model parsed, to
explain what changed (graph, weights with the tensors named, or metadata only); a model that
no longer parses is still a failed digest, never an input error. An opaque model (no
`model-semantic` leaf) is compared by its bytes alone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from aichain_audit.errors import AichainError, Unreadable
from aichain_audit.fingerprint.hashing import SHARD_SIZE, FileDigest, Segment, digest_fd
from aichain_audit.fingerprint.model import ModelFormat, folder_format, format_of
from aichain_audit.inputfile import fstat_size, open_regular, refuse_larger
from aichain_audit.lineage import Leaf, derive_subject, file_leaf
from aichain_audit.verify.diff import InputKind, diff_leaves, renamed_leaves
from aichain_audit.verify.findings import CheckStatus, Finding
from aichain_audit.verify.lineage_root import ReadManifest
from aichain_audit.verify.request import data_file_shown, folder_model


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
    """Findings for the model file, its data files, and its semantic fingerprint; `shown`
    names the model in findings (the MLflow URI it was downloaded from, say).

    Every file is hashed as it streams through bounded buffers, never read whole. For a
    folder model (a checkpoint), every file the folder holds is compared: one the lineage
    does not record fails `model.digest`, naming it, as does one it records that is missing.
    """
    shown = str(model) if shown is None else shown
    models = manifest.of_kind("model")
    if not models:
        return ModelCheck([
            Finding("model.digest", CheckStatus.FAIL, shown, None, None,
                    "the lineage names no model: it does not describe this (or any) model")
        ])  # fmt: skip
    leaf = models[0]
    folder = folder_model(manifest)
    fmt = _format_of(model, manifest, folder)
    findings: list[Finding] = []
    fresh: list[Leaf] = []
    actual: FileDigest | None = None
    plain: str | None = None
    main_path: Path | None = None
    if fmt.folders:  # the file the lineage names, however the deployed folder looks now
        main_name = str(leaf["path"])
        try:
            main_path = fmt.data_path(
                model, main_name, data_file_shown(shown, main_name, folder=True)
            )
        except AichainError as exc:  # gone, a link, a folder: not the model recorded
            findings.append(
                Finding("model.digest", CheckStatus.FAIL, shown, _expected(leaf), None,
                        f"the checkpoint no longer holds its model file: {exc.message}")
            )  # fmt: skip
    else:
        main_name, main_path = fmt.main_file(model)
    if main_path is not None:
        actual, plain = _stream(main_path, shown, fmt.max_file_size)
        what_main = f"model file {main_name}" if fmt.folders else "model file"
        findings.append(_compare(shown, leaf, actual, what_main))
        fresh.append(file_leaf("model", leaf["path"], actual.digest, actual.size))
    # Where the runtimes read them: beside the model path as given (even a link's), or in
    # the checkpoint folder.
    base = fmt.data_folder(model)
    # the statuses of files that could not be hashed (the model file missing: a failure)
    unhashed: set[CheckStatus] = set() if actual is not None else {CheckStatus.FAIL}
    recorded = manifest.of_kind("model-data")
    what = "file" if fmt.folders else "external data file"
    for data_leaf in recorded:
        path = data_file_shown(shown, str(data_leaf["path"]), folder=folder)
        try:
            got = fmt.digest_data_file(base, data_leaf["path"], str(path))
        except AichainError as exc:  # missing, a folder or FIFO, outside: not the file recorded
            # Unreadable: what it holds is unknown, so an error (no verdict), not a failure.
            status = CheckStatus.ERROR if isinstance(exc, Unreadable) else CheckStatus.FAIL
            unhashed.add(status)
            findings.append(
                Finding("model.digest", status, path, _expected(data_leaf), None,
                        f"{what}: {exc.message}")
            )  # fmt: skip
            continue
        findings.append(_compare(path, data_leaf, got, what))
        fresh.append(file_leaf("model-data", data_leaf["path"], got.digest, got.size))
    try:
        listed = fmt.data_files(model)
    except AichainError as exc:  # a link or FIFO added to a checkpoint: not the model recorded
        listed = None
        status = CheckStatus.ERROR if isinstance(exc, Unreadable) else CheckStatus.FAIL
        unhashed.add(status)
        findings.append(Finding("model.digest", status, shown, None, None, exc.message))
    if listed is not None:
        known = {str(x["path"]) for x in recorded} | {str(leaf["path"])}
        for name in listed:
            if name not in known:
                findings.append(
                    Finding("model.digest", CheckStatus.FAIL,
                            data_file_shown(shown, name, folder=fmt.folders), None, None,
                            "a file of the model that the lineage does not record (added)")
                )  # fmt: skip
    result = ModelCheck(
        [],
        actual.digest if actual is not None else None,
        plain,
        actual.size if actual is not None else None,
        str(leaf["digest"]),
    )
    if CheckStatus.ERROR in unhashed:  # the semantics cannot be compared without those bytes
        findings.append(
            Finding("model.semantic", CheckStatus.ERROR, shown, None, None,
                    f"not compared: a {what} could not be read")
        )  # fmt: skip
        return replace(result, findings=findings)
    findings += conclude(findings, fresh, manifest, shown, unhashed,
                         lambda: _explain(model, manifest, leaf, shown))  # fmt: skip
    return replace(result, findings=findings)


def conclude(
    findings: list[Finding],
    fresh: list[Leaf],
    manifest: ReadManifest,
    shown: str,
    unhashed: set[CheckStatus],
    explain: Callable[[], Finding],
    how: str = "",
) -> list[Finding]:
    """The findings that follow the bytes' (`model.subject` when the subject differs, then
    `model.semantic`), wherever the model's files were hashed (`how` says where, when it is
    not here): the same bytes pass; an opaque model's differing bytes fail; anything else is
    `explain`ed from a fresh fingerprint."""
    out: list[Finding] = []
    # Without a data file the subject differs anyway; that file's own finding says why.
    if not unhashed:
        subject = derive_subject(fresh)
        if subject != manifest.subject:
            out.append(
                Finding("model.subject", CheckStatus.FAIL, shown, manifest.subject, subject,
                        "the subject (model and its data files) differs from the lineage's")
            )  # fmt: skip
    opaque = not manifest.of_kind("model-semantic")
    if all(f.status is CheckStatus.PASS for f in findings + out):
        said = (
            f"the same bytes{how}; an opaque model (no semantic fingerprint): its bytes are "
            "all that is compared"
            if opaque
            else f"the same bytes{how}: graph, weights and metadata are the lineage's"
        )
        out.append(Finding("model.semantic", CheckStatus.PASS, shown, None, None, said))
    elif opaque:
        out.append(
            Finding("model.semantic", CheckStatus.FAIL, shown, None, None,
                    "an opaque model (no semantic fingerprint) is compared by its bytes only, "
                    "and they differ")
        )  # fmt: skip
    else:
        out.append(explain())
    return out


def _format_of(model: Path, manifest: ReadManifest, folder: bool) -> ModelFormat:
    """The format the deployed model is read as: for a folder, the folder format of the
    lineage's scheme, so a tampered copy the format would no longer recognise (its weights or
    index gone) fails its digests instead of being refused as input."""
    if folder and os.path.isdir(model):
        scheme = manifest.of_kind("model-semantic")[0]["scheme"]
        found = folder_format(str(scheme))
        if found is not None:
            return found
    return format_of(model)


def _stream(path: Path, shown: str, limit: int) -> tuple[FileDigest, str]:
    """The file's digest (SPEC 3) and its plain SHA-256, from one read through bounded
    buffers on two threads (`hashing.digest_fd`)."""
    fd = open_regular(path, shown)
    try:
        size = fstat_size(fd, shown)
        refuse_larger(size, shown, limit=limit, what="model")
        whole = Segment(0, size, hashlib.sha256()) if size > SHARD_SIZE else None
        actual = digest_fd(fd, size, shown, [whole] if whole is not None else [])
    finally:
        os.close(fd)
    plain = actual.digest if whole is None else "sha256:" + whole.hasher.hexdigest()
    return actual, plain


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
    name = format_of(model).main_file(model)[0]
    renamed = renamed_leaves(fresh, InputKind.MODEL, name, leaf["path"])
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
            "only metadata changed (names, descriptions, producer): graph and weights are the same"
        )
    if tensors:
        detail += f"; tensors: {named}{more}"
    return Finding(
        "model.semantic", CheckStatus.FAIL, shown,
        None if before is None else {p: before[p] for p in ("graph", "weights", "metadata")},
        None if after is None else {p: after[p] for p in ("graph", "weights", "metadata")},
        detail,
    )  # fmt: skip
