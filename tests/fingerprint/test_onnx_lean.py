"""A model parsed without its large weights (`onnx.parse._parse_lean`, `onnx.wire`) gets exactly
the fingerprint, or exactly the error, that parsing the whole file gives; its weights are
hashed in the one read of the file that gives its digest, and a file changed between that
read and the parse is refused."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint import hashing
from aichain_audit.fingerprint.model import ModelFingerprint
from aichain_audit.fingerprint.model.onnx import fingerprint as onnx_fingerprint
from aichain_audit.fingerprint.model.onnx import wire as onnx_wire
from aichain_audit.fingerprint.model.onnx.fingerprint import fingerprint_model

# dtype -> bits per element, for the types the generator uses
_BITS: dict[int, int] = {
    TensorProto.FLOAT: 32,
    TensorProto.INT8: 8,
    TensorProto.FLOAT16: 16,
    TensorProto.DOUBLE: 64,
    TensorProto.INT4: 4,
    TensorProto.BOOL: 8,
}


def _outcome(path: Path) -> ModelFingerprint | str:
    try:
        return fingerprint_model(path)
    except (ModelError, InputError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _both(path: Path, mp: pytest.MonkeyPatch) -> tuple[ModelFingerprint | str, Any, bool]:
    """The outcome without the lean parse, the outcome with it (every raw_data of a byte or
    more left in the file), and whether the lean parse was taken."""
    mp.setattr(onnx_wire, "MIN_PAYLOAD", 1 << 40)
    whole = _outcome(path)
    mp.setattr(onnx_wire, "MIN_PAYLOAD", 1)
    mp.setattr(onnx_fingerprint, "_LEAN_SHARE", 0)
    taken: list[bool] = []
    real = onnx_fingerprint._parse_lean

    def spy(*args: Any) -> Any:
        out = real(*args)
        taken.append(out is not None)
        return out

    mp.setattr(onnx_fingerprint, "_parse_lean", spy)
    lean = _outcome(path)
    return whole, lean, any(taken)


def _tensor(name: str, dtype: int, dims: list[int], draw_bytes: bytes) -> TensorProto:
    t = TensorProto(name=name, data_type=dtype, dims=dims)
    t.raw_data = draw_bytes
    return t


def _size(dtype: int, dims: list[int]) -> int:
    n = int(np.prod(dims)) if dims else 1
    return -(-n * _BITS[dtype] // 8)


# What may be wrong with one tensor: each must give the same outcome by both parses.
_FLAWS: dict[str, Callable[[TensorProto], object]] = {
    "none": lambda t: None,
    "short": lambda t: setattr(t, "raw_data", t.raw_data[:-1]),
    "long": lambda t: setattr(t, "raw_data", t.raw_data + b"\0"),
    "also typed": lambda t: t.float_data.append(1.0),
    "string": lambda t: setattr(t, "data_type", TensorProto.STRING),
    "no type": lambda t: setattr(t, "data_type", 0),
    "external": lambda t: setattr(t, "data_location", TensorProto.EXTERNAL),
    "external entry": lambda t: t.external_data.add(key="location", value="w.bin"),
    "segment": lambda t: t.segment.SetInParent(),
    "zero dim": lambda t: t.dims.__setitem__(0, 0),
    "negative dims": lambda t: (t.dims.__setitem__(0, -t.dims[0]), t.dims.append(-1)),
    "unknown type": lambda t: setattr(t, "data_type", 99),
}


@st.composite
def _models(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A serialised model with 1-4 raw initializers (some unused, one perhaps flawed), and
    whether it is flawed."""
    count = draw(st.integers(1, 4))
    inits, nodes, outputs = [], [], []
    for k in range(count):
        dtype = draw(st.sampled_from(sorted(_BITS)))
        dims = draw(st.lists(st.integers(1, 6), min_size=1, max_size=3))
        inits.append(_tensor(f"W{k}", dtype, dims, os.urandom(_size(dtype, dims))))
        if draw(st.booleans()):  # used by a node, else an unused initializer
            nodes.append(helper.make_node("Identity", [f"W{k}"], [f"Y{k}"]))
            outputs.append(helper.make_tensor_value_info(f"Y{k}", dtype, dims))
    flaw = draw(st.sampled_from(sorted(_FLAWS)))
    _FLAWS[flaw](inits[draw(st.integers(0, count - 1))])
    if draw(st.booleans()):
        nodes.append(helper.make_node("NoSuchOp", ["W0"], ["Z"]))  # the checker refuses it
    graph = helper.make_graph(nodes, "g", [], outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model.SerializeToString(), flaw != "none"


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=_models())
def test_the_lean_parse_gives_the_fingerprint_or_error_of_the_whole_parse(
    tmp_path: Path, case: tuple[bytes, bool]
) -> None:
    data, flawed = case
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    with pytest.MonkeyPatch.context() as mp:
        whole, lean, taken = _both(path, mp)
    assert lean == whole
    if not flawed and isinstance(whole, ModelFingerprint):
        assert taken, "a clean model with raw initializers must take the lean parse"


def _big_model(tmp_path: Path, sizes: tuple[int, ...] = (300_000, 70_000, 100)) -> Path:
    inits = [_tensor(f"W{k}", TensorProto.INT8, [n], os.urandom(n)) for k, n in enumerate(sizes)]
    nodes = [helper.make_node("Identity", [f"W{k}"], [f"Y{k}"]) for k in range(len(sizes) - 1)]
    outs = [
        helper.make_tensor_value_info(f"Y{k}", TensorProto.INT8, [n])
        for k, n in enumerate(sizes[:-1])
    ]  # the last initializer is unused: numbered by its digest, read before the pass
    graph = helper.make_graph(nodes, "g", [], outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "model.onnx"
    onnx.save_model(model, path)
    return path


def test_a_model_with_large_weights_takes_the_lean_parse_by_default(tmp_path: Path) -> None:
    path = _big_model(tmp_path, (300_000, 70_000, 100_000))
    with pytest.MonkeyPatch.context() as mp:
        taken: list[bool] = []
        real = onnx_fingerprint._parse_lean

        def spy(*args: Any) -> Any:
            taken.append(True)
            return real(*args)

        mp.setattr(onnx_fingerprint, "_parse_lean", spy)
        lean = fingerprint_model(path)
        mp.setattr(onnx_wire, "MIN_PAYLOAD", 1 << 40)
        whole = fingerprint_model(path)
    assert taken and lean == whole


def _with_second_raw_data(data: bytes) -> bytes:
    """The model with its first initializer's raw_data given twice (protobuf keeps the last)."""
    model = onnx.ModelProto.FromString(data)
    first = model.graph.initializer[0]
    again = os.urandom(len(first.raw_data))
    tensor = first.SerializeToString() + b"\x4a" + _varint(len(again)) + again  # field 9
    del model.graph.initializer[0]
    graph: bytes = (
        model.graph.SerializeToString() + b"\x2a" + _varint(len(tensor)) + tensor
    )  # field 5
    model.ClearField("graph")
    head: bytes = model.SerializeToString()
    return head + b"\x3a" + _varint(len(graph)) + graph  # field 7


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def test_wire_forms_protobuf_merges_are_left_to_the_whole_parse(tmp_path: Path) -> None:
    base = _big_model(tmp_path).read_bytes()
    cases = {
        # two `graph` fields (merged by protobuf): no payloads are taken from the bytes
        "graph twice": base + b"\x3a\x00",
        # a raw_data field given twice inside one tensor (the last wins)
        "raw twice": _with_second_raw_data(base),
    }
    for name, data in cases.items():
        assert onnx_wire.scan(data, minimum=1).payloads == [] or name == "raw twice"
        path = tmp_path / f"{name}.onnx"
        path.write_bytes(data)
        with pytest.MonkeyPatch.context() as mp:
            whole, lean, _ = _both(path, mp)
        assert lean == whole, name


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_the_wire_scan_never_raises_on_any_bytes(data: bytes) -> None:
    found = onnx_wire.scan(data, minimum=1).payloads
    if found:
        assert onnx_wire.strip(data, found) is not None


def test_strip_parses_to_the_model_without_those_payloads(tmp_path: Path) -> None:
    data = _big_model(tmp_path).read_bytes()
    found = onnx_wire.scan(data).payloads
    assert [p.index for p in found] == [0, 1]  # the 100-byte one stays in the model
    stripped = onnx_wire.strip(data, found)
    assert stripped is not None
    expected = onnx.ModelProto.FromString(data)
    for p in found:
        assert data[p.start : p.end] == expected.graph.initializer[p.index].raw_data
        expected.graph.initializer[p.index].ClearField("raw_data")
    assert onnx.ModelProto.FromString(stripped) == expected


def test_a_model_changed_between_its_parse_and_its_read_is_refused(tmp_path: Path) -> None:
    path = _big_model(tmp_path)
    real = hashing.digest_fd

    def changed_meanwhile(fd: int, *args: Any) -> Any:
        data = bytearray(path.read_bytes())
        at = data.index(b"Identity")
        data[at : at + 8] = b"Identitx"  # outside the weights: what was parsed
        path.write_bytes(bytes(data))
        return real(fd, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("aichain_audit.fingerprint.model.onnx.walk.digest_fd", changed_meanwhile)
        with pytest.raises(ModelError, match="changed while being read"):
            fingerprint_model(path)


def test_a_model_truncated_before_its_read_is_refused(tmp_path: Path) -> None:
    path = _big_model(tmp_path)
    real = hashing.digest_fd

    def truncated_meanwhile(fd: int, *args: Any) -> Any:
        os.truncate(path, 1000)
        return real(fd, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("aichain_audit.fingerprint.model.onnx.walk.digest_fd", truncated_meanwhile)
        with pytest.raises(ModelError, match=r"shrank|changed"):
            fingerprint_model(path)
