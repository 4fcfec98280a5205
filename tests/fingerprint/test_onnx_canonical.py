"""Specification of the canonical form behind the three semantic digests (docs/SPEC.md 8.1-8.4).

What these pin: storage order never matters (initializers, sparse initializers, value_info,
function attribute declarations), annotations never move the graph, every weight id is unique,
and each rule SPEC states about names (sparse tensors, value_info, functions) holds.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from aichain_audit.canonical import canonical_json
from aichain_audit.errors import ModelError
from aichain_audit.fingerprint.model import ModelFingerprint
from aichain_audit.fingerprint.model.onnx.fingerprint import fingerprint_model
from tests.fingerprint.test_onnx_model import (
    OPSET,
    changed,
    copy_of,
    fingerprint_both,
    matmul_add,
    save,
    with_sparse,
)

REPO = Path(__file__).resolve().parents[2]


def semantics(fp: ModelFingerprint) -> tuple[str, str, str, tuple[object, ...]]:
    s = fp.semantic
    return s.graph, s.weights, s.metadata, s.tensors


def _reorder(model: onnx.ModelProto, field: str, order: list[int]) -> onnx.ModelProto:
    out = copy_of(model)
    items = list(getattr(out.graph, field))
    container = getattr(out.graph, field)
    del container[:]
    container.extend(items[i] for i in order)
    return out


# -- 6c. storage order of initializers ---------------------------------------------------------


def _with_unused(values: list[np.ndarray], names: list[str]) -> onnx.ModelProto:
    model = matmul_add()
    for value, name in zip(values, names, strict=True):
        model.graph.initializer.append(numpy_helper.from_array(value, name))
    return model


def test_swapping_two_identical_unused_initializers_changes_no_semantic_digest(
    tmp_path: Path,
) -> None:
    # Same value, so the same digest: the tie was left in storage order, and the `name:vK`
    # metadata entries followed it, so swapping them changed the metadata and so the root.
    zeros = np.zeros(2, np.float32)
    model = _with_unused([zeros, zeros], ["unused_a", "unused_b"])
    a, b = fingerprint_both(tmp_path, model, _reorder(model, "initializer", [0, 1, 3, 2]))
    assert changed(a, b) == {"file"}
    assert a.semantic.tensors == b.semantic.tensors


def test_swapping_two_identical_unused_sparse_initializers_changes_no_semantic_digest(
    tmp_path: Path,
) -> None:
    model = with_sparse()
    for name in ("spare_a", "spare_b"):
        model.graph.sparse_initializer.append(
            helper.make_sparse_tensor(
                numpy_helper.from_array(np.array([1.0], np.float32), name),
                numpy_helper.from_array(np.array([0], np.int64), name + "_idx"),
                [3],
            )
        )
    a, b = fingerprint_both(tmp_path, model, _reorder(model, "sparse_initializer", [0, 2, 1]))
    assert changed(a, b) == {"file"}
    assert a.semantic.tensors == b.semantic.tensors


POOL = [np.zeros(2, np.float32), np.ones(2, np.float32), np.array([1, 2], np.int64)]


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    picks=st.lists(st.integers(0, len(POOL) - 1), min_size=0, max_size=5),
    sparse_picks=st.lists(st.integers(0, 1), min_size=0, max_size=3),
    data=st.data(),
)
def test_storage_order_of_initializers_never_changes_a_semantic_digest_or_tensor_leaf(
    tmp_path_factory: pytest.TempPathFactory,
    picks: list[int],
    sparse_picks: list[int],
    data: st.DataObject,
) -> None:
    # Used initializers (W, B) and unused ones drawn from a small pool, so that identical
    # values (equal digests, different names) are common.
    model = _with_unused([POOL[i] for i in picks], [f"u{k}" for k in range(len(picks))])
    for k, i in enumerate(sparse_picks):
        model.graph.sparse_initializer.append(
            helper.make_sparse_tensor(
                numpy_helper.from_array(np.array([1.0 + i], np.float32), f"s{k}"),
                numpy_helper.from_array(np.array([i], np.int64), f"s{k}_idx"),
                [3],
            )
        )
    dense = data.draw(st.permutations(range(len(model.graph.initializer))), label="dense")
    sparse = data.draw(st.permutations(range(len(sparse_picks))), label="sparse")
    permuted = _reorder(_reorder(model, "initializer", dense), "sparse_initializer", sparse)
    folder = tmp_path_factory.mktemp("order")
    a, b = fingerprint_both(folder, model, permuted)
    assert semantics(a) == semantics(b)


# -- 6a. sparse tensors in attributes ----------------------------------------------------------


def _sparse_constant(values_name: str, dims: int = 3) -> onnx.ModelProto:
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(np.array([1.5], np.float32), values_name),
        numpy_helper.from_array(np.array([1], np.int64), "idx"),
        [dims],
    )
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["Z"], name="c", sparse_value=sparse)],
        "sparse_constant",
        [],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["n"])],
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    onnx.checker.check_model(model)
    return model


def test_sparse_tensor_attribute_leaf_is_named_by_its_values_name(tmp_path: Path) -> None:
    fp = fingerprint_model(save(_sparse_constant("my_sparse"), tmp_path / "model.onnx"))
    assert [(t.id, t.name) for t in fp.semantic.tensors] == [("n0.sparse_value", "my_sparse")]


def test_sparse_tensor_attribute_without_a_values_name_is_named_by_its_id(
    tmp_path: Path,
) -> None:
    model = _sparse_constant("x")
    model.graph.node[0].attribute[0].sparse_tensor.values.ClearField("name")
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    fp = fingerprint_model(path)
    assert [(t.id, t.name) for t in fp.semantic.tensors] == [("n0.sparse_value", "n0.sparse_value")]


def test_changing_the_dims_of_a_sparse_constant_changes_graph(tmp_path: Path) -> None:
    # As for a dense tensor attribute, the shape of a sparse one is part of the computation.
    a, b = fingerprint_both(tmp_path, _sparse_constant("s"), _sparse_constant("s", dims=4))
    assert {"graph", "weights"} <= changed(a, b)


# -- 6b / 7. value_info and other annotations --------------------------------------------------


def _if_model(value_info: list[onnx.ValueInfoProto], in_branch: bool) -> onnx.ModelProto:
    branch = helper.make_graph(
        [helper.make_node("Identity", ["X"], ["b_out"], name="id")],
        "branch",
        [],
        [helper.make_tensor_value_info("b_out", TensorProto.FLOAT, [2])],
        value_info=value_info if in_branch else [],
    )
    graph = helper.make_graph(
        [
            helper.make_node(
                "If", ["cond"], ["Y"], name="if", then_branch=branch, else_branch=branch
            ),
            helper.make_node("Neg", ["Y"], ["Z"], name="neg"),
        ],
        "if_model",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("X", TensorProto.FLOAT, [2]),
        ],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2])],
        value_info=[] if in_branch else value_info,
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    onnx.checker.check_model(model)
    return model


def _function_model(value_info: list[onnx.ValueInfoProto]) -> onnx.ModelProto:
    branch = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["b_out"])],
        "branch",
        [],
        [helper.make_tensor_value_info("b_out", TensorProto.FLOAT, [2])],
    )
    body = [
        helper.make_node("If", ["c"], ["t"], then_branch=branch, else_branch=branch),
        helper.make_node("Neg", ["t"], ["y"]),
    ]
    function = helper.make_function("custom", "F", ["x", "c"], ["y"], body, OPSET)
    function.value_info.extend(value_info)
    graph = helper.make_graph(
        [helper.make_node("F", ["X", "C"], ["Z"], name="call", domain="custom")],
        "function_model",
        [
            helper.make_tensor_value_info("X", TensorProto.FLOAT, [2]),
            helper.make_tensor_value_info("C", TensorProto.BOOL, []),
        ],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(
        graph, opset_imports=[*OPSET, helper.make_opsetid("custom", 1)], functions=[function]
    )
    onnx.checker.check_model(model)
    return model


STALE = [helper.make_tensor_value_info("gone", TensorProto.FLOAT, [7])]
PLACES = {
    "main-graph": lambda vi: _if_model(vi, in_branch=False),
    "subgraph": lambda vi: _if_model(vi, in_branch=True),
    "function": _function_model,
}


@pytest.mark.parametrize("place", PLACES)
def test_value_info_naming_a_value_that_does_not_exist_changes_only_metadata(
    tmp_path: Path, place: str
) -> None:
    # value_info only annotates (often left stale by graph surgery): the ids it introduces come
    # after every other id of its scope, so the graph document cannot move.
    build = PLACES[place]
    a, b = fingerprint_both(tmp_path, build([]), build(STALE))
    assert changed(a, b) == {"file", "metadata"}


def test_function_value_info_is_metadata(tmp_path: Path) -> None:
    a, b = fingerprint_both(
        tmp_path,
        _function_model([helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])]),
        _function_model([helper.make_tensor_value_info("t", TensorProto.FLOAT, [3])]),
    )
    assert changed(a, b) == {"file", "metadata"}


def test_order_of_duplicate_value_info_entries_does_not_matter(tmp_path: Path) -> None:
    # The checker accepts two value_info entries for one value; their order is storage.
    entries = [
        helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3]),
        helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["n", 3]),
    ]
    model = matmul_add()
    model.graph.value_info.extend(entries)
    a, b = fingerprint_both(tmp_path, model, _reorder(model, "value_info", [1, 0]))
    assert changed(a, b) == {"file"}


def _passthrough(input_doc: str, output_doc: str) -> onnx.ModelProto:
    """X is both the graph's input and one of its outputs, each documented."""
    x_in = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2], doc_string=input_doc)
    x_out = helper.make_tensor_value_info("X", TensorProto.FLOAT, [2], doc_string=output_doc)
    graph = helper.make_graph(
        [helper.make_node("Neg", ["X"], ["Z"], name="neg")],
        "passthrough",
        [x_in],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2]), x_out],
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    onnx.checker.check_model(model)
    return model


def test_doc_strings_of_an_input_and_output_of_one_value_are_kept_apart(tmp_path: Path) -> None:
    a, b = fingerprint_both(tmp_path, _passthrough("in", "out"), _passthrough("out", "in"))
    assert changed(a, b) == {"file", "metadata"}


# -- functions ---------------------------------------------------------------------------------


def _attribute_function(names: list[str]) -> onnx.ModelProto:
    body = [helper.make_node("Neg", ["x"], ["y"])]
    function = helper.make_function("custom", "F", ["x"], ["y"], body, OPSET, names)
    graph = helper.make_graph(
        [helper.make_node("F", ["X"], ["Z"], name="call", domain="custom")],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2])],
    )
    opsets = [*OPSET, helper.make_opsetid("custom", 1)]
    model = helper.make_model(graph, opset_imports=opsets, functions=[function])
    onnx.checker.check_model(model)
    return model


def test_order_in_which_a_function_declares_its_attributes_does_not_matter(
    tmp_path: Path,
) -> None:
    a, b = fingerprint_both(
        tmp_path, _attribute_function(["alpha", "beta"]), _attribute_function(["beta", "alpha"])
    )
    assert changed(a, b) == {"file"}


def test_a_function_that_declares_another_attribute_changes_graph(tmp_path: Path) -> None:
    a, b = fingerprint_both(
        tmp_path, _attribute_function(["alpha"]), _attribute_function(["alpha", "beta"])
    )
    assert changed(a, b) == {"file", "graph"}


def test_the_default_domain_is_the_same_whether_imported_as_empty_or_ai_onnx(
    tmp_path: Path,
) -> None:
    spelled = matmul_add()
    spelled.opset_import[0].domain = "ai.onnx"
    a, b = fingerprint_both(tmp_path, matmul_add(), spelled)
    assert changed(a, b) == {"file"}


# -- weight ids are unique ---------------------------------------------------------------------


def test_subgraph_initializer_that_shadows_an_outer_one_is_refused(tmp_path: Path) -> None:
    # The checker accepts it; both tensors would get the same canonical id, so the weights
    # list and the tensor leaves would hold two entries for one id.
    branch = helper.make_graph(
        [helper.make_node("Identity", ["W"], ["b_out"])],
        "branch",
        [],
        [helper.make_tensor_value_info("b_out", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.ones(2, np.float32), "W")],
    )
    graph = helper.make_graph(
        [
            helper.make_node("If", ["c"], ["Y"], then_branch=branch, else_branch=branch),
            helper.make_node("Add", ["Y", "W"], ["Z"]),
        ],
        "shadow",
        [helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.zeros(2, np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=OPSET)
    onnx.checker.check_model(model)
    with pytest.raises(ModelError, match="'W'"):
        fingerprint_model(save(model, tmp_path / "model.onnx"))


# -- SPEC's worked example ---------------------------------------------------------------------


def _spec_example() -> dict[str, str]:
    """The example documents of docs/SPEC.md 8.5, by name."""
    text = (REPO / "docs" / "SPEC.md").read_text(encoding="utf-8")
    section = text[text.index("### 8.5") : text.index("## 9.")]
    return dict(re.findall(r"^(graph|weights|metadata) = (.+)$", section, flags=re.M))


def test_the_worked_example_in_spec_is_what_the_tool_computes(tmp_path: Path) -> None:
    w = np.array([[1.0, 2.0], [3.0, -0.5]], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])],
        "tiny",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(w, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    fp = fingerprint_model(save(model, tmp_path / "tiny.onnx")).semantic
    documents = _spec_example()
    assert set(documents) == {"graph", "weights", "metadata"}
    for part, text in documents.items():
        doc = json.loads(text)
        assert canonical_json(doc) == text.encode("utf-8"), f"{part} is not printed as JCS"
        expected = "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()
        assert getattr(fp, part) == expected, part
