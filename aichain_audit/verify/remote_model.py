"""`model.digest`, `model.subject` and `model.semantic` for a model named by URL
(`verify s3://bucket/models/model.onnx`): the same findings as a local model's
(`verify.model`), with the bytes hashed where they are.

The model object and each data file the lineage names (beside the model object; inside the
prefix of a checkpoint) are hashed by pinned ranged reads and compared with their leaves;
nothing is written to disk when they match. Only on a mismatch is the model downloaded,
with the files its format reads, into a private temporary folder, and parsed there to
explain what changed, as for a local model.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from aichain_audit.errors import AichainError, Unreadable
from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.paths import ListedFile, PathPolicy
from aichain_audit.fingerprint.storage import storage_for
from aichain_audit.fingerprint.storage.remote import object_url, parent_url
from aichain_audit.lineage import Leaf, file_leaf
from aichain_audit.verify.findings import CheckStatus, Finding
from aichain_audit.verify.lineage_root import ReadManifest
from aichain_audit.verify.model import ModelCheck, _compare, _expected, _explain, conclude
from aichain_audit.verify.request import folder_model


def check_remote_model(url: str, manifest: ReadManifest, shown: str) -> ModelCheck:
    models = manifest.of_kind("model")
    if not models:
        return ModelCheck([
            Finding("model.digest", CheckStatus.FAIL, shown, None, None,
                    "the lineage names no model: it does not describe this (or any) model")
        ])  # fmt: skip
    leaf = models[0]
    storage = storage_for(url)
    folder = folder_model(manifest)
    base = url.rstrip("/") if folder else parent_url(url)
    main_url = object_url(base, str(leaf["path"])) if folder else url
    wanted: list[tuple[Leaf, str, str]] = [(leaf, main_url, "model")]  # (leaf, url, kind)
    what = "file" if folder else "external data file"
    for data_leaf in manifest.of_kind("model-data"):
        wanted.append((data_leaf, object_url(base, str(data_leaf["path"])), "model-data"))
    findings: list[Finding] = []
    listed: list[tuple[Leaf, ListedFile, str]] = []
    unhashed: set[CheckStatus] = set()
    for want, where, kind in wanted:
        item = shown if kind == "model" else where
        try:
            files = storage.listing(where, PathPolicy()).files
            if len(files) != 1 or files[0].path != where:
                raise Unreadable(f"{where}: not one object")
        except AichainError as exc:
            status = CheckStatus.ERROR if isinstance(exc, Unreadable) else CheckStatus.FAIL
            unhashed.add(status)
            label = "model file" if kind == "model" else what
            findings.append(Finding("model.digest", status, item, _expected(want), None,
                                    f"{label}: {exc.message}"))  # fmt: skip
            continue
        listed.append((want, files[0], item))
    digests = storage.digest([f for _, f, _ in listed])
    fresh: list[Leaf] = []
    actual: FileDigest | None = None
    for (want, _, item), got in zip(listed, digests, strict=True):
        if not isinstance(got, FileDigest):
            status = CheckStatus.ERROR if isinstance(got, Unreadable) else CheckStatus.FAIL
            if isinstance(got, AichainError) and status is CheckStatus.FAIL:
                status = CheckStatus.ERROR  # changed while read: no verdict on its bytes
            unhashed.add(status)
            message = got.message if isinstance(got, AichainError) else str(got)
            findings.append(Finding("model.digest", status, item, _expected(want), None, message))
            continue
        is_main = want is leaf
        label = ("model file" if not folder else f"model file {leaf['path']}") if is_main else what
        findings.append(_compare(item, want, got, label))
        fresh.append(file_leaf(want["kind"], want["path"], got.digest, got.size))
        if is_main:
            actual = got
    if folder:
        known = {str(x["path"]) for x, _, _ in wanted}
        try:
            prefix = storage.listing(base + "/", PathPolicy()).files
        except AichainError as exc:
            prefix = []
            unhashed.add(CheckStatus.ERROR)
            findings.append(Finding.error("model.digest", shown, exc))
        for f in prefix:
            rel = f.name.split("/", 1)[1] if "/" in f.name else f.name
            if rel not in known:
                findings.append(Finding("model.digest", CheckStatus.FAIL, f.path, None, None,
                                        "a file of the model that the lineage does not record "
                                        "(added)"))  # fmt: skip
    plain = actual.digest if actual is not None and actual.digest.startswith("sha256:") else None
    result = ModelCheck(
        [], actual.digest if actual else None, plain, actual.size if actual else None,
        str(leaf["digest"]),
    )  # fmt: skip
    if CheckStatus.ERROR in unhashed:
        findings.append(Finding("model.semantic", CheckStatus.ERROR, shown, None, None,
                                f"not compared: a {what} could not be read"))  # fmt: skip
        return replace(result, findings=findings)
    if actual is None:  # the model object itself could not be compared
        unhashed = unhashed | {CheckStatus.FAIL}
    findings += conclude(findings, fresh, manifest, shown, unhashed,
                         lambda: _explain_downloaded(url, manifest, leaf, shown),
                         " (hashed in place, not downloaded)")  # fmt: skip
    return replace(result, findings=findings)


def _explain_downloaded(url: str, manifest: ReadManifest, leaf: Leaf, shown: str) -> Finding:
    """The mismatch explained from a copy of the model in a private temporary folder."""
    from aichain_audit.fingerprint.storage.fetch import fetch, private_folder

    with tempfile.TemporaryDirectory(prefix="aichain-verify-") as tmp:
        try:
            local = fetch(url, private_folder(Path(tmp), "model"), model=True)
        except AichainError as exc:
            why = f"the model no longer parses, or its files cannot be read: {exc.message}"
            return Finding("model.semantic", CheckStatus.FAIL, shown, None, None, why)
        found = _explain(local, manifest, leaf, shown)
        detail = found.detail.replace(str(local.parent), parent_url(url))
        return replace(found, detail=detail)
