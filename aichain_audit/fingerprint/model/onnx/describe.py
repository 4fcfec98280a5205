"""What a report shows of an ONNX model: its weights (count, elements, data types, bytes),
its graph's name, and its own facts (IR version, producer, opsets, operators); no digests."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from aichain_audit.fingerprint.model.interface import ModelDescription
from aichain_audit.fingerprint.model.onnx.parse import parse_model
from aichain_audit.fingerprint.model.onnx.tables import (
    _STRING,
    ATTR_FLOAT,
    ATTR_GRAPH,
    ATTR_GRAPHS,
    ATTR_INT,
    ATTR_SPARSE_TENSOR,
    ATTR_SPARSE_TENSORS,
    ATTR_TENSOR,
    ATTR_TENSORS,
    DATA_TYPE_NAMES,
    MODEL_LIMIT,
    WEIGHT_ATTRIBUTES,
    value_size,
)
from aichain_audit.inputfile import read_regular

# The data type of a fitted parameter kept in a plain attribute, by the attribute's type:
# FLOAT(S) are 32-bit floats, INT(S) 64-bit integers, STRING(S) strings.
_ATTRIBUTE_TYPES = {1: "FLOAT", 6: "FLOAT", 2: "INT64", 7: "INT64", 3: "STRING", 8: "STRING"}


def describe(path: Path, shown: str) -> ModelDescription:
    """The ONNX file at `path` (parsed and checked): its weights, as the fingerprint counts
    them, and its opsets, operators and producer."""
    model = parse_model(read_regular(path, shown, limit=MODEL_LIMIT, what="model"), shown)
    ops: Counter[str] = Counter()
    dtypes: Counter[str] = Counter()
    tally = {"tensors": 0, "bytes": 0, "nodes": 0, "elements": 0}

    def tensor(t: Any) -> None:
        tally["tensors"] += 1
        tally["elements"] += math.prod(int(d) for d in t.dims)
        dtypes[DATA_TYPE_NAMES.get(t.data_type, str(t.data_type))] += 1
        if t.data_type == _STRING:
            tally["bytes"] += sum(len(v) for v in t.string_data)
        else:  # the size rule the fingerprint checks stored bytes against (SPEC §8.1)
            tally["bytes"] += value_size(t, shown)

    def graph(g: Any) -> None:
        for t in g.initializer:
            tensor(t)
        for sp in g.sparse_initializer:
            tensor(sp.values)  # one tensor per sparse initializer: its stored values
        nodes(g.node)

    def nodes(node_list: Any) -> None:
        for n in node_list:
            tally["nodes"] += 1
            domain = n.domain if n.domain not in ("", "ai.onnx") else ""
            ops[f"{domain}.{n.op_type}" if domain else n.op_type] += 1
            fitted = WEIGHT_ATTRIBUTES.get((domain, n.op_type), frozenset())
            for a in n.attribute:
                if a.type == ATTR_TENSOR:
                    tensor(a.t)
                elif a.type == ATTR_TENSORS:
                    for t in a.tensors:
                        tensor(t)
                elif a.type == ATTR_SPARSE_TENSOR:
                    tensor(a.sparse_tensor.values)
                elif a.type == ATTR_SPARSE_TENSORS:
                    for sp in a.sparse_tensors:
                        tensor(sp.values)
                elif a.type == ATTR_GRAPH:
                    graph(a.g)
                elif a.type == ATTR_GRAPHS:
                    for sub in a.graphs:
                        graph(sub)
                elif a.name in fitted:  # a fitted parameter kept in a plain attribute
                    many = len(a.floats) + len(a.ints) + len(a.strings)
                    tally["tensors"] += 1
                    tally["elements"] += many if a.type not in (ATTR_FLOAT, ATTR_INT) else 1
                    dtypes[_ATTRIBUTE_TYPES.get(a.type, str(a.type))] += 1
                    tally["bytes"] += (
                        4 * len(a.floats)
                        + 8 * len(a.ints)
                        + sum(len(x) for x in a.strings)
                        + (4 if a.type == ATTR_FLOAT else 8 if a.type == ATTR_INT else len(a.s))
                    )

    graph(model.graph)
    for f in model.functions:
        nodes(f.node)
    producer = " ".join(p for p in (model.producer_name, model.producer_version) if p)
    opsets = tuple(
        sorted(
            ((o.domain or "ai.onnx", int(o.version)) for o in model.opset_import),
            key=lambda o: o[0],
        )
    )
    operators = tuple(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))
    facts: list[tuple[str, str]] = [
        ("IR version", str(int(model.ir_version))),
        ("Producer", producer or "-"),
        ("Opsets", ", ".join(f"{d} {v}" for d, v in opsets) or "-"),
        ("Nodes", f"{tally['nodes']:,}"),
        ("Operators", ", ".join(f"{op} \u00d7 {n}" for op, n in operators) or "-"),
    ]
    doc_string = str(model.doc_string)[:4000]
    if doc_string:
        facts.append(("Doc string", doc_string))
    return ModelDescription(
        format="ONNX",
        architecture=str(model.graph.name),
        parameters=tally["elements"],
        dtypes=tuple(sorted(dtypes.items(), key=lambda kv: (-kv[1], kv[0]))),
        tensors=tally["tensors"],
        tensor_bytes=tally["bytes"],
        facts=tuple(facts),
        ir_version=int(model.ir_version),
        producer=producer,
        doc_string=doc_string,
        opsets=opsets,
        operators=operators,
        nodes=tally["nodes"],
    )
