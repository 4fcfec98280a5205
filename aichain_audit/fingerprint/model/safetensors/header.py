"""One safetensors file's header, read and checked strictly (docs/SPEC.md section 13.1).

A file is `u64le(n) || header (n bytes of JSON) || data`. The header is read by itself (at
most `MAX_HEADER` bytes), parsed as strict JSON and checked before any tensor byte is read:
a hostile header is a one-line `ModelError` (exit 2), never a traceback or a large read.
No I/O beyond the header; no numpy, no safetensors.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from aichain_audit.canonical import parse_json_strict
from aichain_audit.errors import ModelError

# The reference library's bound (safetensors' MAX_HEADER_SIZE): a larger header is refused.
MAX_HEADER = 100_000_000
# Tensors in one model, every file together: far above any checkpoint (a large mixture of
# experts has about 100,000), and what keeps one model's lineage a bounded size.
MAX_TENSORS = 1_000_000
_U64 = 1 << 64
METADATA_KEY = "__metadata__"
# The reference's data types (safetensors 0.8.0) and their bits per element.
DTYPE_BITS: dict[str, int] = {
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
    "F64": 64,
    "I64": 64,
    "U64": 64,
    "F4": 4,
    "F6_E2M3": 6,
    "F6_E3M2": 6,
    "C64": 64,
}
_ENTRY_KEYS = frozenset({"dtype", "shape", "data_offsets"})


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor of a file: its name, dtype and shape, and where its bytes are in the file
    (`begin`, `end`: absolute offsets)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def elements(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True, slots=True)
class Header:
    """A checked header: its tensors in file order, its `__metadata__` (None when absent),
    and the file's size."""

    tensors: tuple[TensorInfo, ...]
    metadata: dict[str, str] | None
    size: int


def read_header(fd: int, size: int, shown: str) -> Header:
    """Reads and checks the header of the open file `fd` of `size` bytes (a regular file)."""
    if size < 8:
        raise ModelError(f"{shown}: not a safetensors file (shorter than its 8-byte header length)")
    n = struct.unpack("<Q", _pread(fd, 8, 0, shown))[0]
    if n > MAX_HEADER:
        raise ModelError(
            f"{shown}: safetensors header of {n:,} bytes, more than the {MAX_HEADER:,} allowed"
        )
    if 8 + n > size:
        raise ModelError(
            f"{shown}: safetensors header length {n:,} runs past the end of the file "
            f"({size:,} bytes)"
        )
    return parse_header(_pread(fd, n, 8, shown), size, shown)


def _pread(fd: int, count: int, offset: int, shown: str) -> bytes:
    parts: list[bytes] = []
    done = 0
    while done < count:
        try:
            block = os.pread(fd, count - done, offset + done)
        except OSError as exc:
            raise ModelError(f"{shown}: read failed ({exc.strerror})") from None
        if not block:
            raise ModelError(f"{shown} shrank while being read")
        parts.append(block)
        done += len(block)
    return b"".join(parts)


def parse_header(raw: bytes, size: int, shown: str) -> Header:
    """Checks the header bytes `raw` of a file of `size` bytes (SPEC 13.1); no I/O."""
    where = f"{shown}: safetensors header"
    if not raw.startswith(b"{"):
        raise ModelError(f"{where} does not start with '{{'")
    try:
        doc = parse_json_strict(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ModelError(f"{where} is not UTF-8") from None
    except ValueError as exc:
        raise ModelError(f"{where}: {exc}") from None
    if not isinstance(doc, dict):  # pragma: no cover - it starts with "{"
        raise ModelError(f"{where} is not a JSON object")
    count = len(doc) - (METADATA_KEY in doc)
    if count > MAX_TENSORS:
        raise ModelError(f"{where} lists {count:,} tensors, more than the {MAX_TENSORS:,} allowed")
    metadata: dict[str, str] | None = None
    if doc.get(METADATA_KEY) is not None:  # null is no metadata, as the reference reads it
        metadata = _metadata(doc[METADATA_KEY], where)
    doc.pop(METADATA_KEY, None)
    data_start = 8 + len(raw)
    tensors = [_entry(name, entry, where, data_start) for name, entry in doc.items()]
    # The reference reads offsets sorted (ties: the end), and refuses gaps and overlaps.
    tensors.sort(key=lambda t: (t.begin, t.end))
    at = data_start
    for t in tensors:
        if t.begin != at:
            what = "overlaps the tensor before it" if t.begin < at else "leaves a gap before it"
            raise ModelError(f"{where}: the data of tensor {t.name!r} {what}")
        at = t.end
    if at != size:
        raise ModelError(
            f"{where}: the tensors' data ends at byte {at:,}, the file at byte {size:,}"
        )
    return Header(tuple(tensors), metadata, size)


def _text(s: str, where: str, what: str) -> str:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ModelError(f"{where}: {what} {s!r} is not valid Unicode (lone surrogate)") from None
    return s


def _metadata(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise ModelError(f"{where}: {METADATA_KEY} is not an object of strings")
    for k, v in value.items():
        if not isinstance(v, str):
            raise ModelError(f"{where}: {METADATA_KEY} member {k!r} is not a string")
        _text(k, where, f"{METADATA_KEY} key")
        _text(v, where, f"{METADATA_KEY} value")
    return value


def _uint(value: object) -> bool:
    return type(value) is int and 0 <= value < _U64


def _entry(name: str, entry: object, where: str, data_start: int) -> TensorInfo:
    _text(name, where, "tensor name")
    if not isinstance(entry, dict) or set(entry) != _ENTRY_KEYS:
        raise ModelError(
            f"{where}: tensor {name!r} is not an object of exactly dtype, shape and data_offsets"
        )
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
        raise ModelError(f"{where}: tensor {name!r} has unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(_uint(d) for d in shape):
        raise ModelError(f"{where}: tensor {name!r} has a shape that is not a list of sizes")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_uint(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise ModelError(f"{where}: tensor {name!r} has data_offsets that are not [begin, end]")
    begin, end = offsets
    # ceil(bits x elements / 8): sub-byte types (F4, F6_*) pad their last byte.
    have = end - begin
    bits = 0 if 0 in shape else DTYPE_BITS[dtype]
    over = False
    for d in shape:
        bits *= d
        if bits > have * 8:  # stop before a hostile shape builds a huge number
            over = True
            break
    length = -(-bits // 8)
    if over or length != have:
        needs = f"more than {have:,}" if over else f"{length:,}"
        raise ModelError(
            f"{where}: tensor {name!r} ({dtype} {shape}) needs {needs} bytes, "
            f"its data_offsets give {have:,}"
        )
    return TensorInfo(name, dtype, tuple(shape), data_start + begin, data_start + end)
