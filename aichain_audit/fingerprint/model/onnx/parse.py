"""Parsing an ONNX file: protobuf, the refusal of unknown fields and invalid UTF-8, the ONNX
checker (`parse_model`), and the lean parse that leaves large raw_data in the file
(`_parse_lean`, with `wire`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aichain_audit.errors import ModelError
from aichain_audit.fingerprint.model.onnx import wire
from aichain_audit.fingerprint.model.onnx.external import _ExternalFile
from aichain_audit.fingerprint.model.onnx.tables import _BITS, _DATA_FIELDS, SCHEME, value_size


def _repeated(fd: Any) -> bool:
    repeated = getattr(fd, "is_repeated", None)  # protobuf >= 5.28
    if repeated is None:  # pragma: no cover - older protobuf
        return bool(fd.label == fd.LABEL_REPEATED)
    return bool(repeated)


_SCANNED: dict[str, list[tuple[str, bool, bool]]] = {}  # (field, is a message, repeated)


def _scanned_fields(msg: Any) -> list[tuple[str, bool, bool]]:
    """A message's message and string fields, by field number (as ListFields orders them)."""
    name = msg.DESCRIPTOR.full_name
    fields = _SCANNED.get(name)
    if fields is None:
        fields = _SCANNED[name] = [
            (fd.name, fd.type == fd.TYPE_MESSAGE, _repeated(fd))
            for fd in sorted(msg.DESCRIPTOR.fields, key=lambda fd: fd.number)
            if fd.type in (fd.TYPE_MESSAGE, fd.TYPE_STRING)
        ]
    return fields


def _scan(msg: Any, shown: str, external: list[Any]) -> None:
    """Refuses string fields that are not UTF-8 and collects the tensors with external data.

    Protobuf hands back a proto2 `string` field holding invalid UTF-8 as `bytes`; the walk
    would then fail with a ValueError or TypeError (an internal error) instead of a ModelError.
    """
    from onnx import TensorProto

    # The set message and string fields, in field order, as ListFields() would give them, but
    # without reading the bytes fields (ListFields copies each tensor's raw_data).
    for name, message, repeated in _scanned_fields(msg):
        if repeated:
            values = getattr(msg, name)
            if not len(values):
                continue
        elif msg.HasField(name):
            values = (getattr(msg, name),)
        else:
            continue
        if message:
            for sub in values:
                _scan(sub, shown, external)
        else:
            for text in values:
                if not isinstance(text, str):
                    raise ModelError(
                        f"{shown}: {type(msg).__name__}.{name} is not valid UTF-8 (corrupt model?)"
                    )
    if isinstance(msg, TensorProto) and msg.data_location == TensorProto.EXTERNAL:
        external.append(msg)
    if type(msg).__name__ == "SparseTensorProto" and any(
        part.data_location == TensorProto.EXTERNAL for part in (msg.values, msg.indices)
    ):
        # The checker cannot check a sparse tensor whose parts it cannot see, and no external
        # data is given to it (docs/SPEC.md section 8.1, rule 5).
        raise ModelError(
            f"{shown}: sparse tensor {msg.values.name!r} stores its values or indices as "
            f"external data, which {SCHEME} refuses; store them inline"
        )


def _stub(t: Any) -> None:
    """A tensor as the checker is shown it in place of one whose data it is not given: no data,
    no data location, no elements (docs/SPEC.md section 8.1, rule 2)."""
    dims = list(t.dims)
    t.ClearField("external_data")
    t.ClearField("data_location")
    del t.dims[:]
    t.dims.extend([0, *dims[1:]] if dims else [0])  # no elements: no data to check


def _checker_view(model: Any, external: list[Any], shown: str, lean: Iterable[int] = ()) -> Any:
    """The model as the ONNX checker should see it: external tensors without their locations,
    and the main-graph initializers numbered in `lean` (parsed without their raw_data, which
    they were checked to hold exactly as the checker asks: `_plain_raw`) as stubs too.

    Given a ModelProto, `onnx.checker.check_model` resolves external data locations against
    the process's working directory, not the model's folder, so a valid model failed whenever
    it was not run from the model's folder (and the checker probed unrelated paths). External
    data is the walk's job (`_Walk._hash_external`: location policy, regular file, length);
    here its tensors keep everything else, become empty inline tensors for the checker, and
    the one check the checker made on them that the walk does not make is made here.
    """
    import onnx

    for t in external:
        for name in _DATA_FIELDS:
            if len(getattr(t, name)):
                raise ModelError(
                    f"{shown}: tensor {t.name!r} is stored externally but also has {name}"
                )
    lean = list(lean)
    if not external and not lean:
        return model
    view = onnx.ModelProto()
    view.CopyFrom(model)
    stubs: list[Any] = []
    _scan(view, shown, stubs)
    stubs.extend(view.graph.initializer[i] for i in lean)
    for t in stubs:
        _stub(t)
    return view


def _has_unknown_fields(msg: Any) -> bool:
    """Whether the message, or any message inside it, holds fields unknown to this onnx."""
    from google.protobuf.unknown_fields import UnknownFieldSet

    def walk(m: Any) -> bool:
        if len(UnknownFieldSet(m)):
            return True
        for name, message, repeated in _scanned_fields(m):
            if not message:
                continue
            if repeated:
                if any(walk(sub) for sub in getattr(m, name)):
                    return True
            elif m.HasField(name) and walk(getattr(m, name)):
                return True
        return False

    return walk(msg)


def parse_model(data: bytes, shown: str) -> Any:
    """Parses ONNX bytes and runs the ONNX checker; any failure is a ModelError."""
    import onnx
    from google.protobuf.message import DecodeError

    if not data:
        raise ModelError(f"{shown}: empty file, not an ONNX model")
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError, RecursionError) as exc:
        raise ModelError(f"{shown}: not an ONNX model (protobuf parse failed: {exc})") from None
    if not model.HasField("graph") or not model.ir_version:
        raise ModelError(f"{shown}: not an ONNX model (no graph or IR version)")
    # Fix: fields this onnx release does not know (from a newer release, or corruption) are
    # kept by protobuf as unknown fields, which ListFields() never shows, so they escaped the
    # refusal of unknown fields (docs/SPEC.md section 8) and all three digests. Looked for
    # message by message (ByteSize() serialises the whole model, twice as slow as parsing it).
    if _has_unknown_fields(model):
        raise ModelError(
            f"{shown}: uses protobuf fields unknown to onnx {onnx.__version__}, "
            f"which {SCHEME} does not cover"
        )
    external: list[Any] = []
    _scan(model, shown, external)
    view = _checker_view(model, external, shown)
    try:
        # Without external data the checker is given the file's bytes, which parse to this
        # very model (no unknown fields), instead of the model, which it would serialise again.
        onnx.checker.check_model(view if external else data)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid model"
        raise ModelError(f"{shown}: fails the ONNX checker: {first}") from None
    except Exception as exc:  # the checker raises plain errors on some corrupt inputs
        raise ModelError(f"{shown}: fails the ONNX checker: {exc}") from None
    return model


def _plain_raw(t: Any, size: int) -> bool:
    """Whether a tensor parsed without its raw_data of `size` bytes passes, with them, every
    check the ONNX checker makes of a tensor: raw_data its one value field, a numeric type,
    n > 0 elements and no fewer bytes than they need. Exactly the bytes of docs/SPEC.md
    section 8.1 rule 4 are asked for, so the walk finds nothing wrong with them either."""
    from onnx import TensorProto

    if t.HasField("raw_data") or t.data_location == TensorProto.EXTERNAL or len(t.external_data):
        return False
    if any(len(getattr(t, name)) for name in _DATA_FIELDS if name != "raw_data"):
        return False
    if t.data_type not in _BITS or any(d <= 0 for d in t.dims):
        return False
    return value_size(t, "") == size


@dataclass(eq=False, slots=True)
class _Lean:
    """A model parsed without the large raw_data of its main graph's initializers."""

    file: _ExternalFile  # the model file, open
    payloads: dict[int, wire.Payload]  # by initializer index
    gaps: list[tuple[int, int]]  # every other byte range of the file, all that was parsed
    gaps_digest: bytes  # SHA-256 over those ranges as they were parsed


def _parse_lean(
    fd: int, size: int, path: Path, shown: str, found: list[wire.Payload]
) -> tuple[Any, _Lean] | None:
    """`parse_model` of an open model file without the large raw_data payloads of the main
    graph's initializers (`wire`), which are neither read nor held here.

    None when the model holds no such payload, is not in the plain form, or fails any check:
    `parse_model` of the whole file then gives the result, or the error, it always gave.
    When this succeeds, `parse_model` would have succeeded too: the parse, the unknown-field
    and UTF-8 checks see the same fields, and the checker's verdict is the same with these
    tensors stubbed (docs/SPEC.md section 8.1, rule 2).
    """
    import onnx

    gaps = wire.gaps(size, found)
    rest = hashlib.sha256()
    pieces: list[tuple[int, bytes]] = []
    for a, b in gaps:
        try:
            piece = os.pread(fd, b - a, a)
        except OSError:
            return None
        if len(piece) != b - a:
            return None
        rest.update(piece)
        pieces.append((a, piece))
    stripped = wire.strip(wire.Pieces(size, pieces), found)
    if stripped is None:
        return None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(stripped)
        if not model.HasField("graph") or not model.ir_version or _has_unknown_fields(model):
            return None
        initializers = model.graph.initializer
        for p in found:
            if p.index >= len(initializers):
                return None
            if not _plain_raw(initializers[p.index], p.end - p.start):
                return None
        external: list[Any] = []
        _scan(model, shown, external)
        stubbed = [p.index for p in found]
        onnx.checker.check_model(_checker_view(model, external, shown, stubbed))
    except Exception:  # any failure: the whole file is parsed and the error reported from it
        return None
    own = _ExternalFile(fd, path, shown, size)
    return model, _Lean(own, {p.index: p for p in found}, gaps, rest.digest())
