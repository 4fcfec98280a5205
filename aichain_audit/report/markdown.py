"""Markdown: the HTML report's content for a pull request or a wiki (GitHub-flavoured).

Every value is escaped: HTML as entities, Markdown punctuation with backslashes, line breaks
folded, so a file name or param can open no link, tag, table cell or heading; and a zero-width
space breaks what GitHub links in plain text (`scheme://`, `www.`, e-mail addresses, `@name`
mentions, `#12` issue references), so none of it notifies anyone or links anywhere.
"""

from __future__ import annotations

import re
from typing import Any

from aichain_audit.report.evidence import Evidence
from aichain_audit.report.interface import (
    THREAT_MODEL,
    TRUST_WORDS,
    Renderer,
    size,
    utc,
    value_lines,
    visible,
)

_PUNCTUATION = frozenset("\\`*_{}[]()#+!|~")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\u200b": "&#8203;"}
# GFM and GitHub link these in text, after escapes and entities are decoded: only a character
# between them breaks them. Backslashes or entities would not (Renovate writes `@&#8203;` too).
_LIVE_IN_TEXT = re.compile(r"@|:(?=/)|(?i:www)(?=\.)|#(?=[0-9])")


def escape(value: object) -> str:
    """Untrusted text made inert in Markdown (and in the HTML Markdown may carry)."""
    if value is None:
        return ""
    # visible() writes a zero-width space of the value as `\u200b`: every one left is ours
    text = _LIVE_IN_TEXT.sub("\\g<0>\u200b", visible(" ".join(str(value).splitlines())))
    out = []
    for ch in text:
        if ch in _ENTITIES:
            out.append(_ENTITIES[ch])
        elif ch in _PUNCTUATION:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


class Raw(str):
    """Markdown the template writes itself (never user text): not escaped."""


def code_spans(value: object) -> Raw:
    """Text whose `backticked` parts are code spans (the framework texts): each span kept as
    a code span (nothing inside one is live), the rest escaped; unpaired backticks escaped."""
    text = " ".join(str(value).splitlines())
    parts = text.split("`")
    if len(parts) % 2 == 0:
        return Raw(escape(text))
    out = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(escape(part))
        elif part.strip():
            out.append("`" + visible(part) + "`")
        else:  # `` or ` `: no code span to write
            out.append(escape(part))
    return Raw("".join(out))


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined

    def finalize(value: object) -> str:
        return value if isinstance(value, Raw) else escape(value)

    env = Environment(
        loader=PackageLoader("aichain_audit.report", "templates"),
        autoescape=False,
        undefined=StrictUndefined,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(utc=utc, size=size, code_spans=code_spans, value_lines=value_lines)
    return env


class MarkdownRenderer(Renderer):
    name = "md"
    media_type = "text/markdown; charset=utf-8"

    def render(self, evidence: Evidence) -> bytes:
        text = (
            _environment()
            .get_template("report.md.j2")
            .render(e=evidence, v=evidence.verdict, trust_words=TRUST_WORDS,
                    threat_model=THREAT_MODEL)
        )  # fmt: skip
        return str(text).encode("utf-8")


RENDERER = MarkdownRenderer()
