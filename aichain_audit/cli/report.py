"""`aichain report`: the compliance officer's document, in five formats."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from aichain_audit.cli.app import app
from aichain_audit.cli.options import VerifyOptions, verify_options
from aichain_audit.cli.terminal import safe
from aichain_audit.errors import UsageError

# --format, when not given, from the output's name; anything else is HTML. A `.jsonl` name is
# written as JSON Lines (in-toto only); a `.dsse.json` name holds a signed envelope (--sign).
_BY_SUFFIX = (
    (".cdx.json", "cyclonedx"),
    (".intoto.json", "intoto"),
    (".intoto.jsonl", "intoto"),
    (".dsse.json", "intoto"),
    (".md", "md"),
    (".json", "json"),
    (".html", "html"),
    (".htm", "html"),
)


def _format_of(output: Path) -> str:
    name = output.name.lower()
    return next((fmt for suffix, fmt in _BY_SUFFIX if name.endswith(suffix)), "html")


@app.command(
    epilog="Examples: aichain report lineage.json -o report.html (lineage and receipt only: "
    "nothing verified); aichain report lineage.json --verify model.onnx --dataset data/ "
    "-o report.html; aichain verify model.onnx --lineage lineage.json --json > verify.json; "
    "aichain report lineage.json --findings verify.json --format cyclonedx -o bom.cdx.json; "
    "AICHAIN_SIGNING_KEY_FILE=key.pem aichain report lineage.json --verify model.onnx "
    "--sign -o statement.dsse.json"
)
@verify_options
def report(
    lineage: Annotated[
        Path, typer.Argument(metavar="MANIFEST", help="The lineage manifest.", show_default=False)
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help="Write the report here (replaced atomically; - for stdout).",
            show_default=False,
        ),
    ],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            metavar="FORMAT",
            help="html, md, json (aichain.report/v1), cyclonedx (1.6 ML-BOM) or intoto "
            "(Statement v1; one line under a .jsonl name). Default: from -o's name (.md, "
            ".json, .cdx.json, .intoto.json, .intoto.jsonl, .dsse.json), else html.",
            show_default=False,
        ),
    ] = None,
    sign: Annotated[
        bool,
        typer.Option(
            "--sign",
            help="Write the in-toto statement in a DSSE envelope signed with the key in "
            "$AICHAIN_SIGNING_KEY (PEM), or in the PEM file $AICHAIN_SIGNING_KEY_FILE "
            "(password: $AICHAIN_SIGNING_KEY_PASSWORD); ed25519 or ECDSA P-256/P-384.",
        ),
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--verify",
            metavar="MODEL",
            help="Verify MODEL (a path or MLflow model URI) against the lineage first, with "
            "the options below, exactly as `aichain verify`; exits as verify does, after "
            "writing the report.",
            show_default=False,
        ),
    ] = None,
    findings: Annotated[
        Path | None,
        typer.Option(
            "--findings",
            metavar="FILE",
            help="A saved `aichain verify --json` document about this lineage: its verdict is "
            "recomputed from its checks (a document that contradicts them is refused) and shown "
            "as imported, not re-checked.",
            show_default=False,
        ),
    ] = None,
    artifacts: Annotated[
        Path | None,
        typer.Option(
            "--artifacts",
            metavar="DIR",
            help="Folder the lineage's file paths are resolved in (default: the lineage's "
            "folder); their plain SHA-256 is computed, absent files are said to be absent.",
            show_default=False,
        ),
    ] = None,
    opts: VerifyOptions = VerifyOptions(),
) -> None:
    """Render the lineage, its ledger evidence and a verification as a report.

    Without --verify or --findings, nothing is verified, and the report says so first.
    """
    from aichain_audit import api
    from aichain_audit.report import FORMATS

    chosen = fmt if fmt is not None else _format_of(output)
    if chosen not in FORMATS:
        raise UsageError(f"--format {chosen!r} is not one of {', '.join(FORMATS)}")
    name = output.name.lower()
    if sign and chosen != "intoto":
        raise UsageError("--sign signs an in-toto statement: give --format intoto")
    if not sign and name.endswith(".dsse.json"):
        raise UsageError(f"{output.name} names a signed DSSE envelope: give --sign")
    if name.endswith(".jsonl") and chosen != "intoto":
        raise UsageError(f"only --format intoto is written as JSON Lines: not {output.name}")
    key = None
    if sign:  # before anything runs: a missing key is said at once
        from aichain_audit.report.dsse import signing_key_from_environment

        key = signing_key_from_environment()
    if model is not None and findings is not None:
        raise UsageError("--verify and --findings exclude each other")
    if model is None and opts != VerifyOptions():
        raise UsageError("verification options (--dataset, --chain, --trust...) need --verify")
    result = None
    if model is not None:
        from aichain_audit.cli.verify import build_request

        request = build_request(model, lineage, opts)
        try:
            result = api.verify(request)
        finally:
            if request.engine is not None:
                request.engine.close()
    data = api.report(
        lineage, fmt=chosen, verification=result, findings=findings, artifacts=artifacts,
        receipt=opts.receipt, json_lines=name.endswith(".jsonl"), sign=key,
    )  # fmt: skip
    if str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        from aichain_audit.atomicfile import write_atomic

        write_atomic(output, data)
        signed = "" if key is None else f", a DSSE envelope signed by key {key.keyid}"
        sys.stderr.write(f"aichain: wrote {safe(output)} ({chosen}{signed})\n")
    if result is not None:  # what failed, in the log too, as `verify` prints it
        from aichain_audit.cli.verify import render, verification_exit

        render(result, stderr=str(output) == "-")
        raise typer.Exit(verification_exit(result))
