"""Specification of the inputs `onnx-semantic/v1` refuses (docs/SPEC.md section 8).

A refusal is a ModelError or InputError (exit 2, one line), never an internal error and never
a fingerprint of a model that cannot load: the model file must be a regular file of at most
2 GiB; every tensor's stored bytes (raw, typed or external) must be exactly the bytes its data
type and dims need; a reference attribute must not carry a value of its own.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import AttributeProto, TensorProto, helper, numpy_helper

from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.model.onnx import fingerprint as onnx_fingerprint
from aichain_audit.fingerprint.model.onnx.fingerprint import fingerprint_model
from tests.fingerprint.test_onnx_model import (
    OPSET,
    W0,
    assert_one_line_error,
    changed,
    fingerprint_both,
    matmul_add,
    run_cli,
    save,
    tensor_digests,
)

W_BYTES = W0.astype("<f4").tobytes()  # initializer W of matmul_add: FLOAT [2, 3], 24 bytes

# -- the model file itself ------------------------------------------------------------------


def _fifo(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
@pytest.mark.slow  # runs the CLI in a process
def test_cli_refuses_a_model_that_is_not_a_regular_file_at_once_with_one_line(
    tmp_path: Path, kind: str
) -> None:
    # A FIFO without a writer once blocked the read forever; /dev/zero was read until memory
    # ran out. Both must be refused before a byte is read.
    model = _fifo(tmp_path) if kind == "fifo" else Path("/dev/zero")
    out = tmp_path / "lineage.json"
    result = run_cli("fingerprint", "--model", model, "-o", out, timeout=60)
    line = assert_one_line_error(result)
    assert str(model) in line
    assert "not a regular file" in line
    assert "internal error" not in line
    assert not out.exists()


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_model_that_is_not_a_regular_file_is_an_input_error(tmp_path: Path, kind: str) -> None:
    model = _fifo(tmp_path) if kind == "fifo" else Path("/dev/zero")
    with pytest.raises(InputError, match="not a regular file") as info:
        fingerprint_model(model)
    assert str(model) in info.value.message


def test_model_file_limit_is_protobufs_maximum_message_size() -> None:
    assert onnx_fingerprint.MODEL_LIMIT == 2**31


def test_model_larger_than_the_limit_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(matmul_add().SerializeToString())
    monkeypatch.setattr(onnx_fingerprint, "MODEL_LIMIT", path.stat().st_size - 1)
    with pytest.raises(InputError, match="larger than") as info:
        fingerprint_model(path)
    assert str(path) in info.value.message
    monkeypatch.setattr(onnx_fingerprint, "MODEL_LIMIT", path.stat().st_size)
    fingerprint_model(path)  # exactly at the limit is accepted


# -- external data: offsets and lengths -------------------------------------------------------


def _external_w(tmp_path: Path, data: bytes, **entries: str) -> Path:
    """matmul_add with W stored in `w.bin` (holding `data`) under the given entries."""
    folder = tmp_path / "m"
    folder.mkdir(exist_ok=True)
    (folder / "w.bin").write_bytes(data)
    model = matmul_add()
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in {"location": "w.bin", **entries}.items():
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    path = folder / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return path


HUGE_OFFSETS = [
    "25",  # one past the end of the 24-byte file
    "9223372036854775807",  # 2**63 - 1: lseek refuses it
    "10000000000000000000",  # 10**19: does not fit an off_t at all
    "100000000000000000000",  # 10**20
    "1" + "0" * 40,
]


@pytest.mark.parametrize("offset", HUGE_OFFSETS)
def test_external_data_offset_past_the_end_of_the_file_is_a_model_error(
    tmp_path: Path, offset: str
) -> None:
    path = _external_w(tmp_path, W_BYTES, offset=offset)
    with pytest.raises(ModelError) as info:
        fingerprint_model(path)
    message = info.value.message
    assert "w.bin" in message and "past the end" in message and "24 bytes" in message
    assert len(message) < 300


@pytest.mark.parametrize(
    "entries",
    [
        {"length": "99999999999999999999"},
        {"length": "1" + "0" * 40},
        {"offset": "8", "length": "24"},
        {"offset": "9223372036854775807", "length": "9223372036854775807"},
    ],
    ids=["length-20-digits", "length-41-digits", "range-past-end", "both-huge"],
)
def test_external_data_range_past_the_end_of_the_file_is_a_model_error(
    tmp_path: Path, entries: dict[str, str]
) -> None:
    path = _external_w(tmp_path, W_BYTES, **entries)
    with pytest.raises(ModelError, match="past the end"):
        fingerprint_model(path)


@pytest.mark.slow  # runs the CLI in a process
def test_cli_refuses_a_huge_external_data_offset_with_one_line(tmp_path: Path) -> None:
    # This offset once ended in "internal error: ValueError" (exit 2 with a useless message).
    path = _external_w(tmp_path, W_BYTES, offset="10000000000000000000")
    line = assert_one_line_error(run_cli("fingerprint", "--model", path, timeout=60))
    assert "internal error" not in line
    assert "past the end" in line


@pytest.mark.parametrize("value", ["-1", "0x10", " 1", "", "1.0", "٣"])
@pytest.mark.parametrize("key", ["offset", "length"])
def test_external_data_offset_or_length_that_is_not_a_decimal_number_is_refused(
    tmp_path: Path, key: str, value: str
) -> None:
    path = _external_w(tmp_path, W_BYTES, **{key: value})
    with pytest.raises(ModelError, match="number"):
        fingerprint_model(path)


# -- external data: the byte count must be the tensor's ---------------------------------------

SIZE_MISMATCHES = [
    ("no-length-file-short", W_BYTES[:-1], {}),
    ("no-length-file-long", W_BYTES + b"\0", {}),
    ("no-length-offset-leaves-too-few", W_BYTES, {"offset": "4"}),
    ("no-length-offset-at-end", W_BYTES, {"offset": "24"}),
    ("length-below-tensor", W_BYTES, {"length": "20"}),
    ("length-above-tensor", W_BYTES + b"\0" * 4, {"length": "28"}),
    ("length-zero", W_BYTES, {"length": "0"}),
]


@pytest.mark.parametrize(
    ("data", "entries"), [c[1:] for c in SIZE_MISMATCHES], ids=[c[0] for c in SIZE_MISMATCHES]
)
def test_external_data_whose_byte_count_is_not_the_tensors_is_refused(
    tmp_path: Path, data: bytes, entries: dict[str, str]
) -> None:
    # The model cannot load, so it must not get a fingerprint.
    path = _external_w(tmp_path, data, **entries)
    with pytest.raises(ModelError) as info:
        fingerprint_model(path)
    assert "24 bytes" in info.value.message  # what the tensor needs: FLOAT [2, 3]


@pytest.mark.parametrize(
    ("data", "entries"),
    [
        (W_BYTES, {}),
        (W_BYTES, {"offset": "0", "length": "24"}),
        (b"\1" * 8 + W_BYTES + b"\2" * 8, {"offset": "8", "length": "24"}),
        (b"\1" * 16 + W_BYTES, {"offset": "16"}),
    ],
    ids=["whole-file", "explicit", "slice", "tail"],
)
def test_external_data_of_exactly_the_tensors_size_gives_the_inline_digests(
    tmp_path: Path, data: bytes, entries: dict[str, str]
) -> None:
    inline = fingerprint_model(save(matmul_add(), tmp_path / "inline" / "model.onnx"))
    external = fingerprint_model(_external_w(tmp_path, data, **entries))
    assert changed(inline, external) == {"file"}
    assert tensor_digests(inline) == tensor_digests(external)


# -- every data type: ceil(elements * bits / 8) bytes ------------------------------------------

BITS = {
    TensorProto.FLOAT: 32,
    TensorProto.UINT8: 8,
    TensorProto.INT8: 8,
    TensorProto.UINT16: 16,
    TensorProto.INT16: 16,
    TensorProto.INT32: 32,
    TensorProto.INT64: 64,
    TensorProto.BOOL: 8,
    TensorProto.FLOAT16: 16,
    TensorProto.DOUBLE: 64,
    TensorProto.UINT32: 32,
    TensorProto.UINT64: 64,
    TensorProto.COMPLEX64: 64,
    TensorProto.COMPLEX128: 128,
    TensorProto.BFLOAT16: 16,
    TensorProto.FLOAT8E4M3FN: 8,
    TensorProto.FLOAT8E4M3FNUZ: 8,
    TensorProto.FLOAT8E5M2: 8,
    TensorProto.FLOAT8E5M2FNUZ: 8,
    TensorProto.UINT4: 4,
    TensorProto.INT4: 4,
    TensorProto.FLOAT4E2M1: 4,
    TensorProto.FLOAT8E8M0: 8,
    TensorProto.UINT2: 2,
    TensorProto.INT2: 2,
    TensorProto.FLOAT6E2M3: 6,
    TensorProto.FLOAT6E3M2: 6,
}
NUMERIC_TYPES = [
    v for v in TensorProto.DataType.values() if v not in (TensorProto.UNDEFINED, TensorProto.STRING)
]


def test_the_size_table_covers_every_numeric_data_type_of_onnx() -> None:
    assert sorted(BITS) == sorted(NUMERIC_TYPES)


def _onnx_raw(dtype: int, count: int) -> bytes:
    """The raw bytes onnx itself writes for `count` zero elements of `dtype`."""
    array = np.zeros(count, dtype=helper.tensor_dtype_to_np_dtype(dtype))
    return helper.make_tensor("C", dtype, [count], array, raw=True).raw_data


def _with_extra(t: TensorProto) -> onnx.ModelProto:
    model = matmul_add()
    model.graph.initializer.append(t)
    return model


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("dtype", NUMERIC_TYPES, ids=TensorProto.DataType.Name)
def test_stored_bytes_must_be_ceil_of_elements_times_bits_over_8(
    tmp_path: Path, dtype: int, count: int
) -> None:
    expected = math.ceil(count * BITS[dtype] / 8)
    raw = _onnx_raw(dtype, count)
    assert len(raw) == expected  # the rule is onnx's own packing
    for storage in ("raw", "external"):
        for size, accepted in ((expected, True), (expected + 1, False), (expected - 1, False)):
            folder = tmp_path / f"{storage}-{size}"
            folder.mkdir()
            t = TensorProto(name="C", data_type=dtype, dims=[count])
            payload = (raw + b"\x01")[:size]
            if storage == "raw":
                t.raw_data = payload
            else:
                (folder / "c.bin").write_bytes(payload)
                t.data_location = TensorProto.EXTERNAL
                entry = t.external_data.add()
                entry.key, entry.value = "location", "c.bin"
            path = folder / "model.onnx"
            path.write_bytes(_with_extra(t).SerializeToString())
            if accepted:
                fingerprint_model(path)
                continue
            with pytest.raises(ModelError) as info:
                fingerprint_model(path)
            if storage == "external" or size > expected:  # the checker words short raw_data
                assert f"{expected} bytes" in info.value.message


def test_inline_raw_data_longer_than_the_tensor_is_refused(tmp_path: Path) -> None:
    # The ONNX checker refuses raw_data that is too short but accepts extra bytes; the extra
    # bytes would be hashed into the weights of a model whose value cannot be read.
    for where in ("initializer", "constant"):
        model = matmul_add()
        if where == "initializer":
            model.graph.initializer[0].raw_data += b"\0\0\0\0"
        else:
            value = numpy_helper.from_array(np.ones(3, np.float32))
            value.raw_data += b"\0\0\0\0"
            node = helper.make_node("Constant", [], ["K"], value=value)
            model.graph.node.append(node)
        path = tmp_path / where / "model.onnx"
        path.parent.mkdir()
        path.write_bytes(model.SerializeToString())
        with pytest.raises(ModelError, match="bytes"):
            fingerprint_model(path)


def test_inline_raw_data_shorter_than_the_tensor_is_refused(tmp_path: Path) -> None:
    model = matmul_add()
    model.graph.initializer[0].raw_data = W_BYTES[:-4]
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelError):
        fingerprint_model(path)


def test_tensor_of_a_data_type_onnx_does_not_define_is_refused(tmp_path: Path) -> None:
    # The checker accepts data_type 999 with any raw bytes; no element size is known for it.
    t = TensorProto(name="C", data_type=999, dims=[1], raw_data=b"\0")
    path = tmp_path / "model.onnx"
    path.write_bytes(_with_extra(t).SerializeToString())
    with pytest.raises(ModelError, match="999"):
        fingerprint_model(path)


def test_string_tensor_with_more_strings_than_elements_is_refused(tmp_path: Path) -> None:
    t = helper.make_tensor("C", TensorProto.STRING, [2], [b"a", b"b"])
    t.string_data.append(b"extra")
    path = tmp_path / "model.onnx"
    path.write_bytes(_with_extra(t).SerializeToString())
    with pytest.raises(ModelError, match="string"):
        fingerprint_model(path)


# -- reference attributes ---------------------------------------------------------------------


def _scale_function(reference: AttributeProto) -> onnx.ModelProto:
    """custom.Scale(x) = x * Constant(<reference>), called with scale=2.0."""
    constant = helper.make_node("Constant", [], ["c"])
    constant.attribute.append(reference)
    body = [constant, helper.make_node("Mul", ["x", "c"], ["y"])]
    function = helper.make_function("custom", "Scale", ["x"], ["y"], body, OPSET, ["scale"])
    graph = helper.make_graph(
        [helper.make_node("Scale", ["X"], ["Z"], domain="custom", scale=2.0)],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(
        graph, opset_imports=[*OPSET, helper.make_opsetid("custom", 1)], functions=[function]
    )
    onnx.checker.check_model(model)
    return model


def _reference(to: str = "scale", carried: float | None = None) -> AttributeProto:
    a = helper.make_attribute_ref("value_float", AttributeProto.FLOAT)
    a.ref_attr_name = to
    if carried is not None:
        a.f = carried
    return a


def test_reference_attribute_that_also_carries_a_value_is_refused(tmp_path: Path) -> None:
    # The checker accepts `f` beside ref_attr_name. The value is never used, and it was in
    # none of the three digests: two models differing only there had the same fingerprint.
    path = tmp_path / "model.onnx"
    onnx.save(_scale_function(_reference(carried=5.0)), path)
    with pytest.raises(ModelError, match="ref_attr_name") as info:
        fingerprint_model(path)
    assert "value_float" in info.value.message


def test_reference_attribute_is_graph_and_its_target_name_counts(tmp_path: Path) -> None:
    a, b = fingerprint_both(
        tmp_path, _scale_function(_reference()), _scale_function(_reference("other"))
    )
    assert changed(a, b) == {"file", "graph"}
