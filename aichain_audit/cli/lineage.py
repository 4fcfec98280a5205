"""Lineage commands: fingerprint, prove, check-proof."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from aichain_audit.cli.app import app
from aichain_audit.cli.ledger_view import ledger_doc, ledger_lines
from aichain_audit.cli.options import (
    ChainIdOpt,
    EngineOpt,
    FollowSymlinksOpt,
    RayAddressOpt,
    RequirePinnedOpt,
    SkipSpecialOpt,
    SkipSymlinksOpt,
    SkipUnreadableOpt,
    TrustOpt,
    chain_settings,
    hashing_engine,
    location,
    path_policy,
    pinning_required,
    trust_pins,
)
from aichain_audit.cli.terminal import ProgressBar, console, count, markup, print_json, safe
from aichain_audit.errors import AichainError, CheckFailed, UsageError


@app.command(
    epilog="Examples: aichain fingerprint --model model.onnx --dataset data/ "
    "--config train.yaml --name churn-v3 -o lineage.json; "
    "aichain fingerprint --mlflow-run 0f3c… --config train.yaml -o lineage.json"
)
def fingerprint(
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            metavar="PATH",
            help="Model: a file (.onnx, .safetensors, .gguf) or a Hugging Face checkpoint "
            "folder (config, tokenizer and safetensors shards: every file in it is recorded); "
            "or a PyTorch pickle (.pt, .pth, .ckpt, .bin), recorded by its bytes only and "
            "never loaded. Or a URL (s3://, gs://, az://, file://): downloaded, with the "
            "files it reads, to a private temporary folder.",
            show_default=False,
        ),
    ] = None,
    dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--dataset",
            metavar="PATH",
            help="Dataset file or folder (repeatable); or an object or prefix URL (s3://, "
            "gs://, az://, abfs://, file://), hashed where it is.",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        list[Path] | None,
        typer.Option(
            "--config",
            metavar="FILE",
            help="Training config: JSON, YAML or TOML (repeatable).",
            show_default=False,
        ),
    ] = None,
    mlflow_run: Annotated[
        str | None,
        typer.Option(
            "--mlflow-run",
            metavar="RUN_ID",
            help="MLflow run (MLFLOW_TRACKING_URI): its params, local dataset inputs and, "
            "without --model, its model file join the lineage, which is recorded in the run "
            "(artifact aichain/lineage.json and aichain.* tags).",
            show_default=False,
        ),
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option(
            "--parent", metavar="ROOT", help="Root of a parent lineage.", show_default=False
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="Lineage name (content: it changes the root)."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "-o",
            "--output",
            metavar="FILE",
            help="Write the manifest here (replaced atomically). Without it nothing is saved "
            "(but in the MLflow run of --mlflow-run), and a note on stderr says so.",
        ),
    ] = None,
    follow_symlinks: FollowSymlinksOpt = False,
    skip_symlinks: SkipSymlinksOpt = False,
    skip_special: SkipSpecialOpt = False,
    skip_unreadable: SkipUnreadableOpt = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache",
            help="Reuse digests of dataset files whose inode, size, mtime and ctime are "
            "unchanged, and of objects listed at the same version and size "
            "(AICHAIN_HOME/digests.sqlite3). Off by default.",
        ),
    ] = False,
    engine: EngineOpt = "local",
    ray_address: RayAddressOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Fingerprint a model, datasets and configs into one lineage manifest."""
    from aichain_audit import api

    policy = path_policy(follow_symlinks, skip_symlinks, skip_special, skip_unreadable)
    hashing = hashing_engine(engine, ray_address)
    try:
        result = api.fingerprint(
            model=location(model) if model is not None else None,
            datasets=[location(d) for d in dataset or ()],
            configs=config or [],
            name=name,
            parent=parent,
            mlflow_run=mlflow_run,
            policy=policy,
            progress=ProgressBar(),
            cache=cache,
            engine=hashing,
        )
    finally:
        hashing.close()
    manifest = result.manifest
    if result.run is not None:  # MLflow first: a failure there leaves no file behind
        api.record_lineage(result)
    if output is not None:
        from aichain_audit.atomicfile import write_atomic  # not needed without -o

        write_atomic(output, manifest.to_json())
    elif result.run is None:  # never lost silently: not saved anywhere, and said so
        sys.stderr.write(
            "aichain: note: the manifest was not saved (give -o lineage.json to keep it: "
            "prove, anchor, verify and report read it)\n"
        )
    for skipped_name, reason in result.skipped:
        sys.stderr.write(
            f"aichain: skipped {safe(skipped_name)} ({reason}); recorded in the lineage\n"
        )
    fp: Any = result.model
    for warning in fp.warnings if fp is not None else ():
        sys.stderr.write(f"aichain: warning: {safe(warning)}\n")
    if as_json:
        doc: dict[str, Any] = {
            "root": manifest.root_hex,
            "leaves": len(manifest.leaves),
            "subject": manifest.subject,
        }
        if fp is not None:
            doc["model"] = {
                "file_digest": fp.file.digest,
                "semantic": None
                if fp.semantic is None
                else {
                    "graph": fp.semantic.graph,
                    "weights": fp.semantic.weights,
                    "metadata": fp.semantic.metadata,
                },
                "warnings": list(fp.warnings),
            }
        if output is not None:
            doc["manifest"] = str(output)
        if result.run is not None:
            doc["mlflow_run"] = result.run.run_id
            if result.model_source is not None:
                doc["model"]["source"] = result.model_source
        print_json(doc)
        return
    out = console()
    out.print(f"[bold]lineage root[/bold]  {manifest.root_hex}")
    out.print(f"subject       {manifest.subject}")
    if fp is not None:
        out.print(f"model         {markup(fp.name)}  {fp.file.digest}")
        for ext_name, ext in fp.external:
            out.print(f"  data file   {markup(ext_name)}  {ext.digest}")
        if fp.semantic is None:
            out.print("  semantics   none: an opaque model, compared by its bytes only")
        else:
            out.print(f"  graph       {fp.semantic.graph}")
            out.print(f"  weights     {fp.semantic.weights}  ({len(fp.semantic.tensors)} weights)")
            out.print(f"  metadata    {fp.semantic.metadata}")
    if dataset or result.run_datasets:
        out.print(
            f"datasets      {count(result.dataset_files, 'file')}, "
            f"{count(result.dataset_bytes, 'byte')}"
            + (f", {len(result.skipped)} skipped" if result.skipped else "")
        )
    if config:
        out.print(
            f"configs       {count(len(config), 'file')}, {count(result.config_values, 'value')}"
        )
    if result.run is not None:
        run = result.run
        out.print(
            f"mlflow run    {markup(run.run_id)}: {count(len(run.params), 'param')}, "
            f"{count(len(result.run_datasets), 'local dataset')}"
            + (f", model from {markup(result.model_source)}" if result.model_source else "")
        )
    out.print(f"leaves        {len(manifest.leaves)}")
    if output is not None:
        out.print(f"manifest      {markup(output)}")
    if result.run is not None:
        out.print(f"recorded in   MLflow run {markup(result.run.run_id)} (aichain/lineage.json)")


@app.command(
    epilog="Examples: aichain prove lineage.json data/train.csv -o proof.json; "
    "aichain prove lineage.json 'train.yaml#/model/C'"
)
def prove(
    manifest: Annotated[
        Path, typer.Argument(metavar="MANIFEST", help="Lineage manifest.", show_default=False)
    ],
    item: Annotated[
        str,
        typer.Argument(
            metavar="ITEM",
            help="A leaf's path as in the manifest (data/train.csv), CONFIG#/json/pointer, "
            "or MODEL#semantic.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", metavar="FILE", help="Write the proof here (else stdout)."),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            metavar="KIND",
            help="The leaf kind ITEM must name (dataset, config, model, model-semantic, "
            "tensor, name, ...); refused if it names another.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Inclusion proof that one artifact or config value is in a lineage."""
    from aichain_audit import api
    from aichain_audit.atomicfile import write_atomic

    lineage = api.load_manifest(manifest)
    proof = api.prove(lineage, item, kind)
    data = proof.to_json()
    if output is not None:
        write_atomic(output, data)
    elif sys.stdout.isatty():
        sys.stdout.write(safe(data.decode()[:-1]) + "\n")  # for eyes: hidden characters shown
    else:
        sys.stdout.buffer.write(data)  # the proof's exact bytes, for a file or a pipe


@app.command(
    "check-proof",
    epilog="Example: aichain check-proof proof.json --root 3f5c…e1 (the root you trust, "
    "e.g. the anchored one)",
)
def check_proof(
    proof: Annotated[
        Path,
        typer.Argument(
            metavar="PROOF", help="Proof file from `aichain prove`.", show_default=False
        ),
    ],
    root: Annotated[
        str | None,
        typer.Option(
            "--root",
            metavar="ROOT",
            help="The lineage root you trust (64 hex digits).",
            show_default=False,
        ),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option(
            "--chain",
            metavar="URL",
            help="Instead of --root: trust the root only as far as the registry on this chain "
            "records it ('embedded' or a JSON-RPC URL; env AICHAIN_CHAIN).",
            show_default=False,
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            metavar="ADDR",
            help="Registry address (env AICHAIN_REGISTRY).",
            show_default=False,
        ),
    ] = None,
    trust: TrustOpt = None,
    receipt: Annotated[
        Path | None,
        typer.Option(
            "--receipt",
            metavar="FILE",
            help="Receipt of a batch anchor: its path from the lineage to the batch root is "
            "verified against the registry, never trusted.",
            show_default=False,
        ),
    ] = None,
    require_pinned: RequirePinnedOpt = False,
    confirmations: Annotated[
        int,
        typer.Option(
            "--confirmations", metavar="N", help="Read at the latest block less N - 1.", min=1
        ),
    ] = 1,
    chain_id: ChainIdOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON result.")] = False,
) -> None:
    """Check an inclusion proof against a root you trust; exit 0 valid, 1 invalid."""
    from aichain_audit import api

    try:
        p, trusted, ledger = _proof_and_root(
            proof, root, chain, registry, chain_id, trust, receipt, require_pinned, confirmations
        )
    except AichainError as exc:
        if as_json:  # printed on every exit code, a refused input's too
            print_json({"valid": False, "error": exc.message})
        raise
    result = api.check_inclusion(p, trusted, ledger, pinning_required(require_pinned))
    valid = result.verified
    if as_json:
        doc: dict[str, Any] = {
            "valid": valid,
            "kind": p.kind,
            "item": p.item,
            "index": p.index,
            "root": trusted.hex(),
        }
        if ledger is not None:
            doc.update(ledger_doc(ledger))
        print_json(doc)
    if not valid:
        first = (result.failed or result.errored)[0]
        raise CheckFailed(f"invalid proof for {p.kind} {safe(p.item)}: {safe(first.detail)}")
    if not as_json:
        out = [f"valid: {p.kind} {safe(p.item)} is leaf {p.index} of lineage {trusted.hex()}"]
        if ledger is not None:
            out.extend(ledger_lines(ledger))
        sys.stdout.write("\n".join(out) + "\n")


def _proof_and_root(
    proof: Path,
    root: str | None,
    chain: str | None,
    registry: str | None,
    chain_id: int | None,
    trust: list[str] | None,
    receipt: Path | None,
    require_pinned: bool,
    confirmations: int,
) -> tuple[Any, bytes, Any]:
    """The proof, the root it is checked against, and the ledger's word when read."""
    import os

    from aichain_audit import api
    from aichain_audit.ledger import ENV_CHAIN
    from aichain_audit.proof import parse_root

    # The environment may name the chain (ChainSettings reads it, refusing an empty one).
    use_chain = chain is not None or (root is None and os.environ.get(ENV_CHAIN) is not None)
    if (root is None) == (not use_chain):
        raise UsageError(
            "give either --root, or --chain with --registry: a proof is never checked "
            "against the root inside it alone"
        )
    if root is not None and (trust or receipt is not None or require_pinned):
        raise UsageError("--trust, --receipt and --require-pinned go with --chain, not --root")
    p = api.read_proof(proof)
    ledger = None
    if root is not None:
        trusted = parse_root(root)
    else:
        settings = chain_settings(chain, registry, None, chain_id, confirmations)
        if not settings.embedded and settings.registry is None:
            raise UsageError("--chain needs --registry (or AICHAIN_REGISTRY)")
        pins = trust_pins(trust)
        ledger = api.check_ledger(p.root, str(p.subject["digest"]), settings, pins, receipt)
        trusted = p.root
    return p, trusted, ledger
