"""Independent re-implementation of docs/SPEC.md sections 13, 14 and 15, checked against the CLI.

Everything below is written from docs/SPEC.md alone, as `tests/test_spec_independent.py` is
for ONNX: the `aichain_audit` package is never imported, the tool is only *run*, as a black
box, through `python -m aichain_audit fingerprint --model X --json -o lineage.json`.
Implemented here: file digests (section 3), the subject (6), the root (2, 9), and the three
model schemes: safetensors files and checkpoint folders (`safetensors-semantic/v1`, 13: which
files belong to the model, which one is the model leaf, the index, the config, tensor ids and
digests, the three documents), GGUF files of versions 2 and 3 and split models
(`gguf-semantic/v1`, 14: typed values, the graph/metadata split of the keys, the layout,
tensor digests) and opaque PyTorch pickles (15). Canonical JSON comes from `rfc8785`; files
are written by hand here (byte for byte) and, for a few, with the `safetensors` and `gguf`
packages, which are used to *build* inputs only: every file is read back by the parsers below.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow  # runs the CLI in processes

Leaf = dict[str, Any]

# ============================================================================================
# Common: JCS, digests (3), Merkle tree (2), subject (6), root (9)
# ============================================================================================

SHARD_SIZE = 16 * 1024 * 1024
ZERO_DIGEST = "sha256:" + "0" * 64


class Refused(Exception):
    """SPEC says this input is refused (exit 2)."""


def jcs(value: Any) -> bytes:
    return rfc8785.dumps(value)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def framed(header: Any, payload: bytes) -> str:
    """`sha256:` + hex(SHA-256(u64be(len(H)) || H || payload)) with H = JCS(header)."""
    h = jcs(header)
    return sha(struct.pack(">Q", len(h)) + h + payload)


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def mth_of_hashes(hashes: Sequence[bytes]) -> bytes:
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth_of_hashes(hashes[:k]) + mth_of_hashes(hashes[k:])).digest()


def file_digest_of(data: bytes) -> str:
    if len(data) <= SHARD_SIZE:
        return sha(data)
    shards = [leaf_hash(data[i : i + SHARD_SIZE]) for i in range(0, len(data), SHARD_SIZE)]
    return "sha256-shards:" + mth_of_hashes(shards).hex()


def file_leaf(kind: str, path: str, data: bytes) -> Leaf:
    return {"kind": kind, "path": path, "digest": file_digest_of(data), "size": len(data)}


def subject_of(leaves: Sequence[Leaf]) -> str:
    models = [leaf for leaf in leaves if leaf["kind"] == "model"]
    data = [leaf for leaf in leaves if leaf["kind"] == "model-data"]
    if not models:
        return ZERO_DIGEST
    if not data:
        return str(models[0]["digest"])
    pairs = sorted(
        ([leaf["path"], leaf["digest"]] for leaf in [*models, *data]),
        key=lambda pair: pair[0].encode("utf-8"),
    )
    return "sha256-modelset:" + hashlib.sha256(jcs(pairs)).hexdigest()


def with_subject(content: Sequence[Leaf]) -> list[Leaf]:
    subject = {"kind": "subject", "digest": subject_of(content), "leaves": len(content) + 1}
    return [*content, subject]


def root_of(leaves: Sequence[Leaf]) -> str:
    return mth_of_hashes([leaf_hash(b) for b in sorted(jcs(leaf) for leaf in leaves)]).hex()


def nfc(s: str) -> str:
    return unicodedata.normalize("NFC", s)


def utf8_key(s: str) -> bytes:
    return s.encode("utf-8")


@dataclass
class Expected:
    """What SPEC says the lineage of `--model X` alone is."""

    leaves: list[Leaf]  # every leaf, the subject's included
    semantic: dict[str, str] | None  # graph, weights, metadata; None for an opaque model
    documents: dict[str, Any] = field(default_factory=dict)  # graph, weights, metadata docs

    @property
    def root(self) -> str:
        return root_of(self.leaves)

    @property
    def model_leaf(self) -> Leaf:
        (leaf,) = [leaf for leaf in self.leaves if leaf["kind"] == "model"]
        return leaf


def semantic_leaves(
    model_path: str, scheme: str, docs: dict[str, Any], tensors: Sequence[tuple[str, str, str]]
) -> tuple[list[Leaf], dict[str, str]]:
    """The model-semantic leaf and the tensor leaves (id, name, digest) of a model."""
    digests = {part: sha(jcs(docs[part])) for part in ("graph", "weights", "metadata")}
    leaves: list[Leaf] = [
        {"kind": "model-semantic", "path": model_path, "scheme": scheme, **digests}
    ]
    for tid, name, digest in tensors:
        leaves.append(
            {"kind": "tensor", "path": model_path, "tensor": tid, "name": name, "digest": digest}
        )
    return leaves, digests


# ============================================================================================
# SPEC 13: safetensors-semantic/v1
# ============================================================================================

ST_SCHEME = "safetensors-semantic/v1"
ST_BITS = {
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "BOOL": 8,
    "U8": 8,
    "I8": 8,
    "F8_E5M2": 8,
    "F8_E4M3": 8,
    "F8_E8M0": 8,
    "I16": 16,
    "U16": 16,
    "F16": 16,
    "BF16": 16,
    "I32": 32,
    "U32": 32,
    "F32": 32,
    "I64": 64,
    "U64": 64,
    "F64": 64,
    "C64": 64,
}
ST_MAX_HEADER = 100_000_000
ST_MAX_TENSORS = 1_000_000
JSON_WS = " \t\n\r"


@dataclass(frozen=True)
class StTensor:
    name: str
    dtype: str
    shape: tuple[int, ...]
    data: bytes


@dataclass
class StFile:
    metadata: dict[str, str] | None
    tensors: list[StTensor]


def _no_dups(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise Refused(f"duplicate key {k!r}")
        out[k] = v
    return out


def _bad_constant(name: str) -> Any:
    raise Refused(f"{name} in JSON")


def _check_unicode(value: Any) -> None:
    """Every string valid Unicode (no lone surrogate)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise Refused("lone surrogate") from exc
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_unicode(k)
            _check_unicode(v)
    elif isinstance(value, list):
        for v in value:
            _check_unicode(v)


def _check_json_numbers(value: Any) -> None:
    """SPEC 7: integers beyond 2^53 - 1 and non-finite floats are refused."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return
    if isinstance(value, int):
        if abs(value) > 2**53 - 1:
            raise Refused("integer beyond 2^53 - 1")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise Refused("non-finite number")
    elif isinstance(value, dict):
        for v in value.values():
            _check_json_numbers(v)
    elif isinstance(value, list):
        for v in value:
            _check_json_numbers(v)


def strict_json(data: bytes) -> Any:
    """Strict JSON as SPEC 7 reads it (no duplicates, no NaN/Infinity, numbers JCS can write)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused("not UTF-8") from exc
    try:
        value = json.loads(text, object_pairs_hook=_no_dups, parse_constant=_bad_constant)
    except json.JSONDecodeError as exc:
        raise Refused(f"bad JSON: {exc}") from exc
    _check_unicode(value)
    _check_json_numbers(value)
    return value


def _u64_int(x: Any) -> int:
    if type(x) is not int or not 0 <= x < 2**64:
        raise Refused(f"not a u64 JSON integer: {x!r}")
    return x


def st_parse(raw: bytes) -> StFile:
    """SPEC 13.1: a weights file, every check made before a tensor byte is used."""
    if len(raw) < 8:
        raise Refused("shorter than 8 bytes")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > ST_MAX_HEADER or 8 + n > len(raw):
        raise Refused("header length")
    try:
        text = raw[8 : 8 + n].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused("header not UTF-8") from exc
    if not text.startswith("{"):
        raise Refused("header does not start with {")
    decoder = json.JSONDecoder(object_pairs_hook=_no_dups, parse_constant=_bad_constant)
    try:
        header, end = decoder.raw_decode(text)
    except json.JSONDecodeError as exc:
        raise Refused(f"header JSON: {exc}") from exc
    if text[end:].strip(JSON_WS):
        raise Refused("something after the header object")
    _check_unicode(header)
    metadata = header.pop("__metadata__", None)
    strings = isinstance(metadata, dict) and all(isinstance(v, str) for v in metadata.values())
    if metadata is not None and not strings:
        raise Refused("__metadata__ is not an object of strings")
    if len(header) > ST_MAX_TENSORS:
        raise Refused("too many tensors")
    data_size = len(raw) - 8 - n
    spans: list[tuple[int, int, str, str, tuple[int, ...]]] = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            raise Refused(f"tensor {name!r}: members")
        dtype = info["dtype"]
        if not isinstance(dtype, str) or dtype not in ST_BITS:
            raise Refused(f"tensor {name!r}: dtype {dtype!r}")
        if not isinstance(info["shape"], list):
            raise Refused("shape not a list")
        shape = tuple(_u64_int(d) for d in info["shape"])
        offsets = info["data_offsets"]
        if not isinstance(offsets, list) or len(offsets) != 2:
            raise Refused("data_offsets")
        begin, end_ = (_u64_int(o) for o in offsets)
        if begin > end_:
            raise Refused("begin > end")
        elements = 1
        for d in shape:
            elements *= d
        if end_ - begin != -(-ST_BITS[dtype] * elements // 8):
            raise Refused(f"tensor {name!r}: size")
        spans.append((begin, end_, name, dtype, shape))
    spans.sort(key=lambda s: (s[0], s[1]))
    position = 0
    for begin, end_, *_ in spans:
        if begin != position:
            raise Refused("gap or overlap")
        position = end_
    if position != data_size:
        raise Refused("data size")
    base = 8 + n
    tensors = [
        StTensor(name, dtype, shape, raw[base + b : base + e]) for b, e, name, dtype, shape in spans
    ]
    return StFile(metadata, tensors)


def st_id(name: str) -> str:
    """SPEC 13.3."""
    if 1 <= len(name) <= 512 and all(0x21 <= ord(c) <= 0x7E for c in name):
        return name
    return "~sha256:" + hashlib.sha256(name.encode("utf-8")).hexdigest()


def st_digest(t: StTensor) -> str:
    return framed({"dtype": t.dtype, "shape": [str(d) for d in t.shape]}, t.data)


def st_documents(
    files: Sequence[StFile], config: Any, index_metadata: Any
) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """SPEC 13.4, plus the tensor leaves' (id, name, digest)."""
    tensors = [t for f in files for t in f.tensors]
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise Refused("a tensor name in two weights files")
    if len(tensors) > ST_MAX_TENSORS:
        raise Refused("too many tensors in the model")
    ids = [st_id(t.name) for t in tensors]
    if len(set(ids)) != len(ids):
        raise Refused("two tensors with one id")
    graph = {
        "scheme": ST_SCHEME,
        "config": config,
        "tensors": [
            [t.name, t.dtype, [str(d) for d in t.shape]]
            for t in sorted(tensors, key=lambda t: utf8_key(t.name))
        ],
    }
    pairs = sorted(
        ((st_id(t.name), st_digest(t), t.name) for t in tensors), key=lambda p: utf8_key(p[0])
    )
    weights = [[tid, digest] for tid, digest, _ in pairs]
    metadata = {"index": index_metadata, "headers": sorted((f.metadata for f in files), key=jcs)}
    docs = {"graph": graph, "weights": weights, "metadata": metadata}
    return docs, [(tid, name, digest) for tid, digest, name in pairs]


def st_single_file(path: Path) -> Expected:
    """SPEC 13.2, a single file."""
    raw = path.read_bytes()
    name = nfc(path.name)
    docs, tensors = st_documents([st_parse(raw)], None, None)
    content = [file_leaf("model", name, raw)]
    sem, digests = semantic_leaves(name, ST_SCHEME, docs, tensors)
    return Expected(with_subject([*content, *sem]), digests, docs)


HF_CACHE_EXCLUDED = (".cache/huggingface", ".git")
ITEM_LIKE = ("#/", "#tensor/")


def folder_files(folder: Path) -> dict[str, Path]:
    """SPEC 13.2: every regular file under a checkpoint folder, by NFC relative path."""
    real = Path(os.path.realpath(folder))
    snapshot_repo: Path | None = None
    if real.parent.name == "snapshots" and real.parent.parent.name.startswith("models--"):
        snapshot_repo = real.parent.parent
    out: dict[str, Path] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = Path(dirpath).relative_to(folder).as_posix()
        for d in list(dirnames):
            rel = d if rel_dir == "." else f"{rel_dir}/{d}"
            if rel in HF_CACHE_EXCLUDED:
                dirnames.remove(d)
            elif (Path(dirpath) / d).is_symlink():
                raise Refused(f"link to a folder: {rel}")
        for fn in filenames:
            rel = fn if rel_dir == "." else f"{rel_dir}/{fn}"
            if rel in HF_CACHE_EXCLUDED:
                continue
            p = Path(dirpath) / fn
            if p.is_symlink():
                if snapshot_repo is None:
                    raise Refused(f"link: {rel}")
                target = Path(os.path.realpath(p))
                if not target.is_file() or not target.is_relative_to(snapshot_repo):
                    raise Refused(f"link leaving the repository: {rel}")
            elif not p.is_file():
                raise Refused(f"special file: {rel}")
            if "\\" in rel:
                raise Refused("backslash")
            name = nfc(rel)
            if (
                name.startswith("#")
                or name.endswith(("#", "#semantic"))
                or any(s in name for s in ITEM_LIKE)
            ):
                raise Refused(f"item-like name {name!r}")
            if name in out:
                raise Refused("two names equal after NFC")
            out[name] = p
    if len(out) > 100_000:
        raise Refused("more than 100,000 files")
    return out


def model_leaf_name(files: dict[str, Path]) -> str:
    """SPEC 13.2: the model leaf among the top-level files."""
    top = sorted(n for n in files if "/" not in n)
    if "model.safetensors.index.json" in top:
        return "model.safetensors.index.json"
    indexes = [n for n in top if n.lower().endswith(".safetensors.index.json")]
    if len(indexes) > 1:
        raise Refused("several indexes")
    if indexes:
        return indexes[0]
    if "model.safetensors" in top:
        return "model.safetensors"
    weights = [n for n in top if n.lower().endswith(".safetensors")]
    if len(weights) != 1:
        raise Refused("no or several .safetensors files")
    return weights[0]


def _index_file_name(name: Any) -> str:
    if not isinstance(name, str) or not name or name.startswith("/"):
        raise Refused(f"index file name {name!r}")
    if "\\" in name or "\x00" in name or any(c in ("", ".", "..") for c in name.split("/")):
        raise Refused(f"index file name {name!r}")
    return name


def st_folder(folder: Path) -> Expected:
    """SPEC 13.2 to 13.4 for a checkpoint folder."""
    files = folder_files(folder)
    model = model_leaf_name(files)
    raw = {n: p.read_bytes() for n, p in files.items()}
    index_metadata: Any = None
    if model.lower().endswith(".safetensors.index.json"):
        if len(raw[model]) > ST_MAX_HEADER:
            raise Refused("index too large")
        index = strict_json(raw[model])
        if (
            not isinstance(index, dict)
            or "weight_map" not in index
            or set(index)
            - {
                "weight_map",
                "metadata",
            }
        ):
            raise Refused("index members")
        if "metadata" in index:
            if not isinstance(index["metadata"], dict):
                raise Refused("index metadata not an object")
            index_metadata = index["metadata"]
        weight_map = index["weight_map"]
        if not isinstance(weight_map, dict):
            raise Refused("weight_map not an object")
        by_file: dict[str, set[str]] = {}
        for tensor, fname in weight_map.items():
            by_file.setdefault(_index_file_name(fname), set()).add(tensor)
        weights_files: list[StFile] = []
        for fname in sorted(by_file):
            if fname not in raw:
                raise Refused(f"index names a missing file {fname}")
            parsed = st_parse(raw[fname])
            if {t.name for t in parsed.tensors} != by_file[fname]:
                raise Refused(f"index disagrees with {fname}")
            weights_files.append(parsed)
    else:
        weights_files = [st_parse(raw[model])]
    config: Any = None
    if "config.json" in raw:
        if len(raw["config.json"]) > ST_MAX_HEADER:
            raise Refused("config too large")
        config = strict_json(raw["config.json"])
        if not isinstance(config, dict):
            raise Refused("config.json is not an object")
    docs, tensors = st_documents(weights_files, config, index_metadata)
    content = [file_leaf("model" if n == model else "model-data", n, b) for n, b in raw.items()]
    sem, digests = semantic_leaves(model, ST_SCHEME, docs, tensors)
    return Expected(with_subject([*content, *sem]), digests, docs)


# --- writing safetensors files by hand (the reader above reads them back) --------------------


def st_header_bytes(header: dict[str, Any], pad_to: int = 8, pad: bytes = b" ") -> bytes:
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    padded = len(text) + (-len(text)) % pad_to
    return text + pad * (padded - len(text))


def st_write(
    path: Path,
    tensors: Sequence[StTensor],
    metadata: dict[str, str] | None = None,
    header_order: Sequence[int] | None = None,
    metadata_null: bool = False,
) -> bytes:
    """Tensors laid out in the given order; the header lists them in `header_order`."""
    offsets: list[tuple[int, int]] = []
    pos = 0
    for t in tensors:
        offsets.append((pos, pos + len(t.data)))
        pos += len(t.data)
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    elif metadata_null:
        header["__metadata__"] = None
    for i in header_order if header_order is not None else range(len(tensors)):
        t = tensors[i]
        header[t.name] = {
            "dtype": t.dtype,
            "shape": list(t.shape),
            "data_offsets": list(offsets[i]),
        }
    hb = st_header_bytes(header)
    raw = struct.pack("<Q", len(hb)) + hb + b"".join(t.data for t in tensors)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw)
    return raw


def st_raw(path: Path, header_text: bytes, data: bytes = b"") -> Path:
    path.write_bytes(struct.pack("<Q", len(header_text)) + header_text + data)
    return path


def st_tensor(name: str, dtype: str, shape: Sequence[int], seed: int = 0) -> StTensor:
    elements = 1
    for d in shape:
        elements *= d
    size = -(-ST_BITS[dtype] * elements // 8)
    data = bytes((seed * 31 + i * 7 + 3) % 256 for i in range(size))
    return StTensor(name, dtype, tuple(shape), data)


def st_checkpoint(
    folder: Path,
    shards: Sequence[Sequence[StTensor]],
    config: bytes | None = b'{"model_type": "tiny", "hidden_size": 2}\n',
    index_metadata: Any = "absent",
    shard_metadata: dict[str, str] | None = None,
    index_name: str = "model.safetensors.index.json",
    shard_names: Sequence[str] | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    n = len(shards)
    names = list(shard_names or [f"model-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)])
    weight_map: dict[str, str] = {}
    for name, tensors in zip(names, shards, strict=True):
        st_write(folder / name, tensors, shard_metadata)
        weight_map.update({t.name: name for t in tensors})
    index: dict[str, Any] = {"weight_map": weight_map}
    if index_metadata != "absent":
        index = {"metadata": index_metadata, "weight_map": weight_map}
    (folder / index_name).write_text(json.dumps(index, indent=2) + "\n", encoding="utf-8")
    if config is not None:
        (folder / "config.json").write_bytes(config)
    for rel, data in (extra or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


# ============================================================================================
# SPEC 14: gguf-semantic/v1
# ============================================================================================

GGUF_SCHEME = "gguf-semantic/v1"
GGUF_MAX_HEADER = 1 << 26
GGUF_MAX_FILE = 1 << 40
GV_NAMES = {
    0: "UINT8",
    1: "INT8",
    2: "UINT16",
    3: "INT16",
    4: "UINT32",
    5: "INT32",
    6: "FLOAT32",
    7: "BOOL",
    8: "STRING",
    9: "ARRAY",
    10: "UINT64",
    11: "INT64",
    12: "FLOAT64",
}
GV_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
GV_FMT = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<B",
    10: "<Q",
    11: "<q",
    12: "<d",
}
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64 = (
    range(13)
)
# GGML type code -> (block, bytes per block)
GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34),
    9: (32, 40), 10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210),
    15: (256, 292), 16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18),
    21: (256, 110), 22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4),
    27: (1, 8), 28: (1, 8), 29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66),
    39: (32, 17), 40: (64, 36), 41: (128, 18),
}  # fmt: skip
F32, F16, Q4_0, Q8_0, Q4_K, I8, I64, BF16, MXFP4, NVFP4, Q1_0 = (
    0,
    1,
    2,
    8,
    12,
    24,
    27,
    30,
    39,
    40,
    41,
)
SPLIT_KEYS = ("split.no", "split.count", "split.tensors.count")
STORAGE_KEYS = {"general.alignment", *SPLIT_KEYS}


@dataclass(frozen=True)
class GgufTensor:
    name: str
    dims: tuple[int, ...]
    type: int
    data: bytes


@dataclass
class GgufFile:
    version: int
    kvs: dict[str, tuple[int, Any, list[Any]]]  # key -> (type, V(value), decoded value)
    tensors: list[GgufTensor]
    alignment: int


def gguf_tensor_size(dims: Sequence[int], code: int) -> int:
    block, nbytes = GGML_TYPES[code]
    elements = 1
    for d in dims:
        elements *= d
    return elements // block * nbytes


class _Cursor:
    def __init__(self, raw: bytes) -> None:
        self.raw, self.pos = raw, 0
        self.limit = min(len(raw), GGUF_MAX_HEADER)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.limit:
            raise Refused("runs past the end of the file or the 64 MiB bound")
        out = self.raw[self.pos : self.pos + n]
        self.pos += n
        return out

    def u32(self) -> int:
        return int(struct.unpack("<I", self.take(4))[0])

    def u64(self) -> int:
        return int(struct.unpack("<Q", self.take(8))[0])

    def string(self) -> bytes:
        n = self.u64()
        return self.take(n)

    def left(self) -> int:
        return self.limit - self.pos


def _gguf_value(c: _Cursor, vtype: int) -> tuple[Any, Any]:
    """(V(value) as SPEC 14.3 writes it, the decoded value)."""
    if vtype in GV_SIZE:
        raw = c.take(GV_SIZE[vtype])
        return [GV_NAMES[vtype], raw.hex()], struct.unpack(GV_FMT[vtype], raw)[0]
    if vtype == STRING:
        raw = c.string()
        return ["STRING", raw.hex()], raw
    if vtype == ARRAY:
        etype = c.u32()
        count = c.u64()
        if etype == ARRAY or etype not in GV_NAMES:
            raise Refused(f"array element type {etype}")
        per = 8 if etype == STRING else GV_SIZE[etype]
        if count * per > c.left():
            raise Refused("array runs past the end")
        start = c.pos
        values = [_gguf_value(c, etype)[1] for _ in range(count)]
        return ["ARRAY", GV_NAMES[etype], c.raw[start : c.pos].hex()], values
    raise Refused(f"value type {vtype}")


def gguf_parse(raw: bytes) -> GgufFile:
    """SPEC 14.1 on one file."""
    if len(raw) > GGUF_MAX_FILE:
        raise Refused("larger than 2^40")
    c = _Cursor(raw)
    if c.take(4) != b"GGUF":
        raise Refused("magic")
    version = c.u32()
    if version not in (2, 3):
        raise Refused(f"version {version}")
    n_tensors, n_kv = c.u64(), c.u64()
    if n_kv * 13 > c.left():
        raise Refused("key-value count")
    kvs: dict[str, tuple[int, Any, list[Any]]] = {}
    for _ in range(n_kv):
        kb = c.string()
        if len(kb) > 65535:
            raise Refused("key too long")
        try:
            key = kb.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Refused("key not UTF-8") from exc
        vtype = c.u32()
        v, decoded = _gguf_value(c, vtype)
        if key in kvs:
            raise Refused(f"key {key} twice")
        kvs[key] = (vtype, v, decoded)
    if n_tensors * 24 > c.left():
        raise Refused("tensor count")
    alignment = 32
    if "general.alignment" in kvs:
        vtype, _, value = kvs["general.alignment"]
        if vtype != UINT32 or value == 0 or value & (value - 1):
            raise Refused("general.alignment")
        alignment = int(value)  # type: ignore[call-overload]
    if "general.architecture" in kvs:
        vtype, _, value = kvs["general.architecture"]
        if vtype != STRING:
            raise Refused("general.architecture not a STRING")
        try:
            bytes(value).decode("utf-8")  # type: ignore[call-overload]
        except UnicodeDecodeError as exc:
            raise Refused("general.architecture not UTF-8") from exc
    split = [k in kvs for k in SPLIT_KEYS]
    if any(split):
        if not all(split):
            raise Refused("split keys: not all present")
        types = [kvs[k][0] for k in SPLIT_KEYS]
        if types != [UINT16, UINT16, INT32]:
            raise Refused("split key types")
        if not kvs["split.no"][2] < kvs["split.count"][2] or kvs["split.tensors.count"][2] < 0:  # type: ignore[operator]
            raise Refused("split key values")
    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    for _ in range(n_tensors):
        nb = c.string()
        if not nb or len(nb) > 512:
            raise Refused("tensor name length")
        try:
            name = nb.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Refused("tensor name not UTF-8") from exc
        n_dims = c.u32()
        if n_dims > 4:
            raise Refused("more than 4 dimensions")
        dims = tuple(c.u64() for _ in range(n_dims))
        code = c.u32()
        offset = c.u64()
        if any(d < 1 for d in dims):
            raise Refused("a dimension of 0")
        elements = 1
        for d in dims:
            elements *= d
        if elements > 2**63 - 1:
            raise Refused("element count")
        if code not in GGML_TYPES:
            raise Refused(f"GGML type {code}")
        if (dims[0] if dims else 1) % GGML_TYPES[code][0]:
            raise Refused("ne[0] not a multiple of the block")
        if any(name == i[0] for i in infos):
            raise Refused(f"tensor {name} twice")
        infos.append((name, dims, code, offset))
    header_end = c.pos

    def up(x: int) -> int:
        return -(-x // alignment) * alignment

    data_start = up(header_end)
    tensors: list[GgufTensor] = []
    expected = 0
    for name, dims, code, offset in infos:
        size = gguf_tensor_size(dims, code)
        if offset != expected:
            raise Refused(f"tensor {name}: offset {offset} != {expected}")
        if data_start + offset + size > len(raw):
            raise Refused(f"tensor {name} past the end")
        tensors.append(
            GgufTensor(name, dims, code, raw[data_start + offset : data_start + offset + size])
        )
        expected = up(offset + size)
    # the file ends anywhere from the end of the last tensor (or of the header) to the end of
    # its padding to the alignment
    end = data_start + infos[-1][3] + len(tensors[-1].data) if infos else header_end
    if not end <= len(raw) <= up(end):
        raise Refused("bytes after the end of the tensor data")
    return GgufFile(version, kvs, tensors, alignment)


def gguf_id(name: str) -> str:
    """SPEC 14.2."""
    if 1 <= len(name) <= 512 and all(0x21 <= ord(c) <= 0x7E for c in name):
        return name
    return "name-sha256:" + hashlib.sha256(name.encode("utf-8")).hexdigest()


def gguf_digest(t: GgufTensor) -> str:
    return framed({"name": t.name, "type": t.type, "dims": [str(d) for d in t.dims]}, t.data)


def gguf_documents(parts: Sequence[GgufFile]) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """SPEC 14.4 over the keys and tensors of every part."""
    keys: dict[str, tuple[int, Any, Any]] = {}
    for part in parts:
        for k, v in part.kvs.items():
            if k in STORAGE_KEYS:
                continue
            if k in keys:
                raise Refused(f"key {k} in two parts")
            keys[k] = v
    tensors = [t for part in parts for t in part.tensors]
    ids = [gguf_id(t.name) for t in tensors]
    if len(set(ids)) != len(ids) or len({t.name for t in tensors}) != len(tensors):
        raise Refused("two tensors with one id")
    arch: str | None = None
    if "general.architecture" in keys:
        arch = bytes(keys["general.architecture"][2]).decode("utf-8")

    def is_graph(k: str) -> bool:
        return (
            k == "general.architecture"
            or (arch is not None and k.startswith(arch + "."))
            or k.startswith(("tokenizer.", "adapter."))
        )

    ordered = sorted(keys, key=utf8_key)
    by_id = sorted(tensors, key=lambda t: utf8_key(gguf_id(t.name)))
    graph = {
        "scheme": GGUF_SCHEME,
        "keys": [[k, keys[k][1]] for k in ordered if is_graph(k)],
        "tensors": [
            {"id": gguf_id(t.name), "type": t.type, "dims": [str(d) for d in t.dims]} for t in by_id
        ],
    }
    weights = [[gguf_id(t.name), gguf_digest(t)] for t in by_id]
    metadata = [[k, keys[k][1]] for k in ordered if not is_graph(k)]
    docs = {"graph": graph, "weights": weights, "metadata": metadata}
    return docs, [(gguf_id(t.name), t.name, gguf_digest(t)) for t in by_id]


PART_NAME = re.compile(r"(?s)(.+)-([0-9]{5})-of-([0-9]{5})\.gguf", re.IGNORECASE)


def named_like_part(name: str) -> bool:
    """SPEC 14.5: `PREFIX-kkkkk-of-NNNNN.gguf`, PREFIX non-empty, 1 <= k <= N, N >= 2, any case."""
    match = PART_NAME.fullmatch(name)
    return match is not None and 1 <= int(match[2]) <= int(match[3]) and int(match[3]) >= 2


def gguf_model(path: Path) -> Expected:
    """SPEC 14: one file, or the first part of a split model (14.5)."""
    raw = path.read_bytes()
    first = gguf_parse(raw)
    name = nfc(path.name)
    files = [(name, raw)]
    parts = [first]
    split_count = int(first.kvs["split.count"][2]) if "split.count" in first.kvs else 1
    if split_count > 1:
        if first.kvs["split.no"][2] != 0:
            raise Refused("a later part named")
        tail = f"-00001-of-{split_count:05d}"
        stem, suffix = name[:-5], name[-5:]
        if suffix.lower() != ".gguf" or not stem.endswith(tail) or stem == tail:
            raise Refused("first part under another name")
        prefix = stem[: -len(tail)]
        total = int(first.kvs["split.tensors.count"][2])
        for k in range(2, split_count + 1):
            pname = f"{prefix}-{k:05d}-of-{split_count:05d}{suffix}"
            ppath = path.parent / pname
            if not ppath.is_file():
                raise Refused(f"missing part {pname}")
            praw = ppath.read_bytes()
            part = gguf_parse(praw)
            keys = [part.kvs.get(s, (0, 0, None))[2] for s in SPLIT_KEYS]
            if keys != [k - 1, split_count, total]:
                raise Refused(f"part {pname}: split keys")
            parts.append(part)
            files.append((pname, praw))
        if sum(len(p.tensors) for p in parts) != total:
            raise Refused("split.tensors.count")
    elif named_like_part(name):
        raise Refused("named like a part but not one")
    docs, tensors = gguf_documents(parts)
    content = [
        file_leaf("model" if i == 0 else "model-data", n, b) for i, (n, b) in enumerate(files)
    ]
    sem, digests = semantic_leaves(name, GGUF_SCHEME, docs, tensors)
    return Expected(with_subject([*content, *sem]), digests, docs)


# --- writing GGUF files by hand ---------------------------------------------------------------

KV = tuple[str | bytes, int, Any]  # key, value type, value (ARRAY: (element type, [values]))


def gguf_str(b: str | bytes) -> bytes:
    raw = b.encode("utf-8") if isinstance(b, str) else b
    return struct.pack("<Q", len(raw)) + raw


def gguf_value_bytes(vtype: int, value: Any) -> bytes:
    if vtype in GV_FMT:
        return struct.pack(GV_FMT[vtype], value)
    if vtype == STRING:
        return gguf_str(value)
    etype, items = value
    return struct.pack("<IQ", etype, len(items)) + b"".join(
        gguf_value_bytes(etype, v) for v in items
    )


def gguf_bytes(
    kvs: Sequence[KV],
    tensors: Sequence[GgufTensor],
    version: int = 3,
    alignment: int = 32,
    pad_tail: bool = True,
) -> bytes:
    out = bytearray(b"GGUF" + struct.pack("<IQQ", version, len(tensors), len(kvs)))
    for key, vtype, value in kvs:
        out += gguf_str(key) + struct.pack("<I", vtype) + gguf_value_bytes(vtype, value)
    offset = 0
    for t in tensors:
        out += gguf_str(t.name) + struct.pack("<I", len(t.dims))
        out += b"".join(struct.pack("<Q", d) for d in t.dims)
        out += struct.pack("<IQ", t.type, offset)
        offset += -(-len(t.data) // alignment) * alignment
    out += b"\x00" * ((-len(out)) % alignment)
    for i, t in enumerate(tensors):
        out += t.data
        if i + 1 < len(tensors) or pad_tail:
            out += b"\x00" * ((-len(t.data)) % alignment)
    return bytes(out)


def gg_tensor(name: str, dims: Sequence[int], code: int, seed: int = 0) -> GgufTensor:
    size = gguf_tensor_size(dims, code)
    return GgufTensor(
        name, tuple(dims), code, bytes((seed * 13 + i * 5 + 1) % 256 for i in range(size))
    )


# ============================================================================================
# SPEC 15: opaque models
# ============================================================================================


def is_opaque(name: str, head: bytes) -> bool:
    lower = name.lower()
    if lower.endswith((".pt", ".pth", ".ckpt")):
        return True
    if lower.endswith(".bin"):
        pickle_2plus = len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5
        return pickle_2plus or head[:4] == b"PK\x03\x04"
    return False


def opaque_model(path: Path) -> Expected:
    raw = path.read_bytes()
    assert is_opaque(path.name, raw[:4])
    return Expected(with_subject([file_leaf("model", nfc(path.name), raw)]), None)


# ============================================================================================
# Running the tool (black box)
# ============================================================================================


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@dataclass
class Run:
    model: Path
    proc: subprocess.CompletedProcess[str]
    summary: dict[str, Any] | None
    manifest: dict[str, Any] | None


def run_model(model: Path) -> Run:
    """`aichain fingerprint --model NAME --json -o OUT`, run from the model's folder."""
    out = Path(tempfile.mkdtemp(prefix="lineage-")) / "lineage.json"
    proc = run_cli("fingerprint", "--model", model.name, "--json", "-o", str(out), cwd=model.parent)
    if proc.returncode != 0:
        return Run(model, proc, None, None)
    summary = json.loads(proc.stdout)
    manifest = json.loads(out.read_text(encoding="utf-8"))
    return Run(model, proc, summary, manifest)


# `python -m aichain_audit` run many times in one process: each run gets its own argv, working
# folder, stdout and stderr (file descriptors 1 and 2 redirected to files) and exit code
# (SystemExit, else 1 with the traceback on stderr, as the interpreter would). The package is
# imported by that process only, never by this module.
_DRIVER = r"""
import json, os, runpy, sys, traceback
for line in sys.stdin:
    job = json.loads(line)
    os.chdir(job["cwd"])
    sys.argv = ["aichain", *job["args"]]
    sys.stdout.flush(); sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(job["out"], "wb") as out, open(job["err"], "wb") as err:
        os.dup2(out.fileno(), 1); os.dup2(err.fileno(), 2)
        try:
            runpy.run_module("aichain_audit", run_name="__main__", alter_sys=True)
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush(); sys.stderr.flush()
        os.dup2(saved[0], 1); os.dup2(saved[1], 2)
    os.close(saved[0]); os.close(saved[1])
    print(json.dumps(code), flush=True)
"""


def _drive(jobs: Sequence[tuple[Path, Path]]) -> list[Run]:
    """Runs `fingerprint --model M --json -o OUT` for each (model, OUT) in one process."""
    work = Path(tempfile.mkdtemp(prefix="drive-"))
    lines = []
    for i, (model, out) in enumerate(jobs):
        args = ["fingerprint", "--model", model.name, "--json", "-o", str(out)]
        lines.append(
            json.dumps(
                {
                    "cwd": str(model.parent),
                    "args": args,
                    "out": str(work / f"{i}.out"),
                    "err": str(work / f"{i}.err"),
                }
            )
        )
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER],
        input="\n".join(lines) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    codes = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(codes) == len(jobs), proc.stderr
    runs = []
    for i, ((model, out), code) in enumerate(zip(jobs, codes, strict=True)):
        stdout = (work / f"{i}.out").read_text(encoding="utf-8")
        stderr = (work / f"{i}.err").read_text(encoding="utf-8")
        done = subprocess.CompletedProcess(["aichain"], code, stdout, stderr)
        if code != 0:
            runs.append(Run(model, done, None, None))
        else:
            manifest = json.loads(out.read_text(encoding="utf-8"))
            runs.append(Run(model, done, json.loads(stdout), manifest))
    return runs


def run_all(models: Sequence[Path]) -> list[Run]:
    """Each model fingerprinted alone, in two processes (two cores) that share the list."""
    out = Path(tempfile.mkdtemp(prefix="lineages-"))
    jobs = [(m, out / f"{i}.lineage.json") for i, m in enumerate(models)]
    halves = [jobs[0::2], jobs[1::2]]
    with ThreadPoolExecutor(max_workers=2) as pool:
        even, odd = pool.map(_drive, halves)
    runs: list[Run] = []
    for i in range(len(jobs)):
        runs.append(even[i // 2] if i % 2 == 0 else odd[i // 2])
    return runs


def differences(run: Run, expected: Expected) -> list[str]:
    """Every way the tool's lineage differs from SPEC as computed here (empty when none)."""
    if run.manifest is None or run.summary is None:
        return [f"{run.model.name}: exit {run.proc.returncode}: {run.proc.stderr.strip()}"]
    problems: list[str] = []
    tool = {jcs(leaf) for leaf in run.manifest["leaves"]}
    mine = {jcs(leaf) for leaf in expected.leaves}
    if tool != mine:
        only_tool = sorted(b.decode() for b in tool - mine)
        only_mine = sorted(b.decode() for b in mine - tool)
        problems.append(f"leaves: only in tool {only_tool}; only mine {only_mine}")
    if run.manifest["root"] != expected.root:
        problems.append(f"root {run.manifest['root']} != {expected.root}")
    if run.manifest["root"] != root_of(run.manifest["leaves"]):
        problems.append("the manifest's root does not recompute from its leaves")
    model = run.summary["model"]
    if model["semantic"] != expected.semantic:
        problems.append(f"--json semantic {model['semantic']} != {expected.semantic}")
    if model["file_digest"] != expected.model_leaf["digest"]:
        problems.append("--json file_digest is not the model leaf's digest")
    if run.summary["root"] != run.manifest["root"]:
        problems.append("--json root differs from the manifest's")
    return problems


def assert_refused(run: Run) -> None:
    """Exit 2, one line, no traceback, no manifest."""
    assert run.proc.returncode == 2, f"{run.model}: exit {run.proc.returncode}\n{run.proc.stdout}"
    lines = run.proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aichain: error:"), run.proc.stderr
    assert "Traceback" not in run.proc.stderr


# ============================================================================================
# Worked examples (SPEC 13.5, 14.6, 15), checked from their text
# ============================================================================================

EX_ST_HEADER = (
    b'{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},'
    b'"b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}}'
)
EX_W = bytes.fromhex("0000803f00000040")


def example_13_5_file(folder: Path) -> Path:
    path = folder / "model.safetensors"
    assert len(EX_ST_HEADER) == 137
    path.write_bytes(struct.pack("<Q", 144) + EX_ST_HEADER + b" " * 7 + EX_W + b"\x07")
    return path


def _padded(header: bytes, size: int) -> bytes:
    return header + b" " * (size - len(header))


def example_13_5_folder(folder: Path) -> Path:
    ckpt = folder / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_bytes(b'{"model_type": "tiny", "hidden_size": 2}\n')
    h1 = b'{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'
    h2 = b'{"__metadata__":{"format":"pt"},"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}'
    (ckpt / "model-00001-of-00002.safetensors").write_bytes(
        struct.pack("<Q", 88) + _padded(h1, 88) + EX_W
    )
    (ckpt / "model-00002-of-00002.safetensors").write_bytes(
        struct.pack("<Q", 88) + _padded(h2, 88) + b"\x07"
    )
    (ckpt / "model.safetensors.index.json").write_bytes(
        b'{"metadata": {"total_size": 9}, "weight_map": {"b": "model-00002-of-00002.safetensors",'
        b' "w": "model-00001-of-00002.safetensors"}}\n'
    )
    return ckpt


def example_14_6(folder: Path) -> Path:
    kvs: list[KV] = [
        ("general.architecture", STRING, "llama"),
        ("general.name", STRING, "tiny"),
        ("llama.context_length", UINT32, 128),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, ["a", "b"])),
    ]
    tensors = [
        GgufTensor("token_embd.weight", (2, 2), F32, struct.pack("<4f", 1, 2, 3, 4)),
        GgufTensor("output_norm.weight", (2,), F32, struct.pack("<2f", 1, 1)),
    ]
    path = folder / "tiny.gguf"
    path.write_bytes(gguf_bytes(kvs, tensors))
    return path


def example_15(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_bytes(bytes.fromhex("80024e2e"))
    return path


def test_own_implementation_reproduces_the_worked_example_of_13_5(tmp_path: Path) -> None:
    """Every number 13.5 states, recomputed by the implementation here."""
    single = example_13_5_file(tmp_path)
    assert single.stat().st_size == 161
    exp = st_single_file(single)
    assert exp.model_leaf["digest"] == (
        "sha256:44592296334dfe3bcc48c7ef9d70c3bd628dca1c5dab02c41e95f9c7ad229c66"
    )
    tb = "sha256:ed6ac0c53383df1f073fc201ec625df792e993dead94c7b846b912ddfc0bf79c"
    tw = "sha256:babebf3b29d2c1a79dc7c7be08daa01142b6c76faa210b5718fd3365e423b219"
    assert len(jcs({"dtype": "U8", "shape": ["1"]})) == 28
    assert exp.documents["weights"] == [["b", tb], ["w", tw]]
    assert jcs(exp.documents["graph"]) == (
        b'{"config":null,"scheme":"safetensors-semantic/v1","tensors":[["b","U8",["1"]],'
        b'["w","F32",["2"]]]}'
    )
    assert jcs(exp.documents["metadata"]) == b'{"headers":[{"format":"pt"}],"index":null}'
    assert exp.semantic == {
        "graph": "sha256:713766e396c05ccaee6b537b545bdd9065abe484fac5c05598b284c1705d8194",
        "weights": "sha256:5da4fd21812a203ca57bec8ddd5c01adfac0ee10770d217191ca2a37161776b7",
        "metadata": "sha256:1584483bf08a972c702744590ba73de59515ae0aaf8497c5bf085564eeb2ccd7",
    }
    ckpt = example_13_5_folder(tmp_path)
    sizes = {p.name: p.stat().st_size for p in ckpt.iterdir()}
    assert sizes == {
        "config.json": 41,
        "model-00001-of-00002.safetensors": 104,
        "model-00002-of-00002.safetensors": 97,
        "model.safetensors.index.json": 130,
    }
    folder = st_folder(ckpt)
    assert folder.model_leaf["path"] == "model.safetensors.index.json"
    assert folder.model_leaf["digest"] == (
        "sha256:259053b9e13de5fd11895a7602375bdb87f297f6655e4413eb8fa265d3842906"
    )
    assert folder.documents["weights"] == exp.documents["weights"]
    assert jcs(folder.documents["graph"]) == (
        b'{"config":{"hidden_size":2,"model_type":"tiny"},"scheme":"safetensors-semantic/v1",'
        b'"tensors":[["b","U8",["1"]],["w","F32",["2"]]]}'
    )
    assert jcs(folder.documents["metadata"]) == (
        b'{"headers":[{"format":"pt"},{"format":"pt"}],"index":{"total_size":9}}'
    )
    assert folder.semantic == {
        "graph": "sha256:b8fb926c8cbebb538c673f32821213dc1f6a33ea36bfd3584bdf4879da3a2132",
        "weights": exp.semantic["weights"] if exp.semantic else "",
        "metadata": "sha256:619cfdd857e8c29cf4027510de4748ca3fe44e75ffc76212518f6a814b13adb5",
    }
    assert len(folder.leaves) == 8
    assert [leaf["digest"] for leaf in folder.leaves if leaf["kind"] == "subject"] == [
        "sha256-modelset:70d6f26d927b43c8310e3d15d66689cae67e8be84ade4da158c8a29105bd8459"
    ]
    assert folder.root == "3dfb5f7b0a1992983ee8670f6293c5463b0ad684398bb27b0596150c6d89a200"


def test_own_implementation_reproduces_the_worked_example_of_14_6(tmp_path: Path) -> None:
    path = example_14_6(tmp_path)
    raw = path.read_bytes()
    assert len(raw) == 384
    parsed = gguf_parse(raw)
    assert parsed.version == 3 and parsed.alignment == 32
    exp = gguf_model(path)
    assert exp.model_leaf["digest"] == (
        "sha256:db507dc3a8da0dda3aae0ba418b086984d499696bc1da8fb094d6d22f44d930d"
    )
    h = {"dims": ["2", "2"], "name": "token_embd.weight", "type": 0}
    assert len(jcs(h)) == 54
    assert parsed.tensors[0].data.hex() == "0000803f000000400000404000008040"
    assert jcs(exp.documents["graph"]) == (
        b'{"keys":[["general.architecture",["STRING","6c6c616d61"]],["llama.context_length",'
        b'["UINT32","80000000"]],["tokenizer.ggml.tokens",["ARRAY","STRING",'
        b'"010000000000000061010000000000000062"]]],"scheme":"gguf-semantic/v1","tensors":'
        b'[{"dims":["2"],"id":"output_norm.weight","type":0},{"dims":["2","2"],'
        b'"id":"token_embd.weight","type":0}]}'
    )
    assert exp.documents["weights"] == [
        [
            "output_norm.weight",
            "sha256:da3be3c5293efeb6db1b22460741159e9f7646afb218d4b18b84214e773ba76d",
        ],
        [
            "token_embd.weight",
            "sha256:0b55269bdea538b5c6e01de546864ebd584f8b612d3ede8af1355d9d31b135cc",
        ],
    ]
    assert jcs(exp.documents["metadata"]) == b'[["general.name",["STRING","74696e79"]]]'
    assert exp.semantic == {
        "graph": "sha256:e045076387e262ec744d33f477c6dc01a311b9c66fb2eb2150a52aacf0d86359",
        "weights": "sha256:37da0282d3563bfc92f7bd497f90ae09e28ca5f32c987d8e0a584e869225466e",
        "metadata": "sha256:2808983f19ab7a74304548e04bc27983dd48893631e885fffc5282b65fdbe052",
    }
    # the header ends at byte 311 and the data section starts at 320
    assert len(gguf_bytes(*_example_14_6_parts(), alignment=1, pad_tail=False)) - 24 == 311


def _example_14_6_parts() -> tuple[list[KV], list[GgufTensor]]:
    kvs: list[KV] = [
        ("general.architecture", STRING, "llama"),
        ("general.name", STRING, "tiny"),
        ("llama.context_length", UINT32, 128),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, ["a", "b"])),
    ]
    return kvs, [
        GgufTensor("token_embd.weight", (2, 2), F32, struct.pack("<4f", 1, 2, 3, 4)),
        GgufTensor("output_norm.weight", (2,), F32, struct.pack("<2f", 1, 1)),
    ]


def test_own_implementation_reproduces_the_example_of_15(tmp_path: Path) -> None:
    assert pickle.dumps(None, protocol=2) == bytes.fromhex("80024e2e")
    exp = opaque_model(example_15(tmp_path, "model.pt"))
    assert exp.model_leaf == {
        "digest": "sha256:e71559db7df35982f168ca0bd6d35a0270e621095a7bfd0c3a1773ed09ae1a44",
        "kind": "model",
        "path": "model.pt",
        "size": 4,
    }
    assert exp.leaves[-1]["digest"] == exp.model_leaf["digest"]
    assert is_opaque("model.bin", bytes.fromhex("80024e2e"))
    assert not is_opaque("model.onnx", bytes.fromhex("80024e2e"))


def test_tool_agrees_with_every_worked_example(tmp_path: Path) -> None:
    """The tool's lineages of the worked examples are the ones SPEC states (and rebuilt here)."""
    models = [
        example_13_5_file(tmp_path),
        example_13_5_folder(tmp_path),
        example_14_6(tmp_path),
        example_15(tmp_path, "model.pt"),
        example_15(tmp_path, "model.bin"),
        example_15(tmp_path, "model.onnx"),
    ]
    with ThreadPoolExecutor(max_workers=2) as pool:  # one `python -m aichain_audit` each
        single, folder, gguf, pt, binary, onnx = pool.map(run_model, models)
    assert differences(single, st_single_file(models[0])) == []
    assert differences(folder, st_folder(models[1])) == []
    assert folder.manifest is not None
    assert (
        folder.manifest["root"]
        == "3dfb5f7b0a1992983ee8670f6293c5463b0ad684398bb27b0596150c6d89a200"
    )
    assert differences(gguf, gguf_model(models[2])) == []
    for run in (pt, binary):
        assert differences(run, opaque_model(run.model)) == []
        assert run.summary is not None
        warning = (
            f"{run.model.name} is a pickle: it is fingerprinted by its bytes only, and loading "
            "it runs code; convert it to safetensors"
        )
        assert run.summary["model"]["warnings"] == [warning]
        assert f"aichain: warning: {warning}" in run.proc.stderr
    assert_refused(onnx)


# ============================================================================================
# Corpus of valid models
# ============================================================================================

ALL_DTYPES = [
    st_tensor("a.f4_odd", "F4", [3], 1),  # 12 bits: 2 bytes, the last one padded
    st_tensor("a.f6_e2m3", "F6_E2M3", [5], 2),  # 30 bits: 4 bytes
    st_tensor("a.f6_e3m2", "F6_E3M2", [2, 4], 3),
    st_tensor("b.bool", "BOOL", [4], 4),
    st_tensor("b.u8", "U8", [3], 5),
    st_tensor("b.i8", "I8", [2, 2], 6),
    st_tensor("c.f8_e5m2", "F8_E5M2", [2], 7),
    st_tensor("c.f8_e4m3", "F8_E4M3", [2], 8),
    st_tensor("c.f8_e8m0", "F8_E8M0", [1], 9),
    st_tensor("d.i16", "I16", [3], 10),
    st_tensor("d.u16", "U16", [1, 1, 1], 11),
    st_tensor("d.f16", "F16", [2, 3], 12),
    st_tensor("d.bf16", "BF16", [4], 13),
    st_tensor("e.i32", "I32", [2], 14),
    st_tensor("e.u32", "U32", [2], 15),
    st_tensor("e.f32", "F32", [2, 2], 16),
    st_tensor("f.i64", "I64", [3], 17),
    st_tensor("f.u64", "U64", [1], 18),
    st_tensor("f.f64", "F64", [2], 19),
    st_tensor("f.c64", "C64", [2], 20),
    st_tensor("g.scalar", "F32", [], 21),
    st_tensor("g.empty", "F32", [0], 22),  # zero bytes, at the same offset as its neighbours
    st_tensor("g.empty2", "BF16", [2, 0, 3], 23),
]
NAMES = [
    st_tensor("poids.\u00e9", "F32", [1], 30),  # not ASCII: fallback id
    st_tensor("with space", "F32", [1], 31),
    st_tensor("", "U8", [1], 32),  # the empty name
    st_tensor("x" * 512, "U8", [1], 33),  # the longest name that is its own id
    st_tensor("y" * 513, "U8", [1], 34),
    st_tensor("a#tensor/b~1", "U8", [1], 35),  # printable ASCII: its own id
    st_tensor("\U0001f600", "U8", [1], 36),
]
MODEL_TENSORS = [
    st_tensor("model.embed.weight", "BF16", [4, 2], 40),
    st_tensor("model.layers.0.mlp.weight", "F16", [2, 2], 41),
    st_tensor("model.layers.0.mlp.bias", "F32", [2], 42),
    st_tensor("model.layers.1.mlp.weight", "I8", [2, 2], 43),
    st_tensor("model.norm.weight", "F32", [2], 44),
    st_tensor("position_ids", "I64", [1, 4], 45),
    st_tensor("mask", "BOOL", [4], 46),
]
CONFIG = (
    b'{"model_type": "tiny", "hidden_size": 2, "rms_norm_eps": 1e-05, "vocab_size": 32000,\n'
    b'"architectures": ["TinyForCausalLM"], "torch_dtype": "bfloat16", "tie": false,\n'
    b'"x": null, "neg": -0.0, "u": "\\u00e9", "big": 9007199254740991, "f": 1E2}\n'
)


def _lib_safetensors(path: Path) -> Path:
    """A file the reference library writes (its own header order and padding)."""
    from safetensors.numpy import save_file

    arrays = {
        "w.f32": np.arange(6, dtype=np.float32).reshape(2, 3),
        "w.f16": np.arange(4, dtype=np.float16),
        "w.f64": np.array(1.5),
        "w.i64": np.array([[1, -2]], dtype=np.int64),
        "w.u16": np.arange(3, dtype=np.uint16),
        "w.bool": np.array([True, False, True]),
        "w.i8": np.array([-1, 2], dtype=np.int8),
        "w.empty": np.zeros((0, 2), dtype=np.float32),
        "b": np.array([7], dtype=np.uint8),
    }
    save_file(arrays, str(path), metadata={"format": "np", "note": "caf\u00e9"})
    return path


def build_safetensors(base: Path) -> dict[str, Path]:
    """Single files: name -> path (each in its own folder)."""
    out: dict[str, Path] = {}

    def new(name: str, file: str = "model.safetensors") -> Path:
        (base / name).mkdir()
        out[name] = base / name / file
        return out[name]

    st_write(new("all_dtypes"), ALL_DTYPES, {"format": "pt", "k\u00e9": "v\u00e9", "": ""})
    st_write(new("names"), NAMES, {"format": "pt"})
    order = list(reversed(range(len(MODEL_TENSORS))))
    st_write(new("no_metadata", "Model.SafeTensors"), MODEL_TENSORS, None)
    st_write(new("metadata_null"), MODEL_TENSORS, None, metadata_null=True)
    st_write(new("empty_metadata"), MODEL_TENSORS, {})
    st_write(new("reordered"), MODEL_TENSORS[::-1], None, header_order=order)
    st_write(new("no_tensors"), [], {"format": "pt"})
    st_raw(new("bare_empty"), b"{}")
    st_write(new("only_empty_tensors"), [ALL_DTYPES[-1], ALL_DTYPES[-2]], None)
    # a tensor larger than SHARD_SIZE: the file digest is sha256-shards
    big = StTensor(
        "big", "U8", (SHARD_SIZE + 5,), bytes(range(256)) * (SHARD_SIZE // 256) + b"12345"
    )
    st_write(new("big"), [big, MODEL_TENSORS[0]], {"format": "pt"})
    _lib_safetensors(new("library"))
    # a JSON header written with other spellings (spaces, escapes) than the library's
    hdr = (
        b'{ "w" : {"shape": [ 2 ], "dtype": "F32", "data_offsets": [0, 8]},\n'
        b' "\\u0062" : {"data_offsets":[8,9],"dtype":"U8","shape":[1]},'
        b' "__metadata__": {"format": "p\\u0074"}}'
    )
    st_raw(new("spelling"), hdr + b" " * ((-len(hdr)) % 8), EX_W + b"\x07")
    return out


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)


HF_EXTRAS = {
    "tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE"}}',
    "tokenizer_config.json": b'{"chat_template": "{{ messages }}"}',
    "special_tokens_map.json": b"{}",
    "generation_config.json": b'{"do_sample": true}',
    "chat_template.jinja": b"{% for m in messages %}{{ m }}{% endfor %}",
    "modeling_tiny.py": b"print('custom code')\n",
    "pytorch_model.bin": pickle.dumps({"w": [1, 2]}, protocol=4),
    "consolidated.safetensors": b"not even a safetensors file",  # not in the index: opaque
    ".gitattributes": b"*.safetensors filter=lfs\n",
    "README.md": b"# tiny\n",
    "sub/.git/config": b"included: only the top-level .git is excluded\n",
    ".cache/other.txt": b"included: only .cache/huggingface is excluded\n",
    "e\u0301t\u00e9/vocab.txt": b"NFD folder name, recorded NFC\n",
    "empty.txt": b"",
    # excluded
    ".cache/huggingface/download/model.safetensors.metadata": b"etag\n",
    ".cache/huggingface/.gitignore": b"*\n",
    ".git/HEAD": b"ref: refs/heads/main\n",
    ".git/lfs/objects/ab/cd/abcd": b"an LFS object\n",
}


def build_checkpoints(base: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    t = MODEL_TENSORS
    out["hf_two_shards"] = st_checkpoint(
        base / "hf_two_shards",
        [t[:3], t[3:]],
        config=CONFIG,
        index_metadata={"total_size": 99, "format": "pt"},
        shard_metadata={"format": "pt"},
        extra=HF_EXTRAS,
    )
    out["hf_three_shards"] = st_checkpoint(
        base / "hf_three_shards", [t[5:], t[2:5][::-1], t[:2]], config=CONFIG, index_metadata={}
    )
    out["hf_index_without_metadata"] = st_checkpoint(
        base / "hf_index_without_metadata", [t[:3], t[3:]], config=CONFIG
    )
    out["hf_index_null_config"] = st_checkpoint(
        base / "hf_index_null_config", [t], config=None, index_metadata={"n": [1, 2.5, None]}
    )
    out["hf_shard_in_subfolder"] = st_checkpoint(
        base / "hf_shard_in_subfolder",
        [t[:1], t[1:]],
        shard_names=["weights/part-1.safetensors", "weights/deeper/part-2.safetensors"],
        index_metadata={"total_size": 1},
    )
    out["hf_custom_index_name"] = st_checkpoint(
        base / "hf_custom_index_name",
        [t[:4], t[4:]],
        index_name="diffusion_pytorch_model.safetensors.index.json",
        shard_names=["a.safetensors", "b.safetensors"],
    )
    # no index: model.safetensors is the model leaf, the other top-level safetensors are data
    plain = base / "plain_single"
    plain.mkdir()
    st_write(plain / "model.safetensors", t, {"format": "pt"})
    st_write(plain / "adapter_model.safetensors", NAMES[:2], None)
    _write_files(plain, {"config.json": CONFIG, "tokenizer.json": b"{}"})
    out["plain_single"] = plain
    # case 4: the one *.safetensors file, whatever its name and case
    only = base / "only_one"
    only.mkdir()
    st_write(only / "Weights.SAFETENSORS", ALL_DTYPES, None)
    _write_files(only, {"sub/model.safetensors": b"below the top level: opaque data"})
    out["only_one"] = only
    # shards with different __metadata__ (none, null, objects): `headers` sorted by JCS bytes
    mixed = st_checkpoint(base / "hf_mixed_headers", [t[:2], t[2:4], t[4:5], t[5:]], config=None)
    shards = [t[:2], t[2:4], t[4:5], t[5:]]
    for i, meta in enumerate([{"z": "1"}, None, {"a": "\u00e9", "b": ""}, {}]):
        shard = mixed / f"model-{i + 1:05d}-of-00004.safetensors"
        st_write(shard, shards[i], meta, metadata_null=i == 1)
    out["hf_mixed_headers"] = mixed
    # an index that maps no tensor: no weights file, and nothing else
    empty = base / "index_without_tensors"
    _write_files(empty, {"model.safetensors.index.json": b'{"weight_map": {}}'})
    out["index_without_tensors"] = empty
    # a shard larger than SHARD_SIZE
    big = StTensor("big", "U8", (SHARD_SIZE + 1,), b"\x01" * (SHARD_SIZE + 1))
    out["hf_big_shard"] = st_checkpoint(base / "hf_big_shard", [[big], t[:2]], index_metadata={})
    return out


def build_hf_snapshot(base: Path) -> tuple[Path, Path]:
    """A Hugging Face cache snapshot (links into ../../blobs) and a plain copy of its files."""
    copy = st_checkpoint(base / "copy", [MODEL_TENSORS[:2], MODEL_TENSORS[2:]], config=CONFIG)
    _write_files(copy, {"tokenizer.json": b"{}"})
    repo = base / "hub" / "models--org--tiny"
    snap = repo / "snapshots" / "0123abcd"
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    for p in sorted(copy.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
            blob.write_bytes(data)
            link = snap / p.relative_to(copy)
            link.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.path.relpath(blob, link.parent), link)
    _write_files(snap, {".cache/huggingface/x": b"y"})
    return snap, copy


def gguf_rich_kvs(arch: str = "llama") -> list[KV]:
    return [
        ("general.architecture", STRING, arch),
        ("general.name", STRING, "tiny caf\u00e9"),
        ("general.alignment", UINT32, 64),
        ("general.file_type", UINT32, 7),
        ("general.quantization_version", UINT32, 2),
        ("general.tags", ARRAY, (STRING, ["a", "", "\u00e9\U0001f600"])),
        (f"{arch}.context_length", UINT32, 128),
        (f"{arch}.embedding_length", UINT64, 2**40 + 3),
        (f"{arch}.rope.freq_base", FLOAT32, 10000.0),
        (f"{arch}.attention.layer_norm_rms_epsilon", FLOAT64, 1e-5),
        (f"{arch}.u8", UINT8, 255),
        (f"{arch}.i8", INT8, -1),
        (f"{arch}.u16", UINT16, 65535),
        (f"{arch}.i16", INT16, -2),
        (f"{arch}.i32", INT32, -3),
        (f"{arch}.i64", INT64, -(2**62)),
        (f"{arch}.flag", BOOL, 1),
        (f"{arch}.ints", ARRAY, (INT32, [1, -1, 7])),
        (f"{arch}.empty", ARRAY, (UINT8, [])),
        ("tokenizer.ggml.model", STRING, "gpt2"),
        ("tokenizer.ggml.tokens", ARRAY, (STRING, ["<s>", "</s>", "\u00e9", " a"])),
        ("tokenizer.ggml.scores", ARRAY, (FLOAT32, [0.0, -1.5, 2.25, -0.0])),
        ("tokenizer.ggml.token_type", ARRAY, (INT32, [3, 3, 1, 1])),
        ("tokenizer.ggml.add_bos_token", BOOL, 0),
        ("tokenizer.ggml.flags", ARRAY, (BOOL, [1, 0, 1])),
        ("tokenizer.ggml.doubles", ARRAY, (FLOAT64, [1.0, -2.5])),
        ("tokenizer.ggml.u64s", ARRAY, (UINT64, [0, 2**64 - 1])),
        ("tokenizer.chat_template", STRING, "{{ messages }}"),
        ("adapter.type", STRING, "lora"),
        ("adapter.lora.alpha", FLOAT32, 16.0),
        ("other.key", STRING, "metadata"),
        ("llamas.prefix_but_not_arch", UINT32, 1),
    ]


def gguf_rich_tensors() -> list[GgufTensor]:
    return [
        gg_tensor("token_embd.weight", (64, 2), Q8_0, 1),
        gg_tensor("blk.0.attn_q.weight", (32, 2), Q4_0, 2),
        gg_tensor("blk.0.ffn.weight", (256,), Q4_K, 3),
        gg_tensor("blk.0.f16", (3, 2), F16, 4),
        gg_tensor("blk.0.bf16", (5,), BF16, 5),
        gg_tensor("blk.0.i8", (3,), I8, 6),
        gg_tensor("blk.0.i64", (2, 1, 1, 2), I64, 7),
        gg_tensor("blk.0.mxfp4", (32,), MXFP4, 8),
        gg_tensor("blk.0.nvfp4", (64, 1), NVFP4, 9),
        gg_tensor("blk.0.q1_0", (128,), Q1_0, 10),
        gg_tensor("scalar", (), F32, 11),
        gg_tensor("caf\u00e9.weight", (2,), F32, 12),
        gg_tensor("with space", (1,), F32, 13),
        gg_tensor("output_norm.weight", (7,), F32, 14),
    ]


def _lib_gguf(path: Path) -> Path:
    """A file the gguf package writes (its own order and padding)."""
    import gguf

    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_name("lib")
    writer.add_context_length(64)
    writer.add_token_list(["a", "bb", "\u00e9"])
    writer.add_token_scores([0.5, -1.0, 2.0])
    writer.add_bool("qwen2.flag", True)
    writer.add_array("general.numbers", [1.5, 2.5])
    writer.add_tensor("w", np.arange(6, dtype=np.float32).reshape(2, 3))
    writer.add_tensor("h", np.arange(4, dtype=np.float16))
    q8 = np.frombuffer(gg_tensor("q", (64,), Q8_0).data, dtype=np.uint8)
    writer.add_tensor("q", q8, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def split_parts(
    folder: Path,
    prefix: str,
    kvs: Sequence[KV],
    groups: Sequence[Sequence[GgufTensor]],
    version: int = 3,
    alignment: int = 32,
) -> Path:
    """A split model: keys in the first part, the split keys (and the alignment, when not the
    default) in every part."""
    count = len(groups)
    total = sum(len(g) for g in groups)
    folder.mkdir(parents=True, exist_ok=True)
    for k, group in enumerate(groups):
        split: list[KV] = [
            ("split.no", UINT16, k),
            ("split.count", UINT16, count),
            ("split.tensors.count", INT32, total),
        ]
        if alignment != 32:
            split.append(("general.alignment", UINT32, alignment))
        own = [*kvs, *split] if k == 0 else split
        name = f"{prefix}-{k + 1:05d}-of-{count:05d}.gguf"
        data = gguf_bytes(own, group, version=version, alignment=alignment)
        (folder / name).write_bytes(data)
    return folder / f"{prefix}-00001-of-{count:05d}.gguf"


def build_gguf(base: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}

    def new(name: str, data: bytes, file: str = "model.gguf") -> None:
        (base / name).mkdir()
        out[name] = base / name / file
        out[name].write_bytes(data)

    kvs, tensors = gguf_rich_kvs(), gguf_rich_tensors()
    new("rich_v3", gguf_bytes(kvs, tensors, alignment=64))
    new("rich_v2", gguf_bytes(kvs, tensors, version=2, alignment=64))
    # reordered keys and tensors, another alignment, no tail padding: the same semantic digests
    kvs8 = [
        kv if kv[0] != "general.alignment" else ("general.alignment", UINT32, 8) for kv in kvs[::-1]
    ]
    new("rich_reordered", gguf_bytes(kvs8, tensors[::-1], alignment=8, pad_tail=False), "M.GGUF")
    kvs1 = [kv if kv[0] != "general.alignment" else ("general.alignment", UINT32, 1) for kv in kvs]
    new("rich_alignment_1", gguf_bytes(kvs1, tensors, alignment=1))
    no_align = [kv for kv in kvs if kv[0] != "general.alignment"]
    new("rich_default_alignment", gguf_bytes(no_align, tensors, pad_tail=False))
    # without general.architecture, llama.* keys are metadata
    new(
        "no_architecture",
        gguf_bytes([kv for kv in no_align if kv[0] != "general.architecture"], tensors),
    )
    # an architecture named `general`: every general.* key is then one of its hyper-parameters
    general = [kv for kv in gguf_rich_kvs("general") if kv[0] != "general.alignment"]
    new("architecture_general", gguf_bytes(general, tensors[:3]))
    new("no_tensors", gguf_bytes(kvs[:2], [], pad_tail=False))
    new("no_tensors_padded", gguf_bytes(kvs[:2], []))
    new("empty", gguf_bytes([], []))
    new("one_tensor_no_keys", gguf_bytes([], tensors[:1], version=2))
    # values SPEC does not check: a BOOL byte of 2 and a STRING that is not UTF-8
    odd: list[KV] = [
        ("general.flag", BOOL, 2),
        ("general.name", STRING, b"\xff\xfe"),
        ("tokenizer.x", STRING, b"\x80"),
    ]
    new("unchecked_values", gguf_bytes(odd, tensors[:2]))
    # split keys with split.count 1: not a split model, and the keys are storage keys
    one: list[KV] = [
        *kvs[:2],
        ("split.no", UINT16, 0),
        ("split.count", UINT16, 1),
        ("split.tensors.count", INT32, 1),
    ]
    new("split_count_1", gguf_bytes(one, tensors[:1]))
    # names that are not like a part's (SPEC 14.5): single files
    for tag, file in (
        ("00001_of_00001", "m-00001-of-00001.gguf"),
        ("00000_of_00002", "m-00000-of-00002.gguf"),
        ("00003_of_00002", "m-00003-of-00002.gguf"),
        ("1_of_2", "m-1-of-2.gguf"),
        ("empty_prefix", "-00001-of-00002.gguf"),
    ):
        new(f"name_{tag}", gguf_bytes(kvs[:2], tensors[:1]), file)
    (base / "library").mkdir()
    out["library"] = _lib_gguf(base / "library" / "lib.gguf")
    # split models and their single-file twins
    out["split_3"] = split_parts(
        base / "split_3", "tiny", no_align, [tensors[:5], tensors[5:6], tensors[6:]]
    )
    new("split_one_file", gguf_bytes(no_align, tensors), "tiny.gguf")
    out["split_2_v2_upper"] = split_parts(
        base / "split_2", "m", no_align, [tensors[:1], tensors[1:]], version=2
    )
    upper = out["split_2_v2_upper"].with_name("m-00002-of-00002.GGUF")
    out["split_2_v2_upper"].with_name("m-00002-of-00002.gguf").rename(upper)
    out["split_2_v2_upper"] = out["split_2_v2_upper"].rename(
        out["split_2_v2_upper"].with_name("m-00001-of-00002.GGUF")
    )
    return out


def build_opaque(base: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
    files = {
        "model.pt": pickle.dumps(None, protocol=2),
        "MODEL.PTH": pickle.dumps([1, 2], protocol=3),
        "weights.ckpt": zbuf.getvalue(),
        "text.pt": b"not a pickle at all: the name decides",
        "empty.pth": b"",
        "p2.bin": pickle.dumps({"x": 1.5}, protocol=2),
        "p5.BIN": pickle.dumps(b"x" * 100, protocol=5),
        "zip.bin": zbuf.getvalue(),
    }
    for name, data in files.items():
        (base / name).mkdir()
        out[name] = base / name / name
        out[name].write_bytes(data)
    return out


@dataclass
class Corpus:
    runs: dict[str, Run]
    expected: dict[str, Expected]


def _expect(path: Path) -> Expected:
    if path.is_dir():
        return st_folder(path)
    lower = path.name.lower()
    if lower.endswith(".safetensors"):
        return st_single_file(path)
    if lower.endswith(".gguf"):
        return gguf_model(path)
    return opaque_model(path)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    base = tmp_path_factory.mktemp("formats")
    models: dict[str, Path] = {}
    for kind, build in (
        ("st", build_safetensors),
        ("ck", build_checkpoints),
        ("gg", build_gguf),
        ("op", build_opaque),
    ):
        (base / kind).mkdir()
        models.update({f"{kind}:{name}": path for name, path in build(base / kind).items()})
    snap, copy = build_hf_snapshot(base / "hub")
    models["ck:hf_snapshot"], models["ck:hf_snapshot_copy"] = snap, copy
    os.symlink(models["ck:hf_two_shards"], base / "ck" / "linked")
    models["ck:linked_folder"] = base / "ck" / "linked"
    names = sorted(models)
    runs = dict(zip(names, run_all([models[n] for n in names]), strict=True))
    return Corpus(runs, {n: _expect(models[n]) for n in names})


# ============================================================================================
# Inputs SPEC refuses (13.1, 13.2, 14.1, 14.5, 15)
# ============================================================================================

W_INFO = b'"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}'


def _st_hdr(body: bytes) -> bytes:
    return b"{" + body + b"}"


def build_refused(base: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}

    def new(name: str, file: str) -> Path:
        (base / name).mkdir()
        out[name] = base / name / file
        return out[name]

    def st_file(name: str, header: bytes, data: bytes = EX_W) -> None:
        st_raw(new(name, "m.safetensors"), header, data)

    # --- 13.1: one weights file
    new("st_shorter_than_8", "m.safetensors").write_bytes(b"\x02\x00\x00\x00\x00")
    new("st_header_past_end", "m.safetensors").write_bytes(struct.pack("<Q", 1000) + b"{}")
    with new("st_header_over_100_000_000", "m.safetensors").open("wb") as fh:
        fh.write(struct.pack("<Q", ST_MAX_HEADER + 1) + b"{}")
        fh.truncate(8 + ST_MAX_HEADER + 16)  # sparse: nothing is written
    st_file("st_leading_space", b" " + _st_hdr(W_INFO))
    st_file("st_bom", b"\xef\xbb\xbf" + _st_hdr(W_INFO))
    st_file("st_not_utf8", _st_hdr(W_INFO + b',"\xff":{}'))
    st_file("st_trailing_garbage", _st_hdr(W_INFO) + b" x")
    st_file("st_nul_padding", _st_hdr(W_INFO) + b"\x00" * 4)
    st_file("st_duplicate_key", _st_hdr(W_INFO + b"," + W_INFO))
    st_file("st_nan", _st_hdr(b'"w":{"dtype":"F32","shape":[NaN],"data_offsets":[0,8]}'))
    st_file(
        "st_lone_surrogate", _st_hdr(b'"\\ud800":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}')
    )
    st_file("st_metadata_not_strings", _st_hdr(b'"__metadata__":{"a":1},' + W_INFO))
    st_file(
        "st_extra_member", _st_hdr(b'"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}')
    )
    st_file(
        "st_unknown_dtype", _st_hdr(b'"w":{"dtype":"F8_E4M3FNUZ","shape":[8],"data_offsets":[0,8]}')
    )
    st_file("st_shape_negative", _st_hdr(b'"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,8]}'))
    st_file("st_shape_float", _st_hdr(b'"w":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}'))
    st_file(
        "st_shape_2_64",
        _st_hdr(b'"w":{"dtype":"U8","shape":[18446744073709551616,0],"data_offsets":[0,0]}'),
        b"",
    )
    st_file("st_offsets_three", _st_hdr(b'"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}'))
    st_file("st_begin_after_end", _st_hdr(b'"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}'))
    st_file("st_size_mismatch", _st_hdr(b'"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}'))
    st_file(
        "st_f4_wrong_size", _st_hdr(b'"w":{"dtype":"F4","shape":[3],"data_offsets":[0,1]}'), b"\x01"
    )
    st_file(
        "st_gap",
        _st_hdr(
            b'"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[3],"data_offsets":[5,8]}'
        ),
    )
    st_file(
        "st_overlap",
        _st_hdr(
            b'"a":{"dtype":"U8","shape":[5],"data_offsets":[0,5]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}'
        ),
    )
    st_file("st_data_after_tensors", _st_hdr(W_INFO), EX_W + b"\x00")
    st_file("st_data_without_tensors", b"{}", b"\x00")
    st_file("st_tensor_past_end", _st_hdr(b'"w":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}'))
    # --- 13.2 and 13.3: checkpoint folders
    t = MODEL_TENSORS

    def ck(name: str, **kw: Any) -> Path:
        out[name] = st_checkpoint(base / name, [t[:3], t[3:]], **kw)
        return out[name]

    index = "model.safetensors.index.json"

    def edit_index(folder: Path, fn: Callable[[dict[str, Any]], Any]) -> None:
        doc = json.loads((folder / index).read_text())
        (folder / index).write_text(json.dumps(fn(doc)))

    (ck("ck_index_names_a_missing_file") / "model-00002-of-00002.safetensors").unlink()
    edit_index(
        ck("ck_index_lacks_a_tensor"),
        lambda d: {**d, "weight_map": dict(list(d["weight_map"].items())[1:])},
    )
    edit_index(
        ck("ck_index_has_an_extra_tensor"),
        lambda d: {
            **d,
            "weight_map": {**d["weight_map"], "ghost": "model-00001-of-00002.safetensors"},
        },
    )
    edit_index(
        ck("ck_index_tensor_in_other_file"),
        lambda d: {
            **d,
            "weight_map": {**d["weight_map"], t[0].name: "model-00002-of-00002.safetensors"},
        },
    )
    bad_paths = {
        "dotdot": "../x.safetensors",
        "absolute": "/abs.safetensors",
        "dot": "./model-00001-of-00002.safetensors",
        "backslash": "a\\b.safetensors",
    }
    for tag, bad in bad_paths.items():
        edit_index(
            ck(f"ck_index_path_{tag}"),
            lambda d, b=bad: {**d, "weight_map": {**d["weight_map"], t[0].name: b}},
        )
    edit_index(ck("ck_index_extra_member"), lambda d: {**d, "format": "pt"})
    edit_index(ck("ck_index_without_weight_map"), lambda d: {"metadata": {}})
    edit_index(ck("ck_index_metadata_null"), lambda d: {**d, "metadata": None})
    (ck("ck_index_duplicate_key") / index).write_text('{"weight_map": {}, "weight_map": {}}')
    # the same tensor in two weights files (each index entry names one file)
    dup = base / "ck_tensor_in_two_files"
    st_checkpoint(dup, [t[:2], t[1:]])
    out["ck_tensor_in_two_files"] = dup
    # a printable-ASCII name equal to another tensor's fallback id
    collide = [st_tensor("\u00e9", "U8", [1]), st_tensor(st_id("\u00e9"), "U8", [1])]
    out["ck_ids_collide"] = st_checkpoint(base / "ck_ids_collide", [collide[:1], collide[1:]])
    two = base / "ck_two_indexes"
    st_checkpoint(two, [t], index_name="a.safetensors.index.json")
    (two / "B.SafeTensors.Index.JSON").write_bytes((two / "a.safetensors.index.json").read_bytes())
    out["ck_two_indexes"] = two
    pair = base / "ck_two_safetensors"
    st_write(pair / "a.safetensors", t[:2])
    st_write(pair / "b.safetensors", t[2:])
    out["ck_two_safetensors"] = pair
    none = base / "ck_no_safetensors"
    _write_files(none, {"config.json": CONFIG, "sub/model.safetensors": b""})
    out["ck_no_safetensors"] = none
    os.symlink("config.json", ck("ck_symlink") / "link.json")
    os.mkfifo(ck("ck_fifo") / "pipe")
    ck("ck_config_not_an_object", config=b"[1, 2]")
    ck("ck_config_duplicate_key", config=b'{"a": 1, "a": 2}')
    ck("ck_config_bom", config=b'\xef\xbb\xbf{"a": 1}')
    ck("ck_config_infinity", config=b'{"a": 1e400}')
    ck("ck_index_bom")
    (base / "ck_index_bom" / index).write_bytes(
        b"\xef\xbb\xbf" + (base / "ck_index_bom" / index).read_bytes()
    )
    _write_files(ck("ck_item_like_name"), {"notes#semantic": b"x"})
    _write_files(ck("ck_backslash_name"), {"a\\b.txt": b"x"})
    # snapshot links that leave the repository folder
    for tag, target in (
        ("outside", "../../../../elsewhere.txt"),
        ("other_repo", "../../../models--org--other/blobs/x"),
    ):
        repo = base / f"hub_{tag}" / "models--org--tiny"
        snap = repo / "snapshots" / "rev"
        st_checkpoint(snap, [t])
        (base / f"hub_{tag}" / "elsewhere.txt").write_bytes(b"x")
        (base / f"hub_{tag}" / "models--org--other" / "blobs").mkdir(parents=True)
        (base / f"hub_{tag}" / "models--org--other" / "blobs" / "x").write_bytes(b"x")
        os.symlink(target, snap / "tokenizer.json")
        out[f"ck_snapshot_link_{tag}"] = snap
    # --- 14.1: one GGUF file
    kvs, tensors = _example_14_6_parts()

    def gg(name: str, data: bytes, file: str = "m.gguf") -> None:
        new(name, file).write_bytes(data)

    good = gguf_bytes(kvs, tensors)
    with new("gg_header_past_64_mib", "m.gguf").open("wb") as fh:  # a 64 MiB string value
        fh.write(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_str("a"))
        fh.write(struct.pack("<IQ", STRING, GGUF_MAX_HEADER))
        fh.truncate(GGUF_MAX_HEADER + 4096)
    gg("gg_magic", b"GGUG" + good[4:])
    gg("gg_version_1", good[:4] + struct.pack("<I", 1) + good[8:])
    gg("gg_big_endian", good[:4] + struct.pack(">I", 3) + good[8:])
    gg("gg_kv_count_2_64", good[:16] + struct.pack("<Q", 2**64 - 1) + good[24:])
    gg("gg_tensor_count_2_64", good[:8] + struct.pack("<Q", 2**64 - 1) + good[16:])
    gg(
        "gg_string_length_2_64",
        gguf_bytes([], [])[:16] + struct.pack("<Q", 1) + struct.pack("<Q", 2**64 - 1) + b"abc",
    )
    gg(
        "gg_array_count_2_64",
        gguf_bytes([("a", ARRAY, (UINT8, []))], []).replace(
            struct.pack("<IQ", UINT8, 0), struct.pack("<IQ", UINT8, 2**64 - 1)
        ),
    )
    for a, tag in ((0, "0"), (48, "48")):
        gg(f"gg_alignment_{tag}", gguf_bytes([("general.alignment", UINT32, a)], []))
    gg("gg_alignment_uint64", gguf_bytes([("general.alignment", UINT64, 32)], []))
    gg("gg_dims_5", gguf_bytes([], [GgufTensor("t", (1, 1, 1, 1, 1), F32, b"\0" * 4)]))
    nested = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + gguf_str("a")
    gg("gg_nested_array", nested + struct.pack("<IIQ", ARRAY, ARRAY, 0) + b"\0" * 4)
    gg("gg_duplicate_key", gguf_bytes([("a", UINT8, 1), ("a", UINT8, 1)], []))
    gg("gg_duplicate_tensor", gguf_bytes([], [tensors[1], tensors[1]]))
    gg(
        "gg_value_type_13",
        gguf_bytes([("a", UINT8, 1)], []).replace(
            struct.pack("<IB", UINT8, 1), struct.pack("<IB", 13, 1)
        ),
    )
    gg(
        "gg_array_element_type_13",
        gguf_bytes([("a", ARRAY, (UINT8, []))], []).replace(
            struct.pack("<IQ", UINT8, 0), struct.pack("<IQ", 13, 0)
        ),
    )
    gg("gg_ggml_type_4", gguf_bytes([], [GgufTensor("t", (32,), 4, b"\0" * 20)]))
    gg("gg_q8_0_row_not_a_block", gguf_bytes([], [GgufTensor("t", (16, 2), Q8_0, b"\0" * 34)]))
    gg("gg_q4_k_scalar", gguf_bytes([], [GgufTensor("t", (), Q4_K, b"\0" * 144)]))
    gg("gg_dimension_0", gguf_bytes([], [GgufTensor("t", (2, 0), F32, b"")]))
    gg("gg_elements_2_64", gguf_bytes([], [GgufTensor("t", (2**32, 2**32), I8, b"")]))
    gg("gg_empty_tensor_name", gguf_bytes([], [GgufTensor("", (1,), F32, b"\0" * 4)]))
    gg(
        "gg_tensor_name_513_bytes",
        gguf_bytes([], [GgufTensor("\u00e9" * 256 + "x", (1,), F32, b"\0" * 4)]),
    )
    gg(
        "gg_tensor_name_not_utf8",
        gguf_bytes([], [GgufTensor("ab", (1,), F32, b"\0" * 4)]).replace(
            gguf_str("ab"), gguf_str(b"a\xff")
        ),
    )
    gg("gg_key_not_utf8", gguf_bytes([(b"a\xff", UINT8, 1)], []))
    gg("gg_key_65536_bytes", gguf_bytes([("k" * 65536, UINT8, 1)], []))
    two = gguf_bytes([], tensors)
    off1 = struct.pack("<IQ", F32, 32)
    gg("gg_offset_unaligned", two.replace(off1, struct.pack("<IQ", F32, 20)))
    gg("gg_offset_gap", two.replace(off1, struct.pack("<IQ", F32, 64)) + b"\0" * 32)
    gg(
        "gg_offset_overlap",
        gguf_bytes([("general.alignment", UINT32, 8)], tensors, alignment=8).replace(
            struct.pack("<IQ", F32, 16), struct.pack("<IQ", F32, 8)
        ),
    )
    gg("gg_tensor_past_the_end", two[:-30])
    gg("gg_bytes_after_padding", two + b"\0")
    gg("gg_bytes_after_header", gguf_bytes(kvs, []) + b"\0" * 40)
    gg("gg_architecture_uint32", gguf_bytes([("general.architecture", UINT32, 1)], []))
    gg("gg_architecture_not_utf8", gguf_bytes([("general.architecture", STRING, b"\xff")], []))
    gg(
        "gg_split_keys_partial",
        gguf_bytes([("split.no", UINT16, 0), ("split.count", UINT16, 2)], []),
    )
    gg(
        "gg_split_no_not_below_count",
        gguf_bytes(
            [
                ("split.no", UINT16, 2),
                ("split.count", UINT16, 2),
                ("split.tensors.count", INT32, 0),
            ],
            [],
        ),
    )
    gg(
        "gg_split_key_types",
        gguf_bytes(
            [
                ("split.no", UINT32, 0),
                ("split.count", UINT16, 1),
                ("split.tensors.count", INT32, 0),
            ],
            [],
        ),
    )
    ids = [
        GgufTensor("\u00e9", (1,), F32, b"\0" * 4),
        GgufTensor(gguf_id("\u00e9"), (1,), F32, b"\0" * 4),
    ]
    gg("gg_ids_collide", gguf_bytes([], ids))
    # --- 14.5: split models
    rich_kvs, rich = (
        [kv for kv in gguf_rich_kvs() if kv[0] != "general.alignment"],
        gguf_rich_tensors(),
    )
    groups = [rich[:4], rich[4:9], rich[9:]]
    (split_parts(base / "gs_missing_part", "x", rich_kvs, groups)).with_name(
        "x-00002-of-00003.gguf"
    ).unlink()
    out["gs_missing_part"] = base / "gs_missing_part" / "x-00001-of-00003.gguf"
    split_parts(base / "gs_later_part_named", "x", rich_kvs, groups)
    out["gs_later_part_named"] = base / "gs_later_part_named" / "x-00002-of-00003.gguf"
    first = split_parts(base / "gs_first_part_renamed", "x", rich_kvs, groups)
    out["gs_first_part_renamed"] = first.rename(first.with_name("x.gguf"))
    first = split_parts(base / "gs_count_not_in_name", "x", rich_kvs, groups[:2])
    for p in sorted(first.parent.iterdir()):
        p.rename(p.with_name(p.name.replace("-of-00002", "-of-00003")))
    out["gs_count_not_in_name"] = first.with_name("x-00001-of-00003.gguf")
    first = split_parts(base / "gs_part_numbers_swapped", "x", rich_kvs, groups[:2])
    a, b = first, first.with_name("x-00002-of-00002.gguf")
    a_kvs = gguf_bytes(
        [
            ("split.no", UINT16, 0),
            ("split.count", UINT16, 2),
            ("split.tensors.count", INT32, len(rich[:9])),
        ],
        [],
    )
    del a_kvs
    b.write_bytes(
        gguf_bytes(
            [
                ("split.no", UINT16, 0),
                ("split.count", UINT16, 2),
                ("split.tensors.count", INT32, 9),
            ],
            groups[1],
        )
    )
    out["gs_part_numbers_swapped"] = a
    first = split_parts(base / "gs_tensor_count_wrong", "x", rich_kvs, groups[:2])
    first.write_bytes(
        gguf_bytes(
            [
                *rich_kvs,
                ("split.no", UINT16, 0),
                ("split.count", UINT16, 2),
                ("split.tensors.count", INT32, 8),
            ],
            groups[0],
        )
    )
    b = first.with_name("x-00002-of-00002.gguf")
    b.write_bytes(
        gguf_bytes(
            [
                ("split.no", UINT16, 1),
                ("split.count", UINT16, 2),
                ("split.tensors.count", INT32, 8),
            ],
            groups[1],
        )
    )
    out["gs_tensor_count_wrong"] = first
    first = split_parts(base / "gs_key_in_two_parts", "x", rich_kvs, groups[:2])
    b = first.with_name("x-00002-of-00002.gguf")
    b.write_bytes(
        gguf_bytes(
            [
                ("general.name", STRING, "x"),
                ("split.no", UINT16, 1),
                ("split.count", UINT16, 2),
                ("split.tensors.count", INT32, 9),
            ],
            groups[1],
        )
    )
    out["gs_key_in_two_parts"] = first
    first = split_parts(base / "gs_tensor_in_two_parts", "x", rich_kvs, [rich[:2], rich[1:3]])
    out["gs_tensor_in_two_parts"] = first
    gg("gs_named_like_part_1_of_2", good, "a-00001-of-00002.gguf")
    gg("gs_named_like_part_upper", good, "a-00002-OF-00003.GGUF")
    gg("gs_named_like_part_last", good, "a-00003-of-00003.gguf")
    out["gs_empty_prefix"] = split_parts(base / "gs_empty_prefix", "", rich_kvs, groups)
    case3 = base / "ck_case_3_is_exact"
    st_write(case3 / "Model.safetensors", t[:2])
    st_write(case3 / "other.safetensors", t[2:])
    out["ck_case_3_is_exact"] = case3
    # files larger than 2^40 bytes (sparse: nothing is written), refused before being read
    for name, file, head in (
        ("st_file_over_2_40", "m.safetensors", struct.pack("<Q", 2) + b"{}"),
        ("gg_file_over_2_40", "m.gguf", b"GGUF" + struct.pack("<IQQ", 3, 0, 0)),
        ("op_file_over_2_40", "m.pt", pickle.dumps(None, protocol=2)),
    ):
        with new(name, file).open("wb") as fh:
            fh.write(head)
            fh.truncate(2**40 + 1)
    # --- 15: a .bin that is no pickle of protocol 2 or more is read as ONNX
    new("op_bin_pickle_protocol_1", "model.bin").write_bytes(pickle.dumps({"a": 1}, protocol=1))
    return out


@pytest.fixture(scope="module")
def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Run]:
    paths = build_refused(tmp_path_factory.mktemp("refused"))
    names = sorted(paths)
    return dict(zip(names, run_all([paths[n] for n in names]), strict=True))


REFUSED_WITHOUT_OWN_READ = {  # sparse files
    "st_header_over_100_000_000",
    "gg_header_past_64_mib",
    "st_file_over_2_40",
    "gg_file_over_2_40",
}

# ============================================================================================
# Tests: the corpus
# ============================================================================================

CORPUS = sorted(
    [
        *(
            f"st:{n}"
            for n in (
                "all_dtypes",
                "names",
                "no_metadata",
                "metadata_null",
                "empty_metadata",
                "reordered",
                "no_tensors",
                "bare_empty",
                "only_empty_tensors",
                "big",
                "library",
                "spelling",
            )
        ),
        *(
            f"ck:{n}"
            for n in (
                "hf_two_shards",
                "hf_three_shards",
                "hf_index_without_metadata",
                "hf_index_null_config",
                "hf_shard_in_subfolder",
                "hf_custom_index_name",
                "plain_single",
                "only_one",
                "hf_big_shard",
                "index_without_tensors",
                "hf_mixed_headers",
                "hf_snapshot",
                "hf_snapshot_copy",
                "linked_folder",
            )
        ),
        *(
            f"gg:{n}"
            for n in (
                "rich_v3",
                "rich_v2",
                "rich_reordered",
                "rich_alignment_1",
                "rich_default_alignment",
                "no_architecture",
                "architecture_general",
                "no_tensors",
                "no_tensors_padded",
                "empty",
                "one_tensor_no_keys",
                "unchecked_values",
                "split_count_1",
                "library",
                "split_3",
                "split_one_file",
                "split_2_v2_upper",
                "name_00001_of_00001",
                "name_00000_of_00002",
                "name_00003_of_00002",
                "name_1_of_2",
                "name_empty_prefix",
            )
        ),
        *(
            f"op:{n}"
            for n in (
                "model.pt",
                "MODEL.PTH",
                "weights.ckpt",
                "text.pt",
                "empty.pth",
                "p2.bin",
                "p5.BIN",
                "zip.bin",
            )
        ),
    ]
)


def test_corpus_is_the_one_listed(corpus: Corpus) -> None:
    assert sorted(corpus.runs) == CORPUS


@pytest.mark.parametrize("name", CORPUS)
def test_corpus_model_lineage_matches_spec(corpus: Corpus, name: str) -> None:
    """Every leaf (file, model-data, model-semantic, tensor, subject), the root and the --json
    summary of `fingerprint --model X` equal what SPEC 13, 14 or 15 gives here."""
    assert differences(corpus.runs[name], corpus.expected[name]) == []


def _semantic(corpus: Corpus, name: str) -> dict[str, str]:
    sem = corpus.expected[name].semantic
    assert sem is not None
    return sem


def _tensor_leaves(corpus: Corpus, name: str) -> set[tuple[str, str, str]]:
    return {
        (leaf["tensor"], leaf["name"], leaf["digest"])
        for leaf in corpus.expected[name].leaves
        if leaf["kind"] == "tensor"
    }


def test_safetensors_invariances_of_13_4(corpus: Corpus) -> None:
    """Sharding, storage order and metadata: which digests move (the tool agreed above)."""
    sem = {n: _semantic(corpus, n) for n in CORPUS if not n.startswith("op:")}
    two, three, noidx = (
        sem[f"ck:{n}"] for n in ("hf_two_shards", "hf_three_shards", "hf_index_without_metadata")
    )
    assert two["weights"] == three["weights"] == noidx["weights"]
    assert two["graph"] == three["graph"] == noidx["graph"]  # same config.json
    assert len({two["metadata"], three["metadata"], noidx["metadata"]}) == 3
    assert sem["ck:hf_index_null_config"]["weights"] == two["weights"]
    assert sem["ck:hf_index_null_config"]["graph"] != two["graph"]
    single = [sem[f"st:{n}"] for n in ("no_metadata", "metadata_null", "reordered")]
    assert all(s == single[0] for s in single)  # `null` metadata is no metadata
    assert sem["st:empty_metadata"]["metadata"] != single[0]["metadata"]
    assert {k: v for k, v in sem["st:empty_metadata"].items() if k != "metadata"} == {
        k: v for k, v in single[0].items() if k != "metadata"
    }
    assert sem["st:no_metadata"]["weights"] == two["weights"]
    files = {
        corpus.expected[f"st:{n}"].model_leaf["digest"]
        for n in ("no_metadata", "metadata_null", "reordered")
    }
    assert len(files) == 3
    assert corpus.expected["st:spelling"].documents["weights"] == [
        ["b", st_digest(StTensor("b", "U8", (1,), b"\x07"))],
        ["w", st_digest(StTensor("w", "F32", (2,), EX_W))],
    ]


def test_gguf_invariances_of_14_4(corpus: Corpus) -> None:
    same = [
        "rich_v3",
        "rich_v2",
        "rich_reordered",
        "rich_alignment_1",
        "rich_default_alignment",
        "split_3",
        "split_one_file",
    ]
    sems = [_semantic(corpus, f"gg:{n}") for n in same]
    assert all(s == sems[0] for s in sems), "version, order, alignment and split change nothing"
    files = {corpus.expected[f"gg:{n}"].model_leaf["digest"] for n in same}
    assert len(files) == len(same)
    no_arch = _semantic(corpus, "gg:no_architecture")
    assert no_arch["weights"] == sems[0]["weights"] and no_arch["graph"] != sems[0]["graph"]
    graph_keys = [k for k, _ in corpus.expected["gg:rich_v3"].documents["graph"]["keys"]]
    metadata_keys = [k for k, _ in corpus.expected["gg:rich_v3"].documents["metadata"]]
    assert "adapter.lora.alpha" in graph_keys and "tokenizer.chat_template" in graph_keys
    assert "llamas.prefix_but_not_arch" in metadata_keys and "general.file_type" in metadata_keys
    assert not {"general.alignment", "split.no"} & {*graph_keys, *metadata_keys}
    general = [k for k, _ in corpus.expected["gg:architecture_general"].documents["graph"]["keys"]]
    assert "general.file_type" in general


def test_corpus_covers_the_rules(corpus: Corpus) -> None:
    """The corpus holds what the rules are about: fallback ids, the empty name, sub-byte and
    quantised types, sharded file digests, excluded and included folder files, parts."""
    leaves = [leaf for name in CORPUS for leaf in corpus.expected[name].leaves]
    ids = {leaf["tensor"] for leaf in leaves if leaf["kind"] == "tensor"}
    assert any(i.startswith("~sha256:") for i in ids) and any(
        i.startswith("name-sha256:") for i in ids
    )
    assert ("~sha256:" + hashlib.sha256(b"").hexdigest(), "") in {
        (leaf["tensor"], leaf["name"]) for leaf in leaves if leaf["kind"] == "tensor"
    }
    assert "x" * 512 in ids and "y" * 513 not in ids
    assert any(
        str(leaf.get("digest", "")).startswith("sha256-shards:") and leaf["kind"] == "model-data"
        for leaf in leaves
    )
    assert any(
        str(leaf.get("digest", "")).startswith("sha256-shards:") and leaf["kind"] == "model"
        for leaf in leaves
    )
    headers = corpus.expected["ck:hf_mixed_headers"].documents["metadata"]["headers"]
    assert headers == [None, {"a": "\u00e9", "b": ""}, {"z": "1"}, {}]  # "{}" sorts last
    types = {t["type"] for t in corpus.expected["gg:rich_v3"].documents["graph"]["tensors"]}
    assert {Q8_0, Q4_0, Q4_K, MXFP4, NVFP4, Q1_0, BF16, F16, I64} <= types
    dtypes = {t[1] for t in corpus.expected["st:all_dtypes"].documents["graph"]["tensors"]}
    assert dtypes == set(ST_BITS)
    two = {
        leaf["path"]: leaf["kind"]
        for leaf in corpus.expected["ck:hf_two_shards"].leaves
        if "size" in leaf
    }
    assert two["model.safetensors.index.json"] == "model"
    for included in (
        "pytorch_model.bin",
        "consolidated.safetensors",
        ".gitattributes",
        "sub/.git/config",
        ".cache/other.txt",
        "\u00e9t\u00e9/vocab.txt",
        "empty.txt",
        "modeling_tiny.py",
    ):
        assert two[included] == "model-data", included
    assert not [p for p in two if p.startswith((".git/", ".cache/huggingface/"))]
    split = [leaf for leaf in corpus.expected["gg:split_3"].leaves if leaf["kind"] == "model-data"]
    assert sorted(leaf["path"] for leaf in split) == [
        "tiny-00002-of-00003.gguf",
        "tiny-00003-of-00003.gguf",
    ]


def test_hf_cache_snapshot_fingerprints_as_a_plain_copy(corpus: Corpus) -> None:
    """SPEC 13.2 Links: a snapshot's links are recorded by their own names."""
    snap, copy = corpus.runs["ck:hf_snapshot"], corpus.runs["ck:hf_snapshot_copy"]
    assert snap.manifest is not None and copy.manifest is not None
    assert snap.manifest["root"] == copy.manifest["root"]
    linked, real = corpus.runs["ck:linked_folder"], corpus.runs["ck:hf_two_shards"]
    assert linked.manifest is not None and real.manifest is not None
    assert linked.manifest["root"] == real.manifest["root"]


# ============================================================================================
# Tests: refused inputs
# ============================================================================================

REFUSED = sorted(
    [
        "st_shorter_than_8",
        "st_header_past_end",
        "st_header_over_100_000_000",
        "st_leading_space",
        "st_bom",
        "st_not_utf8",
        "st_trailing_garbage",
        "st_nul_padding",
        "st_duplicate_key",
        "st_nan",
        "st_lone_surrogate",
        "st_metadata_not_strings",
        "st_extra_member",
        "st_unknown_dtype",
        "st_shape_negative",
        "st_shape_float",
        "st_shape_2_64",
        "st_offsets_three",
        "st_begin_after_end",
        "st_size_mismatch",
        "st_f4_wrong_size",
        "st_gap",
        "st_overlap",
        "st_data_after_tensors",
        "st_data_without_tensors",
        "st_tensor_past_end",
        "ck_index_names_a_missing_file",
        "ck_index_lacks_a_tensor",
        "ck_index_has_an_extra_tensor",
        "ck_index_tensor_in_other_file",
        "ck_index_path_dotdot",
        "ck_index_path_absolute",
        "ck_index_path_dot",
        "ck_index_path_backslash",
        "ck_index_extra_member",
        "ck_index_without_weight_map",
        "ck_index_metadata_null",
        "ck_index_duplicate_key",
        "ck_tensor_in_two_files",
        "ck_ids_collide",
        "ck_two_indexes",
        "ck_two_safetensors",
        "ck_no_safetensors",
        "ck_symlink",
        "ck_fifo",
        "ck_config_not_an_object",
        "ck_config_duplicate_key",
        "ck_config_bom",
        "ck_config_infinity",
        "ck_index_bom",
        "ck_item_like_name",
        "ck_backslash_name",
        "ck_snapshot_link_outside",
        "ck_snapshot_link_other_repo",
        "gg_header_past_64_mib",
        "gg_magic",
        "gg_version_1",
        "gg_big_endian",
        "gg_kv_count_2_64",
        "gg_tensor_count_2_64",
        "gg_string_length_2_64",
        "gg_array_count_2_64",
        "gg_alignment_0",
        "gg_alignment_48",
        "gg_alignment_uint64",
        "gg_dims_5",
        "gg_nested_array",
        "gg_duplicate_key",
        "gg_duplicate_tensor",
        "gg_value_type_13",
        "gg_array_element_type_13",
        "gg_ggml_type_4",
        "gg_q8_0_row_not_a_block",
        "gg_q4_k_scalar",
        "gg_dimension_0",
        "gg_elements_2_64",
        "gg_empty_tensor_name",
        "gg_tensor_name_513_bytes",
        "gg_tensor_name_not_utf8",
        "gg_key_not_utf8",
        "gg_key_65536_bytes",
        "gg_offset_unaligned",
        "gg_offset_gap",
        "gg_offset_overlap",
        "gg_tensor_past_the_end",
        "gg_bytes_after_padding",
        "gg_bytes_after_header",
        "gg_architecture_uint32",
        "gg_architecture_not_utf8",
        "gg_split_keys_partial",
        "gg_split_no_not_below_count",
        "gg_split_key_types",
        "gg_ids_collide",
        "gs_missing_part",
        "gs_later_part_named",
        "gs_first_part_renamed",
        "gs_count_not_in_name",
        "gs_part_numbers_swapped",
        "gs_tensor_count_wrong",
        "gs_key_in_two_parts",
        "gs_tensor_in_two_parts",
        "gs_named_like_part_1_of_2",
        "gs_named_like_part_upper",
        "gs_named_like_part_last",
        "gs_empty_prefix",
        "ck_case_3_is_exact",
        "op_bin_pickle_protocol_1",
        "st_file_over_2_40",
        "gg_file_over_2_40",
        "op_file_over_2_40",
    ]
)


def test_refused_inputs_are_the_ones_listed(refused: dict[str, Run]) -> None:
    assert sorted(refused) == REFUSED


@pytest.mark.parametrize("name", REFUSED)
def test_input_outside_spec_is_refused_by_both(refused: dict[str, Run], name: str) -> None:
    """SPEC refuses it (this implementation does too) and the tool exits 2 with one line."""
    run = refused[name]
    assert_refused(run)
    if name in REFUSED_WITHOUT_OWN_READ or name.startswith("op_"):
        return
    with pytest.raises(Refused):
        _expect(run.model)


def test_file_ending_inside_the_last_padding_is_accepted(tmp_path: Path) -> None:
    """SPEC 14.1 rule 6: the file may end anywhere within the last tensor's padding (or the
    header's), and the padding is in no semantic digest."""
    kvs, tensors = _example_14_6_parts()
    full = gguf_bytes(kvs, tensors)
    paths = []
    for cut in (0, 8, 24):  # 384, 376 and 360 bytes
        (tmp_path / str(cut)).mkdir()
        paths.append(tmp_path / str(cut) / "m.gguf")
        paths[-1].write_bytes(full[: len(full) - cut])
    (tmp_path / "h").mkdir()
    paths.append(tmp_path / "h" / "m.gguf")
    paths[-1].write_bytes(gguf_bytes(kvs, [])[:-3])  # a header whose padding stops short
    for path, run in zip(paths, run_all(paths), strict=True):
        assert differences(run, gguf_model(path)) == []


def test_integers_beyond_2_53_in_config_and_index_are_refused(tmp_path: Path) -> None:
    t = MODEL_TENSORS[:1]
    config = st_checkpoint(tmp_path / "config", [t], config=b'{"seed": 9007199254740993}')
    index = st_checkpoint(tmp_path / "index", [t], index_metadata={"total_size": 2**60 + 1})
    for folder in (config, index):
        with pytest.raises(Refused):
            st_folder(folder)
    for run in run_all([config, index]):
        assert_refused(run)


# ============================================================================================
# Property tests: random models (a few CLI runs each)
# ============================================================================================

NAME_CHARS = st.sampled_from("ab.0_~#/ \u00e9\U0001f600")
JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=4),
)


@dataclass
class RandomSt:
    tensors: list[StTensor]
    metadata: dict[str, str] | None
    shards: list[list[int]]  # tensor positions per shard, in storage order
    config: Any
    index_metadata: Any


@st.composite
def random_safetensors(draw: st.DrawFn) -> RandomSt:
    names = draw(st.lists(st.text(NAME_CHARS, max_size=5), max_size=6, unique=True))
    tensors = []
    for name in names:
        dtype = draw(st.sampled_from(sorted(ST_BITS)))
        shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
        size = len(st_tensor(name, dtype, shape).data)
        tensors.append(StTensor(name, dtype, shape, draw(st.binary(min_size=size, max_size=size))))
    metadata = draw(
        st.none() | st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=3)
    )
    count = draw(st.integers(1, 3))
    owner = [draw(st.integers(0, count - 1)) for _ in tensors]
    shards = [
        draw(st.permutations([i for i, o in enumerate(owner) if o == k])) for k in range(count)
    ]
    config = draw(st.none() | st.dictionaries(st.text(max_size=4), JSON_SCALAR, max_size=4))
    index_metadata = draw(st.sampled_from(["absent", {}, {"total_size": 7, "format": "pt"}]))
    return RandomSt(tensors, metadata, [s for s in shards if s], config, index_metadata)


def write_random_safetensors(model: RandomSt, base: Path) -> tuple[Path, Path]:
    """The model as one file, and as a checkpoint folder of its shards."""
    single = base / "single" / "model.safetensors"
    order = [i for shard in model.shards for i in shard][::-1]
    st_write(single, [model.tensors[i] for i in order], model.metadata)
    config = None if model.config is None else json.dumps(model.config).encode()
    folder = st_checkpoint(
        base / "folder",
        [[model.tensors[i] for i in shard] for shard in model.shards],
        config=config,
        index_metadata=model.index_metadata,
        shard_metadata=model.metadata,
    )
    return single, folder


SLOW_PROPERTY = settings(
    max_examples=5,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _tensors_of(expected: Expected) -> set[tuple[str, str, str]]:
    return {
        (leaf["tensor"], leaf["name"], leaf["digest"])
        for leaf in expected.leaves
        if leaf["kind"] == "tensor"
    }


@SLOW_PROPERTY
@given(models=st.lists(random_safetensors(), min_size=3, max_size=3))
def test_random_safetensors_models_match_spec(models: list[RandomSt]) -> None:
    """SPEC 13 on random models, each as one file and as shards: the tool agrees with SPEC,
    and the file and the folder have the same tensors and weights digest (13.4)."""
    with tempfile.TemporaryDirectory() as tmp:
        pairs = [write_random_safetensors(m, Path(tmp) / str(i)) for i, m in enumerate(models)]
        paths = [p for pair in pairs for p in pair]
        runs = run_all(paths)
        for path, run in zip(paths, runs, strict=True):
            assert differences(run, _expect(path)) == []
        for single, folder in pairs:
            one, many = st_single_file(single), st_folder(folder)
            assert one.semantic is not None and many.semantic is not None
            assert one.semantic["weights"] == many.semantic["weights"]
            assert one.documents["graph"]["tensors"] == many.documents["graph"]["tensors"]
            assert _tensors_of(one) == _tensors_of(many)


KEY_PREFIXES = ["general.", "llama.", "llamas.", "tokenizer.ggml.", "adapter.", "x."]
SCALAR_VALUES: dict[int, st.SearchStrategy[Any]] = {
    UINT8: st.integers(0, 255),
    INT8: st.integers(-128, 127),
    UINT16: st.integers(0, 2**16 - 1),
    INT16: st.integers(-(2**15), 2**15 - 1),
    UINT32: st.integers(0, 2**32 - 1),
    INT32: st.integers(-(2**31), 2**31 - 1),
    FLOAT32: st.floats(width=32),
    BOOL: st.integers(0, 255),
    STRING: st.binary(max_size=6),
    UINT64: st.integers(0, 2**64 - 1),
    INT64: st.integers(-(2**63), 2**63 - 1),
    FLOAT64: st.floats(),
}


@st.composite
def gguf_value(draw: st.DrawFn) -> tuple[int, Any]:
    vtype = draw(st.sampled_from([*SCALAR_VALUES, ARRAY]))
    if vtype != ARRAY:
        return vtype, draw(SCALAR_VALUES[vtype])
    etype = draw(st.sampled_from(sorted(SCALAR_VALUES)))
    return ARRAY, (etype, draw(st.lists(SCALAR_VALUES[etype], max_size=3)))


@dataclass
class RandomGguf:
    kvs: list[KV]
    tensors: list[GgufTensor]
    version: int
    alignment: int
    pad_tail: bool
    parts: int


@st.composite
def random_gguf(draw: st.DrawFn) -> RandomGguf:
    suffixes = st.text(st.sampled_from("ab._\u00e9"), min_size=1, max_size=4)
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(KEY_PREFIXES), suffixes).map("".join),
            max_size=6,
            unique=True,
        ).filter(lambda ks: not {"general.alignment", "general.architecture"} & set(ks))
    )
    kvs: list[KV] = [(k, *draw(gguf_value())) for k in keys]
    if draw(st.booleans()):
        kvs.insert(draw(st.integers(0, len(kvs))), ("general.architecture", STRING, "llama"))
    names = draw(st.lists(st.text(NAME_CHARS, min_size=1, max_size=5), max_size=5, unique=True))
    tensors = []
    for name in names:
        code = draw(st.sampled_from(sorted(GGML_TYPES)))
        block = GGML_TYPES[code][0]
        n_dims = draw(st.integers(0 if block == 1 else 1, 4))
        dims = [
            block * draw(st.integers(1, 2)),
            *(draw(st.integers(1, 2)) for _ in range(n_dims - 1)),
        ]
        dims = dims[:n_dims]
        size = gguf_tensor_size(dims, code)
        tensors.append(
            GgufTensor(name, tuple(dims), code, draw(st.binary(min_size=size, max_size=size)))
        )
    return RandomGguf(
        kvs,
        tensors,
        draw(st.sampled_from([2, 3])),
        draw(st.sampled_from([1, 8, 32, 64])),
        draw(st.booleans()),
        draw(st.integers(1, 3)),
    )


def write_random_gguf(model: RandomGguf, base: Path) -> tuple[Path, Path]:
    """The model as one file, and split into parts (or, with one part, reordered)."""
    base.mkdir(parents=True)
    align: list[KV] = (
        [] if model.alignment == 32 else [("general.alignment", UINT32, model.alignment)]
    )
    single = base / "m.gguf"
    data = gguf_bytes(
        [*model.kvs, *align], model.tensors, model.version, model.alignment, model.pad_tail
    )
    single.write_bytes(data)
    if model.parts == 1:
        other = base / "other" / "r.gguf"
        other.parent.mkdir()
        other.write_bytes(
            gguf_bytes(
                [*align, *model.kvs[::-1]], model.tensors[::-1], 5 - model.version, model.alignment
            )
        )
        return single, other
    k = model.parts
    groups = [model.tensors[i::k] for i in range(k)]
    first = split_parts(base / "split", "m", model.kvs, groups, model.version, model.alignment)
    return single, first


@SLOW_PROPERTY
@given(models=st.lists(random_gguf(), min_size=3, max_size=3))
def test_random_gguf_models_match_spec(models: list[RandomGguf]) -> None:
    """SPEC 14 on random models, each as one file and split (or reordered, other version):
    the tool agrees with SPEC, and both forms have the same semantic digests (14.4, 14.5)."""
    with tempfile.TemporaryDirectory() as tmp:
        pairs = [write_random_gguf(m, Path(tmp) / str(i)) for i, m in enumerate(models)]
        paths = [p for pair in pairs for p in pair]
        for path, run in zip(paths, run_all(paths), strict=True):
            assert differences(run, _expect(path)) == []
        for single, other in pairs:
            assert gguf_model(single).semantic == gguf_model(other).semantic
