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
    visible,
)

_BOX_W, _BOX_H, _GAP = 300, 58, 16
_COLUMNS = {"inputs": 20, "run": 390, "model": 720}
_FILL = {
    "dataset": "#e8f1fb",
    "config": "#f3ecfb",
    "parent": "#fdf3e1",
    "run": "#eef7ee",
    "model": "#fde9e7",
}


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    role: str
    fill: str
    label: str
    detail: str


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def layout(nodes: tuple[LineageNode, ...], edges: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    """Boxes and edge paths of the lineage graph: inputs, then the run, then the model."""
    inputs = [n for n in nodes if n.role not in ("run", "model")]
    rows = max(len(inputs), 1)
    height = 20 + rows * (_BOX_H + _GAP) + 4
    mid = (height - _BOX_H) // 2
    boxes: dict[str, Box] = {}
    for i, n in enumerate(inputs):
        boxes[n.id] = Box(_COLUMNS["inputs"], 20 + i * (_BOX_H + _GAP), _BOX_W, _BOX_H, n.role,
                          _FILL[n.role], _clip(n.label, 40), _clip(n.detail, 46))  # fmt: skip
    for n in nodes:
        if n.role in ("run", "model"):
            boxes[n.id] = Box(_COLUMNS[n.role], mid, _BOX_W, _BOX_H, n.role, _FILL[n.role],
                              _clip(n.label, 40), _clip(n.detail, 46))  # fmt: skip
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
    env.filters.update(utc=utc, size=size, multiline=multiline)
    return env


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
        page = (
            _environment()
            .get_template("report.html.j2")
            .render(
                e=evidence,
                v=evidence.verdict,
                csp=csp,
                style=style,
                graph=layout(nodes, edges),
                trust_words=TRUST_WORDS,
                threat_model=THREAT_MODEL,
            )
        )
        return str(page).encode("utf-8")


RENDERER = HtmlRenderer()
