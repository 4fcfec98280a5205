"""Comparison command: diff. Exit 0 when the lineages are equal, 1 when they differ (diff(1))."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from aichain_audit.cli.app import app
from aichain_audit.cli.options import (
    FollowSymlinksOpt,
    SkipSpecialOpt,
    SkipSymlinksOpt,
    SkipUnreadableOpt,
    location,
    path_policy,
)
from aichain_audit.cli.terminal import ProgressBar, console, count, markup, print_json, safe
from aichain_audit.errors import EXIT_CHECK_FAILED

if TYPE_CHECKING:
    from aichain_audit.lineage import Leaf
    from aichain_audit.verify.diff import Change, LeafDiff

# Terminal groups, in order; a kind in none of them is shown under "other leaves".
_GROUPS = (
    ("files", ("model", "model-data", "dataset", "skipped")),
    ("model semantic parts", ("model-semantic",)),
    ("tensors", ("tensor",)),
    ("config keys", ("config",)),
    ("lineage fields", ("name", "parent", "mlflow-run")),
)
_VALUE_CHARS = 60


@app.command(
    epilog="Examples: aichain diff old/lineage.json lineage.json; aichain diff lineage.json "
    "retrained.onnx; aichain diff lineage.json checkpoint/; aichain diff lineage.json data/ "
    "--json (exit 0: no difference, 1: differences, 2: bad input)"
)
def diff(
    a: Annotated[
        str,
        typer.Argument(
            metavar="A",
            help="Before: a lineage manifest, or a model, dataset folder or file (a path, or "
            "an s3://, gs://, az://, abfs:// or file:// URL, downloaded to a private folder).",
            show_default=False,
        ),
    ],
    b: Annotated[
        str,
        typer.Argument(
            metavar="B",
            help="After: a lineage manifest, or a model (a file or checkpoint folder of a format "
            "aichain reads), dataset folder or file, or a config the other lineage records, "
            "fingerprinted now.",
            show_default=False,
        ),
    ],
    follow_symlinks: FollowSymlinksOpt = False,
    skip_symlinks: SkipSymlinksOpt = False,
    skip_special: SkipSpecialOpt = False,
    skip_unreadable: SkipUnreadableOpt = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print {added, removed, changed}: lists of {kind, item, before, after}."
        ),
    ] = False,
) -> None:
    """Compare two lineages leaf by leaf; exit 0 when equal, 1 when they differ.

    A manifest is a .json file with "schema": "aichain.lineage/v1". Any other input is
    fingerprinted now: a model file (.onnx, .safetensors, .gguf, a PyTorch pickle) or a
    checkpoint folder (one holding *.safetensors) as a model, another folder as a dataset, a
    .json/.yaml/.yml/.toml file as a config when the other lineage records values of a config
    of that name, another file as a dataset file. Against a manifest only the leaves such an
    input produces are compared. Exit 0: no difference; 1: differences; 2: bad input.
    """
    from aichain_audit import api

    policy = path_policy(follow_symlinks, skip_symlinks, skip_special, skip_unreadable)
    result = api.diff(location(a), location(b), policy=policy, progress=ProgressBar())
    if as_json:
        for note in result.notes:
            sys.stderr.write(f"aichain: note: {safe(note)}\n")
        print_json(result.to_dict())
    else:
        _print_summary(result)
    if not result.empty:
        raise typer.Exit(EXIT_CHECK_FAILED)


def _print_summary(result: LeafDiff) -> None:
    out = console()

    def say(line: str) -> None:
        out.print(line, emoji=False)  # ":name:" in a file name stays text

    for note in result.notes:
        say(f"note: {markup(note)}")
    entries = [
        *(("changed", c) for c in result.changed),
        *(("added", c) for c in result.added),
        *(("removed", c) for c in result.removed),
    ]
    grouped = {kind for _, kinds in _GROUPS for kind in kinds}
    other = tuple({c.kind for _, c in entries} - grouped)
    for title, kinds in (*_GROUPS, ("other leaves", other)):
        mine = [(s, c) for s, c in entries if c.kind in kinds]
        if not mine:
            continue
        say(f"[bold]{title}[/bold]")
        for status, c in sorted(mine, key=lambda e: (e[1].item.encode(), e[1].kind)):
            detail = _detail(c)
            say(f"  {status:<8} {markup(c.item)}" + (f"  {detail}" if detail else ""))
    if result.empty:
        say("no differences")
    else:
        say(
            f"{count(len(entries), 'difference')}: {len(result.changed)} changed, "
            f"{len(result.added)} added, {len(result.removed)} removed"
        )


def _short(digest: object) -> str:
    algo, _, hexdigits = str(digest).partition(":")
    return markup(f"{algo}:{hexdigits[:12]}…" if len(hexdigits) > 12 else str(digest))


def _value(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return markup(text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…")


def _one(leaf: Leaf) -> str:
    """What a leaf holds, in a few words (rich markup, escaped)."""
    kind = leaf["kind"]
    if kind in ("model", "model-data", "dataset"):
        text = f"{_short(leaf['digest'])}, {count(int(leaf['size']), 'byte')}"
        if "link" in leaf:
            text += f", via a link to {markup(leaf['link'])}"
        return text
    if kind == "skipped":
        return f"skipped ({markup(leaf['reason'])})"
    if kind == "config":
        return _value(leaf["value"])
    if kind == "tensor":
        return f"{markup(leaf['name'])}  {_short(leaf['digest'])}"
    if kind == "name":
        return _value(leaf["value"])
    if kind == "parent":
        return markup(leaf["root"])
    if kind == "mlflow-run":
        return markup(leaf["run_id"])
    return ""


def _detail(change: Change) -> str:
    from aichain_audit.verify.diff import SEMANTIC_PARTS, semantic_parts

    before, after = change.before, change.after
    if before is None or after is None:
        only = after if before is None else before
        return "" if only is None else _one(only)
    if change.kind == "model-semantic":
        parts = semantic_parts(change)
        same = [p for p in SEMANTIC_PARTS if p not in parts]
        text = f"{' and '.join(parts) or 'scheme'} changed"
        return text + (f" ({' and '.join(same)} unchanged)" if same else "")
    if change.kind == "tensor" and before["name"] != after["name"]:
        return f"{_one(before)} → {_one(after)}"
    if change.kind == "tensor":
        return f"{markup(after['name'])}  {_short(before['digest'])} → {_short(after['digest'])}"
    if change.kind in ("model", "model-data", "dataset"):
        size_a, size_b = int(before["size"]), int(after["size"])
        text = f"{_short(before['digest'])} → {_short(after['digest'])}, " + (
            count(size_a, "byte")
            if size_a == size_b
            else f"{count(size_a, 'byte')} → {count(size_b, 'byte')}"
        )
        if before.get("link") != after.get("link"):
            text += f", link {_value(before.get('link'))} → {_value(after.get('link'))}"
        return text
    return f"{_one(before)} → {_one(after)}"
