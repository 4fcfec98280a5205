"""Config canonicalisation: one leaf per value, format-independent, ambiguity refused."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit.errors import ConfigError
from aichain_audit.fingerprint.config import (
    escape_pointer_token,
    flatten,
    load_config,
    unescape_pointer_token,
)


def leaves_of(path: Path) -> dict[str, Any]:
    return dict(flatten(load_config(path, path.name), path.name))


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_same_values_in_json_yaml_and_toml_give_the_same_leaves(tmp_path: Path) -> None:
    j = write(
        tmp_path, "a.json", '{"lr": 0.01, "layers": [64, 32], "opt": {"name": "adam", "wd": 0}}'
    )
    y = write(tmp_path, "a.yaml", "opt:\n  wd: 0\n  name: adam\nlayers: [64, 32]\nlr: 0.01\n")
    t = write(tmp_path, "a.toml", 'lr = 0.01\nlayers = [64, 32]\n[opt]\nname = "adam"\nwd = 0\n')
    expected = {"/lr": 0.01, "/layers/0": 64, "/layers/1": 32, "/opt/name": "adam", "/opt/wd": 0}
    assert leaves_of(j) == leaves_of(y) == leaves_of(t) == expected


def test_key_order_whitespace_and_comments_do_not_matter(tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "b: 1\na: {x: 2, y: 3}\n")
    b = write(tmp_path, "b.yaml", "# comment\na:\n    y: 3   # trailing\n    x: 2\n\nb:    1\n")
    assert leaves_of(a) == leaves_of(b)


def test_empty_objects_and_arrays_are_leaves(tmp_path: Path) -> None:
    p = write(tmp_path, "c.json", '{"a": {}, "b": [], "c": {"d": []}}')
    assert leaves_of(p) == {"/a": {}, "/b": [], "/c/d": []}


def test_pointer_tokens_escape_tilde_and_slash(tmp_path: Path) -> None:
    p = write(tmp_path, "c.json", '{"a/b": 1, "m~n": 2}')
    assert leaves_of(p) == {"/a~1b": 1, "/m~0n": 2}


@given(st.text())
def test_pointer_token_escaping_round_trips(token: str) -> None:
    assert unescape_pointer_token(escape_pointer_token(token)) == token
    assert "/" not in escape_pointer_token(token)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("no", "no"),
        ("yes", "yes"),
        ("on", "on"),
        ("off", "off"),
        ("y", "y"),
        ("2024-01-01", "2024-01-01"),
        ("0o17", 15),
        ("0x1F", 31),
        ("017", 17),
        ("1_000", "1_000"),
        ("true", True),
        ("False", False),
        ("~", None),
        ("null", None),
        ("1e3", 1000.0),
        (".5", 0.5),
        ("'42'", "42"),
        ("!!str 42", "42"),
        ("!!float 1", 1.0),
    ],
)
def test_yaml_uses_the_1_2_core_schema(tmp_path: Path, text: str, value: Any) -> None:
    p = write(tmp_path, "s.yaml", f"v: {text}\n")
    got = leaves_of(p)["/v"]
    assert got == value
    assert type(got) is type(value)


def test_toml_dates_become_iso_8601_strings(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        "d.toml",
        "odt = 1979-05-27T07:32:00Z\nldt = 1979-05-27T07:32:00\nld = 1979-05-27\nlt = 07:32:00\n",
    )
    assert leaves_of(p) == {
        "/odt": "1979-05-27T07:32:00+00:00",
        "/ldt": "1979-05-27T07:32:00",
        "/ld": "1979-05-27",
        "/lt": "07:32:00",
    }


# Ten levels of ten-fold aliases: 10**9 values once expanded.
BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("bad.json", '{"a": 1,', "invalid JSON"),
        ("dup.json", '{"a": 1, "a": 2}', "duplicate key"),
        ("nan.json", '{"a": NaN}', "NaN"),
        ("inf.json", '{"a": 1e400}', "no canonical JSON form"),
        ("big.json", '{"seed": 9007199254740993}', "beyond 2"),
        ("bad.yaml", "a: [1, 2\n", "invalid YAML"),
        ("dup.yaml", "a: 1\na: 2\n", "duplicate key"),
        ("nan.yaml", "a: .nan\n", "no canonical JSON form"),
        ("tag.yaml", "a: !!python/object:os.system x\n", "not supported"),
        ("time.yaml", "a: !!timestamp 2001-12-14\n", "not supported"),
        ("key.yaml", "1: one\n", "not a string"),
        ("multi.yaml", "a: 1\n---\nb: 2\n", "invalid YAML"),
        ("loop.yaml", "a: &a [*a]\n", "refers to itself|invalid YAML"),
        ("bomb.yaml", BILLION_LAUGHS, "alias bomb"),
        ("bad.toml", "a = \n", "invalid TOML"),
        ("nan.toml", "a = nan\n", "no canonical JSON form"),
        ("empty.json", "", "empty"),
        ("blank.yaml", "  \n# only a comment\n", "empty"),
        ("c.ini", "[a]\nb=1\n", "unknown config format"),
        ("latin1.json", '{"a": "\udce9"}', "UTF-8"),
    ],
)
def test_malformed_or_ambiguous_configs_are_refused(
    tmp_path: Path, name: str, text: str, fragment: str
) -> None:
    p = tmp_path / name
    p.write_bytes(text.encode("utf-8", "surrogateescape"))
    with pytest.raises(ConfigError, match=fragment):
        leaves_of(p)


def test_moderate_aliases_are_expanded(tmp_path: Path) -> None:
    p = write(tmp_path, "ok.yaml", "base: &b {lr: 0.1, wd: 0}\ntrain: *b\n")
    assert leaves_of(p) == {"/base/lr": 0.1, "/base/wd": 0, "/train/lr": 0.1, "/train/wd": 0}


def test_oversized_config_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "huge.json"
    p.write_bytes(b'{"a": "' + b"x" * (16 * 1024 * 1024) + b'"}')
    with pytest.raises(ConfigError, match="larger than"):
        leaves_of(p)


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**53 - 1), 2**53 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=8),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(max_size=5), json_values, min_size=1, max_size=4))
def test_json_and_yaml_renderings_of_the_same_value_flatten_alike(value: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as d:
        j = Path(d) / "v.json"
        j.write_text(json.dumps(value, indent=3, sort_keys=True))
        # A YAML 1.2 document that any reader agrees on: JSON is YAML 1.2 flow syntax.
        y = Path(d) / "v.yaml"
        y.write_text(json.dumps(value))
        assert leaves_of(j) == leaves_of(y)
        assert leaves_of(j) == dict(flatten(value, "v"))
