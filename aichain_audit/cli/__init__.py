"""The `aichain` command line: parse, call `aichain_audit.api`, render. Nothing else.

One module per command group (`lineage`, `diff`, `anchoring`, `verify`, `report`,
`registry`), shared option definitions (`options`), terminal helpers (`terminal`) and
the application with its one mapping of failures to exit codes (`app`).
"""

from __future__ import annotations

import importlib

from aichain_audit.cli.app import app, main
from aichain_audit.cli.terminal import markup, safe
from aichain_audit.errors import EXIT_CHECK_FAILED

# Each group registers its commands on import; the order here is the order of `--help`.
for _group in ("lineage", "diff", "anchoring", "verify", "report", "registry"):
    importlib.import_module(f"aichain_audit.cli.{_group}")

__all__ = ["EXIT_CHECK_FAILED", "app", "main", "markup", "safe"]
