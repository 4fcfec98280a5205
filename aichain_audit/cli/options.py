"""Option definitions shared by the command groups, and how their values are resolved."""

from __future__ import annotations

import os
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


def chain_settings(
    chain: str | None,
    registry: str | None,
    keystore: Path | None,
    chain_id: int | None,
    confirmations: int = 1,
) -> Any:
    from aichain_audit.ledger import ChainSettings

    return ChainSettings.resolve(chain, registry, confirmations, keystore, chain_id)


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


AccountArg = Annotated[str, typer.Argument(help="Account address.", show_default=False)]


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
