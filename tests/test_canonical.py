"""Our RFC 8785 encoder against the independent `rfc8785` package, and its refusals."""

from __future__ import annotations

import math
import struct
from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from aichain_audit.canonical import canonical_json, format_number, parse_json_strict

finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53 - 1), 2**53 - 1),
    finite,
    st.text(st.characters(blacklist_categories=["Cs"])),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(
            st.text(st.characters(blacklist_categories=["Cs"]), max_size=6), inner, max_size=5
        ),
    ),
    max_leaves=30,
)


@given(values)
def test_encoding_equals_the_rfc8785_reference(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


@given(st.binary(min_size=8, max_size=8))
def test_every_finite_double_formats_like_ecmascript(raw: bytes) -> None:
    (x,) = struct.unpack("<d", raw)
    if not math.isfinite(x):
        return
    assert format_number(x).encode() == rfc8785.dumps(x)
    assert float(format_number(x)) == x


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (5e-324, "5e-324"),
        (0.1, "0.1"),
        (-1.5e300, "-1.5e+300"),
    ],
)
def test_known_number_forms(value: float, text: str) -> None:
    assert format_number(value) == text


@given(st.lists(st.sampled_from(["a", "\ue000", "\U0001f600", "z", ""]), min_size=1, max_size=4))
def test_member_order_of_non_ascii_names_is_by_utf16_code_units(parts: list[str]) -> None:
    doc = {"".join(parts): 1, "a" + "".join(reversed(parts)): 2, "a\ue000": 3, "a\U0001f600": 4}
    assert canonical_json(doc) == rfc8785.dumps(doc)


def test_member_order_is_by_utf16_code_units() -> None:
    # U+E000 sorts after U+1F600 in UTF-16 (surrogates are 0xD83D...), before it by code point.
    doc = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert canonical_json(doc) == rfc8785.dumps(doc)
    assert canonical_json(doc).decode().index("a") < canonical_json(doc).decode().index(
        "\U0001f600"
    )


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -float("inf"), 2**53, -(2**53), "\ud800", {1: "x"}, b"x"],
)
def test_values_without_an_exact_canonical_form_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        canonical_json(value)


@given(
    st.one_of(
        finite, st.integers(2**53, 10**21).map(float), st.integers(-(10**21), -(2**53)).map(float)
    )
)
def test_jcs_numbers_read_back_as_the_double_they_write(x: float) -> None:
    """JCS writes 2.0**53 as `9007199254740992`; read as JCS, that is the double again."""
    text = canonical_json([x]).decode()
    assert parse_json_strict(text, jcs_numbers=True) == [x]
    assert canonical_json(parse_json_strict(text, jcs_numbers=True)).decode() == text


def test_jcs_numbers_leave_safe_integers_integers() -> None:
    assert parse_json_strict("[9007199254740991,-9007199254740991]", jcs_numbers=True) == [
        2**53 - 1,
        -(2**53 - 1),
    ]
    [big] = parse_json_strict("[9007199254740992]", jcs_numbers=True)
    assert type(big) is float
