"""Registry administration: `aichain registry deploy|status|grant|withdraw|mark-untrusted|...`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aichain_audit.cli.app import app
from aichain_audit.cli.options import (
    AccountArg,
    ChainIdOpt,
    ChainOpt,
    JsonOpt,
    KeystoreOpt,
    RegistryOpt,
    chain_settings,
)
from aichain_audit.cli.terminal import console, markup, print_json

if TYPE_CHECKING:
    from aichain_audit.ledger import ChainSettings
    from aichain_audit.ledger.admin import RegistryState

registry_app = typer.Typer(
    help="Registry administration: deploy, grant and withdraw anchoring rights, ownership.",
    no_args_is_help=True,
)
app.add_typer(registry_app, name="registry")


def _registry(
    act: Callable[[ChainSettings], RegistryState],
    chain: str | None,
    registry: str | None,
    keystore: Path | None,
    chain_id: int | None,
    as_json: bool,
) -> None:
    result = act(chain_settings(chain, registry, keystore, chain_id)).to_dict()
    if as_json:
        print_json(result)
        return
    out = console()
    for key, value in result.items():
        if value is not None:
            out.print(f"{key:<20} {markup(value)}")


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
    from aichain_audit import api

    _registry(api.deploy_registry, chain, None, keystore, chain_id, as_json)


@registry_app.command("status", epilog="Example: aichain registry status --json")
def registry_status(
    account: Annotated[
        str | None,
        typer.Argument(metavar="ADDR", help="Account to check.", show_default=False),
    ] = None,
    chain: ChainOpt = None,
    registry: RegistryOpt = None,
    keystore: KeystoreOpt = None,
    chain_id: ChainIdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show owner, pending owner, and an account's anchoring rights and untrusted state."""
    from aichain_audit import api

    _registry(
        lambda settings: api.registry_status(settings, account),
        chain, registry, keystore, chain_id, as_json,
    )  # fmt: skip


def _account_command(action: str, doc: str) -> None:
    """A command that names one account: grant, withdraw, transfer-owner."""

    def command(
        account: AccountArg,
        chain: ChainOpt = None,
        registry: RegistryOpt = None,
        keystore: KeystoreOpt = None,
        chain_id: ChainIdOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        from aichain_audit import api

        act = {
            "grant": api.grant_anchorer,
            "withdraw": api.withdraw_anchorer,
            "transfer-owner": api.transfer_registry_owner,
        }[action]
        _registry(
            lambda settings: act(settings, account),
            chain, registry, keystore, chain_id, as_json,
        )  # fmt: skip

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
            metavar="N",
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
    from aichain_audit import api

    _registry(
        lambda settings: api.mark_untrusted(settings, account, from_block),
        chain, registry, keystore, chain_id, as_json,
    )  # fmt: skip


@registry_app.command("accept-owner", epilog="Example: aichain registry accept-owner")
def registry_accept_owner(
    chain: ChainOpt = None,
    registry: RegistryOpt = None,
    keystore: KeystoreOpt = None,
    chain_id: ChainIdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Accept a pending ownership transfer (the pending owner only)."""
    from aichain_audit import api

    _registry(api.accept_registry_owner, chain, registry, keystore, chain_id, as_json)
