"""GGUF files for the tests: by gguf-py's own `GGUFWriter` (version 3), and by hand with
`struct` (version 2, and every hostile variant, which no writer would produce)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = range(10)
UINT64, INT64, FLOAT64 = 10, 11, 12
F32, F16, Q8_0 = 0, 1, 8


def s(text: str | bytes) -> bytes:
    """A GGUF string: u64le length, then the bytes."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


@dataclass
class KV:
    """One key-value pair as stored: the key, the value type and the value's bytes."""

    key: str | bytes
    type: int
    value: bytes

    def encode(self) -> bytes:
        return s(self.key) + struct.pack("<I", self.type) + self.value


def kv_str(key: str, text: str | bytes) -> KV:
    return KV(key, STRING, s(text))


def kv_u32(key: str, n: int) -> KV:
    return KV(key, UINT32, struct.pack("<I", n))


def kv_int(key: str, vtype: int, n: int) -> KV:
    fmt = {UINT8: "<B", INT8: "<b", UINT16: "<H", INT16: "<h", UINT32: "<I", INT32: "<i",
           UINT64: "<Q", INT64: "<q"}[vtype]  # fmt: skip
    return KV(key, vtype, struct.pack(fmt, n))


def kv_array(key: str, element: int, items: Sequence[bytes]) -> KV:
    """An array whose elements are already encoded (`s(...)` for strings)."""
    return KV(key, ARRAY, struct.pack("<IQ", element, len(items)) + b"".join(items))


@dataclass
class Tensor:
    name: str | bytes
    dims: tuple[int, ...]  # as stored: ne[0] first
    type: int
    data: bytes
    offset: int | None = None  # the offset the header records; None: where the data is


@dataclass
class Gguf:
    """A GGUF file by hand: every field can be set to a hostile value."""

    kvs: list[KV] = field(default_factory=list)
    tensors: list[Tensor] = field(default_factory=list)
    version: int = 3
    magic: bytes = b"GGUF"
    alignment: int = 32  # used to lay out the data (the key is set by the caller)
    n_tensors: int | None = None
    n_kv: int | None = None
    pad_last: bool = True
    trailing: bytes = b""

    def encode(self) -> bytes:
        head = bytearray(self.magic + struct.pack("<I", self.version))
        head += struct.pack("<QQ", len(self.tensors) if self.n_tensors is None else self.n_tensors,
                            len(self.kvs) if self.n_kv is None else self.n_kv)  # fmt: skip
        for kv in self.kvs:
            head += kv.encode()
        places: list[int] = []  # where the data goes: ggml's layout, whatever the header says
        at = 0
        for t in self.tensors:
            places.append(at)
            at = _pad(at + len(t.data), self.alignment)
        for t, place in zip(self.tensors, places, strict=True):
            head += s(t.name) + struct.pack("<I", len(t.dims))
            head += b"".join(struct.pack("<Q", d) for d in t.dims)
            head += struct.pack("<IQ", t.type, place if t.offset is None else t.offset)
        data_start = _pad(len(head), self.alignment)
        out = bytearray(head) + bytes(data_start - len(head))
        for t in self.tensors:
            out += t.data + bytes(_pad(len(t.data), self.alignment) - len(t.data))
        if self.tensors and not self.pad_last:
            out = out[: data_start + places[-1] + len(self.tensors[-1].data)]
        return bytes(out) + self.trailing

    def write(self, path: Path) -> Path:
        path.write_bytes(self.encode())
        return path


def _pad(n: int, alignment: int) -> int:
    return -(-n // alignment) * alignment


def f32(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


def tiny(**changes: Any) -> Gguf:
    """A small valid model: a llama architecture, a tokenizer, two F32 tensors."""
    g = Gguf(
        kvs=[
            kv_str("general.architecture", "llama"),
            kv_str("general.name", "tiny"),
            kv_u32("llama.context_length", 128),
            kv_str("tokenizer.ggml.model", "gpt2"),
            kv_array("tokenizer.ggml.tokens", STRING, [s("a"), s("b")]),
        ],
        tensors=[
            Tensor("token_embd.weight", (2, 2), F32, f32(1, 2, 3, 4)),
            Tensor("output_norm.weight", (2,), F32, f32(1, 1)),
        ],
    )
    for k, v in changes.items():
        setattr(g, k, v)
    return g


def write_with_gguf(
    path: Path,
    *,
    tensors: Sequence[tuple[str, np.ndarray[Any, Any]]] = (),
    raw: Sequence[tuple[str, np.ndarray[Any, Any], tuple[int, ...], int]] = (),  # byte shape
    name: str = "tiny",
    context: int = 128,
    tokens: Sequence[str] = ("a", "b", "c"),
    extra: Sequence[tuple[str, Any, int]] = (),  # (key, value, GGUF value type)
    alignment: int | None = None,
    split_max_tensors: int = 0,
) -> Path:
    """A version 3 file written by gguf-py's GGUFWriter (`raw`: already quantised bytes as
    (name, uint8 array, shape, GGML type))."""
    import gguf

    w = gguf.GGUFWriter(path, "llama", split_max_tensors=split_max_tensors)
    w.add_name(name)
    w.add_context_length(context)
    w.add_block_count(1)
    w.add_tokenizer_model("gpt2")
    w.add_token_list(list(tokens))
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for key, value, vtype in extra:
        w.add_key_value(key, value, gguf.GGUFValueType(vtype))
    for tname, array in tensors:
        w.add_tensor(tname, array)
    for tname, data, shape, gtype in raw:
        w.add_tensor(tname, data, raw_shape=shape, raw_dtype=gguf.GGMLQuantizationType(gtype))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
