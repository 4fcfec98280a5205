"""`fingerprint_file` and `fingerprint_folder`: a safetensors model's file digests and its
`safetensors-semantic/v1` fingerprint, each weights file read once.

A weights file is read by `hashing.digest_parallel` with one `Segment` per tensor whose
hasher was fed the tensor's framing first: the file digest and every tensor digest come from
the same reads, through bounded buffers (never an mmap of a file, never an array).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aichain_audit.canonical import parse_json_strict
from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.hashing import FileDigest, HashJob, Segment, digest_bytes
from aichain_audit.fingerprint.model.interface import (
    ModelFingerprint,
    SemanticFingerprint,
    TensorDigest,
)
from aichain_audit.fingerprint.model.safetensors import documents
from aichain_audit.fingerprint.model.safetensors.folder import (
    CONFIG_NAME,
    Checkpoint,
    check_shard_name,
    list_checkpoint,
)
from aichain_audit.fingerprint.model.safetensors.header import (
    MAX_HEADER,
    MAX_TENSORS,
    Header,
    TensorInfo,
    read_header,
)
from aichain_audit.fingerprint.paths import argument_name
from aichain_audit.inputfile import fstat_size, open_regular, read_fd, refuse_larger

# The largest weights file read (no format limit: this keeps a typo'd device path out).
FILE_LIMIT = 1 << 40
# config.json and the index are read whole (both are a few kilobytes in practice).
JSON_LIMIT = MAX_HEADER
_INDEX_KEYS = frozenset({"metadata", "weight_map"})


@dataclass(frozen=True, slots=True)
class _Shard:
    name: str  # recorded name (relative to the folder), or the file's own name
    digest: FileDigest
    header: Header
    tensors: tuple[tuple[TensorInfo, str], ...]  # (tensor, its digest)


def read_shard(path: str, name: str, shown: str, *, follow: bool = True) -> _Shard:
    """One weights file: its header checked, then one read for its digest and its tensors'."""
    from aichain_audit.fingerprint.hashing import digest_parallel

    fd = open_regular(path, shown, follow=follow)
    try:
        size = fstat_size(fd, shown)
        refuse_larger(size, shown, limit=FILE_LIMIT, what="safetensors file")
        header = read_header(fd, size, shown)
        segments = [
            Segment(t.begin, t.end - t.begin, documents.tensor_hasher(t.dtype, t.shape))
            for t in header.tensors
        ]
        digest = digest_parallel(fd, size, shown, segments)
    finally:
        os.close(fd)
    return _Shard(
        name,
        digest,
        header,
        tuple(
            (t, "sha256:" + s.hasher.hexdigest())
            for t, s in zip(header.tensors, segments, strict=True)
        ),
    )


def _semantic(
    shards: Sequence[_Shard], config: Any, index_metadata: Any, shown: str
) -> SemanticFingerprint:
    tensors: dict[str, tuple[TensorInfo, str, str]] = {}
    for shard in shards:
        for t, digest in shard.tensors:
            if t.name in tensors:
                raise ModelError(
                    f"{shown}: tensor {t.name!r} is in both {tensors[t.name][2]} and {shard.name}"
                )
            tensors[t.name] = (t, digest, shard.name)
    if len(tensors) > MAX_TENSORS:
        raise ModelError(
            f"{shown}: {len(tensors):,} tensors, more than the {MAX_TENSORS:,} allowed"
        )
    ids: dict[str, str] = {}
    digests: list[TensorDigest] = []
    for name, (_, digest, _) in tensors.items():
        tid = documents.tensor_id(name)
        if tid in ids:
            raise ModelError(f"{shown}: tensors {ids[tid]!r} and {name!r} get the same id {tid!r}")
        ids[tid] = name
        digests.append(TensorDigest(tid, name, digest))
    digests.sort(key=lambda d: d.id.encode("utf-8"))
    try:
        graph = documents.digest_of(
            documents.graph_document(
                config, ((t.name, t.dtype, t.shape) for t, _, _ in tensors.values())
            )
        )
        weights = documents.digest_of(documents.weights_document((d.id, d.digest) for d in digests))
        metadata = documents.digest_of(
            documents.metadata_document(index_metadata, [s.header.metadata for s in shards])
        )
    except ValueError as exc:  # a value JCS cannot encode (checked when read; kept as a guard)
        raise ModelError(f"{shown}: {exc}") from None
    return SemanticFingerprint(graph, weights, metadata, tuple(digests))


def fingerprint_file(path: Path) -> ModelFingerprint:
    """A single `.safetensors` file: its digest, and its fingerprint with no config."""
    shown = str(path)
    shard = read_shard(str(path), argument_name(path), shown)
    return ModelFingerprint(shard.name, shard.digest, (), _semantic([shard], None, None, shown))


def _read_json(path: str, shown: str, what: str) -> tuple[Any, FileDigest]:
    """A JSON file of the checkpoint, read once: its value (strict; an integer beyond
    2**53 - 1 refused, as section 7 refuses it in configs: read as a double it would share
    its JCS bytes with a neighbour, so two configs would share one graph digest) and its file
    digest."""
    fd = open_regular(path, shown, follow=False)
    try:
        data = read_fd(fd, shown, limit=JSON_LIMIT, what=what)
    finally:
        os.close(fd)
    try:
        value = parse_json_strict(data.decode("utf-8"), safe_integers=True)
    except UnicodeDecodeError:
        raise ModelError(f"{shown}: {what} is not UTF-8") from None
    except ValueError as exc:
        raise ModelError(f"{shown}: {what}: {exc}") from None
    if not isinstance(value, dict):
        raise ModelError(f"{shown}: {what} is not a JSON object")
    try:
        documents.digest_of(value)  # lone surrogates, numbers JCS cannot write
    except ValueError as exc:
        raise ModelError(f"{shown}: {what}: {exc}") from None
    return value, FileDigest(digest_bytes(data), len(data))


def _index_shards(index: dict[str, Any], where: str) -> dict[str, str]:
    """The index's weight_map (tensor name -> shard name), checked (SPEC 13.2)."""
    extra = set(index) - _INDEX_KEYS
    if extra:
        raise ModelError(f"{where}: unknown member {sorted(extra)[0]!r} (an index holds "
                         "weight_map and metadata)")  # fmt: skip
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict):
        raise ModelError(f"{where}: no weight_map object")
    if "metadata" in index and not isinstance(index["metadata"], dict):
        raise ModelError(f"{where}: metadata is not an object")
    if len(weight_map) > MAX_TENSORS:
        raise ModelError(f"{where}: more than {MAX_TENSORS:,} tensors")
    for shard in set(weight_map.values()):
        check_shard_name(shard, where)
    return weight_map


def fingerprint_folder(folder: Path) -> ModelFingerprint:
    """A checkpoint folder: every file's digest (the model leaf's first), and the fingerprint
    of its weights files with its config.json."""
    ckpt = list_checkpoint(folder)
    shown = str(folder)
    main_path = ckpt.path_of(ckpt.main)
    assert main_path is not None
    main_shown = os.path.join(shown, ckpt.main)
    digests: dict[str, FileDigest] = {}
    index_metadata: Any = None
    if ckpt.main.lower().endswith(".index.json"):
        index, digests[ckpt.main] = _read_json(main_path, main_shown, "safetensors index")
        weight_map = _index_shards(index, main_shown)
        index_metadata = index.get("metadata")
        shard_names = sorted(set(weight_map.values()), key=lambda n: n.encode("utf-8"))
    else:
        weight_map = None
        shard_names = [ckpt.main]
    config: Any = None
    config_path = ckpt.path_of(CONFIG_NAME)
    if config_path is not None:
        config, digests[CONFIG_NAME] = _read_json(
            config_path, os.path.join(shown, CONFIG_NAME), "config.json"
        )
    shards: list[_Shard] = []
    for name in shard_names:
        path = ckpt.path_of(name)
        if path is None:
            raise ModelError(f"{main_shown}: names shard {name!r}, which the folder does not hold")
        shard = read_shard(path, name, os.path.join(shown, name), follow=False)
        digests[name] = shard.digest
        shards.append(shard)
    semantic = _semantic(shards, config, index_metadata, shown)  # no tensor in two shards
    if weight_map is not None:
        _agree(weight_map, shards, main_shown)
    _digest_others(ckpt, digests, shown)
    main = digests.pop(ckpt.main)
    others = tuple((f.name, digests[f.name]) for f in ckpt.files if f.name != ckpt.main)
    return ModelFingerprint(ckpt.main, main, others, semantic)


def _agree(weight_map: dict[str, Any], shards: Sequence[_Shard], where: str) -> None:
    """The index maps exactly each shard's tensors to that shard."""
    for shard in shards:
        for t, _ in shard.tensors:
            mapped = weight_map.get(t.name)
            if mapped is None:
                raise ModelError(f"{where}: tensor {t.name!r} of {shard.name} is not in the index")
            if mapped != shard.name:
                raise ModelError(
                    f"{where}: maps tensor {t.name!r} to {mapped}, but {shard.name} holds it"
                )
    held = {t.name for s in shards for t, _ in s.tensors}
    for name, shard_name in weight_map.items():
        if name not in held:
            raise ModelError(
                f"{where}: maps tensor {name!r} to {shard_name}, which does not hold it"
            )


def _digest_others(ckpt: Checkpoint, digests: dict[str, FileDigest], shown: str) -> None:
    """The digests of the folder's other files (tokenizer, code, opaque weights), in
    parallel by the dataset engine."""
    from aichain_audit.fingerprint.hashing import digest_files

    todo = [f for f in ckpt.files if f.name not in digests]
    jobs = [HashJob(f.path, os.path.join(shown, f.name), None, False) for f in todo]
    for f, result in zip(todo, digest_files(jobs), strict=True):
        if isinstance(result, InputError):
            raise result
        digests[f.name] = result
