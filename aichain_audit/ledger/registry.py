"""The LineageRegistry contract as seen from Python, over any web3 provider.

`Registry` is the one client both chains use (embedded and JSON-RPC): it checks
that an address holds exactly our runtime code, signs transactions locally,
manages nonces, waits for confirmations and turns reverts into errors that name
the contract's custom error. It knows nothing of manifests or ONNX.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import IntEnum
from functools import cache, partial
from importlib import resources
from typing import Any, TypeVar

from aichain_audit.errors import AichainError, InputError, UsageError
from aichain_audit.ledger.keys import Signer

T = TypeVar("T")
ZERO_ADDRESS = "0x" + "0" * 40
LOG_RANGE = 2_000  # blocks per eth_getLogs request; halved when a node refuses a range
DEFAULT_LOG_SCAN_BUDGET = 60.0  # seconds for a whole log scan (AICHAIN_LOG_SCAN_SECONDS)
VERSION = "aichain.registry/v2"


def _discard() -> Any:
    from web3.logs import DISCARD

    return DISCARD


class ChainError(AichainError):
    """The chain could not be reached or refused a request (exit 2)."""


class RegistryError(AichainError):
    """The registry is missing, holds other code, or reverted a transaction (exit 2)."""


class Status(IntEnum):
    """`LineageRegistry.Status`: what an auditor concludes about a record."""

    UNKNOWN = 0
    TRUSTED = 1
    REVOKED = 2
    UNTRUSTED = 3


@dataclass(frozen=True)
class Record:
    """One anchorer's record of (root, subject), as the registry reports it."""

    root: bytes
    subject: bytes
    anchorer: str
    timestamp: int
    block: int
    revoked_block: int  # 0 when not revoked
    status: Status

    @property
    def revoked(self) -> bool:
        return self.revoked_block != 0

    @property
    def status_name(self) -> str:
        return self.status.name.lower()


@dataclass(frozen=True)
class TxResult:
    tx: str
    block: int
    gas_used: int
    timestamp: int


@cache
def artifact() -> dict[str, Any]:
    """The committed ABI and bytecode (built reproducibly from contracts/)."""
    text = resources.files("aichain_audit.ledger").joinpath("artifacts/LineageRegistry.json")
    return json.loads(text.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def _error_selectors() -> dict[str, str]:
    from eth_utils import keccak

    out = {}
    for item in artifact()["abi"]:
        if item["type"] == "error":
            sig = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
            out[keccak(text=sig)[:4].hex()] = item["name"]
    return out


def revert_reason(exc: BaseException) -> str | None:
    """The custom error a revert carries, whatever shape the provider gave it."""
    texts = [str(exc)]
    for attr in ("data", "message"):
        v = getattr(exc, attr, None)
        if isinstance(v, bytes):
            texts.append(v.hex())
        elif v is not None:
            texts.append(str(v))
    blob = " ".join(texts).lower()
    for selector, name in _error_selectors().items():
        raw = bytes.fromhex(selector)
        if selector in blob or repr(raw)[2:-1].lower() in blob:
            return name
    return None


def hex32(value: bytes | str) -> bytes:
    """A bytes32 argument from bytes or 64 hex digits (an optional label before ':' is dropped)."""
    if isinstance(value, bytes):
        if len(value) != 32:
            raise InputError(f"expected 32 bytes, got {len(value)}")
        return value
    text = value.split(":", 1)[-1].strip().lower().removeprefix("0x")
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise InputError(f"{value!r} is not 64 hex digits")
    return bytes.fromhex(text)


def checksum_address(text: str) -> str:
    """An account address as typed (surrounding blanks ignored), checksummed; else a UsageError."""
    from web3 import Web3

    typed = text.strip()
    if not Web3.is_address(typed):
        raise UsageError(f"{text!r} is not an account address")
    digits = typed.removeprefix("0x").removeprefix("0X")
    mixed = digits != digits.lower() and digits != digits.upper()
    if mixed and not Web3.is_checksum_address(typed):
        # EIP-55: mixed case is a checksum; a wrong one is a typo, never another account.
        raise UsageError(
            f"{typed} has a wrong EIP-55 checksum (its mixed case does not match): "
            "check the address, or give it all in lowercase"
        )
    return str(Web3.to_checksum_address(typed))


class Registry:
    """A LineageRegistry at a known address (or none yet, before `deploy`)."""

    def __init__(
        self,
        w3: Any,
        address: str | None,
        *,
        signer: Signer | None,
        confirmations: int = 1,
        call: Callable[[Callable[[], Any]], Any] | None = None,
        tx_timeout: float = 300.0,
        describe: str = "chain",
        send_lock: Callable[[], AbstractContextManager[Any]] | None = None,
        log_scan_budget: float = DEFAULT_LOG_SCAN_BUDGET,
    ) -> None:
        self.log_scan_budget = log_scan_budget
        self.w3 = w3
        self.signer = signer
        self.confirmations = max(1, confirmations)
        self._call = call or (lambda fn: fn())
        self.tx_timeout = tx_timeout
        self.describe = describe
        self._send_lock = send_lock or nullcontext
        self.address: str | None = None
        self.contract: Any = None
        self._batch_subject: bytes | None = None
        if address is not None:
            self.attach(address)

    # -- reading ----------------------------------------------------------------------
    def attach(self, address: str) -> None:
        """Points at `address` after checking it holds exactly our runtime code."""
        from web3 import Web3

        if not Web3.is_address(address):
            raise InputError(f"registry address {address!r} is not an Ethereum address")
        checksum = Web3.to_checksum_address(address)
        code = bytes(self._call(lambda: self.w3.eth.get_code(checksum)))
        expected = bytes.fromhex(artifact()["deployedBytecode"].removeprefix("0x"))
        if not code:
            raise RegistryError(f"no contract at registry address {checksum} on {self.describe}")
        if code != expected:
            raise RegistryError(
                f"{checksum} on {self.describe} holds other code, not aichain's LineageRegistry"
            )
        self.address = checksum
        self.contract = self.w3.eth.contract(address=checksum, abi=artifact()["abi"])

    def chain_id(self) -> int:
        return int(self._call(lambda: self.w3.eth.chain_id))

    def _require(self) -> Any:
        if self.contract is None:
            raise RegistryError("no registry: deploy one with `aichain registry deploy`")
        return self.contract

    def read_block(self) -> int:
        """The block reads are made at: the latest block less `confirmations` - 1."""
        head = int(self._call(lambda: self.w3.eth.block_number))
        if self.confirmations - 1 > head:
            raise ChainError(
                f"{self.describe} is at block {head}: {self.confirmations} confirmations ask "
                "for a block before its first; give fewer --confirmations"
            )
        return head - (self.confirmations - 1)

    def record(
        self, root: bytes, subject: bytes, anchorer: str, *, block: int | str = "latest"
    ) -> Record | None:
        """`anchorer`'s record of (root, subject) with one eth_call, or None if there is none."""
        c = self._require()
        st, ts, number, revoked = self._call(
            lambda: c.functions.check(root, subject, anchorer).call(block_identifier=block)
        )
        if Status(st) is Status.UNKNOWN:
            return None
        return Record(root, subject, anchorer, int(ts), int(number), int(revoked), Status(st))

    def deployed_at(self) -> int:
        c = self._require()
        return int(self._call(lambda: c.functions.deployedAt().call()))

    def batch_subject(self) -> bytes:
        """The contract's BATCH_SUBJECT constant, read once (its code is checked on attach)."""
        if self._batch_subject is None:
            c = self._require()
            self._batch_subject = bytes(self._call(lambda: c.functions.BATCH_SUBJECT().call()))
        return self._batch_subject

    def owner(self) -> str:
        c = self._require()
        return str(self._call(lambda: c.functions.owner().call()))

    def pending_owner(self) -> str:
        c = self._require()
        return str(self._call(lambda: c.functions.pendingOwner().call()))

    def is_anchorer(self, account: str) -> bool:
        c = self._require()
        return bool(self._call(lambda: c.functions.isAnchorer(account).call()))

    def untrusted_from(self, account: str) -> int | None:
        """The block from which `account`'s records are untrusted, or None if not marked."""
        c = self._require()
        marked, from_block = self._call(lambda: c.functions.untrustedFrom(account).call())
        return int(from_block) if marked else None

    # -- logs -------------------------------------------------------------------------
    def scan_logs(
        self, event: str, filters: dict[str, Any], to_block: int | None = None
    ) -> list[Any]:
        """Logs of `event` matching indexed `filters`, from `deployedAt` to `to_block`.

        Public nodes limit the block range of one `eth_getLogs`: the scan goes in ranges of
        `LOG_RANGE` blocks, halving a range the node refuses, and gives up (exit 2) when the
        whole scan takes longer than `log_scan_budget` seconds.
        """
        c = self._require()
        ev = getattr(c.events, event)
        start = self.deployed_at()
        end = self.read_block() if to_block is None else to_block
        deadline = time.monotonic() + self.log_scan_budget
        out: list[Any] = []
        size = LOG_RANGE
        while start <= end:
            stop = min(end, start + size - 1)
            try:
                logs = self._call(partial(ev.get_logs, from_block=start, to_block=stop,
                                          argument_filters=filters))  # fmt: skip
            except AichainError:
                raise
            except Exception as exc:
                if size > 1 and time.monotonic() < deadline:
                    size = max(1, size // 2)  # the node refused the range: ask for less
                    continue
                raise ChainError(
                    f"{self.describe} refused to list {event} events: {_one_line(exc)}"
                ) from None
            out.extend(logs)
            start = stop + 1
            if start <= end and time.monotonic() > deadline:
                raise ChainError(
                    f"listing {event} events on {self.describe} took longer than "
                    f"{self.log_scan_budget:.0f} s; pin the anchorers you trust, so that their "
                    "records are read directly",
                    hint="trust",
                )
        return out

    def anchorers_of(self, root: bytes, subject: bytes) -> list[str]:
        """Every anchorer that recorded (root, subject), oldest first, through the events."""
        if subject == self.batch_subject():
            logs = self.scan_logs("BatchAnchored", {"batchRoot": root})
        else:
            logs = self.scan_logs("Anchored", {"root": root, "subject": subject})
        seen: dict[str, None] = {}
        for log in logs:
            seen.setdefault(str(log["args"]["anchorer"]), None)
        return list(seen)

    def records_of(self, root: bytes, subject: bytes) -> list[Record]:
        """Every anchorer's record of (root, subject), read at `read_block`."""
        block = self.read_block()
        records = [
            self.record(root, subject, a, block=block) for a in self.anchorers_of(root, subject)
        ]
        return [r for r in records if r is not None]

    def subjects_of(self, root: bytes, anchorer: str | None = None) -> list[bytes]:
        """Subjects `root` was anchored with (single anchors), by `anchorer` if given."""
        filters: dict[str, Any] = {"root": root}
        if anchorer is not None:
            filters["anchorer"] = anchorer
        seen: dict[bytes, None] = {}
        for log in self.scan_logs("Anchored", filters):
            seen.setdefault(bytes(log["args"]["subject"]), None)
        return list(seen)

    def roots_of(self, subject: bytes) -> list[tuple[bytes, str, int]]:
        """(root, anchorer, block) of every single anchor of `subject`, oldest first."""
        logs = self.scan_logs("Anchored", {"subject": subject})
        return [
            (bytes(x["args"]["root"]), str(x["args"]["anchorer"]), int(x["blockNumber"]))
            for x in logs
        ]

    def revocation_reason(self, record: Record) -> str | None:
        """The reason given when `record` was revoked (from its Revoked event)."""
        if not record.revoked:
            return None
        c = self._require()
        filters = {"root": record.root, "subject": record.subject, "anchorer": record.anchorer}
        logs = self._call(
            lambda: c.events.Revoked.get_logs(
                from_block=record.revoked_block,
                to_block=record.revoked_block,
                argument_filters=filters,
            )
        )
        return str(logs[0]["args"]["reason"]) if logs else None

    def find_anchor_tx(self, record: Record) -> TxResult | None:
        """The transaction that created `record`, found through its event in its own block."""
        c = self._require()
        if record.subject == self.batch_subject():
            event = c.events.BatchAnchored
            args: dict[str, Any] = {"batchRoot": record.root, "anchorer": record.anchorer}
        else:
            event = c.events.Anchored
            args = {"root": record.root, "subject": record.subject, "anchorer": record.anchorer}
        logs = self._call(
            lambda: event.get_logs(
                from_block=record.block, to_block=record.block, argument_filters=args
            )
        )
        if not logs:
            return None
        return self._tx_result(logs[0]["transactionHash"])

    def batch_size(self, record: Record) -> int | None:
        """How many lineages a batch record holds, from its BatchAnchored event."""
        c = self._require()
        args = {"batchRoot": record.root, "anchorer": record.anchorer}
        logs = self._call(
            lambda: c.events.BatchAnchored.get_logs(
                from_block=record.block, to_block=record.block, argument_filters=args
            )
        )
        return int(logs[0]["args"]["count"]) if logs else None

    def _tx_result(self, tx_hash: Any) -> TxResult:
        receipt = self._call(lambda: self.w3.eth.get_transaction_receipt(tx_hash))
        header = self._call(lambda: self.w3.eth.get_block(receipt["blockNumber"]))
        return TxResult(
            "0x" + bytes(receipt["transactionHash"]).hex(),
            int(receipt["blockNumber"]),
            int(receipt["gasUsed"]),
            int(header["timestamp"]),
        )

    # -- writing ----------------------------------------------------------------------
    def deploy(self) -> TxResult:
        from web3 import Web3

        art = artifact()
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        result, receipt = self._send(factory.constructor(), "deploy the registry")
        self.attach(Web3.to_checksum_address(receipt["contractAddress"]))
        return result

    def anchor(self, root: bytes, subject: bytes) -> tuple[TxResult, bool]:
        """Sends `anchor`; True when our own receipt holds our Anchored event (a new record).

        False means the transaction was the contract's no-op: the record already existed
        (another process with this key got there first).
        """
        c = self._require()
        result, receipt = self._send(c.functions.anchor(root, subject), "anchor")
        events = c.events.Anchored().process_receipt(receipt, errors=_discard())
        return result, any(self._ours(e, root=root, subject=subject) for e in events)

    def anchor_batch(self, batch_root: bytes, count: int) -> tuple[TxResult, bool]:
        """Sends `anchorBatch`; True when our own receipt holds our BatchAnchored event."""
        c = self._require()
        result, receipt = self._send(c.functions.anchorBatch(batch_root, count), "anchor")
        events = c.events.BatchAnchored().process_receipt(receipt, errors=_discard())
        return result, any(self._ours(e, batchRoot=batch_root) for e in events)

    def _ours(self, event: Any, **args: bytes) -> bool:
        assert self.signer is not None
        return (
            str(event["address"]).lower() == str(self.address).lower()
            and str(event["args"]["anchorer"]).lower() == self.signer.address.lower()
            and all(bytes(event["args"][k]) == v for k, v in args.items())
        )

    def revoke(self, root: bytes, subject: bytes, anchorer: str, reason: str) -> TxResult:
        fn = self._require().functions.revoke(root, subject, anchorer, reason)
        return self._send(fn, "revoke")[0]

    def grant(self, account: str) -> TxResult:
        return self._send(self._require().functions.grantAnchorer(account), "grant")[0]

    def withdraw(self, account: str) -> TxResult:
        return self._send(self._require().functions.withdrawAnchorer(account), "withdraw")[0]

    def transfer_owner(self, account: str) -> TxResult:
        return self._send(self._require().functions.transferOwnership(account), "transfer")[0]

    def accept_owner(self) -> TxResult:
        return self._send(self._require().functions.acceptOwnership(), "accept ownership")[0]

    def mark_untrusted(self, account: str, from_block: int) -> TxResult:
        fn = self._require().functions.markUntrusted(account, from_block)
        return self._send(fn, "mark untrusted")[0]

    def _send(self, fn: Any, what: str) -> tuple[TxResult, Any]:
        """Signs and sends one transaction, then waits for its confirmations."""
        if self.signer is None:
            raise InputError(
                f"no key to {what} with: set AICHAIN_PRIVATE_KEY or AICHAIN_KEYSTORE "
                "(keys are never taken from the command line)"
            )
        sender = self.signer.address
        try:
            gas = self._call(lambda: fn.estimate_gas({"from": sender}))
        except AichainError:
            raise
        except Exception as exc:
            reason = revert_reason(exc)
            if reason is None:
                raise RegistryError(f"the registry refused to {what}: {_one_line(exc)}") from None
            raise RegistryError(f"the registry refused to {what}: {reason}") from None
        # The lock keeps two local processes from taking the same nonce; a remote one that
        # does is handled by reading the nonce again.
        with self._send_lock():
            tx_hash = self._sign_and_send(fn, sender, int(gas * 1.2) + 10_000)
        receipt = self._wait(tx_hash)
        if receipt["status"] != 1:
            raise RegistryError(f"transaction {tx_hash} to {what} reverted")
        block = self._call(lambda: self.w3.eth.get_block(receipt["blockNumber"]))
        result = TxResult(
            tx_hash, int(receipt["blockNumber"]), int(receipt["gasUsed"]), int(block["timestamp"])
        )
        return result, receipt

    def _sign_and_send(self, fn: Any, sender: str, gas: int) -> str:
        assert self.signer is not None
        last: Exception | None = None
        for _attempt in range(5):
            nonce = self._call(lambda: self.w3.eth.get_transaction_count(sender, "pending"))
            tx = fn.build_transaction(
                {
                    "from": sender,
                    "nonce": nonce,
                    "gas": gas,
                    "chainId": self.chain_id(),
                    **self._fees(),
                }
            )
            signed = self.signer.account.sign_transaction(tx)
            raw = signed.raw_transaction
            try:
                sent = self._call(partial(self.w3.eth.send_raw_transaction, raw))
                return "0x" + bytes(sent).hex()
            except AichainError:
                raise
            except Exception as exc:
                text = str(exc).lower()
                # Another process took this nonce between our read and our send: read it again.
                if any(
                    s in text for s in ("nonce too low", "already known", "underpriced", "nonce")
                ):
                    last = exc
                    time.sleep(0.2)
                    continue
                # `describe` is already a full noun phrase ("the embedded chain", or the
                # node's URL): a leading "the" made "the the embedded chain" / "the http://...".
                raise ChainError(
                    f"{self.describe} refused the transaction: {_one_line(exc)}"
                ) from None
        raise ChainError(f"could not find a free nonce for {sender}: {_one_line(last)}")

    def _fees(self) -> dict[str, int]:
        block = self._call(lambda: self.w3.eth.get_block("latest"))
        base = block.get("baseFeePerGas")
        if base is None:
            return {"gasPrice": int(self._call(lambda: self.w3.eth.gas_price))}
        tip = 1_000_000_000
        return {"maxFeePerGas": int(base) * 2 + tip, "maxPriorityFeePerGas": tip}

    def _wait(self, tx_hash: str) -> Any:
        """Waits for the receipt and `confirmations` blocks, surviving a node that restarts."""
        from web3.exceptions import TransactionNotFound

        deadline = time.monotonic() + self.tx_timeout
        receipt = None
        while time.monotonic() < deadline:
            try:
                receipt = self._call(lambda: self.w3.eth.get_transaction_receipt(tx_hash))
            except TransactionNotFound:
                receipt = None
            if receipt is not None:
                head = int(self._call(lambda: self.w3.eth.block_number))
                if head - int(receipt["blockNumber"]) + 1 >= self.confirmations:
                    return receipt
            time.sleep(0.2)
        raise ChainError(
            f"transaction {tx_hash} was sent but not confirmed within {self.tx_timeout:.0f} s; "
            "run the command again: it finds the record instead of anchoring twice"
        )


def _one_line(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__
