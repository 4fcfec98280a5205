"""`mlflow-input` leaves (docs/SPEC.md section 5): a run's dataset inputs as MLflow records
them. A new kind, so lineages without such inputs keep their roots exactly."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aichain_audit.errors import ManifestError
from aichain_audit.lineage import (
    MLFLOW_INPUT,
    LineageManifest,
    config_leaf,
    file_leaf,
    item_of,
    mlflow_input_leaf,
    mlflow_param_leaf,
    mlflow_run_leaf,
    name_leaf,
)

RUN = mlflow_run_leaf("0123456789abcdef0123456789abcdef")
TRAIN = file_leaf("dataset", "train.csv", "sha256:" + "ab" * 32, 1234)
SOURCE = json.dumps({"uri": "/data/train.csv"})


def run_lineage() -> list[dict[str, Any]]:
    """A lineage taken from a run without dataset inputs, as fingerprinting builds it."""
    return [
        RUN,
        mlflow_param_leaf("model.C", "1.0"),
        TRAIN,
        config_leaf("train.yaml", "/model/C", 1.0),
        name_leaf("demo"),
    ]


def test_a_run_lineage_without_inputs_keeps_its_root() -> None:
    # Computed by the code before mlflow-input leaves existed (commit e5eaa41).
    root = "3c5d9c3d6e26c6d52230b29d53048fa5edeaeec3e4c59af7dfddc1a0ba1cae1c"
    assert LineageManifest.build(run_lineage()).root_hex == root


def test_an_mlflow_input_leaf_is_its_jcs_bytes_and_named_by_digest_and_name() -> None:
    leaf = mlflow_input_leaf("train", "0ad5be33", "local", SOURCE, dataset="train.csv")
    m = LineageManifest.build([*run_lineage(), leaf])
    expected = (
        b'{"dataset":"train.csv","digest":"0ad5be33","kind":"mlflow-input","name":"train",'
        b'"source":"{\\"uri\\": \\"/data/train.csv\\"}","source_type":"local"}'
    )
    assert expected in m.encoded
    assert item_of(leaf) == "#mlflow-input/0ad5be33/train"
    assert LineageManifest.from_json(m.to_json()).root == m.root


@given(
    st.text(min_size=1, max_size=40),
    st.text(st.characters(codec="ascii"), min_size=1, max_size=36),
    st.sampled_from(["local", "s3", "http", "code"]),
    st.text(min_size=1, max_size=200),
    st.booleans(),
)
def test_mlflow_input_leaves_round_trip_and_change_the_root(
    name: str, digest: str, source_type: str, source: str, tied: bool
) -> None:
    try:
        name.encode(), source.encode()
    except UnicodeEncodeError:
        return  # lone surrogates: not JSON text (SPEC 5)
    leaf = mlflow_input_leaf(name, digest, source_type, source, "train.csv" if tied else None)
    m = LineageManifest.build([*run_lineage(), leaf])
    back = LineageManifest.from_json(m.to_json())
    assert back.root == m.root and back.of_kind(MLFLOW_INPUT) == [leaf]
    assert m.root != LineageManifest.build(run_lineage()).root


@pytest.mark.parametrize(
    ("leaves", "fragment"),
    [
        ([TRAIN, mlflow_input_leaf("t", "d", "local", SOURCE)], "needs the mlflow-run leaf"),
        (
            [RUN, TRAIN, mlflow_input_leaf("t", "d", "local", SOURCE, dataset="other.csv")],
            "does not hold",
        ),
        ([RUN, TRAIN, mlflow_input_leaf("t", "d" * 37, "local", SOURCE)], "'digest'"),
        ([RUN, TRAIN, mlflow_input_leaf("", "d", "local", SOURCE)], "'name'"),
        ([RUN, TRAIN, mlflow_input_leaf("t", "d", "local", "x" * 65536)], "'source'"),
        (
            [RUN, TRAIN, mlflow_input_leaf("t", "d", "local", SOURCE, dataset="../a")],
            "must not contain",
        ),
        (
            [RUN, TRAIN, {**mlflow_input_leaf("t", "d", "local", SOURCE), "link": "a"}],
            "has fields",
        ),
    ],
)
def test_malformed_mlflow_input_leaves_are_refused(
    leaves: list[dict[str, Any]], fragment: str
) -> None:
    with pytest.raises(ManifestError, match=fragment):
        LineageManifest.build(leaves)
