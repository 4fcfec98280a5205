"""The `aichain` command line: parse, call `aichain_audit.api`, render. Nothing else.

Exit codes, everywhere: 0 ok; 1 a check failed; 2 could not complete, with one
line on stderr (a traceback only with --debug). Human output goes to stdout,
progress bars to stderr, `--json` output to stdout alone.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from aichain_audit import __version__
from aichain_audit.errors import (
    EXIT_CANNOT_COMPLETE,
    EXIT_CHECK_FAILED,
    AichainError,
    CheckFailed,
    UsageError,
    exit_code,
)

app = typer.Typer(
    name="aichain",
    help="Tamper-evident AI model lineage: fingerprint, prove and check.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Example: aichain fingerprint --model model.onnx --dataset data/ --config train.yaml "
    "-o lineage.json",
)


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


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _stdout_json(value: Any) -> None:
    """JSON on stdout: readable text, but never a raw control or format character."""
    sys.stdout.write(_json_escape_hidden(json.dumps(value, indent=2, ensure_ascii=False)) + "\n")


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


class _Bar:
    """A Rich progress bar on stderr, shown only on a terminal and for long work."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._task: Any = None

    def start(self, description: str, total: int) -> None:
        if not sys.stderr.isatty() or total < 256 * 1024 * 1024:
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


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"aichain {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Tamper-evident AI model lineage: fingerprint, prove and check.

    Example: aichain fingerprint --model m.onnx --dataset data/ --config train.yaml -o lineage.json
    """


@app.command(
    epilog="Example: aichain fingerprint --model model.onnx --dataset data/ "
    "--config train.yaml --name churn-v3 -o lineage.json"
)
def fingerprint(
    model: Annotated[
        Path | None, typer.Option("--model", help="ONNX model file.", show_default=False)
    ] = None,
    dataset: Annotated[
        list[Path] | None,
        typer.Option("--dataset", help="Dataset file or folder (repeatable).", show_default=False),
    ] = None,
    config: Annotated[
        list[Path] | None,
        typer.Option(
            "--config", help="Training config: JSON, YAML or TOML (repeatable).", show_default=False
        ),
    ] = None,
    mlflow_run: Annotated[
        str | None,
        typer.Option(
            "--mlflow-run", help="MLflow run id, recorded in the lineage.", show_default=False
        ),
    ] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help="Root of a parent lineage.", show_default=False)
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Lineage name (content: it changes the root).")
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the manifest here (replaced atomically)."),
    ] = None,
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help="Follow links that stay inside a dataset.")
    ] = False,
    skip_symlinks: Annotated[
        bool, typer.Option("--skip-symlinks", help="Record links in datasets as skipped.")
    ] = False,
    skip_special: Annotated[
        bool, typer.Option("--skip-special", help="Record FIFOs, sockets, devices as skipped.")
    ] = False,
    skip_unreadable: Annotated[
        bool, typer.Option("--skip-unreadable", help="Record unreadable files as skipped.")
    ] = False,
    cache: Annotated[
        bool,
        typer.Option(
            "--cache",
            help="Reuse digests of dataset files whose inode, size, mtime and ctime are "
            "unchanged (AICHAIN_HOME/digests.sqlite3). Off by default.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Fingerprint a model, datasets and configs into one lineage manifest."""
    from aichain_audit import api
    from aichain_audit.atomicfile import write_atomic
    from aichain_audit.fingerprint.paths import LinkPolicy, PathPolicy

    if follow_symlinks and skip_symlinks:
        raise UsageError("--follow-symlinks and --skip-symlinks exclude each other")
    links = (
        LinkPolicy.FOLLOW
        if follow_symlinks
        else LinkPolicy.SKIP
        if skip_symlinks
        else LinkPolicy.REFUSE
    )
    policy = PathPolicy(links, skip_special=skip_special, skip_unreadable=skip_unreadable)
    result = api.fingerprint(
        model=model,
        datasets=dataset or [],
        configs=config or [],
        name=name,
        parent=parent,
        mlflow_run=mlflow_run,
        policy=policy,
        progress=_Bar(),
        cache=cache,
    )
    manifest = result.manifest
    if output is not None:
        write_atomic(output, manifest.to_json())
    for skipped_name, reason in result.skipped:
        sys.stderr.write(
            f"aichain: skipped {safe(skipped_name)} ({reason}); recorded in the lineage\n"
        )
    fp: Any = result.model
    if as_json:
        doc: dict[str, Any] = {
            "root": manifest.root_hex,
            "leaves": len(manifest.leaves),
            "subject": manifest.subject,
        }
        if fp is not None:
            doc["model"] = {
                "file_digest": fp.file.digest,
                "semantic": {
                    "graph": fp.semantic.graph,
                    "weights": fp.semantic.weights,
                    "metadata": fp.semantic.metadata,
                },
            }
        if output is not None:
            doc["manifest"] = str(output)
        _stdout_json(doc)
        return
    console = _console()
    console.print(f"[bold]lineage root[/bold]  {manifest.root_hex}")
    console.print(f"subject       {manifest.subject}")
    if fp is not None:
        console.print(f"model         {markup(fp.name)}  {fp.file.digest}")
        for ext_name, ext in fp.external:
            console.print(f"  data file   {markup(ext_name)}  {ext.digest}")
        console.print(f"  graph       {fp.semantic.graph}")
        console.print(f"  weights     {fp.semantic.weights}  ({len(fp.semantic.tensors)} weights)")
        console.print(f"  metadata    {fp.semantic.metadata}")
    if dataset:
        console.print(
            f"datasets      {_count(result.dataset_files, 'file')}, "
            f"{_count(result.dataset_bytes, 'byte')}"
            + (f", {len(result.skipped)} skipped" if result.skipped else "")
        )
    if config:
        console.print(
            f"configs       {_count(len(config), 'file')}, {_count(result.config_values, 'value')}"
        )
    console.print(f"leaves        {len(manifest.leaves)}")
    if output is not None:
        console.print(f"manifest      {markup(output)}")


@app.command(
    epilog="Examples: aichain prove lineage.json data/train.csv -o proof.json; "
    "aichain prove lineage.json 'train.yaml#/model/C'"
)
def prove(
    manifest: Annotated[Path, typer.Argument(help="Lineage manifest.", show_default=False)],
    item: Annotated[
        str,
        typer.Argument(
            help="A leaf's path as in the manifest (data/train.csv), CONFIG#/json/pointer, "
            "or MODEL#semantic.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the proof here (else stdout).")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
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


ENV_TRUST = "AICHAIN_TRUST"
ENV_REQUIRE_PINNED = "AICHAIN_REQUIRE_PINNED"
TrustOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trust",
        help="An anchorer you trust (repeatable; env AICHAIN_TRUST, comma-separated): only "
        "its records count. Without it, every granted anchorer's record counts.",
        show_default=False,
    ),
]
RequirePinnedOpt = Annotated[
    bool,
    typer.Option(
        "--require-pinned",
        help="Fail unless the result rests on anchorers pinned with --trust (env "
        "AICHAIN_REQUIRE_PINNED): for CI gates.",
    ),
]


@app.command(
    "check-proof",
    epilog="Example: aichain check-proof proof.json --root 3f5c…e1 (the root you trust, "
    "e.g. the anchored one)",
)
def check_proof(
    proof: Annotated[
        Path, typer.Argument(help="Proof file from `aichain prove`.", show_default=False)
    ],
    root: Annotated[
        str | None,
        typer.Option(
            "--root", help="The lineage root you trust (64 hex digits).", show_default=False
        ),
    ] = None,
    chain: Annotated[
        str | None,
        typer.Option(
            "--chain",
            help="Instead of --root: trust the root only as far as the registry on this chain "
            "records it ('embedded' or a JSON-RPC URL; env AICHAIN_CHAIN).",
            show_default=False,
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry", help="Registry address (env AICHAIN_REGISTRY).", show_default=False
        ),
    ] = None,
    trust: TrustOpt = None,
    receipt: Annotated[
        Path | None,
        typer.Option(
            "--receipt",
            help="Receipt of a batch anchor: its path from the lineage to the batch root is "
            "verified against the registry, never trusted.",
            show_default=False,
        ),
    ] = None,
    require_pinned: RequirePinnedOpt = False,
    confirmations: Annotated[
        int, typer.Option("--confirmations", help="Read at the latest block less N - 1.", min=1)
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON result.")] = False,
) -> None:
    """Check an inclusion proof against a root you trust; exit 0 valid, 1 invalid."""
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
        settings = _settings(chain, registry, None, None, confirmations)
        if not settings.embedded and settings.registry is None:
            raise UsageError("--chain needs --registry (or AICHAIN_REGISTRY)")
        pins = _pins(trust)
        ledger = api.check_ledger(p.root, str(p.subject["digest"]), settings, pins, receipt)
        trusted = p.root
    path_ok = api.check_proof(p, trusted)
    pinned_ok = ledger is None or not _require_pinned(require_pinned) or ledger.trust == "pinned"
    valid = path_ok and (ledger is None or ledger.ok) and pinned_ok
    if as_json:
        doc: dict[str, Any] = {
            "valid": valid,
            "kind": p.kind,
            "item": p.item,
            "index": p.index,
            "root": trusted.hex(),
        }
        if ledger is not None:
            doc.update(_ledger_doc(ledger))
        _stdout_json(doc)
    if not valid:
        if ledger is not None and not ledger.ok:
            why = f"its lineage is {_ledger_why(ledger)}"
        elif not pinned_ok:
            why = (
                f"trust is {ledger.trust if ledger else '?'}, and --require-pinned asks for "
                "anchorers pinned with --trust"
            )
        elif p.root != trusted:
            why = "the proof is for another root"
        else:
            why = "the path does not lead from the leaf to the root"
        raise CheckFailed(f"invalid proof for {p.kind} {safe(p.item)}: {why}")
    if not as_json:
        out = [f"valid: {p.kind} {safe(p.item)} is leaf {p.index} of lineage {trusted.hex()}"]
        if ledger is not None:
            out.extend(_ledger_lines(ledger))
        sys.stdout.write("\n".join(out) + "\n")


def _pins(trust: list[str] | None) -> list[str]:
    """--trust (repeatable), else AICHAIN_TRUST (comma-separated); an empty value is refused."""
    import os

    if trust:
        values = trust
    elif (env := os.environ.get(ENV_TRUST)) is not None:
        values = env.split(",")
    else:
        return []
    if any(not v.strip() for v in values):
        raise UsageError(f"an empty --trust (or {ENV_TRUST}) value is refused, never read as unset")
    return [v.strip() for v in values]


def _require_pinned(flag: bool) -> bool:
    import os

    if flag:
        return True
    env = os.environ.get(ENV_REQUIRE_PINNED)
    if env is None:
        return False
    if env.strip().lower() in ("1", "true", "yes"):
        return True
    if env.strip().lower() in ("0", "false", "no"):
        return False
    raise UsageError(f"{ENV_REQUIRE_PINNED} must be 1/true/yes or 0/false/no, got {env!r}")


def _ledger_why(ledger: Any) -> str:
    if ledger.status == "not anchored":
        pinned = " by an anchorer you trust" if ledger.trust == "pinned" else ""
        return f"not anchored{pinned} in the registry"
    bad = [r for r in ledger.counted if r.status_name == ledger.status]
    detail = "; ".join(
        f"{r.anchorer}"
        + (f": {safe(ledger.reasons[r.anchorer])}" if r.anchorer in ledger.reasons else "")
        for r in bad
    )
    return f"{ledger.status} in the registry ({detail})"


def _ledger_doc(ledger: Any) -> dict[str, Any]:
    counted = {id(r) for r in ledger.counted}
    return {
        "record": ledger.status,
        "trust": ledger.trust,
        "chain_id": ledger.chain_id,
        "registry": ledger.registry,
        "block_read": ledger.block_read,
        "records": [
            {
                "anchorer": r.anchorer,
                "status": r.status_name,
                "block": r.block,
                "time": r.timestamp,
                "revoked_block": r.revoked_block or None,
                "reason": ledger.reasons.get(r.anchorer),
                "counted": id(r) in counted,
            }
            for r in ledger.records
        ],
        "batch": None
        if ledger.batch is None
        else {"index": ledger.batch.index, "size": ledger.batch.size, "root": ledger.batch.root},
        "warnings": _ledger_warnings(ledger),
    }


def _ledger_warnings(ledger: Any) -> list[str]:
    if ledger.trust == "self-attested":
        return ["self-attested: the embedded chain is written and read on this machine"]
    if ledger.trust == "registry":
        return [
            "no anchorer pinned: any anchorer the registry's owner granted is trusted; "
            "pin the ones you trust with --trust"
        ]
    return []


def _ledger_lines(ledger: Any) -> list[str]:
    where = (
        f"chain {ledger.chain_id}, registry {ledger.registry}, read at block {ledger.block_read}"
    )
    lines = [f"  ledger: {ledger.status}, trust {ledger.trust} ({where})"]
    if ledger.batch is not None:
        lines.append(
            f"  batch: lineage {ledger.batch.index + 1} of {ledger.batch.size}, "
            f"root {ledger.batch.root}"
        )
    for r in ledger.records:
        counted = "" if r in ledger.counted else " (not counted)"
        lines.append(f"  anchorer {r.anchorer}: {r.status_name}, block {r.block}{counted}")
    lines.extend(f"  warning: {w}" for w in _ledger_warnings(ledger))
    return lines


ChainOpt = Annotated[
    str | None,
    typer.Option(
        "--chain",
        help="JSON-RPC URL, or 'embedded' (default; env AICHAIN_CHAIN).",
        show_default=False,
    ),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option("--registry", help="Registry address (env AICHAIN_REGISTRY).", show_default=False),
]
KeystoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        help="Encrypted keystore (env AICHAIN_KEYSTORE; password from "
        "AICHAIN_KEYSTORE_PASSWORD or a prompt). Keys are never taken from the command line.",
        show_default=False,
    ),
]
ChainIdOpt = Annotated[
    int | None,
    typer.Option(
        "--chain-id", help="Refuse to run unless the chain has this id.", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _settings(
    chain: str | None,
    registry: str | None,
    keystore: Path | None,
    chain_id: int | None,
    confirmations: int = 1,
) -> Any:
    from aichain_audit.ledger import ChainSettings

    return ChainSettings.resolve(chain, registry, confirmations, keystore, chain_id)


@app.command(
    epilog="Examples: aichain anchor lineage.json (embedded chain); "
    "AICHAIN_PRIVATE_KEY=... aichain anchor a.json b.json --chain https://rpc.example "
    "--registry 0x... --confirmations 3"
)
def anchor(
    manifests: Annotated[
        list[Path],
        typer.Argument(help="Lineage manifests (several: one batch).", show_default=False),
    ],
    chain: ChainOpt = None,
    registry: RegistryOpt = None,
    confirmations: Annotated[
        int, typer.Option("--confirmations", help="Blocks to wait for.", min=1)
    ] = 1,
    keystore: KeystoreOpt = None,
    chain_id: ChainIdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Anchor lineage roots in the registry; a receipt is written beside each manifest."""
    from aichain_audit import api
    from aichain_audit.receipt import receipt_path

    settings = _settings(chain, registry, keystore, chain_id, confirmations)
    receipts: list[Any] = api.anchor(manifests, settings)
    if as_json:
        docs = []
        for r in receipts:
            d = r.to_dict()
            if r.batch is not None:
                d["batch"] = {"index": r.batch.index, "size": r.batch.size, "root": r.batch.root,
                              "path": r.batch.path}  # fmt: skip
            docs.append(d)
        _stdout_json(docs)
        return
    console = _console()
    for path, r in zip(manifests, receipts, strict=True):
        verb = "already anchored" if r.existing else "anchored"
        where = (
            "the embedded chain (self-attested)" if r.chain == "embedded" else f"chain {r.chain_id}"
        )
        console.print(f"[bold]{verb}[/bold] {r.root} on {where}")
        console.print(f"  registry  {r.registry}")
        console.print(f"  tx        {r.tx} (block {r.block}, {r.gas_used:,} gas)")
        console.print(f"  anchorer  {r.anchorer} (record {r.status})")
        if r.batch is not None:
            console.print(f"  batch     {r.batch.index + 1} of {r.batch.size}, root {r.batch.root}")
        console.print(f"  receipt   {markup(receipt_path(path))}")


@app.command(epilog="Example: aichain revoke lineage.json --reason 'trained on a leaked test set'")
def revoke(
    target: Annotated[
        str, typer.Argument(help="Lineage root (hex) or its manifest.", show_default=False)
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded on chain).")],
    subject: Annotated[
        str | None,
        typer.Option("--subject", help="Subject, when the root has several.", show_default=False),
    ] = None,
    anchorer: Annotated[
        str | None,
        typer.Option(
            "--anchorer",
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

    settings = _settings(chain, registry, keystore, chain_id)
    result = api.revoke(target, reason, settings, subject, anchorer)
    if as_json:
        _stdout_json(result.to_dict())
        return
    what = f"revoked {result.root} (subject {result.subject}) anchored by {result.anchorer}"
    if result.batch_size is not None:
        what += f": a batch record, so all {result.batch_size} lineages of the batch are revoked"
    sys.stdout.write(f"{what}\n  tx {result.tx} (block {result.block})\n")


registry_app = typer.Typer(
    help="Registry administration: deploy, grant and withdraw anchoring rights, ownership.",
    no_args_is_help=True,
)
app.add_typer(registry_app, name="registry")


def _registry(
    action: str,
    account: str | None,
    chain: str | None,
    registry: str | None,
    keystore: Path | None,
    chain_id: int | None,
    as_json: bool,
    from_block: int | None = None,
) -> None:
    from aichain_audit import api

    settings = _settings(chain, registry, keystore, chain_id)
    result = api.registry_command(action, settings, account, from_block)
    if as_json:
        _stdout_json(result)
        return
    console = _console()
    for key, value in result.items():
        if value is not None:
            console.print(f"{key:<20} {markup(value)}")


AccountArg = Annotated[str, typer.Argument(help="Account address.", show_default=False)]


@registry_app.command(
    "deploy", epilog="Example: aichain registry deploy --chain http://127.0.0.1:8545"
)
def registry_deploy(
    chain: ChainOpt = None,
    keystore: KeystoreOpt = None,
    chain_id: ChainIdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deploy a new registry; the deployer owns it and may anchor."""
    _registry("deploy", None, chain, None, keystore, chain_id, as_json)


@registry_app.command("status", epilog="Example: aichain registry status --json")
def registry_status(
    account: Annotated[
        str | None, typer.Argument(help="Account to check.", show_default=False)
    ] = None,
    chain: ChainOpt = None,
    registry: RegistryOpt = None,
    keystore: KeystoreOpt = None,
    chain_id: ChainIdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show owner, pending owner, and an account's anchoring rights and untrusted state."""
    _registry("status", account, chain, registry, keystore, chain_id, as_json)


def _account_command(action: str, doc: str) -> None:
    def command(
        account: AccountArg,
        chain: ChainOpt = None,
        registry: RegistryOpt = None,
        keystore: KeystoreOpt = None,
        chain_id: ChainIdOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        _registry(action, account, chain, registry, keystore, chain_id, as_json)

    command.__doc__ = doc
    registry_app.command(action, epilog=f"Example: aichain registry {action} 0xAbC...")(command)


_account_command("grant", "Grant anchoring rights (owner only).")
_account_command("withdraw", "Withdraw anchoring rights (owner only).")
_account_command("transfer-owner", "Start a two-step ownership transfer (owner only).")


@registry_app.command(
    "mark-untrusted",
    epilog="Example: aichain registry mark-untrusted 0xAbC... --from-block 1234567 "
    "(a leaked key: see docs/ci.md)",
)
def registry_mark_untrusted(
    account: AccountArg,
    from_block: Annotated[
        int,
        typer.Option(
            "--from-block",
            help="First block whose records by ACCOUNT are untrusted (when the key leaked).",
            min=0,
        ),
    ],
    chain: ChainOpt = None,
    registry: RegistryOpt = None,
    keystore: KeystoreOpt = None,
    chain_id: ChainIdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark a leaked key untrusted from a block on; its rights are gone for good (owner only)."""
    _registry("mark-untrusted", account, chain, registry, keystore, chain_id, as_json, from_block)


@registry_app.command("accept-owner", epilog="Example: aichain registry accept-owner")
def registry_accept_owner(
    chain: ChainOpt = None,
    registry: RegistryOpt = None,
    keystore: KeystoreOpt = None,
    chain_id: ChainIdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Accept a pending ownership transfer (the pending owner only)."""
    _registry("accept-owner", None, chain, registry, keystore, chain_id, as_json)


def _fail(message: str, code: int) -> NoReturn:
    sys.stderr.write(f"aichain: error: {safe(message)}\n")
    raise SystemExit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and maps every failure to one line and an exit code."""
    from typer._click import exceptions as click_exc  # typer >= 0.29 vendors click
    from typer.main import get_command

    command = get_command(app)
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        result = command.main(args=args, prog_name="aichain", standalone_mode=False)
    except click_exc.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "aichain"
        _fail(f"{exc.format_message()} (see: {where} --help)", EXIT_CANNOT_COMPLETE)
    except typer.Abort:
        _fail("aborted", 130)
    except click_exc.ClickException as exc:
        _fail(exc.format_message(), EXIT_CANNOT_COMPLETE)
    except AichainError as exc:
        if debug:
            traceback.print_exc()
        _fail(exc.message, exit_code(exc))
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    except BrokenPipeError:
        raise SystemExit(EXIT_CANNOT_COMPLETE) from None
    except Exception as exc:
        if debug:
            traceback.print_exc()
        _fail(
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for a traceback)",
            EXIT_CANNOT_COMPLETE,
        )
    code = result if isinstance(result, int) else 0
    raise SystemExit(code)


__all__ = ["EXIT_CHECK_FAILED", "app", "main"]
