"""`aichain verify`: the auditor's command."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aichain_audit.cli.app import app
from aichain_audit.cli.options import (
    VerifyOptions,
    chain_settings,
    path_policy,
    pinning_required,
    trust_pins,
    verify_options,
)
from aichain_audit.cli.terminal import console, markup, print_json, safe
from aichain_audit.errors import UsageError, verification_exit_code

if TYPE_CHECKING:
    from aichain_audit.verify.findings import Verification

_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim", "error": "magenta"}

ModelArg = Annotated[
    str,
    typer.Argument(
        help="The deployed model: an .onnx path, or an MLflow model URI (runs:/RUN/path, "
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
            help="Its lineage manifest (default: the one recorded in --mlflow-run, else in the "
            "one MLflow run tagged with the model's digest).",
            show_default=False,
        ),
    ] = None,
    opts: VerifyOptions = VerifyOptions(),
    as_json: Annotated[
        bool, typer.Option("--json", help="Print aichain.verify/v1 JSON (on every exit code).")
    ] = False,
) -> None:
    """Verify a deployed model: its bytes, its lineage's root, the ledger, its datasets.

    Exit 0 only when every check passed; 1 when a check failed; 2 when it could not complete.
    """
    from aichain_audit.verify.compose import verification_document

    result = run_verification(model, lineage, opts)
    doc = verification_document(result)
    if as_json:
        print_json(doc)
    else:
        _render(doc)
    raise typer.Exit(verification_exit(doc))


def run_verification(model: str, lineage: Path | None, opts: VerifyOptions) -> Verification:
    """The verification `verify` and `report --verify` run, from the same options."""
    from aichain_audit import api
    from aichain_audit.verify.findings import CheckStatus, Finding

    policy = path_policy(
        opts.follow_symlinks, opts.skip_symlinks, opts.skip_special, opts.skip_unreadable
    )
    settings = chain_settings(opts.chain, opts.registry, None, opts.chain_id, opts.confirmations)
    if not settings.embedded and settings.registry is None:
        raise UsageError("--chain needs --registry (or AICHAIN_REGISTRY)")
    pins = trust_pins(opts.trust)
    if opts.mlflow_run is not None:
        from aichain_audit.tracking.client import check_run_id

        check_run_id(opts.mlflow_run)
    result = api.verify(
        model, lineage, settings, receipt=opts.receipt, datasets=opts.dataset or [], pins=pins,
        policy=policy, mlflow_run=opts.mlflow_run,
    )  # fmt: skip
    if pinning_required(opts.require_pinned) and result.trust != "pinned":
        result = result.with_findings([Finding(
            "ledger.trust", CheckStatus.FAIL, None, "pinned", result.trust,
            "--require-pinned: the result must rest on anchorers pinned with --trust",
        )])  # fmt: skip
    return result


def verification_exit(doc: dict[str, Any]) -> int:
    """A verification's exit code; on 2, the one line on stderr that says why."""
    code = verification_exit_code([c["status"] for c in doc["checks"]], doc["verified"])
    if code == 2:
        errors = [c for c in doc["checks"] if c["status"] == "error"]
        why = errors[0]["detail"] if errors else "a required check did not run"
        sys.stderr.write(f"aichain: error: verification could not complete: {safe(why)}\n")
    return code


def _render(doc: dict[str, Any]) -> None:
    from rich.table import Table

    out = console()
    verdict = "[bold green]VERIFIED[/]" if doc["verified"] else "[bold red]NOT VERIFIED[/]"
    out.print(f"{verdict}  trust {markup(doc['trust'])}  root {markup(doc['root'])}")
    if doc["trust"] == "self-attested":
        out.print(
            "[yellow]self-attested: the embedded chain is written and read on this machine[/]"
        )
    elif doc["trust"] == "registry":
        out.print(
            "[yellow]no anchorer pinned: any anchorer the registry's owner granted is trusted; "
            "pin with --trust[/]"
        )
    table = Table(show_lines=False, highlight=False)
    for column in ("check", "status", "artifact", "detail"):
        table.add_column(column, overflow="fold")
    for check in doc["checks"]:
        style = _STYLE.get(check["status"], "")
        detail = check["detail"] or ""
        if check["status"] in ("fail", "error") and check["expected"] is not None:
            detail += f" (expected {check['expected']}, got {check['actual']})"
        table.add_row(
            markup(check["name"]),
            f"[{style}]{markup(check['status'].upper())}[/]",
            markup(check["artifact"] or "-"),
            markup(detail),
        )
    out.print(table)
    run = doc.get("mlflow")
    if run:
        out.print(f"mlflow: run {markup(run['run'])} at {markup(run['tracking_uri'])}")
    ledger = doc.get("ledger")
    if ledger:
        out.print(
            f"ledger: chain {ledger['chain_id']}, registry {markup(ledger['registry'])}, "
            f"read at block {ledger['block_read']}"
        )
