"""What a report shows of an ONNX model (`describe`): every weight the fingerprint counts,
its elements and data type by ONNX's own names, and the model's facts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from aichain_audit.fingerprint.model.onnx import OnnxFormat
from aichain_audit.fingerprint.model.onnx.tables import _BITS, _STRING, DATA_TYPE_NAMES


def test_data_type_names_are_onnx_own_for_every_type_the_scheme_sizes() -> None:
    assert set(DATA_TYPE_NAMES) == {*_BITS, _STRING}
    for code, name in DATA_TYPE_NAMES.items():
        assert onnx.TensorProto.DataType.Name(code) == name


def test_dense_sparse_constant_and_fitted_attribute_weights_are_all_counted(
    tmp_path: Path,
) -> None:
    dense = numpy_helper.from_array(np.ones((2, 3), dtype=np.float16), "W")
    values = numpy_helper.from_array(np.array([1.0, 2.0], dtype=np.float32), "S_values")
    indices = numpy_helper.from_array(np.array([0, 5], dtype=np.int64), "S_indices")
    sparse = helper.make_sparse_tensor(values, indices, [10])
    const = helper.make_node(
        "Constant", [], ["C"], value=numpy_helper.from_array(np.arange(4, dtype=np.int32))
    )
    scaler = helper.make_node(
        "Scaler", ["X"], ["Z"], domain="ai.onnx.ml", offset=[0.5, 0.5, 0.5], scale=[2.0] * 3
    )
    graph = helper.make_graph(
        [const, scaler], "pipeline",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, 3])],
        [dense], sparse_initializer=[sparse],
    )  # fmt: skip
    model = helper.make_model(
        graph, producer_name="hand", producer_version="1.0",
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
    )  # fmt: skip
    model.ir_version = 8
    onnx.save(model, tmp_path / "model.onnx")
    d = OnnxFormat().describe(tmp_path / "model.onnx", "model.onnx")
    assert d.format == "ONNX" and d.architecture == "pipeline"
    # W: 6, the sparse one's stored values: 2, the Constant: 4, offset and scale: 3 each
    assert d.tensors == 5 and d.parameters == 6 + 2 + 4 + 3 + 3
    assert d.dtypes == (("FLOAT", 3), ("FLOAT16", 1), ("INT32", 1))
    assert d.tensor_bytes == 6 * 2 + 2 * 4 + 4 * 4 + 3 * 4 + 3 * 4
    facts = dict(d.facts)
    assert facts["Producer"] == "hand 1.0" and facts["IR version"] == "8"
    assert facts["Opsets"] == "ai.onnx 17, ai.onnx.ml 3"
    assert facts["Operators"] == "Constant \u00d7 1, ai.onnx.ml.Scaler \u00d7 1"
    assert facts["Nodes"] == "2" and "Doc string" not in facts
