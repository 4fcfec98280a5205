"""Reports: an `Evidence` object in, bytes out, one renderer per format.

    >>> from aichain_audit.report import FORMATS
    >>> FORMATS
    ('html', 'md', 'json', 'cyclonedx', 'intoto')

`collect.build_evidence` gathers the evidence (the lineage, its receipt, the artifacts' plain
SHA-256 digests, a verification); each renderer (`html`, `markdown`, `jsondoc`, `cyclonedx`,
`intoto`) turns it into one document and computes nothing of its own. Renderers import
nothing from the ledger, tracking or fingerprint packages (an import-linter contract).
"""

from __future__ import annotations

import importlib

from aichain_audit.report.evidence import Evidence
from aichain_audit.report.interface import Renderer

FORMATS = ("html", "md", "json", "cyclonedx", "intoto")
_MODULES = {
    "html": "html",
    "md": "markdown",
    "json": "jsondoc",
    "cyclonedx": "cyclonedx",
    "intoto": "intoto",
}


def renderer(fmt: str) -> Renderer:
    """The renderer of one of `FORMATS` (its module is imported only when asked for)."""
    if fmt not in _MODULES:
        raise ValueError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")
    module = importlib.import_module(f"aichain_audit.report.{_MODULES[fmt]}")
    found: Renderer = module.RENDERER
    return found


def render(evidence: Evidence, fmt: str) -> bytes:
    return renderer(fmt).render(evidence)


__all__ = ["FORMATS", "Evidence", "Renderer", "render", "renderer"]
