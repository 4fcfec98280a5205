"""The fast paths of canonical encoding and manifest writing give exactly the bytes of the
general ones: the RFC 8785 encoder for flat objects, `json.dumps(indent=1)` for manifests."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit import __version__
from aichain_audit.canonical import _encode, canonical_json
from aichain_audit.errors import ManifestError
from aichain_audit.lineage import (
    LineageManifest,
    _plain_dataset,
    config_leaf,
    file_leaf,
    name_leaf,
    validate_leaf,
)

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_scalar = st.one_of(
    _text,
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.just({}),
    st.just([]),
)


def _slow(value: Any) -> bytes:
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


@settings(max_examples=300)
@given(st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=6), _scalar))
def test_flat_objects_encode_as_the_general_encoder_does(value: dict[str, Any]) -> None:
    assert canonical_json(value) == _slow(value)


@given(st.dictionaries(st.text(max_size=4), _scalar, max_size=4))
def test_any_object_encodes_as_the_general_encoder_does(value: dict[str, Any]) -> None:
    try:
        expected = _slow(value)
    except ValueError:
        return  # refused either way (lone surrogates cannot be drawn here)
    assert canonical_json(value) == expected


def test_a_lone_surrogate_is_refused_by_name() -> None:
    import pytest

    with pytest.raises(ValueError, match="lone surrogate"):
        canonical_json({"kind": "name", "value": "a\udc80"})


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1), _scalar),
        min_size=1,
        max_size=8,
        unique_by=lambda t: t[0],
    ),
    _text.filter(str.strip),
)
def test_manifest_bytes_are_json_dumps_indent_1(values: list[tuple[str, Any]], name: str) -> None:
    leaves = [config_leaf("c.json", "/" + key.replace("~", "~0").replace("/", "~1"), v)
              for key, v in values]  # fmt: skip
    leaves += [name_leaf(name), file_leaf("dataset", "d/é a.bin", "sha256:" + "a" * 64, 3)]
    m = LineageManifest.build(leaves)
    doc = {
        "schema": "aichain.lineage/v1",
        "root": m.root_hex,
        "subject": m.subject,
        "leaves": list(m.leaves),
        "generator": {"tool": "aichain-audit", "version": __version__},
    }
    expected = (json.dumps(doc, indent=1, ensure_ascii=False, allow_nan=False) + "\n").encode()
    assert m.to_json() == expected
    assert LineageManifest.from_json(m.to_json()).root == m.root


_path_part = st.text(st.characters(), min_size=1, max_size=6)
_dataset_leaf = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["dataset", "dataset", "model"]),
        "path": st.one_of(
            st.lists(_path_part, min_size=1, max_size=3).map("/".join),
            st.sampled_from(["a/../b", "/abs", "a#/x", "x\n", "e\u0301"]),
        ),
        "digest": st.one_of(
            st.sampled_from(["sha256:", "sha256-shards:"]).map(lambda p: p + "ab" * 32),
            st.sampled_from(["sha256:" + "ab" * 32 + "\n", "md5:00", "sha256:" + "AB" * 32]),
        ),
        "size": st.one_of(st.integers(-2, 2**54), st.booleans(), st.just("1")),
    },
    optional={"link": st.just("a/b"), "extra": st.just(1)},
)


@settings(max_examples=500)
@given(_dataset_leaf)
def test_plain_dataset_leaves_encode_as_validated_leaves_do(leaf: dict[str, Any]) -> None:
    fast = _plain_dataset(leaf)
    try:
        validate_leaf(leaf, "leaf")
        slow: bytes | None = canonical_json(leaf)
    except (ManifestError, ValueError):
        slow = None
    if fast is not None:
        assert fast == slow  # taken only for a valid leaf, with its exact bytes
    elif slow is not None:
        assert "link" in leaf or leaf["kind"] != "dataset"  # every other valid one takes it
