"""Registry administration: deploy, status, anchoring rights, untrusted keys, ownership.

One function per action. Each opens the configured chain, sends at most one transaction
(`status` sends none) and reads the registry's state back, so what it returns is what the
chain shows afterwards, never what was asked for. Only the owner may grant, withdraw,
mark untrusted or start a transfer; the contract refuses anyone else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aichain_audit.errors import UsageError
from aichain_audit.ledger import ChainSettings, Connection, open_registry
from aichain_audit.ledger.registry import checksum_address

if TYPE_CHECKING:
    from aichain_audit.ledger.registry import Registry, TxResult


@dataclass(frozen=True)
class RegistryState:
    """A registry as read right after an action, and the action's transaction, if any."""

    registry: str
    chain_id: int
    chain: str  # "embedded" or "rpc"
    owner: str
    pending_owner: str  # the zero address when no transfer is pending
    tx: str | None = None
    block: int | None = None
    gas_used: int | None = None
    account: str | None = None  # the account the action named, or status was asked about
    is_anchorer: bool | None = None
    untrusted_from: int | None = None  # first untrusted block of `account`, None if not marked
    signer: str | None = None  # the key that signed (or would sign) for this session
    signer_is_anchorer: bool | None = None

    def to_dict(self) -> dict[str, object]:
        """What `aichain registry … --json` prints: the account's members only when an
        account was named, the signer's only when there is one, block and gas only after a
        transaction."""
        out: dict[str, object] = {
            "registry": self.registry,
            "chain_id": self.chain_id,
            "chain": self.chain,
            "tx": self.tx,
            "owner": self.owner,
            "pending_owner": self.pending_owner,
        }
        if self.account is not None:
            out["account"] = self.account
            out["is_anchorer"] = self.is_anchorer
            out["untrusted_from"] = self.untrusted_from
        if self.signer is not None:
            out["signer"] = self.signer
            out["signer_is_anchorer"] = self.signer_is_anchorer
        if self.tx is not None:
            out["block"] = self.block
            out["gas_used"] = self.gas_used
        return out


Send = Callable[["Registry"], "TxResult"]


def deploy(settings: ChainSettings) -> RegistryState:
    """Deploys a new registry; the deployer owns it and may anchor. The embedded chain has
    one registry, deployed by itself on first use: a second one is refused."""
    if settings.embedded:
        with open_registry(
            settings, write=True, need_registry=False, deploy_if_missing=True
        ) as conn:
            if conn.deploy_tx is None:
                raise UsageError(
                    f"the embedded chain already has a registry at {conn.registry.address}"
                )
            return _state(conn, conn.deploy_tx, None)
    return _act(settings, lambda reg: reg.deploy(), need_registry=False)


def status(settings: ChainSettings, account: str | None = None) -> RegistryState:
    """Owner, pending owner and, for `account`, its anchoring rights and untrusted state.
    Reads only: no key is loaded."""
    return _act(settings, None, account, write=False)


def grant(settings: ChainSettings, account: str) -> RegistryState:
    """Grants `account` the right to anchor."""
    address = checksum_address(account)
    return _act(settings, lambda reg: reg.grant(address), address)


def withdraw(settings: ChainSettings, account: str) -> RegistryState:
    """Withdraws `account`'s right to anchor; its records stay as they are."""
    address = checksum_address(account)
    return _act(settings, lambda reg: reg.withdraw(address), address)


def mark_untrusted(settings: ChainSettings, account: str, from_block: int) -> RegistryState:
    """Marks `account`'s records from block `from_block` on as untrusted (a leaked key); its
    rights are gone for good."""
    address = checksum_address(account)
    if not 0 <= from_block < 2**64:
        raise UsageError(
            f"marking a key untrusted needs a block number from 0 to 2**64 - 1, got {from_block}"
        )
    return _act(settings, lambda reg: reg.mark_untrusted(address, from_block), address)


def transfer_owner(settings: ChainSettings, account: str) -> RegistryState:
    """Starts a two-step ownership transfer to `account`, which must accept it."""
    address = checksum_address(account)
    return _act(settings, lambda reg: reg.transfer_owner(address), address)


def accept_owner(settings: ChainSettings) -> RegistryState:
    """Accepts a pending ownership transfer (signed by the pending owner)."""
    return _act(settings, lambda reg: reg.accept_owner())


def _act(
    settings: ChainSettings,
    send: Send | None,
    account: str | None = None,
    *,
    write: bool = True,
    need_registry: bool = True,
) -> RegistryState:
    with open_registry(settings, write=write, need_registry=need_registry) as conn:
        tx = send(conn.registry) if send is not None else None
        return _state(conn, tx, account)


def _state(conn: Connection, tx: TxResult | None, account: str | None) -> RegistryState:
    reg = conn.registry
    signer = reg.signer.address if reg.signer is not None else None
    return RegistryState(
        registry=str(reg.address),
        chain_id=conn.chain_id,
        chain=conn.kind,
        owner=reg.owner(),
        pending_owner=reg.pending_owner(),
        tx=tx.tx if tx is not None else None,
        block=tx.block if tx is not None else None,
        gas_used=tx.gas_used if tx is not None else None,
        account=account,
        is_anchorer=reg.is_anchorer(account) if account is not None else None,
        untrusted_from=reg.untrusted_from(account) if account is not None else None,
        signer=signer,
        signer_is_anchorer=reg.is_anchorer(signer) if signer is not None else None,
    )
