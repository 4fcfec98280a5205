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

from aichain_audit.errors import AichainError, InputError
from aichain_audit.ledger.keys import Signer

T = TypeVar("T")
ZERO_ADDRESS = "0x" + "0" * 40


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
    anchorer: str
    timestamp: int
    block: int
    revoked: bool
    status: Status


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
    ) -> None:
        self.w3 = w3
        self.signer = signer
        self.confirmations = max(1, confirmations)
        self._call = call or (lambda fn: fn())
        self.tx_timeout = tx_timeout
        self.describe = describe
        self._send_lock = send_lock or nullcontext
        self.address: str | None = None
        self.contract: Any = None
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

    def record(self, root: bytes, subject: bytes) -> Record | None:
        """The record of (root, subject) with one eth_call, or None if never anchored."""
        c = self._require()
        st, anchorer, ts, block = self._call(lambda: c.functions.check(root, subject).call())
        if Status(st) is Status.UNKNOWN:
            return None
        return Record(anchorer, int(ts), int(block), Status(st) is Status.REVOKED, Status(st))

    def batch_subject(self) -> bytes:
        c = self._require()
        return bytes(self._call(lambda: c.functions.BATCH_SUBJECT().call()))

    def owner(self) -> str:
        c = self._require()
        return str(self._call(lambda: c.functions.owner().call()))

    def pending_owner(self) -> str:
        c = self._require()
        return str(self._call(lambda: c.functions.pendingOwner().call()))

    def is_anchorer(self, account: str) -> bool:
        c = self._require()
        return bool(self._call(lambda: c.functions.isAnchorer(account).call()))

    def find_anchor_tx(
        self, root: bytes, subject: bytes, batch: bool = False, block: int | None = None
    ) -> TxResult | None:
        """The transaction that created a record, found through its indexed event.

        With the record's block number (from `record`) only that block is searched, which
        public nodes allow; without it, the whole chain.
        """
        c = self._require()
        event = c.events.BatchAnchored if batch else c.events.Anchored
        args = {"batchRoot": root} if batch else {"root": root, "subject": subject}
        start, end = (block, block) if block is not None else (0, "latest")
        logs = self._call(
            lambda: event.get_logs(from_block=start, to_block=end, argument_filters=args)
        )
        if not logs:
            return None
        log = logs[0]
        receipt = self._call(lambda: self.w3.eth.get_transaction_receipt(log["transactionHash"]))
        header = self._call(lambda: self.w3.eth.get_block(receipt["blockNumber"]))
        return TxResult(
            "0x" + bytes(log["transactionHash"]).hex(),
            int(receipt["blockNumber"]),
            int(receipt["gasUsed"]),
            int(header["timestamp"]),
        )

    def subjects_of(self, root: bytes) -> list[bytes]:
        """Subjects a root was anchored with (single anchors), through the indexed event."""
        c = self._require()
        logs = self._call(
            lambda: c.events.Anchored.get_logs(
                from_block=0, to_block="latest", argument_filters={"root": root}
            )
        )
        return [bytes(x["args"]["subject"]) for x in logs]

    def roots_of(self, subject: bytes) -> list[tuple[bytes, str, int]]:
        """(root, anchorer, block) of every single anchor of `subject`, oldest first."""
        c = self._require()
        logs = self._call(
            lambda: c.events.Anchored.get_logs(
                from_block=0, to_block="latest", argument_filters={"subject": subject}
            )
        )
        return [
            (bytes(x["args"]["root"]), x["args"]["anchorer"], int(x["blockNumber"])) for x in logs
        ]

    # -- writing ----------------------------------------------------------------------
    def deploy(self) -> TxResult:
        from web3 import Web3

        art = artifact()
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        result, receipt = self._send(factory.constructor(), "deploy the registry")
        self.attach(Web3.to_checksum_address(receipt["contractAddress"]))
        return result

    def anchor(self, root: bytes, subject: bytes) -> TxResult:
        return self._send(self._require().functions.anchor(root, subject), "anchor")[0]

    def anchor_batch(self, batch_root: bytes, count: int) -> TxResult:
        return self._send(self._require().functions.anchorBatch(batch_root, count), "anchor")[0]

    def revoke(self, root: bytes, subject: bytes, reason: str) -> TxResult:
        return self._send(self._require().functions.revoke(root, subject, reason), "revoke")[0]

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
