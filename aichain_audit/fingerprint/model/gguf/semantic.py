"""The `gguf-semantic/v1` documents (docs/SPEC.md sections 14.3 and 14.4), from checked
headers: no I/O. Consensus-critical: what is written here never changes within the scheme.

- a value is `[TYPE, hex]` (`["ARRAY", ELEMENT_TYPE, hex]`), hex of the bytes the file stores;
- **graph**: general.architecture, the `ARCH.`, `tokenizer.` and `adapter.` keys, and every
  tensor's id, GGML type and dims; **metadata**: every other key but the storage keys;
- **weights**: `[id, digest]` per tensor, sorted by id, each digest a framed SHA-256 over the
  tensor's name, type and dims and its stored bytes.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Sequence
from typing import Any

from aichain_audit.canonical import canonical_json
from aichain_audit.errors import ModelError
from aichain_audit.fingerprint.model.gguf.parse import Header, TensorInfo, Value
from aichain_audit.fingerprint.model.gguf.tables import (
    ARCHITECTURE,
    ARRAY,
    GRAPH_PREFIXES,
    SCHEME,
    STORAGE_KEYS,
    STRING,
    VALUE_TYPES,
)
from aichain_audit.lineage import _TENSOR_ID

FALLBACK_ID = "name-sha256:"


def sha(doc: Any) -> str:
    """`sha256:` + hex(SHA-256(JCS(doc)))."""
    return "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()


def tensor_id(name: str) -> str:
    """A tensor's id: its name when it is 1 to 512 printable ASCII characters without a space,
    else `name-sha256:` + hex(SHA-256(its UTF-8 bytes))."""
    if _TENSOR_ID.fullmatch(name):
        return name
    return FALLBACK_ID + hashlib.sha256(name.encode("utf-8")).hexdigest()


def dims_doc(t: TensorInfo) -> list[str]:
    return [str(d) for d in t.dims]


def framed_hasher(t: TensorInfo) -> Any:
    """SHA-256 fed with u64be(len(H)) || H, H = JCS({"name","type","dims"}) of the tensor:
    feed it the tensor's stored bytes and it gives the tensor's digest."""
    h = canonical_json({"name": t.name, "type": t.type, "dims": dims_doc(t)})
    return hashlib.sha256(struct.pack(">Q", len(h)) + h)


def value_doc(v: Value) -> list[str]:
    """A value as the documents hold it: its type name and the hex of its stored bytes."""
    if v.type == ARRAY:
        assert v.element is not None
        return ["ARRAY", VALUE_TYPES[v.element][0], v.raw.hex()]
    return [VALUE_TYPES[v.type][0], v.raw.hex()]


def is_graph_key(key: str, architecture: str | None) -> bool:
    if key == ARCHITECTURE or key.startswith(GRAPH_PREFIXES):
        return True
    return architecture is not None and key.startswith(architecture + ".")


def architecture_of(kv: dict[str, Value], shown: str) -> str | None:
    """general.architecture's value (None when absent); refused unless a UTF-8 string."""
    v = kv.get(ARCHITECTURE)
    if v is None:
        return None
    if v.type != STRING:
        raise ModelError(f"{shown}: not a valid GGUF file: {ARCHITECTURE} is not a STRING")
    try:
        return v.raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ModelError(
            f"{shown}: not a valid GGUF file: {ARCHITECTURE} is not valid UTF-8"
        ) from None


def merged_keys(headers: Sequence[Header], names: Sequence[str]) -> dict[str, Value]:
    """The model's keys: those of every part but the storage keys, each once (a key in two
    parts is refused)."""
    out: dict[str, Value] = {}
    where: dict[str, str] = {}
    for header, shown in zip(headers, names, strict=True):
        for key, value in header.kv.items():
            if key in STORAGE_KEYS:
                continue
            if key in out:
                raise ModelError(f"{shown}: the key {key!r} is also in {where[key]}")
            out[key] = value
            where[key] = shown
    return out


def documents(
    kv: dict[str, Value], tensors: Iterable[TensorInfo], shown: str
) -> tuple[dict[str, Any], list[list[Any]]]:
    """The graph and metadata documents of a model's keys (storage keys left out) and
    tensors."""
    architecture = architecture_of(kv, shown)
    graph_keys: list[list[Any]] = []
    meta: list[list[Any]] = []
    for key in sorted(kv):  # code point order is UTF-8 byte order
        (graph_keys if is_graph_key(key, architecture) else meta).append([key, value_doc(kv[key])])
    listed: list[dict[str, Any]] = sorted(
        ({"id": tensor_id(t.name), "type": t.type, "dims": dims_doc(t)} for t in tensors),
        key=lambda d: str(d["id"]),
    )
    graph = {"scheme": SCHEME, "keys": graph_keys, "tensors": listed}
    return graph, meta


def check_ids(tensors: Iterable[TensorInfo], shown: str) -> None:
    """Refuses two tensors whose ids are equal (a name equal to another's fallback id)."""
    seen: dict[str, str] = {}
    for t in tensors:
        i = tensor_id(t.name)
        if i in seen:
            raise ModelError(
                f"{shown}: the tensors {seen[i]!r} and {t.name!r} have the same id {i!r}"
            )
        seen[i] = t.name
