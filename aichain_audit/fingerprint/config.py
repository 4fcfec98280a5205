"""Training configs (JSON, YAML, TOML) flattened to one value per RFC 6901 JSON pointer.

Key order, formatting and comments do not matter; values do. Scalars, and
empty objects and arrays, each become one leaf. YAML is read with the YAML 1.2
core schema (`no`, `on`, `yes` stay strings; no timestamps; `<<` is an ordinary
key) with a bound on size and on alias expansion; TOML dates and times become
ISO 8601 strings. Values that canonical JSON cannot hold exactly are refused.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aichain_audit.canonical import MAX_SAFE_INTEGER, parse_json_strict
from aichain_audit.errors import ConfigError

MAX_CONFIG_BYTES = 16 * 1024 * 1024
MAX_CONFIG_VALUES = 1_000_000  # after YAML alias expansion
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


def flatten(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    """(JSON pointer, leaf value) for every scalar and every empty object or array."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        pointer, v = stack.pop()
        if isinstance(v, dict) and v:
            for key, item in v.items():
                _check_text(key, f"{where}#{pointer}")
                stack.append((f"{pointer}/{escape_pointer_token(key)}", item))
        elif isinstance(v, list) and v:
            for i, item in enumerate(v):
                stack.append((f"{pointer}/{i}", item))
        else:
            yield pointer, _check_scalar(v, f"{where}#{pointer}")


def _check_scalar(v: Any, where: str) -> Any:
    if isinstance(v, str):
        return _check_text(v, where)
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, int):
        if abs(v) > MAX_SAFE_INTEGER:
            raise ConfigError(
                f"{where}: integer {v} is beyond 2**53 - 1 and has no exact canonical form; "
                "quote it to record it as a string"
            )
        return v
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ConfigError(f"{where}: {v} has no canonical JSON form; quote it or remove it")
        return v
    if isinstance(v, (dict, list)):  # empty
        return v
    raise ConfigError(f"{where}: value of type {type(v).__name__} is not supported")


def load_config(path: Path, shown: str) -> Any:
    """Parses a config file into plain JSON-like values, refusing anything ambiguous."""
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{shown}: unknown config format; use .json, .yaml, .yml or .toml")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{shown}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{shown}: is a folder, not a config file") from None
    except OSError as exc:
        raise ConfigError(f"{shown}: cannot read ({exc.strerror})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{shown}: larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{shown}: not valid UTF-8") from None
    if not text.strip():
        raise ConfigError(f"{shown}: is empty")
    if kind == "json":
        return _load_json(text, shown)
    if kind == "toml":
        return _load_toml(text, shown)
    return _load_yaml(text, shown)


def _load_json(text: str, shown: str) -> Any:
    try:
        return parse_json_strict(text)
    except ValueError as exc:
        raise ConfigError(f"{shown}: {exc}") from None


def _toml_plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _toml_plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_toml_plain(x) for x in v]
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    return v


def _load_toml(text: str, shown: str) -> Any:
    try:
        return _toml_plain(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{shown}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{shown}: nested too deeply") from None


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
_PLAIN = "?plain"  # our marker for an untagged plain scalar, resolved by the core schema
_TAG = "tag:yaml.org,2002:"


def _core_scalar(text: str) -> Any:
    if _CORE_NULL.match(text):
        return None
    if text in _CORE_BOOL:
        return _CORE_BOOL[text]
    if _CORE_INT10.match(text):
        return int(text, 10)
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


def _tagged_scalar(tag: str, text: str, where: str) -> Any:
    if tag == _TAG + "str":
        return text
    value = _core_scalar(text)
    expected = {
        _TAG + "null": lambda x: x is None,
        _TAG + "bool": lambda x: isinstance(x, bool),
        _TAG + "int": lambda x: isinstance(x, int) and not isinstance(x, bool),
        _TAG + "float": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
    }.get(tag)
    if expected is None:
        raise ConfigError(f"{where}: YAML tag {tag!r} is not supported (YAML 1.2 core schema only)")
    if not expected(value):
        raise ConfigError(f"{where}: {text!r} is not a valid {tag.removeprefix(_TAG)}")
    return float(value) if tag == _TAG + "float" else value


def _load_yaml(text: str, shown: str) -> Any:
    import yaml

    parser_cls: Any = getattr(yaml, "CParser", None)
    if parser_cls is None:  # pragma: no cover - PyYAML built without libyaml

        class _PyParser(
            yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, yaml.composer.Composer
        ):
            def __init__(self, stream: str) -> None:
                yaml.reader.Reader.__init__(self, stream)
                yaml.scanner.Scanner.__init__(self)
                yaml.parser.Parser.__init__(self)
                yaml.composer.Composer.__init__(self)

        parser_cls = _PyParser

    class _CoreLoader(parser_cls, yaml.resolver.BaseResolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            parser_cls.__init__(self, stream)
            yaml.resolver.BaseResolver.__init__(self)

        def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
            if kind is yaml.ScalarNode:
                return _PLAIN if implicit[0] else _TAG + "str"
            resolved: str = yaml.resolver.BaseResolver.resolve(self, kind, value, implicit)  # type: ignore[no-untyped-call]
            return resolved

    loader = None
    try:
        loader = _CoreLoader(text)
        node = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        raise ConfigError(f"{shown}: invalid YAML: {str(exc).splitlines()[0]}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{shown}: invalid YAML{where}: {problem}") from None
    finally:
        dispose = getattr(loader, "dispose", None) if loader is not None else None
        if dispose:
            dispose()
    if node is None:
        raise ConfigError(f"{shown}: is empty")
    _check_expansion(node, shown)
    return _construct(node, shown, "")


def _check_expansion(root: Any, shown: str) -> None:
    """Refuses alias cycles and documents whose aliases expand past MAX_CONFIG_VALUES."""
    import yaml

    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # iterative post-order over the node DAG, so deep nesting cannot exhaust the stack
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            if isinstance(node, yaml.MappingNode):
                total = 1 + sum(sizes[id(k)] + sizes[id(v)] for k, v in node.value)
            elif isinstance(node, yaml.SequenceNode):
                total = 1 + sum(sizes[id(v)] for v in node.value)
            else:
                total = 1
            if total > MAX_CONFIG_VALUES:
                raise ConfigError(
                    f"{shown}: YAML aliases expand to more than {MAX_CONFIG_VALUES:,} values "
                    "(an alias bomb?)"
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise ConfigError(f"{shown}: YAML alias refers to itself (recursive structure)")
        on_path.add(key)
        stack.append((node, True))
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend([(k, False), (v, False)])
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((v, False) for v in node.value)


def _construct(root: Any, shown: str, pointer: str) -> Any:
    import yaml

    def build(node: Any, pointer: str) -> Any:
        where = f"{shown}#{pointer}"
        if isinstance(node, yaml.ScalarNode):
            # PyYAML leaves a JSON-style escaped surrogate pair ("\ud83d\ude00") as two
            # surrogates; join them (a lone surrogate stays and is refused later).
            text = node.value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
            if "\ufffd" in text and "\ufffd" not in node.value:
                text = node.value
            if node.tag == _PLAIN:
                return _core_scalar(text)
            return _tagged_scalar(node.tag, text, where)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                raise ConfigError(f"{where}: YAML tag {node.tag!r} is not supported")
            return [build(item, f"{pointer}/{i}") for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != _TAG + "map":
                raise ConfigError(f"{where}: YAML tag {node.tag!r} is not supported")
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise ConfigError(f"{where}: a mapping key is not a scalar")
                key = build(key_node, pointer)
                if not isinstance(key, str):
                    raise ConfigError(f"{where}: key {key_node.value!r} is not a string; quote it")
                if key in out:
                    raise ConfigError(f"{where}: duplicate key {key!r}")
                out[key] = build(value_node, f"{pointer}/{escape_pointer_token(key)}")
            return out
        raise ConfigError(f"{where}: unsupported YAML node")  # pragma: no cover

    try:
        return build(root, pointer)
    except RecursionError:
        raise ConfigError(f"{shown}: nested too deeply") from None
