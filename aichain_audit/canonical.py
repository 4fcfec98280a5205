"""RFC 8785 (JSON Canonicalization Scheme) encoding of the values our leaves hold.

Consensus-critical: leaf bytes, and so lineage roots, come from here. The output
for a given value is guaranteed never to change. Values JCS cannot represent
exactly are refused with `ValueError` rather than approximated: NaN and the
infinities, integers beyond 2**53 - 1 in magnitude, strings that are not valid
Unicode (lone surrogates), and non-string object keys.
"""

from __future__ import annotations

import json
import json.encoder
import math
import re
from collections.abc import Callable
from typing import Any

MAX_SAFE_INTEGER = 2**53 - 1  # ECMAScript Number.MAX_SAFE_INTEGER

JsonValue = Any  # None | bool | int | float | str | list[JsonValue] | dict[str, JsonValue]

_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


_PLAIN_STRING = re.compile(r'[^"\\\x00-\x1f\ud800-\udfff]*')


def _encode_string(s: str) -> str:
    if _PLAIN_STRING.fullmatch(s):  # nothing to escape or refuse: the common case, fast
        return f'"{s}"'
    out = ['"']
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        elif "\ud800" <= ch <= "\udfff":
            raise ValueError(f"string {s!r} is not valid Unicode (lone surrogate)")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def format_number(x: float) -> str:
    """ECMAScript Number::toString of a finite double, as RFC 8785 section 3.2.2.3 requires."""
    if not math.isfinite(x):
        raise ValueError(f"{x!r} cannot be represented in canonical JSON")
    if x == 0:
        return "0"  # also -0
    sign = "-" if x < 0 else ""
    # repr gives the shortest digit string that round-trips, as ECMAScript requires.
    mantissa, _, exp_text = repr(abs(x)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    digits = int_part + frac_part
    point = len(int_part) + int(exp_text or 0)  # the decimal point sits after `point` digits
    while len(digits) > 1 and digits[0] == "0":
        digits = digits[1:]
        point -= 1
    digits = digits.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        exp = f"e{'+' if e >= 0 else '-'}{abs(e)}"
        body = digits + exp if k == 1 else digits[0] + "." + digits[1:] + exp
    return sign + body


def _encode(value: JsonValue, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise ValueError(
                f"integer {value} is beyond 2**53 - 1 and cannot be represented exactly"
            )
        out.append(str(value))
    elif isinstance(value, float):
        out.append(format_number(value))
    elif isinstance(value, str):
        out.append(_encode_string(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise ValueError(f"object key {key!r} is not a string")
        # RFC 8785 orders members by the UTF-16 code units of their names; for ASCII names
        # that is code point order, which plain sorting gives (the common, fast case).
        if all(key.isascii() for key in value):
            keys = sorted(value)
        else:
            keys = sorted(value, key=lambda s: s.encode("utf-16-be", "surrogatepass"))
        out.append("{")
        for i, key in enumerate(keys):
            if i:
                out.append(",")
            out.append(_encode_string(key))
            out.append(":")
            item = value[key]
            if type(item) is str:  # inline the commonest member types of a leaf
                out.append(_encode_string(item))
            elif type(item) is int and -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                out.append(str(item))
            else:
                _encode(item, out)
        out.append("}")
    else:
        raise ValueError(f"{type(value).__name__} value {value!r} has no canonical JSON form")


def json_encoder(
    *, key_separator: str, item_separator: str, sort_keys: bool
) -> Callable[[Any], str]:
    """`json.dumps(value, ensure_ascii=False, allow_nan=False, separators=..., sort_keys=...)`
    with no indent, by the C encoder built once: `JSONEncoder.encode` builds it on every
    call, which costs as much as encoding a small object."""
    c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
    c_encode_string = getattr(json.encoder, "c_encode_basestring", None)
    if c_make_encoder is None or c_encode_string is None:  # pragma: no cover - no C accelerator
        return json.JSONEncoder(
            ensure_ascii=False,
            allow_nan=False,
            sort_keys=sort_keys,
            separators=(item_separator, key_separator),
        ).encode
    # markers, default, string encoder, indent, key and item separators, sort_keys, skipkeys,
    # allow_nan
    encoder = c_make_encoder(
        None, None, c_encode_string, None, key_separator, item_separator, sort_keys, False, False
    )

    def encode(value: Any) -> str:
        return "".join(encoder(value, 0))

    return encode


# For a flat object (a leaf) with ASCII member names and only strings, safe integers, booleans,
# null and empty arrays or objects as values, the C JSON encoder writes exactly the RFC 8785
# bytes: members sorted by name (code point order is UTF-16 order for ASCII), no white space,
# the same escapes (\" \\ \b \f \n \r \t, other controls as lowercase \u00xx, nothing else
# escaped) and integers in decimal. Floats are left to `format_number` (Python's repr differs
# from ECMAScript's), and a lone surrogate makes the UTF-8 encoding fail, so the full encoder
# below refuses it with its own message.
_flat_encode = json_encoder(key_separator=":", item_separator=",", sort_keys=True)


def _is_flat(value: dict[Any, Any]) -> bool:
    for key, item in value.items():
        if type(key) is not str or not key.isascii():
            return False
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -MAX_SAFE_INTEGER <= item <= MAX_SAFE_INTEGER:
                continue
            return False
        if (kind is dict or kind is list) and not item:
            continue
        return False
    return True


def canonical_json(value: JsonValue) -> bytes:
    """The RFC 8785 encoding of `value`, as UTF-8 bytes."""
    if type(value) is dict and _is_flat(value):
        try:
            return _flat_encode(value).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: refused below, with the value named
            pass
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")


def _jcs_integer(text: str) -> int | float:
    value = int(text)
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    return float(text)  # beyond the double range: an infinity, which encoding refuses


def _safe_integer(text: str) -> int:
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise ValueError(
            f"integer {text[:40]} is beyond 2**53 - 1 and cannot be represented exactly"
        )
    return value


def parse_json_strict(
    text: str, *, jcs_numbers: bool = False, safe_integers: bool = False
) -> JsonValue:
    """JSON with duplicate keys, NaN and the infinities refused (ValueError names the defect).

    Such documents have no single meaning, so anything we hash or check is read this way.
    With `jcs_numbers` (a document that must be RFC 8785 bytes), an integer literal beyond
    2**53 - 1 is the double it writes: JCS writes an integral double below 1e21 without a
    fraction (2**53 as `9007199254740992`) and never encodes such an integer. With
    `safe_integers`, such a literal is refused instead (section 7's rule for configs).
    """

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in items:
            if k in out:
                raise ValueError(f"duplicate key {k!r}")
            out[k] = v
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON and has no canonical form")

    try:
        return json.loads(
            text,
            object_pairs_hook=pairs,
            parse_constant=constant,
            parse_int=_safe_integer if safe_integers else _jcs_integer if jcs_numbers else None,
        )
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except RecursionError:
        raise ValueError("nested too deeply") from None
