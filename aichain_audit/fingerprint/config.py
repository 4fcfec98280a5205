"""Training configs (JSON, YAML, TOML) flattened to one value per RFC 6901 JSON pointer.

Key order, formatting and comments do not matter; values do. Scalars, and
empty objects and arrays, each become one leaf. YAML is read with the YAML 1.2
core schema (`no`, `on`, `yes` stay strings; no timestamps; `<<` is an ordinary
key) with a bound on size and on alias expansion; TOML dates and times become
ISO 8601 strings. Values that canonical JSON cannot hold exactly are refused, and
so are configs nested more than `MAX_CONFIG_DEPTH` levels deep (SPEC section 7).

Nothing here recurses on the input: YAML is built from the parser's event stream
with an explicit stack, and the recursive JSON and TOML parsers run with enough
stack headroom for `MAX_CONFIG_DEPTH` levels, their `RecursionError` beyond it
being the same refusal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

from aichain_audit.canonical import MAX_SAFE_INTEGER
from aichain_audit.errors import ConfigError, InputError
from aichain_audit.inputfile import read_regular

MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_CONFIG_VALUES = 1_000_000  # YAML nodes after alias expansion (SPEC 7 says what counts)
MAX_CONFIG_DEPTH = 512  # levels of objects and arrays, the document's own one included
FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}


def escape_pointer_token(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def unescape_pointer_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _check_text(s: str, where: str) -> str:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError(f"{where}: string holds an unpaired UTF-16 surrogate") from None
    return s


def _too_deep(where: str) -> ConfigError:
    return ConfigError(
        f"{where}: nested more than {MAX_CONFIG_DEPTH} levels deep (objects and arrays); "
        "flatten the config"
    )


def _beyond_safe(where: str, described: str) -> ConfigError:
    return ConfigError(
        f"{where}: integer {described} is beyond 2**53 - 1 and has no exact canonical form; "
        "quote it to record it as a string"
    )


def _integer_text(v: int) -> str:
    """An integer for a message: whole when short (str() of a huge one may even fail)."""
    if v.bit_length() <= 200:
        return str(v)
    return f"of about {int(v.bit_length() * math.log10(2)) + 1:,} digits"


def _shorten(text: str, limit: int = 40) -> str:
    return repr(text) if len(text) <= limit else repr(text[:limit]) + f"… ({len(text):,} chars)"


def flatten(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(JSON pointer, leaf value) for every scalar and every empty object or array.

    Refuses values nested more than `MAX_CONFIG_DEPTH` levels of objects and arrays deep.
    """
    # (pointer, value, number of objects and arrays enclosing the value)
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        pointer, v, enclosing = stack.pop()
        if isinstance(v, (dict, list)) and enclosing >= MAX_CONFIG_DEPTH:
            raise _too_deep(where)
        if isinstance(v, dict) and v:
            for key, item in v.items():
                _check_text(key, f"{where}#{pointer}")
                stack.append((f"{pointer}/{escape_pointer_token(key)}", item, enclosing + 1))
        elif isinstance(v, list) and v:
            for i, item in enumerate(v):
                stack.append((f"{pointer}/{i}", item, enclosing + 1))
        else:
            yield pointer, _check_scalar(v, f"{where}#{pointer}")


def _check_scalar(v: Any, where: str) -> Any:
    if isinstance(v, str):
        return _check_text(v, where)
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        if abs(v) > MAX_SAFE_INTEGER:
            raise _beyond_safe(where, _integer_text(v))
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ConfigError(f"{where}: {v} has no canonical JSON form; quote it or remove it")
        return v
    if isinstance(v, (dict, list)):  # empty
        return v
    raise ConfigError(f"{where}: value of type {type(v).__name__} is not supported")


def load_config(path: Path, shown: str) -> Any:
    """Parses a config file into plain JSON-like values, refusing anything ambiguous.

    The file must be a regular file (a FIFO or a device is refused before a byte is read)
    of at most `MAX_CONFIG_BYTES`. A config that holds no value is refused as empty.
    """
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{shown}: unknown config format; use .json, .yaml, .yml or .toml")
    try:
        raw = read_regular(path, shown, limit=MAX_CONFIG_BYTES, what="config")
    except ConfigError:
        raise
    except InputError as exc:
        raise ConfigError(exc.message) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{shown}: not valid UTF-8") from None
    if not text.strip():
        raise _empty(shown)
    if kind == "json":
        return _load_json(text, shown)
    if kind == "toml":
        return _load_toml(text, shown)
    return _load_yaml(text, shown)


def _empty(shown: str) -> ConfigError:
    return ConfigError(f"{shown}: is empty (it holds no value)")


@contextlib.contextmanager
def _recursion_headroom() -> Iterator[None]:
    """Stack for a recursive parser (up to 4 frames a level) to reach MAX_CONFIG_DEPTH levels.

    Python-to-Python calls do not use the C stack, so the raised limit is safe; it is put
    back afterwards. Configs are read on one thread.
    """
    frames = 0
    frame: FrameType | None = sys._getframe()
    while frame is not None:
        frames += 1
        frame = frame.f_back
    old = sys.getrecursionlimit()
    needed = frames + 4 * MAX_CONFIG_DEPTH + 200
    if needed <= old:
        yield
        return
    sys.setrecursionlimit(needed)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _int_limit_error(exc: ValueError, shown: str) -> ConfigError | None:
    """Python's int-from-text limit (CVE-2020-10735) hit by a parser: a far too long integer."""
    if "integer string conversion" not in str(exc):
        return None
    return _beyond_safe(shown, f"of more than {sys.get_int_max_str_digits():,} digits")


# --- JSON ------------------------------------------------------------------------------


def _load_json(text: str, shown: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ConfigError(f"{shown}: duplicate key {_shorten(k)}")
            out[k] = v
        return out

    def constant(name: str) -> Any:
        raise ConfigError(f"{shown}: {name} is not valid JSON and has no canonical form")

    try:
        with _recursion_headroom():
            return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{shown}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise _too_deep(shown) from None
    except ValueError as exc:
        error = _int_limit_error(exc, shown)
        if error is None:
            raise
        raise error from None


# --- TOML ------------------------------------------------------------------------------

_TOML_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')"""
# A dotted key with MAX_CONFIG_DEPTH dots or more, outside strings and comments (which are
# matched, to be skipped). tomllib takes time quadratic in a key's length, so such a key is
# refused before parsing; whatever this misses is still refused after parsing.
_TOML_LONG_KEY = re.compile(
    rf"""
      (?<![A-Za-z0-9_.\-])(?P<key>{_TOML_KEY}(?:[ \t]*\.[ \t]*{_TOML_KEY}){{{MAX_CONFIG_DEPTH},}})
    | \"\"\"(?:[^\\]|\\.)*?\"\"\"(?!\")
    | '''.*?'''(?!')
    | "(?:[^"\\\n]|\\.)*"
    | '[^'\n]*'
    | \#[^\n]*
    """,
    re.S | re.X,
)


def _load_toml(text: str, shown: str) -> Any:
    if text.count(".") >= MAX_CONFIG_DEPTH:
        for match in _TOML_LONG_KEY.finditer(text):
            if match.group("key"):
                raise _too_deep(shown)
    import tomllib  # only TOML configs need it: not on every start (PRODUCT.md P1)

    try:
        with _recursion_headroom():
            value = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown}: invalid TOML: {exc}") from None
    except RecursionError:
        raise _too_deep(shown) from None
    except ValueError as exc:
        error = _int_limit_error(exc, shown)
        if error is None:
            raise
        raise error from None
    if not value:  # comments and white space only: TOML cannot write an empty root table
        raise _empty(shown)
    return _toml_plain(value)


def _toml_plain(root: dict[str, Any]) -> dict[str, Any]:
    """Dates and times become ISO 8601 strings, in place and without recursion."""
    stack: list[dict[str, Any] | list[Any]] = [root]
    while stack:
        container = stack.pop()
        items: Iterable[tuple[Any, Any]] = (
            container.items() if isinstance(container, dict) else enumerate(container)
        )
        for key, v in list(items):
            if isinstance(v, (dt.datetime, dt.date, dt.time)):
                container[key] = v.isoformat()
            elif isinstance(v, (dict, list)):
                stack.append(v)
    return root


# --- YAML, 1.2 core schema -------------------------------------------------------------

_CORE_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_CORE_BOOL = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
}
_CORE_INT10 = re.compile(r"^[-+]?[0-9]+$")
_CORE_INT8 = re.compile(r"^0o[0-7]+$")
_CORE_INT16 = re.compile(r"^0x[0-9a-fA-F]+$")
_CORE_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_CORE_INF = re.compile(r"^[-+]?\.(?:inf|Inf|INF)$")
_CORE_NAN = re.compile(r"^\.(?:nan|NaN|NAN)$")
_TAG = "tag:yaml.org,2002:"
_LONG_DIGITS = 60  # a decimal literal with more significant digits is refused unconverted


class _LongInteger(NamedTuple):
    """A decimal integer literal far beyond 2**53 - 1, left as text (int() may refuse it)."""

    text: str
    digits: int


def _core_scalar(text: str) -> Any:
    if _CORE_NULL.match(text):
        return None
    if text in _CORE_BOOL:
        return _CORE_BOOL[text]
    if _CORE_INT10.match(text):
        digits = len(text.lstrip("+-").lstrip("0"))
        if digits > _LONG_DIGITS:
            return _LongInteger(text, digits)
        return int(text.lstrip("+-").lstrip("0") or "0", 10) * (-1 if text[0] == "-" else 1)
    if _CORE_INT8.match(text):
        return int(text[2:], 8)
    if _CORE_INT16.match(text):
        return int(text[2:], 16)
    if _CORE_FLOAT.match(text):
        return float(text)
    if _CORE_INF.match(text):
        return float("-inf") if text.startswith("-") else float("inf")
    if _CORE_NAN.match(text):
        return float("nan")
    return text


def _exact(value: Any, where: str) -> Any:
    if isinstance(value, _LongInteger):
        raise _beyond_safe(where, f"of {value.digits:,} digits")
    return value


def _tagged_scalar(tag: str, text: str, where: str) -> Any:
    if tag == _TAG + "str":
        return text
    expected = {
        _TAG + "null": lambda x: x is None,
        _TAG + "bool": lambda x: isinstance(x, bool),
        _TAG + "int": lambda x: isinstance(x, (int, _LongInteger)) and not isinstance(x, bool),
        _TAG + "float": lambda x: (
            isinstance(x, (int, float, _LongInteger)) and not isinstance(x, bool)
        ),
    }.get(tag)
    if expected is None:
        raise ConfigError(
            f"{where}: YAML tag {_shorten(tag)} is not supported (YAML 1.2 core schema only)"
        )
    value = _core_scalar(text)
    if not expected(value):
        raise ConfigError(f"{where}: {_shorten(text)} is not a valid {tag.removeprefix(_TAG)}")
    if tag == _TAG + "float":  # an integer form too: a float, rounded, never limited to 2**53
        if isinstance(value, _LongInteger):
            return float(text)
        try:
            return float(value)
        except OverflowError:  # an integer form beyond the double range: an infinity, refused
            return math.inf if value > 0 else -math.inf
    return _exact(value, where)


def _scalar_text(value: str) -> str:
    # PyYAML leaves a JSON-style escaped surrogate pair ("\ud83d\ude00") as two
    # surrogates; join them (a lone surrogate stays and is refused later).
    text = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return value if "\ufffd" in text and "\ufffd" not in value else text


def _non_specific(where: str) -> ConfigError:
    return ConfigError(
        f"{where}: YAML's non-specific tag '!' is not supported (YAML 1.2 reads `! 12` as "
        "the string '12', YAML 1.1 readers as the integer 12); remove it or quote the value"
    )


def _yaml_events(text: str) -> Iterator[Any]:
    """PyYAML's own (pure Python, non-recursive) parser; libyaml is not used (the two differ
    in corner cases, and v1 digests were made with this one)."""
    import yaml

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)

    parser = _Parser(text)
    try:
        while parser.check_event():
            yield parser.get_event()  # type: ignore[no-untyped-call]
    finally:
        parser.dispose()


class _Open:
    """A sequence or mapping whose end event has not come yet."""

    __slots__ = ("anchor", "height", "key", "pointer", "start", "value")

    def __init__(self, value: dict[str, Any] | list[Any], pointer: str, anchor: str | None) -> None:
        self.value = value
        self.pointer = pointer
        self.anchor = anchor
        self.key: str | None = None  # a mapping's key whose value has not come yet
        self.height = 1  # levels of objects and arrays in this node, itself included
        self.start = 0  # the node count before this node


class _Anchored(NamedTuple):
    value: Any
    nodes: int
    height: int


_EMPTY_DOCUMENT = object()


def _load_yaml(text: str, shown: str) -> Any:
    import yaml

    try:
        value = _build_yaml(_yaml_events(text), shown)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{shown}: invalid YAML{where}: {problem}") from None
    except ValueError as exc:  # the scanner's chr() of an escape beyond U+10FFFF
        raise ConfigError(
            f"{shown}: invalid YAML: an escape sequence is not a character ({exc})"
        ) from None
    if value is _EMPTY_DOCUMENT:
        raise _empty(shown)
    return value


def _build_yaml(events: Iterable[Any], shown: str) -> Any:
    """The document's value, built from parser events with an explicit stack.

    Counts nodes after alias expansion (SPEC 7) and nesting depth as it goes, so an alias
    bomb or a deep document is refused before it is built.
    """
    import yaml

    documents = 0
    nodes = 0  # every scalar (keys included), sequence and mapping, after alias expansion
    anchors: dict[str, _Anchored] = {}
    open_anchors: set[str] = set()
    stack: list[_Open] = []
    root: Any = _EMPTY_DOCUMENT

    def place(value: Any, height: int, where: str) -> None:
        """Puts a finished node's value where it belongs: a key, a member, or the root."""
        nonlocal root
        if not stack:
            root = value
            return
        parent = stack[-1]
        parent.height = max(parent.height, height + 1)
        if isinstance(parent.value, list):
            parent.value.append(value)
        elif parent.key is None:
            if isinstance(value, (dict, list)):
                raise ConfigError(f"{where}: a mapping key is not a scalar")
            if not isinstance(value, str):
                raise ConfigError(f"{where}: key {value!r} is not a string; quote it")
            if value in parent.value:
                raise ConfigError(f"{where}: duplicate key {_shorten(value)}")
            parent.key = value
        else:
            parent.value[parent.key] = value
            parent.key = None

    def count(more: int) -> None:
        nonlocal nodes
        nodes += more
        if nodes > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"{shown}: YAML aliases expand to more than {MAX_CONFIG_VALUES:,} nodes "
                "(an alias bomb?)"
            )

    def anchor_start(anchor: str | None) -> None:
        if anchor is None:
            return
        if anchor in anchors or anchor in open_anchors:
            raise ConfigError(f"{shown}: invalid YAML: found duplicate anchor {anchor!r}")
        open_anchors.add(anchor)

    def anchor_end(anchor: str | None, value: Any, start: int, height: int) -> None:
        if anchor is not None:
            open_anchors.discard(anchor)
            anchors[anchor] = _Anchored(value, nodes - start, height)

    for event in events:
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise ConfigError(
                    f"{shown}: invalid YAML: more than one document; a config is one document"
                )
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            done = stack.pop()
            anchor_end(done.anchor, done.value, done.start, done.height)
            place(done.value, done.height, f"{shown}#{done.pointer}")
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue  # stream start and end, document end
        # a node: where it goes, for messages and for its members' pointers
        if not stack:
            pointer = ""
        else:
            parent = stack[-1]
            if isinstance(parent.value, list):
                pointer = f"{parent.pointer}/{len(parent.value)}"
            elif parent.key is None:
                pointer = parent.pointer  # a key: reported at its mapping
            else:
                pointer = f"{parent.pointer}/{escape_pointer_token(parent.key)}"
        where = f"{shown}#{pointer}"
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in open_anchors:
                raise ConfigError(f"{shown}: YAML alias refers to itself (recursive structure)")
            target = anchors.get(event.anchor or "")
            if target is None:
                raise ConfigError(f"{shown}: invalid YAML: found undefined alias {event.anchor!r}")
            if len(stack) + target.height > MAX_CONFIG_DEPTH:
                raise _too_deep(shown)
            count(target.nodes)
            place(target.value, target.height, where)
            continue
        tag: str | None = getattr(event, "tag", None)
        if tag == "!":
            raise _non_specific(where)
        if isinstance(event, yaml.ScalarEvent):
            if not stack and event.anchor is None and _plain(event) and event.value == "":
                continue  # `---` alone: a document without content; the config stays empty
            start = nodes
            count(1)
            anchor_start(event.anchor)
            text = _scalar_text(event.value)
            if tag is None:
                value = _exact(_core_scalar(text), where) if _plain(event) else text
            else:
                value = _tagged_scalar(tag, text, where)
            is_key = stack and stack[-1].key is None and isinstance(stack[-1].value, dict)
            if is_key and not isinstance(value, str):
                raise ConfigError(f"{where}: key {_shorten(text)} is not a string; quote it")
            anchor_end(event.anchor, value, start, 0)
            place(value, 0, where)
            continue
        is_map = isinstance(event, yaml.MappingStartEvent)
        if tag is not None and tag != _TAG + ("map" if is_map else "seq"):
            raise ConfigError(f"{where}: YAML tag {_shorten(tag)} is not supported")
        if len(stack) + 1 > MAX_CONFIG_DEPTH:
            raise _too_deep(shown)
        frame = _Open({} if is_map else [], pointer, event.anchor)
        frame.start = nodes
        count(1)
        anchor_start(event.anchor)
        stack.append(frame)
    return root


def _plain(event: Any) -> bool:
    """An untagged plain scalar, which the core schema resolves; decided by the scalar's
    style, never by a tag (any tag, even one spelling an internal marker, can be written)."""
    return bool(event.tag is None and event.style is None and event.implicit[0])
