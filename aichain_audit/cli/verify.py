"""`aichain verify`: the auditor's command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aichain_audit.cli.app import app
from aichain_audit.cli.options import (
    VerifyOptions,
    chain_settings,
    hashing_engine,
    path_policy,
    pinning_required,
    trust_pins,
    verify_options,
)
from aichain_audit.cli.terminal import console, markup, print_json, safe
from aichain_audit.errors import AichainError, UsageError, verification_exit_code

if TYPE_CHECKING:
    from aichain_audit.verify.findings import Verification
    from aichain_audit.verify.request import VerifyRequest

_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim", "error": "magenta"}

ModelArg = Annotated[
    str,
    typer.Argument(
        metavar="MODEL",
        help="The deployed model: a model file (.onnx, .safetensors, .gguf, the first part of a "
        "split .gguf, a PyTorch pickle), a Hugging Face checkpoint folder, "
        "or an MLflow model URI (runs:/RUN/path, "
        "models:/NAME/VERSION, models:/MODEL_ID), downloaded to a private folder.",
        show_default=False,
    ),
]


@app.command(
    epilog="Examples: aichain verify model.onnx --lineage lineage.json (embedded chain); "
    "aichain verify model.onnx --lineage lineage.json --dataset data/ --chain https://rpc.example "
    "--registry 0x... --trust 0xCI_ACCOUNT --json; "
    "aichain verify models:/churn/3 (lineage found in MLflow)"
)
@verify_options
def verify(
    model: ModelArg,
    lineage: Annotated[
        Path | None,
        typer.Option(
            "--lineage",
            metavar="FILE",
            help="Its lineage manifest (default: the one recorded in --mlflow-run, else in the "
            "one MLflow run tagged with the model's digest).",
            show_default=False,
        ),
    ] = None,
    opts: VerifyOptions = VerifyOptions(),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print aichain.verify/v2 JSON (on every exit code).")
    ] = False,
) -> None:
    """Verify a deployed model: its bytes, its lineage's root, the ledger, its datasets.

    Exit 0 only when every required check passed; 1 when a check failed; 2 when it could not
    complete.
    """
    from aichain_audit import api

    try:
        request = build_request(model, lineage, opts)
    except AichainError as exc:
        if as_json:  # --json is printed on every exit code, a refused request's too
            print_json(_refused(model, exc))
        raise
    try:
        result = api.verify(request)
    finally:
        if request.engine is not None:
            request.engine.close()
    if as_json:
        from aichain_audit.verify.document import document

        print_json(document(result))
    else:
        render(result)
    raise typer.Exit(verification_exit(result))


def _refused(model: str, exc: AichainError) -> dict[str, Any]:
    """The document of a verification refused before it started: one `error` finding."""
    from aichain_audit import __version__
    from aichain_audit.verify.document import document
    from aichain_audit.verify.findings import Finding, Verification, VerifiedModel

    refused = Verification(
        (Finding.error("request", None, exc),), model=VerifiedModel(model), tool=__version__
    )
    return document(refused)


def build_request(model: str, lineage: Path | None, opts: VerifyOptions) -> VerifyRequest:
    """The request `verify` and `report --verify` run, from the same options: the CLI only
    builds it (flag > environment > default), `api.verify` runs it."""
    from aichain_audit.verify.request import VerifyRequest

    if lineage is None and opts.mlflow_run is None:
        _refuse_without_lineage(model)
    policy = path_policy(
        opts.follow_symlinks, opts.skip_symlinks, opts.skip_special, opts.skip_unreadable
    )
    settings = chain_settings(opts.chain, opts.registry, None, opts.chain_id, opts.confirmations)
    engine = hashing_engine(opts.engine, opts.ray_address)  # the caller closes it
    return VerifyRequest(
        model=model,
        settings=settings,
        lineage=lineage,
        receipt=opts.receipt,
        datasets=tuple(opts.dataset or ()),
        mlflow_run=opts.mlflow_run,
        pins=tuple(trust_pins(opts.trust)),
        require_pinned=pinning_required(opts.require_pinned),
        policy=policy,
        engine=engine,
    )


def _refuse_without_lineage(model: str) -> None:
    """Without --lineage and --mlflow-run, the lineage can only come from an MLflow search by
    the model's digest: refused at once, before mlflow is imported, unless MLflow is set up
    (MLFLOW_TRACKING_URI) or the model is itself an MLflow model URI. No file is guessed: a
    `lineage.json` beside the model is named in the message, never used unasked."""
    from aichain_audit.tracking.records import is_model_uri

    if is_model_uri(model) or os.environ.get("MLFLOW_TRACKING_URI", "").strip():
        return
    beside = Path(model).parent / "lineage.json"
    hint = f"; there is one beside the model: --lineage {beside}" if beside.is_file() else ""
    raise UsageError(
        f"no lineage given for {model}: give --lineage FILE (the manifest `aichain "
        f"fingerprint -o FILE` wrote), or set MLFLOW_TRACKING_URI to use the one recorded in "
        f"MLflow{hint}"
    )


def verification_exit(result: Verification) -> int:
    """A verification's exit code; on 2, the one line on stderr that says why."""
    code = verification_exit_code([str(f.status) for f in result.findings], result.verified)
    if code == 2:
        errors = result.errored
        why = errors[0].detail if errors else "a required check did not run"
        sys.stderr.write(f"aichain: error: verification could not complete: {safe(why)}\n")
    return code


def _value(value: Any) -> str:
    """A finding's expected or actual value for a person (a digest per part, not a repr;
    "nothing" for a value that is not there)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items()) or "nothing"
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value) or "nothing"
    return str(value)


def render(result: Verification, *, stderr: bool = False) -> None:
    """The verdict, the trust level and every finding as a table: what `verify` prints, and
    `report --verify` too (on stderr when the report itself goes to stdout)."""
    from rich.table import Table

    out = console(stderr=stderr)
    trust = result.trust
    verdict = "[bold green]VERIFIED[/]" if result.verified else "[bold red]NOT VERIFIED[/]"
    root = f"  root {markup(result.root)}" if result.root is not None else ""
    out.print(f"{verdict}  trust {markup(trust)}{root}")
    if trust == "self-attested":
        out.print(
            "[yellow]self-attested: the embedded chain is written and read on this machine[/]"
        )
    elif trust == "registry":
        out.print(
            "[yellow]no anchorer pinned: any anchorer the registry's owner granted is trusted; "
            "pin with --trust[/]"
        )
    table = Table(show_lines=False, highlight=False)
    for column in ("check", "status", "artifact", "detail"):
        table.add_column(column, overflow="fold")
    for f in result.findings:
        status = str(f.status)
        detail = f.detail or ""
        if status in ("fail", "error") and f.expected is not None:
            detail += f" (expected {_value(f.expected)}, got {_value(f.actual)})"
        table.add_row(
            markup(f.name),
            f"[{_STYLE.get(status, '')}]{markup(status.upper())}[/]",
            markup(f.artifact or "-"),
            markup(detail),
        )
    out.print(table)
    for req in result.not_run:
        out.print(f"[magenta]required check not run: {markup(req.describe())}[/]")
    run = result.mlflow
    if run:
        out.print(f"mlflow: run {markup(run['run'])} at {markup(run['tracking_uri'])}")
        for note in run.get("notes") or ():
            out.print(f"[dim]note: {markup(str(note))}[/]")
    ledger = result.ledger
    if ledger:
        out.print(
            f"ledger: chain {ledger['chain_id']}, registry {markup(ledger['registry'])}, "
            f"read at block {ledger['block_read']}"
        )
