"""The ledger: where lineage roots are anchored. Knows nothing of ONNX or manifests.

One small interface (`open_registry` yields a `Connection` whose `registry` is a
`Registry`), two chains behind it:
- the embedded chain (default): an in-process EVM persisted under AICHAIN_HOME,
  self-attested, the registry deployed by itself on first anchor;
- any JSON-RPC node (`--chain URL` / AICHAIN_CHAIN): chain id and registry code
  checked, retries bounded, confirmations awaited, nonces kept apart across
  processes with a lock file per (chain, account).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aichain_audit.errors import UsageError
from aichain_audit.home import ENV_HOME, aichain_home

ENV_CHAIN = "AICHAIN_CHAIN"
ENV_REGISTRY = "AICHAIN_REGISTRY"
ENV_LOG_SCAN_SECONDS = "AICHAIN_LOG_SCAN_SECONDS"
ENV_CHAIN_ID = "AICHAIN_CHAIN_ID"
EMBEDDED = "embedded"
DEFAULT_LOG_SCAN_SECONDS = 60.0


@dataclass(frozen=True)
class ChainSettings:
    """Where to anchor: resolved flag > environment > default (the embedded chain)."""

    chain: str  # "embedded" or a JSON-RPC URL
    registry: str | None
    confirmations: int = 1
    keystore: Path | None = None
    expected_chain_id: int | None = None  # the network pinned: any other fails closed
    home: Path = Path()
    log_scan_seconds: float = DEFAULT_LOG_SCAN_SECONDS  # bound on a whole event scan

    @property
    def embedded(self) -> bool:
        return self.chain == EMBEDDED

    @classmethod
    def resolve(
        cls,
        chain: str | None = None,
        registry: str | None = None,
        confirmations: int = 1,
        keystore: Path | None = None,
        expected_chain_id: int | None = None,
    ) -> ChainSettings:
        """Flag > environment > default. A setting given empty (or only blanks), by flag or
        variable, is refused: a CI secret missing on a fork's pull request must not turn
        into the embedded, self-attested chain."""
        if confirmations < 1:
            raise UsageError("--confirmations must be at least 1")
        given, chain_source = _setting(chain, "--chain", ENV_CHAIN)
        chosen = (given or EMBEDDED).strip()
        if chosen != EMBEDDED:
            from aichain_audit.ledger.rpc import check_url

            check_url(chosen, chain_source)
        address, _ = _setting(registry, "--registry", ENV_REGISTRY)
        if keystore is not None and str(keystore).strip() in ("", "."):
            # typer turns `--keystore ""` into Path("") == Path(".")
            raise UsageError("--keystore is empty: give the keystore file, or leave it out")
        _setting(None, "", ENV_HOME)  # aichain_home() would read an empty one as unset
        if expected_chain_id is None:
            expected_chain_id = _chain_id_from_env()
        if expected_chain_id is not None and not 0 < expected_chain_id < 2**64:
            raise UsageError(
                f"--chain-id must be a chain id from 1 to 2**64 - 1, got {expected_chain_id}"
            )
        scan, _ = _setting(None, "", ENV_LOG_SCAN_SECONDS)
        try:
            scan_seconds = DEFAULT_LOG_SCAN_SECONDS if scan is None else float(scan)
        except ValueError:
            scan_seconds = -1.0
        if not 0 < scan_seconds < 86_400:
            raise UsageError(f"{ENV_LOG_SCAN_SECONDS} must be a number of seconds, got {scan!r}")
        return cls(
            chain=chosen,
            registry=address.strip() if address is not None else None,
            confirmations=confirmations,
            keystore=keystore,
            expected_chain_id=expected_chain_id,
            home=aichain_home(),
            log_scan_seconds=scan_seconds,
        )


def _chain_id_from_env() -> int | None:
    """AICHAIN_CHAIN_ID as a number, None when unset; anything else is refused, naming it."""
    text, _ = _setting(None, "", ENV_CHAIN_ID)
    if text is None:
        return None
    try:
        return int(text.strip(), 10)
    except ValueError:
        raise UsageError(f"{ENV_CHAIN_ID} must be a chain id (a number), got {text!r}") from None


def _setting(flag_value: str | None, flag: str, variable: str) -> tuple[str | None, str]:
    """The flag's value if given, else the variable's, with where it came from; an empty or
    blank value of the one that is read is refused, naming it."""
    value: str | None
    if flag_value is not None:
        value, source = flag_value, flag
    else:
        value, source = os.environ.get(variable), variable
    if value is not None and not value.strip():
        how = f"{flag} is empty" if source == flag else f"{variable} is set but empty"
        unset = "leave it out" if source == flag else "unset it"
        raise UsageError(
            f"{how}: an empty value is refused, never read as unset "
            f"(give a value, or {unset} for the default)"
        )
    return value, source


@dataclass
class Connection:
    """An open registry on a chain, for the length of one command."""

    registry: Any  # aichain_audit.ledger.registry.Registry
    chain_id: int
    kind: str  # "embedded" or "rpc"
    label: str  # how to name the chain in messages (no credentials)
    deploy_tx: Any = None  # the TxResult when this session deployed the registry


def _nonce_lock(
    home: Path, chain_id: int, address: str
) -> Callable[[], AbstractContextManager[Any]]:
    from filelock import FileLock

    folder = home / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / f"{chain_id}-{address.lower()}.lock", timeout=300)
    return lambda: lock


@contextmanager
def open_registry(
    settings: ChainSettings,
    *,
    write: bool,
    deploy_if_missing: bool = False,
    need_registry: bool = True,
) -> Iterator[Connection]:
    """Opens the configured chain and registry; writes commit only if the block exits cleanly."""
    from aichain_audit.ledger.keys import load_signer, refuse_dev_key
    from aichain_audit.ledger.registry import Registry, RegistryError

    # Only a write needs a key: a read never parses AICHAIN_PRIVATE_KEY, decrypts a keystore
    # or asks for its password. A write loads it before the chain is opened, so a bad key
    # is refused before anything is created or asked of a node.
    signer = load_signer(settings.keystore) if write else None
    if settings.embedded:
        from aichain_audit.ledger import embedded

        if not write and not embedded.exists(settings.home / "chain"):
            # Reading must not create a chain (a verifier never deploys or writes anything).
            raise RegistryError(
                f"there is no embedded chain under {settings.home} (AICHAIN_HOME): "
                "nothing has been anchored there"
            )
        with embedded.open_embedded_chain(settings.home / "chain", write=write) as session:
            w3 = session.w3
            chain_id = int(w3.eth.chain_id)
            if settings.expected_chain_id not in (None, chain_id):
                raise UsageError(
                    f"the embedded chain has chain id {chain_id}, not {settings.expected_chain_id}"
                )
            if write and signer is None:
                from aichain_audit.ledger.keys import dev_signer

                signer = dev_signer(embedded.dev_keys()[0])
            elif write and signer is not None:
                _fund_on_embedded(w3, signer.address, embedded.dev_keys()[0])
            address = settings.registry or session.get("registry")
            registry = Registry(
                w3,
                address,
                signer=signer,
                describe="the embedded chain",
                log_scan_budget=settings.log_scan_seconds,
            )
            conn = Connection(registry, chain_id, EMBEDDED, "the embedded chain")
            if address is None and deploy_if_missing:
                conn.deploy_tx = registry.deploy()
                session.set("registry", str(registry.address))
            elif address is None and need_registry:
                raise RegistryError(
                    "the embedded chain has no registry yet: anchor something first "
                    "(it deploys itself) or run `aichain registry deploy`"
                )
            yield conn
        return

    from aichain_audit.ledger.rpc import connect, display_url, read_chain_id

    w3, call = connect(settings.chain)
    label = display_url(settings.chain)
    chain_id = read_chain_id(w3, call)
    if settings.expected_chain_id not in (None, chain_id):
        raise UsageError(
            f"the chain at {label} has chain id {chain_id}, not the expected "
            f"{settings.expected_chain_id}"
        )
    if signer is not None:
        refuse_dev_key(signer, chain_id, embedded=False)
    if settings.registry is None and need_registry:
        raise UsageError(
            "no registry address: pass --registry or set AICHAIN_REGISTRY "
            "(`aichain registry deploy` creates one)"
        )
    registry = Registry(
        w3,
        settings.registry if need_registry else None,
        signer=signer,
        confirmations=settings.confirmations,
        call=call,
        describe=label,
        send_lock=_nonce_lock(settings.home, chain_id, signer.address) if signer else None,
        log_scan_budget=settings.log_scan_seconds,
    )
    yield Connection(registry, chain_id, "rpc", label)


def _fund_on_embedded(w3: Any, address: str, dev_key: bytes) -> None:
    """Gives a user's key on the embedded chain some of the development account's ether."""
    from eth_account import Account

    if int(w3.eth.get_balance(address)) >= 10**18:
        return
    dev = Account.from_key(dev_key)
    tx = {
        "to": address,
        "value": 100 * 10**18,
        "gas": 21_000,
        "nonce": w3.eth.get_transaction_count(dev.address, "pending"),
        "chainId": int(w3.eth.chain_id),
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    w3.eth.send_raw_transaction(dev.sign_transaction(tx).raw_transaction)
