"""MLflow params against a lineage: the rule of docs/SPEC.md §12.2.

MLflow keeps every param as `str(value)` of what the script logged, so a config value and
its param are compared by meaning, never by JSON text:

- names: a config leaf at pointer `/a/b~1c/0` corresponds to the param `a.b/c.0` (the
  pointer's tokens, unescaped, joined with `.`), whichever config file holds it; the
  document's own pointer `""` has no param;
- a param that names an object or array (`optim` for `/optim/lr`, `/optim/beta`) holds it
  as Python's repr (`{'lr': 0.1, 'beta': 0.9}`) or JSON: it is parsed (as a literal, never
  evaluated), flattened by the same rule and compared value by value, and its set of
  names must equal the lineage's;
- values: a string equals itself; `true`/`false` equal `True`/`False` (or `true`/`false`);
  null equals `None` (or `null`); a number equals a param that is a finite decimal
  literal with the same IEEE-754 double value (`3`, `3.0` and `3e0` all equal 3);
- an `mlflow-param` leaf (recorded from the run itself) equals the param with its name
  when the two strings are identical; when the lineage holds such leaves, it recorded every
  param the run had, so a param without one was logged afterwards and fails.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from aichain_audit.lineage import CONFIG, MLFLOW_PARAM, Leaf
from aichain_audit.verify.findings import CheckStatus, Finding

NAME = "mlflow.params"
_DECIMAL = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_MISSING = object()
_MAX_LISTED = 5


def param_name(pointer: str) -> str | None:
    """The param name a config pointer corresponds to (None for the document itself)."""
    if pointer == "":
        return None
    tokens = pointer[1:].split("/")
    return ".".join(t.replace("~1", "/").replace("~0", "~") for t in tokens)


def _number(text: str) -> float | None:
    if not _DECIMAL.fullmatch(text):
        return None
    value = float(text)
    return value if value not in (float("inf"), float("-inf")) else None


def scalar_equal(param: str, value: Any) -> bool:
    """Whether a param string holds this JSON scalar (or empty object/array) of a lineage."""
    if isinstance(value, bool):
        return param in (("True", "true") if value else ("False", "false"))
    if value is None:
        return param in ("None", "null")
    if isinstance(value, str):
        return param == value
    if isinstance(value, (int, float)):
        number = _number(param)
        return number is not None and number == float(value)
    if value == {} or value == []:
        parsed = parse_structure(param)
        return parsed is not _MISSING and parsed == value and type(parsed) is type(value)
    return False


def _python_equal(logged: Any, value: Any) -> bool:
    """A value from a parsed param against a lineage's JSON scalar (bool is not a number)."""
    if isinstance(value, bool) or isinstance(logged, bool):
        return isinstance(logged, bool) and isinstance(value, bool) and logged is value
    if value is None or logged is None:
        return logged is None and value is None
    if isinstance(value, str) or isinstance(logged, str):
        return isinstance(logged, str) and isinstance(value, str) and logged == value
    if isinstance(value, (int, float)) and isinstance(logged, (int, float)):
        return float(logged) == float(value)
    if isinstance(value, (dict, list)) and not value:
        return isinstance(logged, (dict, list)) and not logged and type(logged) is type(value)
    return False


def parse_structure(text: str) -> Any:
    """A param holding a dict or list, as JSON or as a Python literal; `_MISSING` if neither.
    Never evaluates anything: `ast.literal_eval` only builds literals."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _MISSING
    return list(parsed) if isinstance(parsed, tuple) else parsed


def _flatten(value: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """(name, scalar) pairs of a parsed structure, named like config leaves' params."""
    if isinstance(value, dict) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}")
    elif isinstance(value, (list, tuple)) and value:
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}.{i}")
    else:
        yield prefix, value


@dataclass(frozen=True)
class _ConfigValue:
    item: str  # FILE#/pointer
    file: str
    value: Any


def _config_values(leaves: Iterable[Leaf]) -> dict[str, list[_ConfigValue]]:
    by_name: dict[str, list[_ConfigValue]] = {}
    for leaf in leaves:
        if leaf["kind"] != CONFIG:
            continue
        name = param_name(leaf["pointer"])
        if name is not None:
            item = f"{leaf['path']}#{leaf['pointer']}"
            by_name.setdefault(name, []).append(_ConfigValue(item, leaf["path"], leaf["value"]))
    return by_name


def _fail(param: str, expected: Any, actual: Any, detail: str) -> Finding:
    return Finding(NAME, CheckStatus.FAIL, param, expected, actual, detail)


def _structure(param: str, text: str, under: dict[str, list[_ConfigValue]]) -> list[Finding]:
    parsed = parse_structure(text)
    if parsed is _MISSING or not isinstance(parsed, (dict, list)):
        return [_fail(param, "an object or array", text,
                      f"the lineage holds {len(under)} values under this name")]  # fmt: skip
    logged = dict(_flatten(parsed, param))
    findings = []
    for name in sorted(set(under) | set(logged)):
        wants, got = under.get(name, []), logged.get(name, _MISSING)
        if not wants:
            findings.append(_fail(name, None, repr(got), "logged, but not in the lineage"))
        for want in wants:
            if got is _MISSING:
                findings.append(_fail(name, want.value, None, f"{want.item} was not logged"))
            elif not _python_equal(got, want.value):
                findings.append(_fail(name, want.value, repr(got), f"differs from {want.item}"))
    return findings


def check_params(params: dict[str, str], leaves: Iterable[Leaf]) -> list[Finding]:
    """`mlflow.params`: each param against the lineage's param and config leaves."""
    leaves = list(leaves)
    recorded = {leaf["name"]: leaf["value"] for leaf in leaves if leaf["kind"] == MLFLOW_PARAM}
    config = _config_values(leaves)
    findings: list[Finding] = []
    matched: set[str] = set()  # config names that some param covered
    compared = 0
    prefixes = _prefixes(config)
    for param in sorted(params):
        text = params[param]
        counterpart = False
        if recorded and param not in recorded:
            # The lineage recorded every param the run had: this one came later.
            findings.append(_fail(param, None, text, "logged after the lineage was recorded"))
            continue
        if param in recorded:
            counterpart = True
            if text != recorded[param]:
                why = "differs from the param recorded in the lineage"
                findings.append(_fail(param, recorded[param], text, why))
        exact = config.get(param, [])
        if exact:
            counterpart = True
            matched.add(param)
            findings += [
                _fail(param, c.value, text, f"differs from {c.item}")
                for c in exact
                if not scalar_equal(text, c.value)
            ]
        elif param + "." in prefixes:
            counterpart = True
            under = {n: vs for n, vs in config.items() if n.startswith(param + ".")}
            matched.update(under)
            findings += _structure(param, text, under)
        if counterpart:
            compared += 1
        else:
            findings.append(Finding(NAME, CheckStatus.WARN, param, None, text,
                                    "no config value or recorded param of the lineage "
                                    "corresponds to this param"))  # fmt: skip
    for name in sorted(set(recorded) - set(params)):
        findings.append(_fail(name, recorded[name], None,
                              "recorded in the lineage, but the run no longer has it"))  # fmt: skip
    findings += _unlogged(config, matched)
    if compared and not any(f.status is CheckStatus.FAIL for f in findings):
        findings.append(Finding(NAME, CheckStatus.PASS, None, compared, compared,
                                f"{compared} params agree with the lineage"))  # fmt: skip
    if not params:
        findings.append(Finding(NAME, CheckStatus.SKIP, None, None, None,
                                "the run logged no params"))  # fmt: skip
    return findings


def _prefixes(config: dict[str, list[_ConfigValue]]) -> set[str]:
    found = set()
    for name in config:
        parts = name.split(".")
        for i in range(1, len(parts)):
            found.add(".".join(parts[:i]) + ".")
    return found


def _unlogged(config: dict[str, list[_ConfigValue]], matched: set[str]) -> list[Finding]:
    """One `warn` per config file with values no param corresponds to."""
    by_file: dict[str, list[str]] = {}
    for name, values in config.items():
        if name not in matched:
            for v in values:
                by_file.setdefault(v.file, []).append(v.item.partition("#")[2])
    findings = []
    for file, pointers in sorted(by_file.items()):
        shown = ", ".join(sorted(pointers)[:_MAX_LISTED])
        more = f" and {len(pointers) - _MAX_LISTED} more" if len(pointers) > _MAX_LISTED else ""
        findings.append(Finding(NAME, CheckStatus.WARN, file, None, None,
                                f"{len(pointers)} values were not logged as params: "
                                f"{shown}{more}"))  # fmt: skip
    return findings
