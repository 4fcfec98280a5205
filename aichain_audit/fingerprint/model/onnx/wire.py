"""Where the large weights of an ONNX file lie, read from the protobuf wire format.

A model's weights are mostly the `raw_data` of its main graph's initializers. Parsed with
protobuf, each one is copied into the parsed model, copied again whenever `raw_data` is read,
and once more by the ONNX checker, which parses the file on its own: a 200 MB model used to
peak at more than three times its size. This module finds those payloads in the file without
reading them, so that the model can be parsed without them (`strip`) and their bytes hashed
in the one pass over the file that also gives the file digest.

The same pass guesses the external data the main graph's initializers name (their type, dims
and external_data entries), so that those files can be read while onnx is still being
imported (`external._Prefetch`); a guess is only a hint, checked against the parsed model.

It knows only the few field numbers it needs (ModelProto.graph = 7, GraphProto.initializer = 5,
TensorProto dims = 1, data_type = 2, raw_data = 9, external_data = 13, data_location = 14) and
accepts only the plain case: one `graph` field, each payload in one `raw_data` field. Anything
else (a field repeated that protobuf would merge, a group, a truncated or overlong varint, a
length past the end) gives no payloads, and the caller parses the whole file as before. It
never raises on any input. docs/SPEC.md section 8.1 rule 2 says why the checker's verdict is
the same without these payloads.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

_MODEL_GRAPH = 7
_GRAPH_INITIALIZER = 5
_TENSOR_DIMS = 1
_TENSOR_DATA_TYPE = 2
_TENSOR_RAW_DATA = 9
_TENSOR_EXTERNAL_DATA = 13
_TENSOR_DATA_LOCATION = 14
_EXTERNAL = 1  # TensorProto.EXTERNAL
_LENGTH_DELIMITED = 2
# Smaller payloads stay in the parsed model: leaving them there costs nothing worth saving.
MIN_PAYLOAD = 64 * 1024


class _Unusual(Exception):
    """The bytes are not in the plain form this module handles (or not protobuf at all)."""


class Source(Protocol):
    """Bytes to scan: their length, one byte, and a range (of at most a few KiB at once)."""

    def __len__(self) -> int: ...

    def __getitem__(self, pos: int) -> int: ...

    def read(self, start: int, end: int) -> bytes | memoryview: ...


class Memory:
    """A `Source` over bytes in memory."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        self._view = memoryview(data)

    def __len__(self) -> int:
        return len(self._view)

    def __getitem__(self, pos: int) -> int:
        return int(self._view[pos])

    def read(self, start: int, end: int) -> memoryview:
        return self._view[start:end]


class FileWindows:
    """A `Source` over the first `size` bytes of an open file, read in windows as scanned."""

    WINDOW = 64 * 1024

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size
        self._base = 0
        self._window = b""

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, pos: int) -> int:
        at = pos - self._base
        if not 0 <= at < len(self._window):
            self._base, at = pos, 0
            self._window = self.read(pos, min(pos + self.WINDOW, self._size))
        return self._window[at]

    def read(self, start: int, end: int) -> bytes:
        try:
            out = os.pread(self._fd, end - start, start)
        except OSError:
            raise _Unusual from None
        if len(out) != end - start:  # the file shrank
            raise _Unusual
        return out


class Pieces:
    """A `Source` that holds only some ranges of the bytes: reading elsewhere is unusual."""

    def __init__(self, size: int, pieces: list[tuple[int, bytes]]) -> None:
        self._size = size
        self._starts = [start for start, _ in pieces]
        self._pieces = pieces

    def __len__(self) -> int:
        return self._size

    def _piece(self, start: int, end: int) -> tuple[int, bytes]:
        k = bisect.bisect_right(self._starts, start) - 1
        if k < 0 or end > self._pieces[k][0] + len(self._pieces[k][1]):
            raise _Unusual
        return self._pieces[k]

    def __getitem__(self, pos: int) -> int:
        base, data = self._piece(pos, pos + 1)
        return data[pos - base]

    def read(self, start: int, end: int) -> bytes:
        base, data = self._piece(start, end)
        return data[start - base : end - base]


def _source(data: bytes | bytearray | memoryview | Source) -> Source:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return Memory(data)
    return data


@dataclass(frozen=True, slots=True)
class Payload:
    """The `raw_data` of main-graph initializer number `index`: bytes [start, end) of the file."""

    index: int
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Field:
    number: int
    wire: int
    key_start: int  # where the field's key begins
    start: int  # where its value begins (after the length, for length-delimited fields)
    end: int


def _varint(buf: Source, pos: int, end: int) -> tuple[int, int]:
    value = 0
    shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Unusual
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: Source, start: int, end: int) -> Iterator[_Field]:
    pos = start
    while pos < end:
        key_start = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise _Unusual
        if wire == 0:
            _, stop = _varint(buf, pos, end)
        elif wire == 1:
            stop = pos + 8
        elif wire == _LENGTH_DELIMITED:
            size, pos = _varint(buf, pos, end)
            stop = pos + size
        elif wire == 5:
            stop = pos + 4
        else:  # groups (3, 4) and invalid wire types
            raise _Unusual
        if stop > end:
            raise _Unusual
        yield _Field(number, wire, key_start, pos, stop)
        pos = stop


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _only(fields: list[_Field], number: int) -> _Field | None:
    """The one length-delimited field `number`, None if absent; repeated or typed otherwise is
    unusual (protobuf would merge or reject what this module would take as it is)."""
    found = [f for f in fields if f.number == number]
    if not found:
        return None
    if len(found) > 1 or found[0].wire != _LENGTH_DELIMITED:
        raise _Unusual
    return found[0]


@dataclass(frozen=True, slots=True)
class ExternalGuess:
    """What the wire format says of a main-graph initializer stored as external data: its type,
    dims and external_data entries. Only a guess, used to start reading the data file before
    the model is parsed; nothing read by it counts unless the parsed model asks for exactly
    the same bytes under exactly the same tensor header."""

    data_type: int
    dims: tuple[int, ...]
    entries: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Scan:
    payloads: list[Payload]
    external: list[ExternalGuess]


def scan(data: bytes | bytearray | memoryview | Source, *, minimum: int | None = None) -> Scan:
    """One pass over the main graph's initializers: the `raw_data` payloads of at least
    `minimum` bytes (default `MIN_PAYLOAD`), in initializer order, and the external data it
    names; both empty when the bytes are not in the plain form."""
    try:
        return _scan(_source(data), MIN_PAYLOAD if minimum is None else minimum)
    except _Unusual:
        return Scan([], [])


def gaps(size: int, found: list[Payload]) -> list[tuple[int, int]]:
    """The ranges of `size` bytes outside the payloads: all that `strip` reads."""
    out: list[tuple[int, int]] = []
    pos = 0
    for p in sorted(found, key=lambda p: p.start):
        if p.start > pos:
            out.append((pos, p.start))
        pos = p.end
    if pos < size:
        out.append((pos, size))
    return out


# External data is guessed from the first initializers only: reading every field of each one
# costs microseconds in Python, and a model with more is fingerprinted without the guess.
_GUESSED = 4096


def _scan(buf: Source, minimum: int) -> Scan:
    graph = _only(list(_fields(buf, 0, len(buf))), _MODEL_GRAPH)
    out = Scan([], [])
    if graph is None:
        return out
    index = 0
    for field in _fields(buf, graph.start, graph.end):
        if field.number != _GRAPH_INITIALIZER:
            continue
        if field.wire != _LENGTH_DELIMITED:
            raise _Unusual
        size = field.end - field.start
        if size >= minimum or index < _GUESSED:
            fields = list(_fields(buf, field.start, field.end))
            raw = [f for f in fields if f.number == _TENSOR_RAW_DATA]
            # One raw_data field holds the value; several would be merged (the last wins).
            if (
                size >= minimum
                and len(raw) == 1
                and raw[0].wire == _LENGTH_DELIMITED
                and raw[0].end - raw[0].start >= minimum
            ):
                out.payloads.append(Payload(index, raw[0].start, raw[0].end))
            elif not raw:
                guess = _external(buf, fields)
                if guess is not None:
                    out.external.append(guess)
        index += 1
    return out


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _external(buf: Source, fields: list[_Field]) -> ExternalGuess | None:
    location = [f for f in fields if f.number == _TENSOR_DATA_LOCATION]
    dtype = [f for f in fields if f.number == _TENSOR_DATA_TYPE]
    if len(location) != 1 or len(dtype) != 1 or location[0].wire or dtype[0].wire:
        return None
    if _varint(buf, location[0].start, location[0].end)[0] != _EXTERNAL:
        return None
    dims: list[int] = []
    entries: list[tuple[str, str]] = []
    for f in fields:
        if f.number == _TENSOR_DIMS and f.wire == 0:
            dims.append(_signed(_varint(buf, f.start, f.end)[0]))
        elif f.number == _TENSOR_DIMS and f.wire == _LENGTH_DELIMITED:  # packed
            pos = f.start
            while pos < f.end:
                value, pos = _varint(buf, pos, f.end)
                dims.append(_signed(value))
        elif f.number == _TENSOR_DIMS:
            return None
        elif f.number == _TENSOR_EXTERNAL_DATA and f.wire == _LENGTH_DELIMITED:
            entry: dict[int, str] = {}
            for e in _fields(buf, f.start, f.end):
                if e.wire != _LENGTH_DELIMITED or e.number not in (1, 2) or e.number in entry:
                    return None
                try:
                    entry[e.number] = bytes(buf.read(e.start, e.end)).decode("utf-8")
                except UnicodeDecodeError:
                    return None
            entries.append((entry.get(1, ""), entry.get(2, "")))
    dtype_value = _varint(buf, dtype[0].start, dtype[0].end)[0]
    return ExternalGuess(dtype_value, tuple(dims), tuple(entries))


def strip(data: bytes | bytearray | memoryview | Source, found: list[Payload]) -> bytes | None:
    """The file's bytes without the `raw_data` fields of `found` (from `scan` of the same
    bytes), the lengths of the messages around them written anew; everything else is kept
    byte for byte, so the result parses to the same model with those fields unset. Reads
    nothing inside the payloads; None if the bytes no longer hold `found` where it was."""
    try:
        return _strip(_source(data), found)
    except _Unusual:
        return None


def _strip(buf: Source, found: list[Payload]) -> bytes:
    if _scan(buf, min((p.end - p.start for p in found), default=0)).payloads != found:
        raise _Unusual
    graph = _only(list(_fields(buf, 0, len(buf))), _MODEL_GRAPH)
    if graph is None or not found:
        raise _Unusual
    wanted = {p.index: p for p in found}
    parts: list[bytes | memoryview] = []
    index = 0
    pos = graph.start
    for field in _fields(buf, graph.start, graph.end):
        if field.number != _GRAPH_INITIALIZER:
            continue
        p = wanted.get(index)
        index += 1
        if p is None:
            continue
        # The payload's whole field: its key, its length and its bytes.
        cut_start = next(
            f.key_start
            for f in _fields(buf, field.start, field.end)
            if f.number == _TENSOR_RAW_DATA
        )
        parts.append(buf.read(pos, field.key_start))
        parts.append(_encode_varint((_GRAPH_INITIALIZER << 3) | _LENGTH_DELIMITED))
        parts.append(_encode_varint(field.end - field.start - (p.end - cut_start)))
        parts.append(buf.read(field.start, cut_start))
        parts.append(buf.read(p.end, field.end))
        pos = field.end
    parts.append(buf.read(pos, graph.end))
    body = b"".join(parts)
    head = _encode_varint((_MODEL_GRAPH << 3) | _LENGTH_DELIMITED) + _encode_varint(len(body))
    return b"".join((buf.read(0, graph.key_start), head, body, buf.read(graph.end, len(buf))))
