"""The tables of `onnx-semantic/v1` (docs/SPEC.md section 8): the scheme, the data types and
their sizes, the fitted parameters kept in plain attributes, the fields the walk covers, and
ONNX's attribute type codes. Data only, and the size rule that reads it; no I/O, no onnx import.
Consensus-critical: a changed entry changes digests, so it is a new scheme.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from aichain_audit.errors import ModelError

SCHEME = "onnx-semantic/v1"
# Protobuf cannot parse a message of 2 GiB or more, so no larger file can be an ONNX model:
# anything beyond is refused before it is read whole (a FIFO or device never gets this far).
MODEL_LIMIT = 1 << 31
# AttributeProto.AttributeType codes: the walk and `describe` read attributes by these.
ATTR_FLOAT, ATTR_INT, ATTR_STRING, ATTR_TENSOR, ATTR_GRAPH = 1, 2, 3, 4, 5
ATTR_TENSORS, ATTR_GRAPHS, ATTR_SPARSE_TENSOR, ATTR_SPARSE_TENSORS = 9, 10, 11, 12
_DATA_FIELDS = (
    "float_data",
    "int32_data",
    "string_data",
    "int64_data",
    "raw_data",
    "double_data",
    "uint64_data",
)
# Bits per element of every numeric ONNX data type (TensorProto.DataType), so that stored bytes
# can be checked: a tensor of n elements takes ceil(n * bits / 8) bytes (the 4-, 2- and 6-bit
# types are packed, the last byte padded). STRING (8) is counted in elements; any other type
# (UNDEFINED, or one a newer onnx adds) is refused.
_BITS: Mapping[int, int] = {
    1: 32,  # FLOAT
    2: 8,  # UINT8
    3: 8,  # INT8
    4: 16,  # UINT16
    5: 16,  # INT16
    6: 32,  # INT32
    7: 64,  # INT64
    9: 8,  # BOOL
    10: 16,  # FLOAT16
    11: 64,  # DOUBLE
    12: 32,  # UINT32
    13: 64,  # UINT64
    14: 64,  # COMPLEX64
    15: 128,  # COMPLEX128
    16: 16,  # BFLOAT16
    17: 8,  # FLOAT8E4M3FN
    18: 8,  # FLOAT8E4M3FNUZ
    19: 8,  # FLOAT8E5M2
    20: 8,  # FLOAT8E5M2FNUZ
    21: 4,  # UINT4
    22: 4,  # INT4
    23: 4,  # FLOAT4E2M1
    24: 8,  # FLOAT8E8M0
    25: 2,  # UINT2
    26: 2,  # INT2
    27: 6,  # FLOAT6E2M3
    28: 6,  # FLOAT6E3M2
}
_STRING = 8
# What ONNX calls each data type (TensorProto.DataType), for reports only: no digest reads it.
DATA_TYPE_NAMES: Mapping[int, str] = {
    1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
    8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64",
    14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN",
    18: "FLOAT8E4M3FNUZ", 19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4",
    23: "FLOAT4E2M1", 24: "FLOAT8E8M0", 25: "UINT2", 26: "INT2", 27: "FLOAT6E2M3",
    28: "FLOAT6E3M2",
}  # fmt: skip

# The fitted (learned) parameters that operators of the default domain ("") and of ai.onnx.ml
# keep in non-tensor attributes: these count as weights, every other non-tensor attribute as
# graph. Tensor-typed attributes are weights for every operator, so they are not listed.
# docs/SPEC.md 8.3 prints this table; tests check it against every schema onnx knows.
WEIGHT_ATTRIBUTES: Mapping[tuple[str, str], frozenset[str]] = {
    ("", "Constant"): frozenset(
        {"value_float", "value_floats", "value_int", "value_ints", "value_string", "value_strings"}
    ),
    ("", "TfIdfVectorizer"): frozenset(
        {"ngram_counts", "ngram_indexes", "pool_int64s", "pool_strings", "weights"}
    ),
    ("ai.onnx.ml", "CategoryMapper"): frozenset({"cats_int64s", "cats_strings"}),
    ("ai.onnx.ml", "DictVectorizer"): frozenset({"int64_vocabulary", "string_vocabulary"}),
    ("ai.onnx.ml", "Imputer"): frozenset({"imputed_value_floats", "imputed_value_int64s"}),
    ("ai.onnx.ml", "LabelEncoder"): frozenset(
        {
            "classes_strings",
            "keys_floats",
            "keys_int64s",
            "keys_strings",
            "values_floats",
            "values_int64s",
            "values_strings",
        }
    ),
    ("ai.onnx.ml", "LinearClassifier"): frozenset(
        {"classlabels_ints", "classlabels_strings", "coefficients", "intercepts"}
    ),
    ("ai.onnx.ml", "LinearRegressor"): frozenset({"coefficients", "intercepts"}),
    ("ai.onnx.ml", "OneHotEncoder"): frozenset({"cats_int64s", "cats_strings"}),
    ("ai.onnx.ml", "SVMClassifier"): frozenset(
        {
            "classlabels_ints",
            "classlabels_strings",
            "coefficients",
            "kernel_params",
            "prob_a",
            "prob_b",
            "rho",
            "support_vectors",
            "vectors_per_class",
        }
    ),
    ("ai.onnx.ml", "SVMRegressor"): frozenset(
        {"coefficients", "kernel_params", "n_supports", "rho", "support_vectors"}
    ),
    ("ai.onnx.ml", "Scaler"): frozenset({"offset", "scale"}),
    ("ai.onnx.ml", "TreeEnsemble"): frozenset(
        {
            "leaf_targetids",
            "nodes_falseleafs",
            "nodes_falsenodeids",
            "nodes_featureids",
            "nodes_missing_value_tracks_true",
            "nodes_trueleafs",
            "nodes_truenodeids",
            "tree_roots",
        }
    ),
    ("ai.onnx.ml", "TreeEnsembleClassifier"): frozenset(
        {
            "base_values",
            "class_ids",
            "class_nodeids",
            "class_treeids",
            "class_weights",
            "classlabels_int64s",
            "classlabels_strings",
            "nodes_falsenodeids",
            "nodes_featureids",
            "nodes_hitrates",
            "nodes_missing_value_tracks_true",
            "nodes_modes",
            "nodes_nodeids",
            "nodes_treeids",
            "nodes_truenodeids",
            "nodes_values",
        }
    ),
    ("ai.onnx.ml", "TreeEnsembleRegressor"): frozenset(
        {
            "base_values",
            "nodes_falsenodeids",
            "nodes_featureids",
            "nodes_hitrates",
            "nodes_missing_value_tracks_true",
            "nodes_modes",
            "nodes_nodeids",
            "nodes_treeids",
            "nodes_truenodeids",
            "nodes_values",
            "target_ids",
            "target_nodeids",
            "target_treeids",
            "target_weights",
        }
    ),
    ("ai.onnx.ml", "ZipMap"): frozenset({"classlabels_int64s", "classlabels_strings"}),
}

# Fields of each message that the walk below covers; any other field that is set
# makes the model unsupported (fail closed).
_KNOWN = {
    "ModelProto": {
        "ir_version",
        "opset_import",
        "producer_name",
        "producer_version",
        "domain",
        "model_version",
        "doc_string",
        "graph",
        "metadata_props",
        "functions",
    },
    "GraphProto": {
        "node",
        "name",
        "initializer",
        "sparse_initializer",
        "doc_string",
        "input",
        "output",
        "value_info",
        "metadata_props",
    },
    "NodeProto": {
        "input",
        "output",
        "name",
        "op_type",
        "domain",
        "overload",
        "attribute",
        "doc_string",
        "metadata_props",
    },
    "AttributeProto": {
        "name",
        "ref_attr_name",
        "doc_string",
        "type",
        "f",
        "i",
        "s",
        "t",
        "g",
        "sparse_tensor",
        "tp",
        "floats",
        "ints",
        "strings",
        "tensors",
        "graphs",
        "sparse_tensors",
        "type_protos",
    },
    "TensorProto": {
        "dims",
        "data_type",
        "float_data",
        "int32_data",
        "string_data",
        "int64_data",
        "name",
        "doc_string",
        "raw_data",
        "external_data",
        "data_location",
        "double_data",
        "uint64_data",
        "metadata_props",
    },
    "FunctionProto": {
        "name",
        "input",
        "output",
        "attribute",
        "attribute_proto",
        "node",
        "doc_string",
        "opset_import",
        "domain",
        "overload",
        "value_info",
        "metadata_props",
    },
    "ValueInfoProto": {"name", "type", "doc_string", "metadata_props"},
    "SparseTensorProto": {"values", "indices", "dims"},
}
# AttributeProto fields that are not its value: a reference attribute may set only these.
_NOT_VALUE = frozenset({"name", "ref_attr_name", "doc_string", "type"})
# Numbers in external data entries with more digits than this lie past the end of any file.
_MAX_DIGITS = 30

_SCALAR_TYPES = frozenset({1, 2, 3, 6, 7, 8})  # FLOAT, INT, STRING, FLOATS, INTS, STRINGS


def value_size(t: Any, where: str) -> int:
    """The bytes the tensor's values take: ceil(elements * bits / 8) (strings: elements)."""
    if t.data_type == 0:
        raise ModelError(f"{where}: tensor has no data type")
    elements = math.prod(int(d) for d in t.dims)
    if t.data_type == _STRING:
        return elements
    bits = _BITS.get(t.data_type)
    if bits is None:
        raise ModelError(f"{where}: tensor data type {t.data_type} is not one {SCHEME} knows")
    return -(-elements * bits // 8)
