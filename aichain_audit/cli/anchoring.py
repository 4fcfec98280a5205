"""Ledger commands: anchor and revoke."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from aichain_audit.cli.app import app
from aichain_audit.cli.options import (
    ChainIdOpt,
    ChainOpt,
    JsonOpt,
    KeystoreOpt,
    RegistryOpt,
    chain_settings,
)
from aichain_audit.cli.terminal import console, markup, print_json


@app.command(
    epilog="Examples: aichain anchor lineage.json (embedded chain); "
    "AICHAIN_PRIVATE_KEY=... aichain anchor a.json b.json --chain https://rpc.example "
    "--registry 0x... --confirmations 3"
)
def anchor(
    manifests: Annotated[
        list[Path],
        typer.Argument(
            metavar="MANIFEST", help="Lineage manifests (several: one batch).", show_default=False
        ),
    ],
    chain: ChainOpt = None,
    registry: RegistryOpt = None,
    confirmations: Annotated[
        int, typer.Option("--confirmations", metavar="N", help="Blocks to wait for.", min=1)
    ] = 1,
    keystore: KeystoreOpt = None,
    chain_id: ChainIdOpt = None,
    no_mlflow: Annotated[
        bool,
        typer.Option(
            "--no-mlflow",
            help="Do not record the receipt on the MLflow run the lineage was recorded in.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Anchor lineage roots in the registry; a receipt is written beside each manifest, and
    on the MLflow run that records the lineage."""
    from aichain_audit import api

    settings = chain_settings(chain, registry, keystore, chain_id, confirmations)
    receipts: list[Any] = api.anchor(manifests, settings)
    _show(manifests, receipts, as_json)
    if no_mlflow:
        return
    from aichain_audit.tracking import TrackingError

    try:  # anchored and shown: MLflow comes after, and anchoring again retries it
        written = api.record_anchor(manifests, receipts)
    except TrackingError as exc:
        raise TrackingError(
            f"anchored, but the receipt was not recorded in MLflow ({exc.message}); anchor "
            "again to retry (nothing is anchored twice), or pass --no-mlflow"
        ) from exc
    for run_id in written:
        if not as_json:
            console().print(f"  recorded in MLflow run {markup(run_id)}")


def _show(manifests: list[Path], receipts: list[Any], as_json: bool) -> None:
    from aichain_audit.receipt import receipt_path

    if as_json:
        docs = []
        for r in receipts:
            d = r.to_dict()
            if r.batch is not None:
                d["batch"] = {"index": r.batch.index, "size": r.batch.size, "root": r.batch.root,
                              "path": r.batch.path}  # fmt: skip
            docs.append(d)
        print_json(docs)
        return
    out = console()
    for path, r in zip(manifests, receipts, strict=True):
        verb = "already anchored" if r.existing else "anchored"
        where = (
            "the embedded chain (self-attested)" if r.chain == "embedded" else f"chain {r.chain_id}"
        )
        out.print(f"[bold]{verb}[/bold] {r.root} on {where}")
        out.print(f"  registry  {r.registry}")
        out.print(f"  tx        {r.tx} (block {r.block}, {r.gas_used:,} gas)")
        out.print(f"  anchorer  {r.anchorer} (record {r.status})")
        if r.batch is not None:
            out.print(f"  batch     {r.batch.index + 1} of {r.batch.size}, root {r.batch.root}")
        out.print(f"  receipt   {markup(receipt_path(path))}")


@app.command(epilog="Example: aichain revoke lineage.json --reason 'trained on a leaked test set'")
def revoke(
    target: Annotated[
        str,
        typer.Argument(
            metavar="ROOT|MANIFEST", help="Lineage root (hex) or its manifest.", show_default=False
        ),
    ],
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why (recorded on chain).")
    ],
    subject: Annotated[
        str | None,
        typer.Option(
            "--subject",
            metavar="SUBJECT",
            help="Subject, when the root has several.",
            show_default=False,
        ),
    ] = None,
    anchorer: Annotated[
        str | None,
        typer.Option(
            "--anchorer",
            metavar="ADDR",
            help="Whose record (the registry owner revoking another's); default: your own.",
            show_default=False,
        ),
    ] = None,
    chain: ChainOpt = None,
    registry: RegistryOpt = None,
    keystore: KeystoreOpt = None,
    chain_id: ChainIdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke one record: your own, or (as the registry owner) the one of --anchorer."""
    from aichain_audit import api

    settings = chain_settings(chain, registry, keystore, chain_id)
    result = api.revoke(target, reason, settings, subject, anchorer)
    if as_json:
        print_json(result.to_dict())
        return
    what = f"revoked {result.root} (subject {result.subject}) anchored by {result.anchorer}"
    if result.batch_size is not None:
        what += f": a batch record, so all {result.batch_size} lineages of the batch are revoked"
        what += (
            f"; {len(result.members)} of them, whose receipts were at hand, also revoked "
            "directly (seen without the batch receipt)"
        )
    sys.stdout.write(f"{what}\n  tx {result.tx} (block {result.block})\n")
