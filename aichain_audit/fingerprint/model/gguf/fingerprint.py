"""`fingerprint_model`: a GGUF model's file digests and its `gguf-semantic/v1` fingerprint,
from one read of each file; `read_model`: its checked headers, for `describe`.

A split model (`NAME-00001-of-00003.gguf`, ...) is one model: its first part is the model
file, the others its model-data files, found beside it by name. Each file is opened once, its
header read and checked, and then read once more by `hashing.digest_parallel` with one
segment per tensor, whose hasher was fed the tensor's framing first: the file digest and the
tensor digests come from that one pass, in bounded memory (no tensor is held, no file mapped).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.hashing import FileDigest, Segment, digest_parallel
from aichain_audit.fingerprint.model.gguf.parse import (
    Header,
    TensorInfo,
    parse_header,
    part_names,
    part_of_name,
)
from aichain_audit.fingerprint.model.gguf.semantic import (
    check_ids,
    documents,
    framed_hasher,
    merged_keys,
    sha,
    tensor_id,
)
from aichain_audit.fingerprint.model.gguf.tables import MODEL_LIMIT
from aichain_audit.fingerprint.model.interface import (
    ModelFingerprint,
    SemanticFingerprint,
    TensorDigest,
)
from aichain_audit.fingerprint.paths import argument_name, model_folder, resolve_inside
from aichain_audit.inputfile import fstat_size, open_regular, refuse_larger


@dataclass(slots=True)
class Part:
    """One file of the model, open: its recorded name, how it is shown, its header."""

    name: str
    shown: str
    fd: int
    header: Header
    stamp: tuple[int, int, int]


def _stamp(fd: int) -> tuple[int, int, int]:
    st = os.fstat(fd)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _open_part(path: Path, name: str, shown: str, *, follow: bool) -> Part:
    fd = open_regular(path, shown, follow=follow)
    try:
        stamp = _stamp(fd)
        size = fstat_size(fd, shown)
        refuse_larger(size, shown, limit=MODEL_LIMIT, what="GGUF file")
        return Part(name, shown, fd, parse_header(fd, size, shown), stamp)
    except BaseException:
        os.close(fd)
        raise


def data_file_path(folder: Path, location: str) -> Path:
    """Where a split model's part `location` is, for a model in `folder` (inside it)."""
    return resolve_inside(folder, location)


@contextmanager
def open_model(path: Path) -> Iterator[list[Part]]:
    """The model's files, open and checked (section 14.1 and 14.5): the file at `path`, then
    its other parts in order when it is the first part of a split model."""
    shown = str(path)
    name = argument_name(path)
    parts: list[Part] = []
    try:
        parts.append(_open_part(path, name, shown, follow=True))
        split = parts[0].header.split()
        named = part_of_name(name)
        if split is None or split[1] == 1:
            if named is not None:
                raise ModelError(
                    f"{shown}: named as part {named[1]} of {named[2]} of a split GGUF model, "
                    "but its header has no split.count above 1"
                )
            yield parts
            return
        no, count, total = split
        if no != 0 or named is None or named[1] != 1 or named[2] != count:
            first = f"{named[0]}-00001-of-{named[2]:05d}{named[3]}" if named is not None else None
            raise ModelError(
                f"{shown}: part {no + 1} of {count} of a split GGUF model: "
                + (
                    f"name its first part, {first}"
                    if no != 0 and first is not None
                    else f"the first part must be named PREFIX-00001-of-{count:05d}.gguf, "
                    "the others are found beside it by that name"
                )
            )
        folder = model_folder(path)
        for k, other in enumerate(part_names(name), start=2):
            other_shown = str(folder / other)
            part = _open_part(data_file_path(folder, other), other, other_shown, follow=False)
            parts.append(part)
            got = part.header.split()
            if got != (k - 1, count, total):
                said = "no split keys" if got is None else (
                    f"split.no {got[0]}, split.count {got[1]}, split.tensors.count {got[2]}"
                )  # fmt: skip
                raise ModelError(
                    f"{other_shown}: part {k} of {count} of {name} has {said}, not split.no "
                    f"{k - 1}, split.count {count}, split.tensors.count {total}"
                )
        _check_tensor_names(parts)
        found = sum(len(p.header.tensors) for p in parts)
        if found != total:
            raise ModelError(
                f"{shown}: the parts hold {found:,} tensors, split.tensors.count says {total:,}"
            )
        yield parts
    finally:
        for p in parts:
            os.close(p.fd)


def _check_tensor_names(parts: list[Part]) -> None:
    seen: dict[str, str] = {}
    for p in parts:
        for t in p.header.tensors:
            if t.name in seen:
                raise ModelError(f"{p.shown}: the tensor {t.name!r} is also in {seen[t.name]}")
            seen[t.name] = p.name


def fingerprint_model(path: Path) -> ModelFingerprint:
    """Fingerprints a GGUF model (one file, or the first part of a split model)."""
    with open_model(path) as parts:
        tensors = model_tensors(parts)
        kv = merged_keys([p.header for p in parts], [p.shown for p in parts])
        check_ids(tensors, parts[0].shown)
        graph, meta = documents(kv, tensors, parts[0].shown)
        hashers: dict[str, Any] = {}
        digests: list[FileDigest] = []
        for p in parts:
            segments = []
            for t in p.header.tensors:
                hasher = hashers[t.name] = framed_hasher(t)
                segments.append(Segment(p.header.data_start + t.offset, t.nbytes, hasher))
            digests.append(digest_parallel(p.fd, p.header.size, p.shown, segments))
            if _stamp(p.fd) != p.stamp:
                raise InputError(f"{p.shown} changed while being read")
        pairs = sorted(
            ((tensor_id(t.name), t, "sha256:" + hashers[t.name].hexdigest()) for t in tensors),
            key=lambda x: x[0],
        )  # fmt: skip
        semantic = SemanticFingerprint(
            graph=sha(graph),
            weights=sha([[i, d] for i, _, d in pairs]),
            metadata=sha(meta),
            tensors=tuple(TensorDigest(i, t.name, d) for i, t, d in pairs),
        )
        external = tuple(sorted(((p.name, d) for p, d in zip(parts[1:], digests[1:], strict=True)),
                                key=lambda x: x[0].encode("utf-8")))  # fmt: skip
        return ModelFingerprint(parts[0].name, digests[0], external, semantic)


def digest_data_file(folder: Path, location: str, shown: str) -> FileDigest:
    """The file digest of a split model's part `location` beside a model in `folder`, found
    and opened as `fingerprint_model` finds and opens it."""
    fd = open_regular(data_file_path(folder, location), shown, follow=False)
    try:
        return digest_parallel(fd, fstat_size(fd, shown), shown)
    finally:
        os.close(fd)


def model_tensors(parts: list[Part]) -> list[TensorInfo]:
    """Every tensor of the model, part by part, in header order."""
    return [t for p in parts for t in p.header.tensors]
