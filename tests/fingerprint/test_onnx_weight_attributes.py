"""Specification of which attribute values are weights (docs/SPEC.md 8.2, the weights table).

Weights are the values a model was fitted to and the constant data it carries, wherever they
sit: every tensor-typed attribute of any operator, and the non-tensor attributes named in
`WEIGHT_ATTRIBUTES` (operators of the default domain and of `ai.onnx.ml`). Every other
attribute is a setting of the computation (graph). The table is checked against every
operator schema onnx knows, in every opset version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import AttributeProto, TensorProto, defs, helper, numpy_helper

from aichain_audit.fingerprint.model import SemanticFingerprint
from aichain_audit.fingerprint.model.onnx import tables
from aichain_audit.fingerprint.model.onnx.walk import semantic_fingerprint
from tests.fingerprint.test_onnx_model import changed, fingerprint_both

A = AttributeProto
TABLE: dict[tuple[str, str], frozenset[str]] = dict(getattr(tables, "WEIGHT_ATTRIBUTES", {}))
DOMAINS = ("", "ai.onnx.ml")
SCALAR_OR_LIST = (A.FLOAT, A.INT, A.STRING, A.FLOATS, A.INTS, A.STRINGS)
TENSOR_TYPES = (A.TENSOR, A.SPARSE_TENSOR, A.TENSORS, A.SPARSE_TENSORS)


def _schema_attributes() -> dict[tuple[str, str], set[tuple[str, int]]]:
    """(domain, op) -> {(attribute, type)} over every opset version onnx knows."""
    found: dict[tuple[str, str], set[tuple[str, int]]] = {}
    for schema in defs.get_all_schemas_with_history():
        if schema.domain in DOMAINS:
            attrs = found.setdefault((schema.domain, schema.name), set())
            attrs.update((name, int(a.type)) for name, a in schema.attributes.items())
    return found


SCHEMAS = _schema_attributes()
ALL = sorted((d, op, name, t) for (d, op), attrs in SCHEMAS.items() for name, t in attrs)
IN_TABLE = [e for e in ALL if e[2] in TABLE.get((e[0], e[1]), ()) and e[3] in SCALAR_OR_LIST]
OTHERS = [e for e in ALL if e[2] not in TABLE.get((e[0], e[1]), ()) and e[3] in SCALAR_OR_LIST]
TENSORS = [e for e in ALL if e[3] in TENSOR_TYPES]


def _label(e: tuple[str, str, str, int]) -> str:
    return f"{e[0] or 'ai.onnx'}:{e[1]}.{e[2]}:{A.AttributeType.Name(e[3])}"


def _value(kind: int, variant: int) -> Any:
    v = float(variant)
    if kind == A.FLOAT:
        return 0.5 + v
    if kind == A.INT:
        return 1 + variant
    if kind == A.STRING:
        return b"ab"[variant : variant + 1]
    if kind == A.FLOATS:
        return [0.5, 1.0 + v]
    if kind == A.INTS:
        return [1, 2 + variant]
    if kind == A.STRINGS:
        return [b"a", b"bc"[variant : variant + 1]]
    array = numpy_helper.from_array(np.array([1.0, 2.0 + v], np.float32), "t")
    indices = numpy_helper.from_array(np.array([0, 2], np.int64), "t_idx")
    sparse = helper.make_sparse_tensor(array, indices, [4])
    return {A.TENSOR: array, A.TENSORS: [array], A.SPARSE_TENSOR: sparse}.get(kind, [sparse])


def _one_node(domain: str, op: str, attr: str, kind: int, variant: int) -> SemanticFingerprint:
    """The semantics of a one-node model (the checker is not run: only the rule is tested)."""
    node = helper.make_node(op, ["X"], ["Y"], domain=domain)
    node.attribute.append(helper.make_attribute(attr, _value(kind, variant), attr_type=kind))
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])],
    )
    opsets = [helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)]
    model = helper.make_model(graph, opset_imports=opsets)
    return semantic_fingerprint(model, "model.onnx", Path("."))[0]


def _moved(a: SemanticFingerprint, b: SemanticFingerprint) -> set[str]:
    return {p for p in ("graph", "weights", "metadata") if getattr(a, p) != getattr(b, p)}


def test_every_operator_and_attribute_of_the_weights_table_exists_in_onnx() -> None:
    assert TABLE, "WEIGHT_ATTRIBUTES is missing or empty"
    for (domain, op), names in TABLE.items():
        assert domain in DOMAINS, (domain, op)
        assert (domain, op) in SCHEMAS, f"{domain}:{op} is no operator onnx knows"
        known = {name: t for name, t in SCHEMAS[(domain, op)]}
        for name in names:
            assert name in known, f"{domain}:{op} has no attribute {name}"
            assert known[name] in SCALAR_OR_LIST, f"{op}.{name} is tensor-typed: always a weight"


def test_the_learned_parameters_the_issue_names_are_weights() -> None:
    # TfIdfVectorizer's vocabulary and weights were graph; an unchanged weights digest did
    # not prove the learned parameters unchanged.
    assert TABLE[("", "TfIdfVectorizer")] == {
        "pool_strings",
        "pool_int64s",
        "weights",
        "ngram_counts",
        "ngram_indexes",
    }
    assert "n_supports" in TABLE[("ai.onnx.ml", "SVMRegressor")]
    assert "inputdimensions" not in TABLE.get(("ai.onnx.ml", "FeatureVectorizer"), set())


@pytest.mark.parametrize("entry", IN_TABLE, ids=_label)
def test_changing_an_attribute_of_the_weights_table_changes_weights_not_graph(
    entry: tuple[str, str, str, int],
) -> None:
    before, after = (_one_node(*entry, variant) for variant in (0, 1))
    assert _moved(before, after) == {"weights"}
    ids = [f"n0.{entry[2]}"]
    assert [t.id for t in before.tensors] == [t.id for t in after.tensors] == ids


@pytest.mark.parametrize("entry", OTHERS, ids=_label)
def test_changing_any_other_scalar_or_list_attribute_changes_graph_not_weights(
    entry: tuple[str, str, str, int],
) -> None:
    before, after = (_one_node(*entry, variant) for variant in (0, 1))
    assert _moved(before, after) == {"graph"}
    assert before.tensors == after.tensors == ()


@pytest.mark.parametrize("entry", TENSORS, ids=_label)
def test_changing_a_tensor_typed_attribute_of_any_operator_changes_weights_not_graph(
    entry: tuple[str, str, str, int],
) -> None:
    before, after = (_one_node(*entry, variant) for variant in (0, 1))
    assert _moved(before, after) == {"weights"}


@pytest.mark.parametrize("domain", ["custom", "ai.onnx.ml.extra"])
def test_the_table_applies_only_to_its_own_domains(domain: str) -> None:
    # A custom operator that happens to be called TfIdfVectorizer has no known semantics.
    before, after = (
        _one_node(domain, "TfIdfVectorizer", "pool_strings", A.STRINGS, v) for v in (0, 1)
    )
    assert _moved(before, after) == {"graph"}


def test_the_default_domain_spelled_ai_onnx_uses_the_table() -> None:
    before, after = (
        _one_node("ai.onnx", "TfIdfVectorizer", "pool_strings", A.STRINGS, v) for v in (0, 1)
    )
    assert _moved(before, after) == {"weights"}
    same = _one_node("", "TfIdfVectorizer", "pool_strings", A.STRINGS, 1)
    assert (same.graph, same.weights) == (after.graph, after.weights)


# -- real, checker-valid models -----------------------------------------------------------------


def _tfidf(pool: list[str], weights: list[float], mode: str = "TFIDF") -> onnx.ModelProto:
    node = helper.make_node(
        "TfIdfVectorizer",
        ["X"],
        ["Y"],
        name="tfidf",
        mode=mode,
        min_gram_length=1,
        max_gram_length=1,
        max_skip_count=0,
        ngram_counts=[0],
        ngram_indexes=list(range(len(pool))),
        pool_strings=pool,
        weights=weights,
    )
    graph = helper.make_graph(
        [node],
        "tfidf",
        [helper.make_tensor_value_info("X", TensorProto.STRING, [3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [len(pool)])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize(
    "after",
    [
        lambda: _tfidf(["cat", "mouse"], [1.0, 2.0]),
        lambda: _tfidf(["cat", "dog"], [1.0, 2.5]),
    ],
    ids=["vocabulary", "idf-weights"],
)
def test_a_refitted_tfidf_vocabulary_or_weight_changes_weights_not_graph(
    tmp_path: Path, after: Any
) -> None:
    a, b = fingerprint_both(tmp_path, _tfidf(["cat", "dog"], [1.0, 2.0]), after())
    assert changed(a, b) == {"file", "weights"}


def test_a_tfidf_mode_change_changes_graph_not_weights(tmp_path: Path) -> None:
    a, b = fingerprint_both(
        tmp_path, _tfidf(["cat", "dog"], [1.0, 2.0]), _tfidf(["cat", "dog"], [1.0, 2.0], "TF")
    )
    assert changed(a, b) == {"file", "graph"}


def _linear(coefficients: list[float], post_transform: str = "NONE") -> onnx.ModelProto:
    node = helper.make_node(
        "LinearClassifier",
        ["X"],
        ["label", "scores"],
        name="clf",
        domain="ai.onnx.ml",
        coefficients=coefficients,
        intercepts=[0.5, -0.5],
        classlabels_ints=[0, 1],
        post_transform=post_transform,
    )
    graph = helper.make_graph(
        [node],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2]),
        ],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    model = helper.make_model(graph, opset_imports=opsets)
    onnx.checker.check_model(model)
    return model


def test_linear_classifier_coefficients_are_weights_and_post_transform_is_graph(
    tmp_path: Path,
) -> None:
    base = [1.0, 2.0, 3.0, 4.0]
    a, b = fingerprint_both(tmp_path / "w", _linear(base), _linear([1.0, 2.0, 3.0, 4.5]))
    assert changed(a, b) == {"file", "weights"}
    a, b = fingerprint_both(tmp_path / "g", _linear(base), _linear(base, "LOGISTIC"))
    assert changed(a, b) == {"file", "graph"}
