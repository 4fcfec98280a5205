"""Config canonicalisation: one leaf per value, format-independent, ambiguity refused."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit.errors import ConfigError
from aichain_audit.fingerprint import config as config_module
from aichain_audit.fingerprint.config import (
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_VALUES,
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


# --- tags: "plain" is a scalar's style, never something a tag can spell ---------------------
CORE = "tag:yaml.org,2002:"


@pytest.mark.parametrize(
    "text",
    [
        "%TAG !p! ?\n---\nv: !p!plain '0o17'\n",
        "%TAG !p! %3F\n---\nv: !p!plain '0o17'\n",
        '%TAG !p! ?pl\n---\nv: !p!%61in "0o17"\n',
        "%TAG ! ?\n---\nv: !plain '0o17'\n",
        "%TAG !! ?\n---\nv: !!plain '0o17'\n",
        "v: !<?plain> '0o17'\n",
        "v: !<%3Fplain> '0o17'\n",
        "v: !plain '0o17'\n",
        "v: !<!plain> '0o17'\n",
        "v: !!plain '0o17'\n",
    ],
)
def test_no_tag_spelling_turns_a_quoted_scalar_into_a_resolved_one(
    tmp_path: Path, text: str
) -> None:
    with pytest.raises(ConfigError, match="not supported"):
        leaves_of(write(tmp_path, "t.yaml", text))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: !<tag:yaml.org,2002:str> 12\n", "12"),
        ("v: !<tag:yaml.org%2C2002:int> '12'\n", 12),
        ("v: !!%73tr 12\n", "12"),
        ("%TAG !y! tag:yaml.org,2002:\n---\nv: !y!int '0o17'\n", 15),
        ("%TAG !! tag:yaml.org,2002:\n---\nv: !!float 1\n", 1.0),
        ("v: !!float 12345678901234567890\n", 1.2345678901234567e19),
        ("!!str 1: a\n", None),
    ],
)
def test_core_tags_are_accepted_however_they_are_spelled(
    tmp_path: Path, text: str, value: Any
) -> None:
    got = leaves_of(write(tmp_path, "t.yaml", text))
    if value is None:
        assert got == {"/1": "a"}
    else:
        assert got == {"/v": value}
        assert type(got["/v"]) is type(value)


@pytest.mark.parametrize("text", ["v: ! 12\n", "v: ! '12'\n", "v: ! [1]\n", "v: ! {}\n", "! 12\n"])
def test_the_non_specific_tag_is_refused(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="non-specific tag"):
        leaves_of(write(tmp_path, "t.yaml", text))


def _percent_encoded(tag: str) -> str:
    return "".join(
        c if c.isascii() and c.isalnum() else "".join(f"%{b:02X}" for b in c.encode()) for c in tag
    )


TAG_RESULTS: dict[str, Any] = {CORE + "str": "0o17", CORE + "int": 15, CORE + "float": 15.0}


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(
        st.sampled_from(
            [CORE + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")]
            + ["?plain", "?", "!", "!plain", "tag:yaml.org,2002:python/int", "tag:yaml.org,2002:"]
        ),
        st.text(min_size=1, max_size=12),
    )
)
def test_a_quoted_scalar_is_resolved_only_under_a_core_tag(tag: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = write(Path(d), "t.yaml", f"v: !<{_percent_encoded(tag)}> '0o17'\n")
        if tag in TAG_RESULTS:
            got = leaves_of(p)["/v"]
            assert got == TAG_RESULTS[tag] and type(got) is type(TAG_RESULTS[tag])
        else:
            with pytest.raises(ConfigError):
                leaves_of(p)


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12))
def test_a_quoted_scalar_is_always_the_string_it_spells(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        single = "'" + text.replace("'", "''") + "'"
        p = write(Path(d), "q.yaml", f"%TAG !p! ?\n---\nv: {single}\nw: {json.dumps(text)}\n")
        assert leaves_of(p) == {"/v": text, "/w": text}


# --- what an empty config is -------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "text", "fragment"),
    [
        ("ws.json", " \n\t\r\n", "is empty"),
        ("ws.yaml", " \n\t\r\n", "is empty"),
        ("ws.toml", " \n\t\r\n", "is empty"),
        ("bom.json", "\ufeff", "is empty"),
        ("bom.yaml", "\ufeff\n", "is empty"),
        ("bom.toml", "\ufeff", "is empty"),
        ("comment.json", "// nothing here\n", "invalid JSON"),
        ("comment.yaml", "# nothing here\n", "is empty"),
        ("comment.toml", "# nothing here\n", "is empty"),
        ("marker.yaml", "---\n", "is empty"),
        ("marker-comment.yaml", "--- # nothing\n...\n", "is empty"),
        ("directive.yaml", "%YAML 1.2\n---\n", "is empty"),
        ("two.yaml", "a: 1\n---\nb: 2\n", "one document"),
        ("two-empty.yaml", "---\n---\n", "one document"),
        ("two-scalars.yaml", "--- 1\n--- 2\n", "one document"),
    ],
)
def test_a_config_that_holds_no_value_or_several_documents_is_refused(
    tmp_path: Path, name: str, text: str, fragment: str
) -> None:
    with pytest.raises(ConfigError, match=fragment):
        leaves_of(write(tmp_path, name, text))


@pytest.mark.parametrize(
    ("name", "text", "leaves"),
    [
        ("obj.json", "{}", {"": {}}),
        ("arr.json", " [] ", {"": []}),
        ("obj.yaml", "--- {}\n", {"": {}}),
        ("arr.yaml", "# a list\n[]\n", {"": []}),
        ("null.json", "null", {"": None}),
        ("null.yaml", "--- null\n", {"": None}),
        ("tilde.yaml", "~\n", {"": None}),
        ("tagged-null.yaml", "--- !!null\n", {"": None}),
        ("quoted.yaml", "--- ''\n", {"": ""}),
        ("table.toml", "# c\n[a]\n", {"/a": {}}),
        ("value.toml", "# c\na = 1\n", {"/a": 1}),
    ],
)
def test_a_written_value_even_an_empty_one_is_not_an_empty_config(
    tmp_path: Path, name: str, text: str, leaves: dict[str, Any]
) -> None:
    assert leaves_of(write(tmp_path, name, text)) == leaves


# --- nesting depth ------------------------------------------------------------------------
def _block_mapping(levels: int) -> str:
    return "".join(" " * i + "a:\n" for i in range(levels)) + " " * levels + "1\n"


NESTED = {
    "flow.json": lambda n: "[" * n + "]" * n,
    "object.json": lambda n: '{"a":' * n + "1" + "}" * n,
    "flow.yaml": lambda n: "[" * n + "]" * n,
    "flow-map.yaml": lambda n: "{a: " * n + "1" + "}" * n,
    "block.yaml": lambda n: "- " * n + "x\n",
    "block-map.yaml": _block_mapping,
    "alias.yaml": lambda n: (
        "x: &a " + "[" * 200 + "]" * 200 + "\ny: " + "[" * (n - 201) + "*a" + "]" * (n - 201)
    ),
    "array.toml": lambda n: "a = " + "[" * (n - 1) + "]" * (n - 1),
    "inline.toml": lambda n: "a = " + "{b = " * (n - 1) + "1" + "}" * (n - 1),
    "header.toml": lambda n: "[" + ".".join(["a"] * (n - 1)) + "]\n",
    "dotted.toml": lambda n: ".".join(["a"] * n) + " = 1\n",
}


@pytest.mark.parametrize("name", sorted(NESTED))
def test_nesting_up_to_the_limit_is_accepted_and_one_level_more_is_refused(
    tmp_path: Path, name: str
) -> None:
    assert leaves_of(write(tmp_path, name, NESTED[name](MAX_CONFIG_DEPTH)))
    with pytest.raises(ConfigError, match=f"more than {MAX_CONFIG_DEPTH} levels"):
        leaves_of(write(tmp_path, name, NESTED[name](MAX_CONFIG_DEPTH + 1)))


def test_the_depth_limit_holds_however_deep_the_caller_already_is(tmp_path: Path) -> None:
    p = write(tmp_path, "inline.toml", NESTED["inline.toml"](MAX_CONFIG_DEPTH))

    def nest(frames: int) -> dict[str, Any]:
        return nest(frames - 1) if frames else leaves_of(p)

    assert len(nest(400)) == 1


# --- integers -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: " + "0" * 5000 + "7\n", 7),
        ("v: -" + "0" * 5000 + "7\n", -7),
        ("v: 0x" + "0" * 5000 + "1f\n", 31),
        ("v: 0o" + "0" * 5000 + "17\n", 15),
        ("v: !!int " + "0" * 5000 + "7\n", 7),
        ("v: 0x1FFFFFFFFFFFFF\n", 2**53 - 1),
        ("v: -9007199254740991\n", -(2**53 - 1)),
        ("v: -0\n", 0),
    ],
)
def test_yaml_integers_with_many_leading_zeros_or_at_the_limit_are_read_exactly(
    tmp_path: Path, text: str, value: int
) -> None:
    got = leaves_of(write(tmp_path, "i.yaml", text))["/v"]
    assert got == value and type(got) is int


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("hex.yaml", "v: 0x20000000000000\n"),
        ("octal.yaml", "v: 0o400000000000000001\n"),
        ("long-hex.yaml", "v: 0x" + "f" * 4000 + "\n"),
        ("long-hex.toml", "v = 0x" + "f" * 1000 + "\n"),
        ("long.json", '{"v": ' + "9" * 4000 + "}"),
    ],
)
def test_integers_beyond_2_53_are_refused_with_a_short_message(
    tmp_path: Path, name: str, text: str
) -> None:
    with pytest.raises(ConfigError, match=r"beyond 2\*\*53 - 1") as info:
        leaves_of(write(tmp_path, name, text))
    assert len(str(info.value)) < 300


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("v: !!float 0x1F\n", 31.0),
        ("v: !!float 0o17\n", 15.0),
        ("v: !!float 9007199254740993\n", 9007199254740992.0),
        ("v: !!float 0x20000000000001\n", 9007199254740992.0),
        ("v: !!float -" + "1" * 30 + "\n", -float("1" * 30)),
        ("v: !!float " + "9" * 100 + "\n", float("9" * 100)),
    ],
)
def test_a_float_tag_reads_integer_forms_as_floats_without_the_2_53_limit(
    tmp_path: Path, text: str, value: float
) -> None:
    """SPEC 7: a float that is integral is a float, rounded like any float literal."""
    got = leaves_of(write(tmp_path, "f.yaml", text))["/v"]
    assert got == value and type(got) is float


@pytest.mark.parametrize("digits", ["0x" + "f" * 300, "0o" + "7" * 400, "9" * 400, "-" + "9" * 400])
def test_a_float_tag_on_an_integer_beyond_the_double_range_is_refused(
    tmp_path: Path, digits: str
) -> None:
    with pytest.raises(ConfigError, match="has no canonical JSON form"):
        leaves_of(write(tmp_path, "f.yaml", f"v: !!float {digits}\n"))


def test_negative_zero_is_zero(tmp_path: Path) -> None:
    p = write(tmp_path, "z.json", '{"i": -0, "f": -0.0}')
    assert leaves_of(p) == {"/i": 0, "/f": 0.0}


# --- the alias expansion limit ------------------------------------------------------------
def _nodes(value: Any) -> int:
    """SPEC 7's count: every scalar (keys included), sequence and mapping, the root included."""
    count, stack = 0, [value]
    while stack:
        v = stack.pop()
        count += 1
        if isinstance(v, dict):
            count += len(v)  # the keys
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return count


def _expanding_to(nodes: int) -> str:
    """A root sequence: a list of 999 scalars, 998 aliases of it, then scalars up to `nodes`."""
    anchored = "&a [" + ", ".join(["x"] * 999) + "]"
    extra = nodes - 1 - 999 * 1000
    return "[" + ", ".join([anchored] + ["*a"] * 998 + ["y"] * extra) + "]\n"


def test_a_document_of_exactly_the_node_limit_is_accepted_and_one_more_is_refused(
    tmp_path: Path,
) -> None:
    assert MAX_CONFIG_VALUES == 1_000_000
    ok = load_config(write(tmp_path, "ok.yaml", _expanding_to(MAX_CONFIG_VALUES)), "ok.yaml")
    assert _nodes(ok) == MAX_CONFIG_VALUES
    with pytest.raises(ConfigError, match="more than 1,000,000"):
        load_config(write(tmp_path, "no.yaml", _expanding_to(MAX_CONFIG_VALUES + 1)), "no.yaml")


@settings(max_examples=40, deadline=None)
@given(json_values)
def test_the_node_limit_counts_keys_and_root_after_alias_expansion(value: Any) -> None:
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        p = write(Path(d), "v.yaml", f"a: &x {json.dumps(value)}\nb: *x\n")
        nodes = 1 + 2 + 2 * _nodes(value)
        mp.setattr(config_module, "MAX_CONFIG_VALUES", nodes)
        load_config(p, "v.yaml")
        mp.setattr(config_module, "MAX_CONFIG_VALUES", nodes - 1)
        with pytest.raises(ConfigError, match="more than"):
            load_config(p, "v.yaml")


def test_the_spec_example_of_node_counting_is_seven_nodes(tmp_path: Path) -> None:
    p = write(tmp_path, "seven.yaml", "[&a [x, y], *a]\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(config_module, "MAX_CONFIG_VALUES", 7)
        assert load_config(p, "seven.yaml") == [["x", "y"], ["x", "y"]]
        mp.setattr(config_module, "MAX_CONFIG_VALUES", 6)
        with pytest.raises(ConfigError, match="more than 6 nodes"):
            load_config(p, "seven.yaml")


@pytest.mark.parametrize(
    "text", ["v: !!map [1]\n", "v: !!seq {a: 1}\n", "v: !!str [1]\n", "v: !!int {}\n"]
)
def test_a_collection_tag_must_name_the_collection_it_is_on(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError, match="not supported"):
        leaves_of(write(tmp_path, "t.yaml", text))


# --- whatever the text, a config is read or refused with a ConfigError ---------------------
PIECES = [
    *"[]{}:-?,&*!|>'\"%@#\n \t.=\\0x1eE+_aUu9~<",
    *["\u2028", "\x85", "\ufeff", "é", "\U0001f600", "---", "...", "!!", "%TAG ! ?\n"],
    *["%YAML 1.2\n", "0o", "0x", "\\U00110000", "\\ud800", "true", "null", "inf", "[[", '"""'],
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), max_size=30).map("".join), st.sampled_from(["j", "y", "t"])
)
def test_any_text_is_read_or_refused_with_a_config_error(text: str, fmt: str) -> None:
    suffix = {"j": ".json", "y": ".yaml", "t": ".toml"}[fmt]
    with tempfile.TemporaryDirectory() as d:
        p = write(Path(d), "x" + suffix, text)
        with contextlib.suppress(ConfigError):
            leaves_of(p)
