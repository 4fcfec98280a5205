"""HTML: one self-contained page (inline CSS and SVG, no script, nothing fetched), readable on
screen and printable to PDF. Autoescaped by Jinja2; a Content-Security-Policy of
`default-src 'none'` admits only the page's own stylesheet, by its hash."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aichain_audit.report.evidence import Evidence, LineageNode
from aichain_audit.report.interface import (
    THREAT_MODEL,
    TRUST_WORDS,
    Renderer,
    size,
    utc,
    value_lines,
    visible,
)

_BOX_W, _BOX_H, _GAP = 300, 68, 16
_COLUMNS = {"inputs": 20, "run": 390, "model": 720}
# Characters that fit a box: its label (14 px, bold sans) and detail lines (11 px monospace).
_LABEL_CHARS, _DETAIL_CHARS, _DETAIL_LINES = 33, 41, 2
_FILL = {
    "dataset": "#e8f1fb",
    "config": "#f3ecfb",
    "parent": "#fdf3e1",
    "run": "#f1f3f5",
}
# The verdict as the first screen shows it: its CSS class, its word, and the colour of the
# model's box in the lineage diagram. A pass names the trust it rests on, in its own colour.
_LOOK = {
    "pinned": ("v-pass", "VERIFIED (pinned)", "#d6f0dd"),
    "registry": ("v-registry", "VERIFIED (registry trust)", "#dbe9fb"),
    "self-attested": ("v-self", "VERIFIED (self-attested)", "#fff0c2"),
}
_FAILED = ("v-fail", "NOT VERIFIED", "#fbd9d5")
_NOTHING = ("v-none", "NOTHING WAS VERIFIED", "#eceef1")


def verdict_look(verified: bool | None, trust: str | None) -> tuple[str, str, str]:
    """(CSS class, verdict word, model box fill) of a verdict."""
    if verified is None:
        return _NOTHING
    if not verified:
        return _FAILED
    return _LOOK.get(trust or "", ("v-pass", "VERIFIED", _LOOK["pinned"][2]))


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    role: str
    fill: str
    label: str
    lines: tuple[str, ...]  # the detail, wrapped
    title: str  # label and detail in full (a tooltip, and the note under a cut box)
    cut: bool  # whether the box shows less than its title


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _wrap(text: str) -> tuple[str, ...]:
    """The detail over at most two lines: broken at spaces, else inside a long token (a
    digest), the last line cut with "…" when it still does not fit."""
    import textwrap

    lines = textwrap.wrap(text, _DETAIL_CHARS, break_on_hyphens=False) or [""]
    if len(lines) > _DETAIL_LINES:
        rest = " ".join(lines[_DETAIL_LINES - 1 :])
        lines = [*lines[: _DETAIL_LINES - 1], _clip(rest, _DETAIL_CHARS)]
    return tuple(lines)


def _box(n: LineageNode, x: int, y: int, fill: str) -> Box:
    label, lines = _clip(n.label, _LABEL_CHARS), _wrap(n.detail)
    cut = label != n.label or (lines[-1].endswith("…") and not n.detail.endswith("…"))
    return Box(x, y, _BOX_W, _BOX_H, n.role, fill, label, lines, f"{n.label}\n{n.detail}", cut)


def layout(
    nodes: tuple[LineageNode, ...],
    edges: tuple[tuple[str, str], ...],
    model_fill: str = _NOTHING[2],
) -> dict[str, Any]:
    """Boxes and edge paths of the lineage graph: inputs, then the run, then the model (in
    the colour of the verdict)."""
    inputs = [n for n in nodes if n.role not in ("run", "model")]
    rows = max(len(inputs), 1)
    height = 20 + rows * (_BOX_H + _GAP) + 4
    mid = (height - _BOX_H) // 2
    boxes: dict[str, Box] = {}
    for i, n in enumerate(inputs):
        boxes[n.id] = _box(n, _COLUMNS["inputs"], 20 + i * (_BOX_H + _GAP), _FILL[n.role])
    for n in nodes:
        if n.role in ("run", "model"):
            fill = model_fill if n.role == "model" else _FILL["run"]
            boxes[n.id] = _box(n, _COLUMNS[n.role], mid, fill)
    paths = []
    for a, b in edges:
        s, t = boxes[a], boxes[b]
        x1, y1, x2, y2 = s.x + s.w, s.y + s.h // 2, t.x - 6, t.y + t.h // 2
        cx = (x1 + x2) // 2
        paths.append(f"M{x1},{y1} C{cx},{y1} {cx},{y2} {x2},{y2}")
    return {"boxes": list(boxes.values()), "paths": paths, "width": 1040, "height": height}


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined
    from markupsafe import Markup, escape

    def finalize(value: object) -> object:
        # Every value shows its hidden characters; only the page's own stylesheet and text
        # already escaped by `multiline` arrive as Markup.
        return value if isinstance(value, Markup) else visible(value)

    def multiline(value: object) -> Markup:
        return escape(visible(value, keep_newlines=True))

    env = Environment(
        loader=PackageLoader("aichain_audit.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        finalize=finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(utc=utc, size=size, multiline=multiline, code_spans=code_spans,
                       value_lines=value_lines)  # fmt: skip
    return env


def code_spans(value: object) -> Any:
    """Text whose `backticked` parts are code (the framework texts), as escaped HTML with
    <code> elements, and nothing else; unpaired backticks stay as they are."""
    from markupsafe import Markup, escape

    text = visible(value)
    parts = text.split("`")
    if len(parts) % 2 == 0:
        return escape(text)
    return Markup("").join(
        escape(p) if i % 2 == 0 else Markup("<code>%s</code>") % p for i, p in enumerate(parts)
    )


class HtmlRenderer(Renderer):
    name = "html"
    media_type = "text/html; charset=utf-8"

    def render(self, evidence: Evidence) -> bytes:
        css = resources.files("aichain_audit.report").joinpath("templates/report.css")
        style = css.read_text("utf-8")
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        csp = (
            f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'none'; "
            "base-uri 'none'; form-action 'none'"
        )
        nodes, edges = evidence.graph
        v = evidence.verdict
        look = verdict_look(v.verified, v.trust)
        page = (
            _environment()
            .get_template("report.html.j2")
            .render(
                e=evidence,
                v=evidence.verdict,
                csp=csp,
                style=style,
                graph=layout(nodes, edges, look[2]),
                look=look,
                trust_words=TRUST_WORDS,
                threat_model=THREAT_MODEL,
            )
        )
        return str(page).encode("utf-8")


RENDERER = HtmlRenderer()
