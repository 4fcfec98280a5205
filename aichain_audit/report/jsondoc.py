"""JSON: the evidence as an `aichain.report/v1` document (docs/report.md)."""

from __future__ import annotations

import json

from aichain_audit.report.evidence import Evidence
from aichain_audit.report.interface import Renderer


class JsonRenderer(Renderer):
    name = "json"
    media_type = "application/json"

    def render(self, evidence: Evidence) -> bytes:
        return (json.dumps(evidence.to_dict(), indent=2, ensure_ascii=True) + "\n").encode()


RENDERER = JsonRenderer()
