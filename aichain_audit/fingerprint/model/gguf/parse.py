"""Reading a GGUF file's header, strictly (docs/SPEC.md section 14.1).

The header (magic, version, counts, key-value pairs, tensor infos) is read from an open file
in bounded windows, at most `HEADER_LIMIT` bytes, and every count and length is checked
against the bytes left before anything is allocated for it. Values are kept as the bytes the
file stores (the documents hash them as they are); tensor data is never read here.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

from aichain_audit.errors import ModelError
from aichain_audit.fingerprint.model.gguf.tables import (
    ALIGNMENT,
    ARRAY,
    DEFAULT_ALIGNMENT,
    GGML_TYPES,
    HEADER_LIMIT,
    INTEGERS,
    MAGIC,
    MAX_DIMS,
    MAX_INT64,
    MAX_KEY_BYTES,
    MAX_TENSOR_NAME_BYTES,
    SIGNED,
    SPLIT_COUNT,
    SPLIT_KEYS,
    SPLIT_NO,
    SPLIT_TENSORS,
    STRING,
    UINT32,
    VALUE_TYPES,
    VERSIONS,
)

_WINDOW = 1 << 20  # the header is read in windows of at least this many bytes
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_MIN_KV = 8 + 4 + 1  # key length, value type, the smallest value
_MIN_TENSOR_INFO = 8 + 4 + 4 + 8  # name length, n_dims, type, offset


@dataclass(frozen=True, slots=True)
class Value:
    """One metadata value as stored: its type, and for an array its element type; `raw` is the
    value's bytes (a string's without its length; an array's elements, each string element
    with its u64 length, without the element type and count)."""

    type: int
    raw: bytes
    element: int | None = None

    def integer(self) -> int | None:
        """A scalar integer's value (None for any other type)."""
        if self.type not in INTEGERS:
            return None
        return int.from_bytes(self.raw, "little", signed=self.type in SIGNED)

    def text(self) -> str | None:
        """A string's value, undecodable bytes replaced (for reports; None for other types)."""
        return self.raw.decode("utf-8", "replace") if self.type == STRING else None


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor as the header describes it; `offset` is relative to the data section."""

    name: str
    dims: tuple[int, ...]  # as stored: ne[0] (the fastest-varying) first
    type: int
    offset: int
    nbytes: int

    @property
    def elements(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


@dataclass(frozen=True, slots=True)
class Header:
    """A checked GGUF file: its version, key-value pairs (in file order), tensors (in header
    order), alignment, where its data section starts, and its size."""

    version: int
    kv: dict[str, Value]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_start: int
    size: int

    def split(self) -> tuple[int, int, int] | None:
        """(split.no, split.count, split.tensors.count), or None for a file without them."""
        if SPLIT_COUNT not in self.kv:
            return None
        no, count, total = (self.kv[k].integer() for k in (SPLIT_NO, SPLIT_COUNT, SPLIT_TENSORS))
        assert no is not None and count is not None and total is not None
        return no, count, total


class _Cursor:
    """Reads a file's header forward, in windows, never past `HEADER_LIMIT` or the file."""

    def __init__(self, fd: int, size: int, shown: str) -> None:
        self.fd = fd
        self.size = size
        self.shown = shown
        self.end = min(size, HEADER_LIMIT)
        self.buf = bytearray()
        self.pos = 0

    def fail(self, why: str) -> ModelError:
        return ModelError(f"{self.shown}: not a valid GGUF file: {why}")

    def room(self, n: int, what: str) -> None:
        """Refuses `n` more bytes of header when the file or the bound cannot hold them."""
        if self.pos + n > self.size:
            raise self.fail(
                f"{what} needs {n:,} bytes at offset {self.pos:,}, past the end of the "
                f"file ({self.size:,} bytes): truncated or corrupt"
            )
        if self.pos + n > HEADER_LIMIT:
            raise self.fail(
                f"{what} ends past {HEADER_LIMIT // (1 << 20)} MiB: the header is larger "
                "than aichain reads"
            )

    def fill(self, want: int) -> None:
        """Reads the header on to at least byte `want` (checked by `room`), a window at once."""
        upto = min(self.end, max(want, len(self.buf) + _WINDOW))
        while len(self.buf) < upto:
            try:
                chunk = os.pread(self.fd, upto - len(self.buf), len(self.buf))
            except OSError as exc:
                raise ModelError(f"{self.shown}: read failed ({exc.strerror})") from None
            if not chunk:
                raise self.fail("the file shrank while its header was read")
            self.buf += chunk  # in place: views of `buf` stay valid

    def take(self, n: int, what: str) -> bytes:
        self.room(n, what)
        want = self.pos + n
        if want > len(self.buf):
            self.fill(want)
        out = bytes(self.buf[self.pos : want])
        self.pos = want
        return out

    def skip_strings(self, count: int, what: str) -> None:
        """Passes over `count` strings (an array's elements), each checked to fit."""
        buf, pos, unpack = self.buf, self.pos, _U64.unpack_from
        for _ in range(count):
            if pos + 8 > len(buf):
                self.pos = pos
                self.room(8, f"the length of a string of {what}")
                self.fill(pos + 8)
            (n,) = unpack(buf, pos)
            pos += 8
            if pos + n > len(buf):
                self.pos = pos
                self.room(n, f"a string of {what}")
                self.fill(pos + n)
            pos += n
        self.pos = pos

    def u32(self, what: str) -> int:
        return int(_U32.unpack(self.take(4, what))[0])

    def u64(self, what: str) -> int:
        return int(_U64.unpack(self.take(8, what))[0])

    def string(self, what: str) -> bytes:
        n = self.u64(f"the length of {what}")
        return self.take(n, what)

    def utf8(self, what: str, most: int) -> str:
        raw = self.string(what)
        if len(raw) > most:
            raise self.fail(f"{what} is {len(raw):,} bytes long, more than {most:,}")
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not valid UTF-8") from None


def parse_header(fd: int, size: int, shown: str) -> Header:
    """The checked header of the GGUF file open at `fd` (`size` bytes): `ModelError` for a
    file SPEC 14.1 refuses."""
    c = _Cursor(fd, size, shown)
    if c.pos + 4 > size or c.take(4, "the magic") != MAGIC:
        raise c.fail('it does not start with "GGUF"')
    version = c.u32("the version")
    if version not in VERSIONS:
        if version & 0xFFFF == 0 and (version >> 24) in VERSIONS:
            raise c.fail(
                f"a big-endian GGUF file (version {version >> 24}): only little-endian "
                "files are read"
            )
        if version == 1:
            raise c.fail("GGUF version 1 is not supported (versions 2 and 3 are)")
        raise c.fail(f"unsupported GGUF version {version} (versions 2 and 3 are read)")
    n_tensors = c.u64("the tensor count")
    n_kv = c.u64("the key-value count")
    c.room(n_kv * _MIN_KV, f"{n_kv:,} key-value pairs")
    kv: dict[str, Value] = {}
    for _ in range(n_kv):
        key = c.utf8("a key", MAX_KEY_BYTES)
        if key in kv:
            raise c.fail(f"the key {key!r} occurs twice")
        kv[key] = _value(c, key)
    c.room(n_tensors * _MIN_TENSOR_INFO, f"{n_tensors:,} tensor infos")
    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    names: set[str] = set()
    for _ in range(n_tensors):
        name = c.utf8("a tensor name", MAX_TENSOR_NAME_BYTES)
        if not name:
            raise c.fail("a tensor has an empty name")
        if name in names:
            raise c.fail(f"two tensors are named {name!r}")
        names.add(name)
        n_dims = c.u32(f"the dimension count of tensor {name!r}")
        if n_dims > MAX_DIMS:
            raise c.fail(f"tensor {name!r} has {n_dims:,} dimensions, more than {MAX_DIMS}")
        dims = tuple(c.u64(f"a dimension of tensor {name!r}") for _ in range(n_dims))
        ggml_type = c.u32(f"the type of tensor {name!r}")
        offset = c.u64(f"the offset of tensor {name!r}")
        infos.append((name, dims, ggml_type, offset))
    alignment = _alignment(c, kv)
    _check_split_keys(c, kv)
    header_end = c.pos
    data_start = -(-header_end // alignment) * alignment
    tensors = tuple(_tensor(c, *info) for info in infos)
    _check_layout(c, tensors, alignment, header_end, data_start)
    return Header(version, kv, tensors, alignment, data_start, size)


def _value(c: _Cursor, key: str) -> Value:
    vtype = c.u32(f"the type of {key!r}")
    if vtype not in VALUE_TYPES:
        raise c.fail(f"the value of {key!r} has an unknown type {vtype}")
    if vtype == STRING:
        return Value(vtype, c.string(f"the value of {key!r}"))
    if vtype != ARRAY:
        return Value(vtype, c.take(VALUE_TYPES[vtype][1], f"the value of {key!r}"))
    element = c.u32(f"the element type of {key!r}")
    if element == ARRAY:
        raise c.fail(f"the value of {key!r} is an array of arrays (nested arrays are refused)")
    if element not in VALUE_TYPES:
        raise c.fail(f"the array {key!r} has an unknown element type {element}")
    count = c.u64(f"the length of {key!r}")
    if element != STRING:
        return Value(vtype, c.take(count * VALUE_TYPES[element][1], f"the array {key!r}"), element)
    c.room(count * 8, f"the {count:,} strings of {key!r}")
    start = c.pos
    c.skip_strings(count, repr(key))
    return Value(vtype, bytes(c.buf[start : c.pos]), element)


def _alignment(c: _Cursor, kv: dict[str, Value]) -> int:
    value = kv.get(ALIGNMENT)
    if value is None:
        return DEFAULT_ALIGNMENT
    if value.type != UINT32:
        raise c.fail(f"{ALIGNMENT} is a {VALUE_TYPES[value.type][0]}, not a UINT32")
    n = value.integer()
    assert n is not None
    if n == 0 or n & (n - 1):
        raise c.fail(f"{ALIGNMENT} is {n}, not a power of two")
    return n


def _check_split_keys(c: _Cursor, kv: dict[str, Value]) -> None:
    """All three split keys or none, each of its type, with split.no < split.count."""
    present = [k for k in SPLIT_KEYS if k in kv]
    if not present:
        return
    if len(present) != len(SPLIT_KEYS):
        missing = sorted(set(SPLIT_KEYS) - set(present))
        raise c.fail(f"split keys without {', '.join(missing)}")
    for key, vtype in SPLIT_KEYS.items():
        if kv[key].type != vtype:
            raise c.fail(
                f"{key} is a {VALUE_TYPES[kv[key].type][0]}, not a {VALUE_TYPES[vtype][0]}"
            )
    no, count, total = (kv[k].integer() for k in (SPLIT_NO, SPLIT_COUNT, SPLIT_TENSORS))
    assert no is not None and count is not None and total is not None
    if not 0 <= no < count or total < 0:
        raise c.fail(f"split.no {no} of split.count {count} (split.tensors.count {total})")


def _tensor(
    c: _Cursor, name: str, dims: tuple[int, ...], ggml_type: int, offset: int
) -> TensorInfo:
    if ggml_type not in GGML_TYPES:
        raise c.fail(f"tensor {name!r} has an unknown GGML type {ggml_type}")
    type_name, block, block_bytes = GGML_TYPES[ggml_type]
    elements = 1
    for d in dims:
        if d == 0:
            raise c.fail(f"tensor {name!r} has a zero dimension {list(dims)}")
        elements *= d
        if elements > MAX_INT64:
            raise c.fail(f"tensor {name!r} has {list(dims)} elements: the product overflows")
    first = dims[0] if dims else 1
    if first % block:
        raise c.fail(
            f"tensor {name!r} ({type_name}) has a first dimension of {first:,}, not a "
            f"multiple of its block of {block}"
        )
    return TensorInfo(name, dims, ggml_type, offset, elements // block * block_bytes)


def _check_layout(
    c: _Cursor, tensors: tuple[TensorInfo, ...], alignment: int, header_end: int, data_start: int
) -> None:
    """Each tensor at the offset ggml gives it (the sum of the padded sizes of the tensors
    before it in the header), inside the file; the file ends with the last tensor's data, its
    padding included or not."""
    expected = 0
    end = header_end
    for t in tensors:
        if t.offset % alignment:
            raise c.fail(f"tensor {t.name!r} is at offset {t.offset:,}, not a multiple of the "
                         f"alignment {alignment}")  # fmt: skip
        if data_start + t.offset + t.nbytes > c.size:
            raise c.fail(
                f"tensor {t.name!r} ({t.nbytes:,} bytes at data offset {t.offset:,}) lies "
                f"past the end of the file ({c.size:,} bytes)"
            )
        if t.offset < expected:
            raise c.fail(f"tensor {t.name!r} at data offset {t.offset:,} overlaps the tensor "
                         "before it")  # fmt: skip
        if t.offset > expected:
            raise c.fail(f"tensor {t.name!r} is at data offset {t.offset:,}, not {expected:,}: "
                         "bytes between tensors")  # fmt: skip
        end = data_start + t.offset + t.nbytes
        expected = -(-(t.offset + t.nbytes) // alignment) * alignment
    padded = data_start + expected
    if c.size > max(padded, end):
        raise c.fail(f"{c.size - max(padded, end):,} bytes after the end of the tensor data")
    if c.size < end:  # pragma: no cover - each tensor was checked to lie inside the file
        raise c.fail("truncated tensor data")


# --- split models --------------------------------------------------------------------------
_PART = re.compile(r"^(?P<prefix>.+)-(?P<no>[0-9]{5})-of-(?P<count>[0-9]{5})(?P<suffix>\.gguf)$",
                   re.IGNORECASE)  # fmt: skip


def part_of_name(name: str) -> tuple[str, int, int, str] | None:
    """(prefix, part number from 1, part count, suffix) of a split file's name as llama.cpp
    writes it (`PREFIX-00001-of-00003.gguf`), or None."""
    m = _PART.match(name)
    if m is None or int(m["count"]) < 2 or not 1 <= int(m["no"]) <= int(m["count"]):
        return None
    return m["prefix"], int(m["no"]), int(m["count"]), m["suffix"]


def part_names(name: str) -> tuple[str, ...]:
    """The names of the other parts of a split model whose first part is `name`; () when
    `name` does not name a first part."""
    part = part_of_name(name)
    if part is None or part[1] != 1:
        return ()
    prefix, _, count, suffix = part
    return tuple(f"{prefix}-{k:05d}-of-{count:05d}{suffix}" for k in range(2, count + 1))
