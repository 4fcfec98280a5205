"""Writing safetensors files byte by byte (tensor order, header and padding as given), and
the SPEC 13 tensor digest computed independently of the product."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Tensor = tuple[str, str, Sequence[int], bytes]  # name, dtype, shape, raw bytes


def header_bytes(header: Any) -> bytes:
    return json.dumps(header, separators=(",", ":")).encode()


def raw_file(header: bytes | Any, data: bytes = b"", *, length: int | None = None) -> bytes:
    """u64le(len) || header || data; the header padded with spaces to 8 bytes as writers do."""
    h = header if isinstance(header, bytes) else header_bytes(header)
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h) if length is None else length) + h + data


def write(path: Path, tensors: Sequence[Tensor], metadata: dict[str, str] | None = None) -> Path:
    """A safetensors file holding `tensors` in the order given."""
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    at = 0
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [at, at + len(data)]}
        at += len(data)
    path.write_bytes(raw_file(header, b"".join(t[3] for t in tensors)))
    return path


def spec_tensor_digest(dtype: str, shape: Sequence[int], data: bytes) -> str:
    """SPEC 13.3, written out: sha256 of u64be(len(H)) || H || bytes, H the JCS header."""
    h = json.dumps(
        {"dtype": dtype, "shape": [str(d) for d in shape]}, separators=(",", ":"), sort_keys=True
    ).encode()
    return "sha256:" + hashlib.sha256(struct.pack(">Q", len(h)) + h + data).hexdigest()
