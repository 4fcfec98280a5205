"""Terminal helpers: untrusted text made inert, JSON on stdout, a Rich console, progress bars.

Every untrusted string (file names, config keys, ONNX doc strings, node messages) passes
through `safe` (or `markup` for Rich) before it reaches a terminal, and `print_json` escapes
the same characters in JSON output.
"""

from __future__ import annotations

import json
import sys
from typing import Any

# Characters that can rewrite what a terminal or a reader shows: controls (C0, DEL, C1),
# format characters (bidi overrides and isolates, zero-width characters, the BOM), surrogates
# (bytes that were not UTF-8) and the line and paragraph separators.
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _hidden(ch: str) -> bool:
    import unicodedata

    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def safe(text: object) -> str:
    """Untrusted text made inert for a terminal: invisible and control characters escaped.

    Escapes are `\\xNN`, `\\uNNNN` or `\\UNNNNNNNN`, so what was hidden becomes visible.
    """
    s = str(text)
    if s.isprintable():  # no control, format, separator or unassigned character: fast path
        return s
    out = []
    for ch in s:
        if _hidden(ch):
            o = ord(ch)
            out.append(
                f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}"
            )
        else:
            out.append(ch)
    return "".join(out)


def _json_escape_hidden(text: str) -> str:
    """JSON text with hidden characters written as \\u escapes (the same JSON value)."""
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch in "\n " or not _hidden(ch):
            out.append(ch)
            continue
        o = ord(ch)
        if o < 0x10000:
            out.append(f"\\u{o:04x}")
        else:
            o -= 0x10000
            out.append(f"\\u{0xD800 + (o >> 10):04x}\\u{0xDC00 + (o & 0x3FF):04x}")
    return "".join(out)


def markup(text: object) -> str:
    """Untrusted text made safe for Rich markup."""
    from rich.markup import escape

    return escape(safe(text))


def count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def print_json(value: Any) -> None:
    """JSON on stdout: readable text, but never a raw control or format character."""
    sys.stdout.write(_json_escape_hidden(json.dumps(value, indent=2, ensure_ascii=False)) + "\n")


def console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True, emoji=False, stderr=stderr)


class ProgressBar:
    """A Rich progress bar on stderr, shown only on a terminal and for long work."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None

    def shown(self) -> bool:
        return sys.stderr.isatty()

    def start(self, description: str, total: int) -> None:
        if not self.shown() or total < 256 * 1024 * 1024:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total)

    def advance(self, amount: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, amount)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
