"""The manifest: content-addressed root, strict validation on read, tamper detection."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aichain_audit.errors import ManifestError, PathPolicyError
from aichain_audit.lineage import (
    CONFIG,
    DATASET,
    MODEL,
    MODEL_DATA,
    MODEL_SEMANTIC,
    TENSOR,
    ZERO_SUBJECT,
    LineageManifest,
    check_relative,
    config_leaf,
    derive_subject,
    file_leaf,
    name_leaf,
    semantic_leaf,
    skipped_leaf,
    tensor_leaf,
    validate_leaf,
)

names = st.text(st.characters(codec="utf-8", categories=["L", "N"]), min_size=1, max_size=8).filter(
    lambda n: unicodedata.normalize("NFC", n) == n
)
digests = st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex())
dataset_leaves = st.builds(
    lambda n, d, s: file_leaf("dataset", f"data/{n}", d, s), names, digests, st.integers(0, 2**40)
)
config_values = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=5))
config_leaves = st.builds(lambda k, v: config_leaf("c.yaml", f"/{k}", v), names, config_values)
leaf_sets = st.lists(st.one_of(dataset_leaves, config_leaves), min_size=1, max_size=12).filter(
    lambda ls: len({(x["kind"], x.get("path"), x.get("pointer")) for x in ls}) == len(ls)
)


@given(leaf_sets, st.randoms())
def test_root_depends_on_content_not_on_order(leaves: list[dict[str, Any]], rnd: Any) -> None:
    shuffled = list(leaves)
    rnd.shuffle(shuffled)
    assert LineageManifest.build(leaves).root == LineageManifest.build(shuffled).root


@given(leaf_sets)
def test_manifest_round_trips_through_json(leaves: list[dict[str, Any]]) -> None:
    m = LineageManifest.build(leaves)
    again = LineageManifest.from_json(m.to_json())
    assert again.root == m.root
    assert again.leaves == m.leaves


@given(leaf_sets, st.data())
def test_any_tampered_leaf_is_detected_on_read(leaves: list[dict[str, Any]], data: Any) -> None:
    m = LineageManifest.build(leaves)
    doc = json.loads(m.to_json())
    i = data.draw(st.integers(0, len(doc["leaves"]) - 1))
    leaf = doc["leaves"][i]
    key = data.draw(st.sampled_from(sorted(k for k in leaf if k != "kind")))
    value = leaf[key]
    if isinstance(value, bool) or value is None:
        leaf[key] = "changed"
    elif isinstance(value, int):
        leaf[key] = value + 1
    else:
        leaf[key] = (
            str(value) + "0"
            if not str(value).startswith("sha256")
            else value[:-1] + ("0" if value[-1] != "0" else "1")
        )
    with pytest.raises(ManifestError):
        LineageManifest.from_json(json.dumps(doc).encode())


def test_an_explicit_name_is_content() -> None:
    base = [config_leaf("c.yaml", "/a", 1)]
    assert LineageManifest.build(base).root != LineageManifest.build([*base, name_leaf("x")]).root


def test_subject_is_zero_without_a_model_and_the_model_digest_with_one() -> None:
    assert derive_subject([config_leaf("c.yaml", "/a", 1)]) == ZERO_SUBJECT
    d = "sha256:" + "ab" * 32
    assert derive_subject([file_leaf("model", "m.onnx", d, 3)]) == d
    multi = derive_subject(
        [file_leaf("model", "m.onnx", d, 3), file_leaf("model-data", "w.bin", d, 3)]
    )
    assert multi.startswith("sha256-modelset:")


def _valid_doc() -> dict[str, Any]:
    m = LineageManifest.build([file_leaf("dataset", "data/a", "sha256:" + "00" * 32, 1)])
    return json.loads(m.to_json())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d.update(schema="aichain.lineage/v2"), "schema"),
        (lambda d: d.update(extra=1), "unknown members"),
        (lambda d: d["leaves"].reverse(), "canonical order"),
        (lambda d: d["leaves"].append(d["leaves"][0]), "canonical order"),
        (lambda d: d["leaves"][0].update(kind="weird"), "unknown leaf kind"),
        (lambda d: d["leaves"][0].update(extra=1), "has fields"),
        (lambda d: d["leaves"][0].update(digest="md5:00"), "malformed"),
        (lambda d: d["leaves"][0].update(path="/abs"), "relative"),
        (lambda d: d.update(subject="sha256:" + "11" * 32), "subject"),
        (lambda d: d.update(root="00" * 32), "does not match"),
    ],
)
def test_malformed_manifests_are_refused(mutate: Any, fragment: str) -> None:
    doc = _valid_doc()
    mutate(doc)
    with pytest.raises(ManifestError, match=fragment):
        LineageManifest.from_json(json.dumps(doc).encode())


@pytest.mark.parametrize(
    "raw",
    [b"", b"[]", b"{", b'{"schema": "aichain.lineage/v1", "schema": "x"}', b'{"a": NaN}', b"\xff"],
)
def test_non_manifests_are_refused(raw: bytes) -> None:
    with pytest.raises(ManifestError):
        LineageManifest.from_json(raw)


@pytest.mark.parametrize("bad", ["../x", "/etc/passwd", "a/../../b", "a//b", "./a", "", "a\\b"])
def test_manifest_paths_that_escape_or_are_not_canonical_are_refused(bad: str) -> None:
    with pytest.raises(PathPolicyError):
        check_relative(bad)


def test_typed_accessors_return_the_leaves_of_their_kind() -> None:
    digest = "sha256:" + "ab" * 32
    m = LineageManifest.build(
        [
            file_leaf(MODEL, "m.onnx", digest, 1),
            file_leaf(MODEL_DATA, "w.bin", digest, 2),
            semantic_leaf("m.onnx", "onnx-semantic/v1", digest, digest, digest),
            tensor_leaf("m.onnx", "init/0", "w", digest),
            file_leaf(DATASET, "data/a.csv", digest, 3),
            skipped_leaf("data/pipe", "special"),
            config_leaf("c.yaml", "/lr", 0.1),
        ]
    )
    model = m.model_leaf()
    assert model is not None and model["path"] == "m.onnx"
    assert [leaf["path"] for leaf in m.model_data_leaves()] == ["w.bin"]
    semantic = m.semantic_leaf()
    assert semantic is not None and semantic["kind"] == MODEL_SEMANTIC
    assert [leaf["tensor"] for leaf in m.tensor_leaves()] == ["init/0"]
    assert [leaf["path"] for leaf in m.dataset_leaves()] == ["data/a.csv"]
    assert [leaf["path"] for leaf in m.skipped_leaves()] == ["data/pipe"]
    assert [leaf["pointer"] for leaf in m.config_leaves()] == ["/lr"]
    assert m.tensor_leaves() == m.of_kind(TENSOR) and m.config_leaves() == m.of_kind(CONFIG)
    bare = LineageManifest.build([name_leaf("no model")])
    assert bare.model_leaf() is None and bare.semantic_leaf() is None


@pytest.mark.parametrize(
    "leaf",
    [
        file_leaf("dataset", "data/a", "sha256:" + "00" * 32 + "\n", 1),
        {
            "kind": "tensor",
            "path": "m.onnx",
            "tensor": "v0\n",
            "name": "w",
            "digest": "sha256:" + "00" * 32,
        },
        {"kind": "parent", "root": "00" * 32 + "\n"},
    ],
)
def test_a_field_with_a_trailing_newline_is_malformed(leaf: dict[str, Any]) -> None:
    # `re.match` with `$` lets one trailing newline through; every field is matched whole.
    with pytest.raises(ManifestError, match="malformed"):
        validate_leaf(leaf, "leaf")
