"""Option definitions shared by the command groups, and how their values are resolved."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from aichain_audit.errors import UsageError

ENV_TRUST = "AICHAIN_TRUST"
ENV_REQUIRE_PINNED = "AICHAIN_REQUIRE_PINNED"
TrustOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trust",
        metavar="ADDR",
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


ChainOpt = Annotated[
    str | None,
    typer.Option(
        "--chain",
        metavar="URL",
        help="JSON-RPC URL, or 'embedded' (default; env AICHAIN_CHAIN).",
        show_default=False,
    ),
]
RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry",
        metavar="ADDR",
        help="Registry address (env AICHAIN_REGISTRY).",
        show_default=False,
    ),
]
KeystoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--keystore",
        metavar="FILE",
        help="Encrypted keystore (env AICHAIN_KEYSTORE; password from "
        "AICHAIN_KEYSTORE_PASSWORD or a prompt). Keys are never taken from the command line.",
        show_default=False,
    ),
]
ChainIdOpt = Annotated[
    int | None,
    typer.Option(
        "--chain-id",
        metavar="N",
        help="Refuse to run unless the chain has this id (env AICHAIN_CHAIN_ID).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def chain_settings(
    chain: str | None,
    registry: str | None,
    keystore: Path | None,
    chain_id: int | None,
    confirmations: int = 1,
) -> Any:
    from aichain_audit.ledger import ChainSettings

    return ChainSettings.resolve(chain, registry, confirmations, keystore, chain_id)


def location(given: str) -> Path | str:
    """A path or URL argument as given (a URL as text: `Path` would turn `s3://b/k` into
    `s3:/b/k`), a local path as a `Path`."""
    from aichain_audit.fingerprint.storage import is_url

    return given if is_url(given) else Path(given)


def trust_pins(trust: list[str] | None) -> list[str]:
    """--trust (repeatable), else AICHAIN_TRUST (comma-separated); an empty value is refused."""
    if trust:
        values = trust
    elif (env := os.environ.get(ENV_TRUST)) is not None:
        values = env.split(",")
    else:
        return []
    if any(not v.strip() for v in values):
        raise UsageError(f"an empty --trust (or {ENV_TRUST}) value is refused, never read as unset")
    return [v.strip() for v in values]


def pinning_required(flag: bool) -> bool:
    """--require-pinned, else AICHAIN_REQUIRE_PINNED (1/true/yes or 0/false/no)."""
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


AccountArg = Annotated[
    str, typer.Argument(metavar="ADDR", help="Account address.", show_default=False)
]


FollowSymlinksOpt = Annotated[
    bool, typer.Option("--follow-symlinks", help="Follow links that stay inside a dataset.")
]
SkipSymlinksOpt = Annotated[
    bool, typer.Option("--skip-symlinks", help="Record links in datasets as skipped.")
]
SkipSpecialOpt = Annotated[
    bool, typer.Option("--skip-special", help="Record FIFOs, sockets, devices as skipped.")
]
SkipUnreadableOpt = Annotated[
    bool, typer.Option("--skip-unreadable", help="Record unreadable files as skipped.")
]


def path_policy(
    follow_symlinks: bool, skip_symlinks: bool, skip_special: bool, skip_unreadable: bool
) -> Any:
    """The dataset path policy (SPEC section 4) the four options above stand for."""
    from aichain_audit.fingerprint.paths import LinkPolicy, PathPolicy

    if follow_symlinks and skip_symlinks:
        raise UsageError("--follow-symlinks and --skip-symlinks exclude each other")
    links = (
        LinkPolicy.FOLLOW if follow_symlinks else LinkPolicy.SKIP if skip_symlinks
        else LinkPolicy.REFUSE
    )  # fmt: skip
    return PathPolicy(links, skip_special=skip_special, skip_unreadable=skip_unreadable)


EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        metavar="ENGINE",
        help="Who hashes dataset files: local (this process, default) or ray (a Ray cluster: "
        "RAY_ADDRESS or --ray-address, else a private local cluster for the run; "
        "extra [ray]).",
    ),
]
RayAddressOpt = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        metavar="URL",
        help="The Ray cluster of --engine ray (default: RAY_ADDRESS). Local paths are "
        "refused on a cluster with nodes on other machines.",
        show_default=False,
    ),
]


def hashing_engine(engine: str, ray_address: str | None) -> Any:
    """The engine `--engine` and `--ray-address` name (nothing started yet); the caller
    closes it."""
    from aichain_audit.fingerprint.engine import open_engine

    return open_engine(engine, ray_address=ray_address)


# --- the options of a verification, shared by `verify` and `report --verify` -------------
MlflowRunOpt = Annotated[
    str | None,
    typer.Option(
        "--mlflow-run",
        metavar="RUN_ID",
        help="MLflow run to check (default: the run the lineage names); its params, "
        "dataset inputs and logged model are compared with the lineage.",
        show_default=False,
    ),
]
ReceiptOpt = Annotated[
    Path | None,
    typer.Option(
        "--receipt",
        metavar="FILE",
        help="Anchor receipt (default: NAME.receipt.json beside NAME.json); only its batch "
        "path is used, and verified.",
        show_default=False,
    ),
]
DatasetCheckOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--dataset",
        metavar="PATH",
        help="Dataset to re-fingerprint and compare (repeatable): a path, or an object or "
        "prefix URL (s3://, gs://, az://, abfs://, file://).",
        show_default=False,
    ),
]
ConfirmationsOpt = Annotated[
    int,
    typer.Option(
        "--confirmations", metavar="N", help="Read at the latest block less N - 1.", min=1
    ),
]


@dataclass(frozen=True)
class VerifyOptions:
    """Every option of a verification besides MODEL and --lineage, as one value."""

    mlflow_run: str | None = None
    receipt: Path | None = None
    dataset: list[str] | None = None
    chain: str | None = None
    registry: str | None = None
    chain_id: int | None = None
    trust: list[str] | None = None
    require_pinned: bool = False
    confirmations: int = 1
    follow_symlinks: bool = False
    skip_symlinks: bool = False
    skip_special: bool = False
    skip_unreadable: bool = False
    engine: str = "local"
    ray_address: str | None = None


# In `--help` order: each field of VerifyOptions, with the option it is given by.
_VERIFY_PARAMETERS: tuple[tuple[str, Any], ...] = (
    ("mlflow_run", MlflowRunOpt),
    ("receipt", ReceiptOpt),
    ("dataset", DatasetCheckOpt),
    ("chain", ChainOpt),
    ("registry", RegistryOpt),
    ("chain_id", ChainIdOpt),
    ("trust", TrustOpt),
    ("require_pinned", RequirePinnedOpt),
    ("confirmations", ConfirmationsOpt),
    ("follow_symlinks", FollowSymlinksOpt),
    ("skip_symlinks", SkipSymlinksOpt),
    ("skip_special", SkipSpecialOpt),
    ("skip_unreadable", SkipUnreadableOpt),
    ("engine", EngineOpt),
    ("ray_address", RayAddressOpt),
)


def verify_options(command: Callable[..., None]) -> Callable[..., None]:
    """Gives a command every option of a verification, in place of its `opts` parameter,
    and calls it with them gathered into one `VerifyOptions`: `verify` and `report` take
    exactly the same options, defined once here."""
    signature = inspect.signature(command, eval_str=True)
    defaults = VerifyOptions()
    replaced: list[inspect.Parameter] = []
    for p in signature.parameters.values():
        if p.name != "opts":
            replaced.append(p)
            continue
        replaced.extend(
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=getattr(defaults, name),
                annotation=annotation,
            )
            for name, annotation in _VERIFY_PARAMETERS
        )

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        opts = VerifyOptions(**{name: kwargs.pop(name) for name, _ in _VERIFY_PARAMETERS})
        command(*args, opts=opts, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=replaced)  # type: ignore[attr-defined]
    return wrapper
