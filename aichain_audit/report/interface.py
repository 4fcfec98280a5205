"""The one small interface every report format implements, and text made visible."""

from __future__ import annotations

import time
import unicodedata
from abc import ABC, abstractmethod

from aichain_audit.report.evidence import Evidence

# Characters that can rewrite what a reader sees: controls, format characters (bidi
# overrides, zero-width characters), surrogates, line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


class Renderer(ABC):
    """Turns an `Evidence` into one document. Computes nothing: every value is in it."""

    name: str  # the --format value
    media_type: str

    @abstractmethod
    def render(self, evidence: Evidence) -> bytes: ...


def visible(text: object, *, keep_newlines: bool = False) -> str:
    """Untrusted text with hidden characters written as `\\uNNNN`, so they show."""
    s = "" if text is None else str(text)
    if s.isprintable():
        return s
    out = []
    for ch in s:
        if keep_newlines and ch == "\n":
            out.append(ch)
        elif unicodedata.category(ch) in _HIDDEN:
            o = ord(ch)
            out.append(f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000
                       else f"\\U{o:08x}")  # fmt: skip
        else:
            out.append(ch)
    return "".join(out)


def value_lines(value: str | None) -> list[str]:
    """A check's expected or actual value as lines a person reads: a JSON object of strings
    (model.semantic's graph, weights and metadata digests) as one "key value" line each."""
    if value is None:
        return ["-"]
    if value.startswith("{"):
        import json

        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        if isinstance(parsed, dict) and all(isinstance(v, str) for v in parsed.values()):
            return [f"{k} {v}" for k, v in parsed.items()]
    return [value]


def utc(seconds: int | None) -> str:
    """Unix seconds as an ISO 8601 UTC time, or a dash."""
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))


def size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n:,} bytes)"
    return f"{n:,} bytes"


TRUST_WORDS = {
    "pinned": "the record counted was made by an anchorer the auditor pinned with --trust",
    "registry": "no anchorer was pinned: any anchorer the pinned registry's owner granted counts",
    "self-attested": "the embedded chain was written and read on one machine: the record "
    "shows no one else's word",
    "none": "the ledger could not be read",
}

THREAT_MODEL = (
    "A verified lineage proves that the holder of anchoring key K, authorised in registry R on "
    "chain C, declared at block time T that these exact bytes (model, datasets, config values) "
    "belong together, and that nobody changed them, or the record, afterwards. It does not "
    "prove that training actually used them. Trust comes from what the auditor pins (chain, "
    "registry, trusted anchorers), never from a receipt or manifest handed over with the "
    "model; results on the embedded chain are self-attested."
)
