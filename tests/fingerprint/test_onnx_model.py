"""Specification of the ONNX file digest and the `onnx-semantic/v1` fingerprint.

Every model here is a real ONNX file built with onnx.helper, checked by onnx.checker and
written to a temporary folder. The three semantic digests answer three questions: did the
computation change (graph), did a learned value change (weights), did only names and
documentation change (metadata)? The file digest changes with any byte of the model file.
"""

from __future__ import annotations

import builtins
import io
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from onnx import TensorProto, helper, numpy_helper

from aichain_audit.errors import InputError, ModelError
from aichain_audit.fingerprint.hashing import FileDigest, digest_bytes, digest_file
from aichain_audit.fingerprint.model import ModelFingerprint
from aichain_audit.fingerprint.model.onnx.fingerprint import fingerprint_model

REPO = Path(__file__).resolve().parents[2]
OPSET = [helper.make_opsetid("", 17)]
W0 = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
B0 = np.array([0.5, -1.25, 3.0], dtype=np.float32)

# -- building models ------------------------------------------------------------------------


def _model(graph: onnx.GraphProto, **kw: Any) -> onnx.ModelProto:
    kw.setdefault("opset_imports", OPSET)
    model = helper.make_model(graph, producer_name="spec-tests", **kw)
    onnx.checker.check_model(model)
    return model


def matmul_add(w: np.ndarray = W0, b: np.ndarray = B0) -> onnx.ModelProto:
    """Z = X @ W + B with float32 initializers W [2,3] and B [3]."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["Y"], name="matmul"),
            helper.make_node("Add", ["Y", "B"], ["Z"], name="add"),
        ],
        "matmul_add",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
    )
    return _model(graph)


def gemm(trans_b: int = 1, alpha: float = 1.0, op: str = "Gemm") -> onnx.ModelProto:
    """Y = alpha * X @ W' + B with a square W, so transB is valid either way."""
    w = numpy_helper.from_array(np.array([[1, 2], [3, 4]], dtype=np.float32), "W")
    b = numpy_helper.from_array(np.array([0.5, 0.25], dtype=np.float32), "B")
    node = helper.make_node(op, ["X", "W", "B"], ["Y"], name="gemm", transB=trans_b, alpha=alpha)
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        [w, b],
    )
    return _model(graph)


def add_or_sub(op: str) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node(op, ["X", "B"], ["Z"], name="op")],
        "binary",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [3])],
        [numpy_helper.from_array(B0, "B")],
    )
    return _model(graph)


def with_constant(value: np.ndarray) -> onnx.ModelProto:
    """Z = X + C where C comes from a Constant node."""
    graph = helper.make_graph(
        [
            helper.make_node(
                "Constant", [], ["C"], name="const", value=numpy_helper.from_array(value)
            ),
            helper.make_node("Add", ["X", "C"], ["Z"], name="add"),
        ],
        "constant",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [3])],
    )
    return _model(graph)


def with_if(then_init: np.ndarray = B0, else_const: np.ndarray = B0 * 2) -> onnx.ModelProto:
    """An If whose then-branch holds an initializer and whose else-branch a Constant node."""
    out = [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [3])]
    then_branch = helper.make_graph(
        [helper.make_node("Identity", ["T"], ["then_out"], name="then_id")],
        "then",
        [],
        out,
        [numpy_helper.from_array(then_init, "T")],
    )
    else_branch = helper.make_graph(
        [
            helper.make_node(
                "Constant",
                [],
                ["else_out"],
                name="else_c",
                value=numpy_helper.from_array(else_const),
            )
        ],
        "else",
        [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [3])],
    )
    node = helper.make_node(
        "If", ["cond"], ["Y"], name="if", then_branch=then_branch, else_branch=else_branch
    )
    graph = helper.make_graph(
        [node],
        "if_model",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3])],
    )
    return _model(graph)


def with_sparse(
    values: np.ndarray = np.array([1.5, -2.0], dtype=np.float32),
    indices: np.ndarray = np.array([[0, 1], [1, 2]], dtype=np.int64),
) -> onnx.ModelProto:
    """Z = X + S where S is a sparse [2,3] initializer."""
    sparse = helper.make_sparse_tensor(
        numpy_helper.from_array(values, "S"), numpy_helper.from_array(indices, "S_idx"), [2, 3]
    )
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "S"], ["Z"], name="add")],
        "sparse",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2, 3])],
        sparse_initializer=[sparse],
    )
    return _model(graph)


def with_function(scale: float = 2.0, body_op: str = "Mul") -> onnx.ModelProto:
    """The graph calls a model-local function custom.Scale(x) = x (op) Constant(scale)."""
    body = [
        helper.make_node(
            "Constant", [], ["c"], value=numpy_helper.from_array(np.array(scale, np.float32))
        ),
        helper.make_node(body_op, ["x", "c"], ["y"]),
    ]
    function = helper.make_function("custom", "Scale", ["x"], ["y"], body, OPSET)
    graph = helper.make_graph(
        [helper.make_node("Scale", ["X"], ["Z"], name="call", domain="custom")],
        "function_model",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2])],
    )
    return _model(
        graph,
        opset_imports=[*OPSET, helper.make_opsetid("custom", 1)],
        functions=[function],
    )


def copy_of(model: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(model)
    return out


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


# -- comparing fingerprints -----------------------------------------------------------------

PARTS = ("file", "graph", "weights", "metadata")


def parts(fp: ModelFingerprint) -> dict[str, str]:
    s = fp.semantic
    return {"file": fp.file.digest, "graph": s.graph, "weights": s.weights, "metadata": s.metadata}


def changed(a: ModelFingerprint, b: ModelFingerprint) -> set[str]:
    pa, pb = parts(a), parts(b)
    return {k for k in PARTS if pa[k] != pb[k]}


def fingerprint_both(
    tmp_path: Path, before: onnx.ModelProto, after: onnx.ModelProto
) -> tuple[ModelFingerprint, ModelFingerprint]:
    # Same file name in two folders, so nothing but content can differ.
    a = fingerprint_model(save(before, tmp_path / "a" / "model.onnx"))
    b = fingerprint_model(save(after, tmp_path / "b" / "model.onnx"))
    return a, b


def tensor_digests(fp: ModelFingerprint) -> dict[str, str]:
    return {t.id: t.digest for t in fp.semantic.tensors}


def run_cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aichain: error: "), result.stderr
    assert result.stdout == ""
    return lines[0]


# -- 1. determinism -------------------------------------------------------------------------


def test_same_file_fingerprinted_twice_and_copied_elsewhere_gives_identical_digests(
    tmp_path: Path,
) -> None:
    path = save(matmul_add(), tmp_path / "one" / "model.onnx")
    first = fingerprint_model(path)
    second = fingerprint_model(path)
    copy = tmp_path / "elsewhere" / "deeper" / "model.onnx"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(path, copy)
    copied = fingerprint_model(copy)
    assert parts(first) == parts(second) == parts(copied)
    assert first.semantic.tensors == copied.semantic.tensors
    assert first.file == FileDigest(digest_bytes(path.read_bytes()), path.stat().st_size)
    assert all(parts(first)[k].startswith("sha256:") for k in PARTS)


def test_fingerprint_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save(matmul_add(), tmp_path / "m" / "model.onnx")
    monkeypatch.chdir(path.parent)
    here = fingerprint_model(Path("model.onnx"))
    monkeypatch.chdir(tmp_path)
    assert parts(fingerprint_model(path)) == parts(here)


# -- 2. one weight value --------------------------------------------------------------------


def test_changing_one_weight_value_changes_file_and_weights_but_not_graph_or_metadata(
    tmp_path: Path,
) -> None:
    w = W0.copy()
    w[1, 2] = np.float32(w[1, 2] + 1)
    a, b = fingerprint_both(tmp_path, matmul_add(), matmul_add(w=w))
    assert changed(a, b) == {"file", "weights"}


def test_per_tensor_digests_name_exactly_the_changed_tensor(tmp_path: Path) -> None:
    b = B0.copy()
    b[0] = np.nextafter(b[0], np.float32(10))  # the smallest possible change
    before, after = fingerprint_both(tmp_path, matmul_add(), matmul_add(b=b))
    ta, tb = tensor_digests(before), tensor_digests(after)
    assert ta.keys() == tb.keys() and len(ta) == 2
    differing = [tid for tid in ta if ta[tid] != tb[tid]]
    assert len(differing) == 1
    names = {t.id: t.name for t in after.semantic.tensors}
    assert names[differing[0]] == "B"


# -- 3. metadata only -----------------------------------------------------------------------


def _set_model_doc(m: onnx.ModelProto) -> None:
    m.doc_string = "trained on Tuesday"


def _set_producer(m: onnx.ModelProto) -> None:
    m.producer_name = "another-exporter"


def _set_producer_version(m: onnx.ModelProto) -> None:
    m.producer_version = "9.9"


def _add_metadata_prop(m: onnx.ModelProto) -> None:
    helper.set_model_props(m, {"author": "someone"})


def _rename_node(m: onnx.ModelProto) -> None:
    m.graph.node[0].name = "renamed_matmul"


def _set_node_doc(m: onnx.ModelProto) -> None:
    m.graph.node[1].doc_string = "adds the bias"


def _rename_graph(m: onnx.ModelProto) -> None:
    m.graph.name = "a_better_name"


def _set_graph_doc(m: onnx.ModelProto) -> None:
    m.graph.doc_string = "the graph"


def _set_initializer_doc(m: onnx.ModelProto) -> None:
    m.graph.initializer[0].doc_string = "the weight matrix"


def _set_input_doc(m: onnx.ModelProto) -> None:
    m.graph.input[0].doc_string = "features"


def _add_value_info(m: onnx.ModelProto) -> None:
    m.graph.value_info.append(helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3]))


METADATA_EDITS: list[Callable[[onnx.ModelProto], None]] = [
    _set_model_doc,
    _set_producer,
    _set_producer_version,
    _add_metadata_prop,
    _rename_node,
    _set_node_doc,
    _rename_graph,
    _set_graph_doc,
    _set_initializer_doc,
    _set_input_doc,
    _add_value_info,
]


@pytest.mark.parametrize("edit", METADATA_EDITS, ids=lambda f: f.__name__.strip("_"))
def test_metadata_only_edit_changes_file_and_metadata_but_not_graph_or_weights(
    tmp_path: Path, edit: Callable[[onnx.ModelProto], None]
) -> None:
    after = matmul_add()
    edit(after)
    a, b = fingerprint_both(tmp_path, matmul_add(), after)
    assert changed(a, b) == {"file", "metadata"}


# -- 4. renaming values -----------------------------------------------------------------------


def _rename_everywhere(model: onnx.ModelProto, old: str, new: str) -> onnx.ModelProto:
    m = copy_of(model)
    g = m.graph
    for node in g.node:
        node.input[:] = [new if x == old else x for x in node.input]
        node.output[:] = [new if x == old else x for x in node.output]
    for collection in (g.input, g.output, g.value_info, g.initializer):
        for item in collection:
            if item.name == old:
                item.name = new
    return m


@pytest.mark.parametrize("old", ["X", "W", "Y", "Z"])
def test_renaming_a_value_everywhere_changes_only_metadata(tmp_path: Path, old: str) -> None:
    renamed = _rename_everywhere(matmul_add(), old, "completely_different_name")
    a, b = fingerprint_both(tmp_path, matmul_add(), renamed)
    assert changed(a, b) == {"file", "metadata"}
    assert tensor_digests(a) == tensor_digests(b)


# -- 5. external data -----------------------------------------------------------------------


def _save_external(model: onnx.ModelProto, path: Path, **kw: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(
        copy_of(model),  # save_model converts the proto it is given in place
        path,
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=0,
        **kw,
    )
    return path


def _constant_b0() -> onnx.ModelProto:
    return with_constant(B0)


def _stored_tensors(message: Any) -> list[TensorProto]:
    """Every TensorProto in a message, at any depth (subgraphs, attributes)."""
    if isinstance(message, TensorProto):
        return [message]
    found: list[TensorProto] = []
    for field, value in message.ListFields():
        if field.message_type is not None:
            repeated = getattr(field, "is_repeated", None)  # protobuf >= 5.28 drops .label
            if repeated is None:
                repeated = field.label == field.LABEL_REPEATED
            items = value if repeated else [value]
            for item in items:
                found.extend(_stored_tensors(item))
    return found


@pytest.mark.parametrize(
    ("build", "convert_attribute"),
    [(matmul_add, False), (_constant_b0, True), (with_if, True)],
    ids=["initializers", "constant-attribute", "if-branches"],
)
def test_resaving_weights_as_external_data_keeps_graph_and_weights(
    tmp_path: Path, build: Callable[[], onnx.ModelProto], convert_attribute: bool
) -> None:
    inline = fingerprint_model(save(build(), tmp_path / "inline" / "model.onnx"))
    path = _save_external(
        build(), tmp_path / "ext" / "model.onnx", convert_attribute=convert_attribute
    )
    stored = _stored_tensors(onnx.load(path, load_external_data=False))
    assert stored and all(t.data_location == TensorProto.EXTERNAL for t in stored)
    external = fingerprint_model(path)
    assert changed(inline, external) == {"file"}
    assert external.external == (("weights.bin", digest_file(str(path.parent / "weights.bin"))),)
    assert inline.external == ()
    assert tensor_digests(inline) == tensor_digests(external)


def test_external_data_fingerprint_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _save_external(matmul_add(), tmp_path / "ext" / "model.onnx")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "weights.bin").write_bytes(b"a different file with the same name")
    results = []
    for cwd in (path.parent, tmp_path, elsewhere):
        monkeypatch.chdir(cwd)
        results.append(parts(fingerprint_model(path)))
    assert results[0] == results[1] == results[2]


def test_changing_one_byte_of_the_external_data_file_changes_weights_only(
    tmp_path: Path,
) -> None:
    path = _save_external(matmul_add(), tmp_path / "ext" / "model.onnx")
    before = fingerprint_model(path)
    data_file = path.parent / "weights.bin"
    data = bytearray(data_file.read_bytes())
    data[5] ^= 0x01
    data_file.write_bytes(bytes(data))
    after = fingerprint_model(path)
    assert changed(before, after) == {"weights"}  # the model file itself is unchanged
    assert after.external[0][1] != before.external[0][1]
    assert after.external[0][1].digest == digest_bytes(bytes(data))


@pytest.mark.slow  # runs the CLI in a process
def test_cli_json_reports_the_digests_of_an_external_data_model(tmp_path: Path) -> None:
    path = _save_external(matmul_add(), tmp_path / "ext" / "model.onnx")
    result = run_cli("fingerprint", "--model", path, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    fp = fingerprint_model(path)
    assert doc["model"] == {
        "file_digest": fp.file.digest,
        "semantic": {
            "graph": fp.semantic.graph,
            "weights": fp.semantic.weights,
            "metadata": fp.semantic.metadata,
        },
        "warnings": [],
    }


# -- 6. storage independence ----------------------------------------------------------------

STORAGE_CASES = [
    np.array([[1.5, -2.0, 0.0], [3e-8, -0.0, 65504.0]], dtype=np.float32),
    np.array([1.5, -2.0, 1e300], dtype=np.float64),
    np.array([1.5, -2.0, 65504.0], dtype=np.float16),
    np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16),
    np.array([-1, 2, 127], dtype=np.int8),
    np.array([0, 255], dtype=np.uint8),
    np.array([-1, 2**31 - 1], dtype=np.int32),
    np.array([-1, 2**40], dtype=np.int64),
    np.array([2**64 - 1], dtype=np.uint64),
    np.array([True, False, True]),
    np.array([1 + 2j], dtype=np.complex64),
]


@pytest.mark.parametrize("array", STORAGE_CASES, ids=lambda a: str(a.dtype))
def test_raw_data_and_typed_fields_give_the_same_weights_digest(
    tmp_path: Path, array: np.ndarray
) -> None:
    dtype = helper.np_dtype_to_tensor_dtype(array.dtype)
    raw = numpy_helper.from_array(array, "C")
    values = array.astype(np.float32) if array.dtype == ml_dtypes.bfloat16 else array
    typed = helper.make_tensor("C", dtype, array.shape, values.flatten().tolist(), raw=False)
    assert raw.HasField("raw_data") and not typed.HasField("raw_data")
    np.testing.assert_array_equal(numpy_helper.to_array(typed), array)

    def model(t: TensorProto) -> onnx.ModelProto:
        graph = helper.make_graph(
            [helper.make_node("Identity", ["C"], ["Z"], name="id")],
            "storage",
            [],
            [helper.make_tensor_value_info("Z", dtype, list(array.shape))],
            [t],
        )
        return _model(graph, opset_imports=[helper.make_opsetid("", 21)])

    a, b = fingerprint_both(tmp_path, model(raw), model(typed))
    assert changed(a, b) == {"file"}


def test_initializer_storage_order_does_not_change_graph_or_weights(tmp_path: Path) -> None:
    permuted = matmul_add()
    inits = list(permuted.graph.initializer)
    del permuted.graph.initializer[:]
    permuted.graph.initializer.extend(reversed(inits))
    a, b = fingerprint_both(tmp_path, matmul_add(), permuted)
    assert changed(a, b) == {"file"}


def test_storage_order_of_unused_initializers_does_not_change_weights(tmp_path: Path) -> None:
    # Unused initializers are legal (and common after graph surgery). Their canonical ids come
    # from their content, then their names (docs/SPEC.md 8.2), never from storage order.
    model = matmul_add()
    model.graph.initializer.extend(
        [
            numpy_helper.from_array(np.zeros(2, np.float32), "unused_a"),
            numpy_helper.from_array(np.ones(2, np.float32), "unused_b"),
        ]
    )
    permuted = copy_of(model)
    inits = list(permuted.graph.initializer)
    del permuted.graph.initializer[:]
    permuted.graph.initializer.extend([inits[0], inits[1], inits[3], inits[2]])
    a, b = fingerprint_both(tmp_path, model, permuted)
    assert "graph" not in changed(a, b)
    assert "weights" not in changed(a, b)


# -- 7. weights beyond initializers ---------------------------------------------------------


def _sparse_values_changed() -> onnx.ModelProto:
    return with_sparse(values=np.array([1.5, -2.5], dtype=np.float32))


def _sparse_indices_changed() -> onnx.ModelProto:
    return with_sparse(indices=np.array([[0, 1], [1, 1]], dtype=np.int64))


WEIGHT_EDITS: list[tuple[str, Callable[[], onnx.ModelProto], Callable[[], onnx.ModelProto]]] = [
    ("constant-node", lambda: with_constant(B0), lambda: with_constant(B0 + 1)),
    ("if-branch-initializer", with_if, lambda: with_if(then_init=B0 - 1)),
    ("if-branch-constant", with_if, lambda: with_if(else_const=B0 * 3)),
    ("sparse-values", with_sparse, _sparse_values_changed),
    ("sparse-indices", with_sparse, _sparse_indices_changed),
    ("function-constant", with_function, lambda: with_function(scale=3.0)),
]


@pytest.mark.parametrize(
    ("build", "edited"), [e[1:] for e in WEIGHT_EDITS], ids=[e[0] for e in WEIGHT_EDITS]
)
def test_changing_a_value_outside_the_main_initializers_changes_weights_not_graph(
    tmp_path: Path,
    build: Callable[[], onnx.ModelProto],
    edited: Callable[[], onnx.ModelProto],
) -> None:
    a, b = fingerprint_both(tmp_path, build(), edited())
    assert changed(a, b) == {"file", "weights"}
    ta, tb = tensor_digests(a), tensor_digests(b)
    assert ta.keys() == tb.keys()
    assert sum(ta[k] != tb[k] for k in ta) == 1


def test_constant_value_scalar_attribute_is_a_weight(tmp_path: Path) -> None:
    def model(v: float) -> onnx.ModelProto:
        graph = helper.make_graph(
            [
                helper.make_node("Constant", [], ["C"], name="c", value_float=v),
                helper.make_node("Add", ["X", "C"], ["Z"], name="add"),
            ],
            "scalar_constant",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, [])],
            [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [])],
        )
        return _model(graph)

    a, b = fingerprint_both(tmp_path, model(0.5), model(0.75))
    assert changed(a, b) == {"file", "weights"}


# -- 8. computation -------------------------------------------------------------------------

GRAPH_EDITS: list[tuple[str, Callable[[], onnx.ModelProto], Callable[[], onnx.ModelProto]]] = [
    ("gemm-transB", gemm, lambda: gemm(trans_b=0)),
    ("gemm-alpha", gemm, lambda: gemm(alpha=0.5)),
    ("op-type", lambda: add_or_sub("Add"), lambda: add_or_sub("Sub")),
    ("function-body-op", with_function, lambda: with_function(body_op="Add")),
]


@pytest.mark.parametrize(
    ("build", "edited"), [e[1:] for e in GRAPH_EDITS], ids=[e[0] for e in GRAPH_EDITS]
)
def test_changing_an_operator_or_attribute_changes_graph_not_weights(
    tmp_path: Path,
    build: Callable[[], onnx.ModelProto],
    edited: Callable[[], onnx.ModelProto],
) -> None:
    a, b = fingerprint_both(tmp_path, build(), edited())
    assert "graph" in changed(a, b)
    assert "weights" not in changed(a, b)


def test_swapping_the_inputs_of_a_node_changes_graph(tmp_path: Path) -> None:
    swapped = add_or_sub("Sub")
    swapped.graph.node[0].input[:] = ["B", "X"]
    a, b = fingerprint_both(tmp_path, add_or_sub("Sub"), swapped)
    assert changed(a, b) == {"file", "graph"}


def test_changing_the_opset_changes_graph(tmp_path: Path) -> None:
    newer = matmul_add()
    newer.opset_import[0].version = 18
    onnx.checker.check_model(newer)
    a, b = fingerprint_both(tmp_path, matmul_add(), newer)
    assert changed(a, b) == {"file", "graph"}


# -- 9. bad input ---------------------------------------------------------------------------


def _bad_input(kind: str, folder: Path) -> Path:
    path = folder / "model.onnx"
    good = matmul_add().SerializeToString()
    if kind == "truncated":
        path.write_bytes(good[: len(good) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(random.Random(1234).randbytes(512))
    elif kind == "text":
        path.write_text("this is not an ONNX model\nbut a text file\n")
    elif kind == "folder":
        path.mkdir()
    elif kind != "missing":
        raise AssertionError(kind)
    return path


BAD_KINDS = ["truncated", "empty", "random", "text", "folder", "missing"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_model_input_raises_an_input_error(tmp_path: Path, kind: str) -> None:
    path = _bad_input(kind, tmp_path)
    expected = InputError if kind in ("folder", "missing") else ModelError
    with pytest.raises(expected) as info:
        fingerprint_model(path)
    assert str(path) in info.value.message
    assert "\n" not in info.value.message


@pytest.mark.parametrize("kind", BAD_KINDS)
@pytest.mark.slow  # runs the CLI in a process
def test_cli_refuses_bad_model_input_with_one_line_and_exit_2_and_no_output(
    tmp_path: Path, kind: str
) -> None:
    path = _bad_input(kind, tmp_path)
    out = tmp_path / "lineage.json"
    result = run_cli("fingerprint", "--model", path, "-o", out)
    line = assert_one_line_error(result)
    assert "internal error" not in line
    assert not out.exists()


# -- 10. external data outside the model's folder --------------------------------------------


def _point_outside(tmp_path: Path, how: str) -> tuple[Path, Path, bytes, str]:
    """A model whose W is external data at a location outside its folder.

    Returns the model path, the outside file, W's bytes and the location written in the model.
    """
    folder = tmp_path / "model"
    folder.mkdir()
    outside = tmp_path / "outside.bin"
    model = matmul_add()
    w = model.graph.initializer[0]
    payload = w.raw_data
    if how == "parent":
        location = "../outside.bin"
    elif how == "absolute":
        location = str(outside)
    elif how == "symlink":
        location = "weights.bin"
        os.symlink(outside, folder / "weights.bin")
    else:
        raise AssertionError(how)
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(len(payload)))):
        entry = w.external_data.add()
        entry.key, entry.value = key, value
    path = folder / "model.onnx"
    onnx.save(model, path)  # no conversion: the tensor already says where its data is
    reloaded = onnx.load(path, load_external_data=False)
    assert reloaded.graph.initializer[0].external_data[0].value == location
    return path, outside, payload, location


ESCAPES = ["parent", "absolute", "symlink"]


@pytest.mark.parametrize("how", ESCAPES)
def test_external_data_outside_the_model_folder_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    path, outside, payload, location = _point_outside(tmp_path, how)
    outside.write_bytes(payload)
    opened: list[str] = []
    real_open, real_os_open = builtins.open, os.open

    def spy_open(file: Any, *args: Any, **kw: Any) -> Any:
        if isinstance(file, (str, bytes, os.PathLike)):
            opened.append(os.path.realpath(os.fsdecode(file)))
        return real_open(file, *args, **kw)

    def spy_os_open(file: Any, *args: Any, **kw: Any) -> Any:
        opened.append(os.path.realpath(os.fsdecode(file)))
        return real_os_open(file, *args, **kw)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(io, "open", spy_open)
    monkeypatch.setattr(os, "open", spy_os_open)
    with pytest.raises(ModelError) as info:
        fingerprint_model(path)
    monkeypatch.undo()
    assert location in info.value.message
    assert os.path.realpath(outside) not in opened


@pytest.mark.parametrize("how", ESCAPES)
@pytest.mark.slow  # runs the CLI in a process
def test_cli_refuses_external_data_outside_the_model_folder_without_opening_it(
    tmp_path: Path, how: str
) -> None:
    # The outside file is a FIFO with no writer: anything that opens it for reading blocks,
    # so a read before the refusal shows up as a timeout.
    path, outside, _, location = _point_outside(tmp_path, how)
    os.mkfifo(outside)
    out = tmp_path / "lineage.json"
    result = run_cli("fingerprint", "--model", path, "-o", out, timeout=60)
    line = assert_one_line_error(result)
    assert location in line
    assert not out.exists()


@pytest.mark.slow  # runs the CLI in a process
def test_external_data_that_is_not_a_regular_file_is_refused_without_blocking(
    tmp_path: Path,
) -> None:
    path = _save_external(matmul_add(), tmp_path / "ext" / "model.onnx")
    data_file = path.parent / "weights.bin"
    data_file.unlink()
    os.mkfifo(data_file)
    result = run_cli("fingerprint", "--model", path, timeout=60)
    line = assert_one_line_error(result)
    assert "weights.bin" in line


def test_missing_external_data_file_is_a_model_error(tmp_path: Path) -> None:
    path = _save_external(matmul_add(), tmp_path / "ext" / "model.onnx")
    (path.parent / "weights.bin").unlink()
    with pytest.raises(ModelError, match=r"weights\.bin"):
        fingerprint_model(path)


def test_external_data_shorter_than_declared_is_a_model_error(tmp_path: Path) -> None:
    path = _save_external(matmul_add(), tmp_path / "ext" / "model.onnx")
    data_file = path.parent / "weights.bin"
    data_file.write_bytes(data_file.read_bytes()[:-1])
    with pytest.raises(ModelError, match="shorter"):
        fingerprint_model(path)


def test_external_tensor_that_also_holds_inline_data_is_refused(tmp_path: Path) -> None:
    # Only one of the two could be hashed; the other would escape every digest.
    path = _save_external(matmul_add(), tmp_path / "ext" / "model.onnx")
    model = onnx.load(path, load_external_data=False)
    model.graph.initializer[0].raw_data = W0.tobytes()
    path.write_bytes(model.SerializeToString())
    with pytest.raises(ModelError):
        fingerprint_model(path)


# -- 11. external data of a symlinked model: found where the runtimes find it ---------------


def _outputs(path: Path) -> np.ndarray:
    """What onnxruntime computes with the model at `path` as given (it reads the external data
    beside that path, as onnx.load does)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    result: np.ndarray = session.run(None, {"X": np.ones((1, 2), np.float32)})[0]
    return result


def _linked_model(tmp_path: Path, target: Path, link: Path, how: str) -> Path:
    """`link` made a symbolic link to `target`, relative or absolute; beside it, a weights.bin
    of other floats laid out like the target's."""
    other = _save_external(matmul_add(W0 * -3, B0 + 1), tmp_path / "other" / "model.onnx")
    link.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(other.parent / "weights.bin", link.parent / "weights.bin")
    os.symlink(os.path.relpath(target, link.parent) if how == "relative" else target, link)
    return link


@pytest.mark.parametrize("prefetch", [False, True], ids=["read-after-parse", "prefetched"])
@pytest.mark.parametrize("how", ["relative", "absolute"])
def test_a_symlinked_model_is_fingerprinted_with_the_external_data_beside_the_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, prefetch: bool
) -> None:
    # deploy/model.onnx -> orig/model.onnx: onnx and onnxruntime read deploy/weights.bin, so the
    # fingerprint must too (it read orig/weights.bin and called the substituted model the same).
    from aichain_audit.fingerprint.model.onnx import fingerprint as onnx_fingerprint

    if prefetch:  # read while the model is parsed, as a large data file is
        monkeypatch.setattr(onnx_fingerprint._Prefetch, "MIN_SIZE", 0)
    orig = _save_external(matmul_add(), tmp_path / "orig" / "model.onnx")
    link = _linked_model(tmp_path, orig, tmp_path / "deploy" / "model.onnx", how)
    assert not np.array_equal(_outputs(orig), _outputs(link))
    before, after = fingerprint_model(orig), fingerprint_model(link)
    assert after.external == (("weights.bin", digest_file(str(link.parent / "weights.bin"))),)
    assert changed(before, after) == {"weights"}


def test_a_model_in_a_symlinked_folder_uses_the_data_beside_the_path_as_given(
    tmp_path: Path,
) -> None:
    # releases/current -> v2, and v2/model.onnx -> ../v1/model.onnx: the runtimes read
    # v2/weights.bin (the folder of releases/current/model.onnx), not v1's.
    v1 = _save_external(matmul_add(), tmp_path / "v1" / "model.onnx")
    _linked_model(tmp_path, v1, tmp_path / "v2" / "model.onnx", "relative")
    (tmp_path / "releases").mkdir()
    os.symlink("../v2", tmp_path / "releases" / "current")
    given = tmp_path / "releases" / "current" / "model.onnx"
    assert not np.array_equal(_outputs(v1), _outputs(given))
    fp = fingerprint_model(given)
    assert fp.external == (("weights.bin", digest_file(str(tmp_path / "v2" / "weights.bin"))),)
    assert changed(fingerprint_model(v1), fp) == {"weights"}


def test_a_symlinked_model_without_data_beside_the_link_is_refused_not_given_the_targets(
    tmp_path: Path,
) -> None:
    orig = _save_external(matmul_add(), tmp_path / "orig" / "model.onnx")
    link = _linked_model(tmp_path, orig, tmp_path / "deploy" / "model.onnx", "relative")
    (link.parent / "weights.bin").unlink()
    with pytest.raises(Exception, match=r"weights\.bin"):
        _outputs(link)  # onnxruntime cannot run it either
    with pytest.raises(ModelError, match=r"external data 'weights\.bin': no such file"):
        fingerprint_model(link)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    hops=st.lists(st.sampled_from(["relative", "absolute"]), min_size=1, max_size=3),
    folder_link=st.booleans(),
)
def test_the_weights_fingerprinted_are_the_weights_onnx_loads_through_any_links(
    tmp_path_factory: pytest.TempPathFactory, hops: list[str], folder_link: bool
) -> None:
    # A chain of model links, each in its own folder beside its own weights.bin, maybe reached
    # through a linked folder: the weights digest is that of what onnx.load gives for the path.
    tmp = tmp_path_factory.mktemp("links")
    target = _save_external(matmul_add(), tmp / "f0" / "model.onnx")
    for i, how in enumerate(hops, start=1):
        # each hop's weights.bin holds other floats (laid out like the target's)
        target = _linked_model(tmp, target, tmp / f"f{i}" / "model.onnx", how)
        data = np.fromfile(target.parent / "weights.bin", dtype=np.float32) + i
        data.tofile(target.parent / "weights.bin")
        shutil.rmtree(tmp / "other")
    given_path = target
    if folder_link:
        os.symlink(target.parent, tmp / "linked")
        given_path = tmp / "linked" / "model.onnx"
    loaded = onnx.load(str(given_path))  # reads the external data as the runtimes do
    inline = fingerprint_model(save(loaded, tmp / "inline" / "model.onnx"))
    assert fingerprint_model(given_path).semantic.weights == inline.semantic.weights


# -- fields the walk cannot see -------------------------------------------------------------


def test_protobuf_fields_unknown_to_onnx_are_refused(tmp_path: Path) -> None:
    # Field 999 of ModelProto (varint 1): protobuf keeps it as an unknown field, invisible to
    # the walk, so accepting it would let content escape every digest.
    path = tmp_path / "model.onnx"
    path.write_bytes(matmul_add().SerializeToString() + bytes([0xF8, 0x3E, 0x01]))
    with pytest.raises(ModelError, match="unknown"):
        fingerprint_model(path)


@pytest.mark.parametrize("field", ["producer_name", "doc_string"])
@pytest.mark.slow  # runs the CLI in a process
def test_string_field_that_is_not_utf8_is_a_model_error(tmp_path: Path, field: str) -> None:
    model = matmul_add()
    if field == "producer_name":
        model.producer_name = "zzzz"
    else:
        model.graph.node[0].doc_string = "zzzz"
    data = model.SerializeToString().replace(b"zzzz", b"\xff\xfezz")
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelError, match="UTF-8"):
        fingerprint_model(path)
    assert_one_line_error(run_cli("fingerprint", "--model", path))


def _type_denotation(tmp_path: Path) -> tuple[Path, Path]:
    # The code says denotations are "recorded in metadata by the caller"; nothing records them.
    after = matmul_add()
    after.graph.input[0].type.denotation = "TENSOR"
    return _pair(tmp_path, matmul_add(), after)


def _dimension_denotation(tmp_path: Path) -> tuple[Path, Path]:
    after = matmul_add()
    after.graph.input[0].type.tensor_type.shape.dim[0].denotation = "DATA_BATCH"
    return _pair(tmp_path, matmul_add(), after)


def _sparse_indices_name(tmp_path: Path) -> tuple[Path, Path]:
    after = with_sparse()
    after.graph.sparse_initializer[0].indices.name = "renamed_indices"
    after.graph.sparse_initializer[0].indices.doc_string = "documented"
    return _pair(tmp_path, with_sparse(), after)


def _tensors_attribute(first: str) -> onnx.ModelProto:
    tensors = [numpy_helper.from_array(B0, first), numpy_helper.from_array(B0 * 2, "second")]
    node = helper.make_node("Foo", ["X"], ["Z"], name="foo", domain="custom", tl=tensors)
    graph = helper.make_graph(
        [node],
        "tensors_attribute",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [3])],
    )
    return _model(graph, opset_imports=[*OPSET, helper.make_opsetid("custom", 1)])


def _tensors_attribute_element_name(tmp_path: Path) -> tuple[Path, Path]:
    return _pair(tmp_path, _tensors_attribute("first"), _tensors_attribute("renamed"))


def _external_data_extra_key(tmp_path: Path) -> tuple[Path, Path]:
    before = _save_external(matmul_add(), tmp_path / "a" / "model.onnx")
    after = _save_external(matmul_add(), tmp_path / "b" / "model.onnx")
    model = onnx.load(after, load_external_data=False)
    entry = model.graph.initializer[0].external_data.add()
    entry.key, entry.value = "checksum", "0123456789abcdef"
    after.write_bytes(model.SerializeToString())
    return before, after


def _pair(tmp_path: Path, before: onnx.ModelProto, after: onnx.ModelProto) -> tuple[Path, Path]:
    return save(before, tmp_path / "a" / "model.onnx"), save(after, tmp_path / "b" / "model.onnx")


@pytest.mark.parametrize(
    "make_pair",
    [
        _type_denotation,
        _dimension_denotation,
        _sparse_indices_name,
        _tensors_attribute_element_name,
        _external_data_extra_key,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_model_field_outside_the_walk_is_refused_or_changes_a_semantic_digest(
    tmp_path: Path, make_pair: Callable[[Path], tuple[Path, Path]]
) -> None:
    # docs/SPEC.md section 8: "no content escapes all three digests". Each edit below is
    # checker-valid content that the walk neither hashes nor refuses: only the file digest moves.
    before_path, after_path = make_pair(tmp_path)
    before = fingerprint_model(before_path)
    try:
        after = fingerprint_model(after_path)
    except ModelError:
        return  # refusing the field is an acceptable fix
    assert changed(before, after) & {"graph", "weights", "metadata"}


# -- 11. properties -------------------------------------------------------------------------

small_weights = st.tuples(st.integers(1, 4), st.integers(1, 4)).flatmap(
    lambda shape: hnp.arrays(np.float32, shape)
)


def _weights_model(w: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Z"], name="matmul")],
        "prop",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, w.shape[0]])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, w.shape[1]])],
        [numpy_helper.from_array(w, "W")],
    )
    return _model(graph)


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(w=small_weights, data=st.data())
def test_flipping_any_byte_of_the_model_file_fails_cleanly_or_changes_the_file_digest(
    tmp_path_factory: pytest.TempPathFactory, w: np.ndarray, data: st.DataObject
) -> None:
    original = _weights_model(w).SerializeToString()
    index = data.draw(st.integers(0, len(original) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    flipped = bytearray(original)
    flipped[index] ^= mask
    mutated = bytes(flipped)
    assert digest_bytes(mutated) != digest_bytes(original)
    path = tmp_path_factory.mktemp("flip") / "model.onnx"
    path.write_bytes(mutated)
    raw = w.tobytes()
    start = original.find(raw)
    inside_weights = original.count(raw) == 1 and start <= index < start + len(raw)
    try:
        fp = fingerprint_model(path)
    except ModelError as exc:
        assert not inside_weights, "a flip inside raw_data leaves the protobuf valid"
        assert "\n" not in exc.message
        return
    assert fp.file == FileDigest(digest_bytes(mutated), len(mutated))
    if inside_weights:
        reference = fingerprint_model(save(_weights_model(w), path.parent / "ref" / "model.onnx"))
        assert changed(reference, fp) == {"file", "weights"}


@settings(max_examples=100, deadline=None, database=None)
@given(w=small_weights, data=st.data())
def test_flipping_a_bit_of_any_weight_element_changes_the_weights_digest(
    tmp_path_factory: pytest.TempPathFactory, w: np.ndarray, data: st.DataObject
) -> None:
    element = data.draw(st.integers(0, w.size - 1), label="element")
    bit = data.draw(st.integers(0, 31), label="bit")
    bits = w.copy().view(np.uint32).reshape(-1)
    bits[element] ^= np.uint32(1 << bit)
    w2 = bits.view(np.float32).reshape(w.shape)
    folder = tmp_path_factory.mktemp("bits")
    a, b = fingerprint_both(folder, _weights_model(w), _weights_model(w2))
    assert changed(a, b) == {"file", "weights"}
