"""LineageRegistry v2 on the embedded chain: the real compiled contract in py-evm.

The tests talk to the contract through plain web3 and the committed artifact's ABI (not
through the product's `Registry` client), so they pin the contract's own interface: the
Python client is written against exactly this. One chain for the whole module (one write
session); each test deploys its own registry on it so that ownership, rights and leaked-key
marks never leak between tests. Actors are the embedded chain's development accounts
(eth-tester holds their keys): account 0 deploys (owner and anchorer), 1..5 are other parties.

The harness at the top (`Chain`, `Reg`, `Status`, ...) is also used by the other
`test_contract_*.py` modules.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, NamedTuple

import eth_abi
import pytest
from eth_tester.exceptions import TransactionFailed
from eth_utils import keccak, to_checksum_address
from web3 import Web3

from aichain_audit.ledger.embedded import Session, open_embedded_chain

REPO = Path(__file__).resolve().parents[2]
ARTIFACT = REPO / "aichain_audit" / "ledger" / "artifacts" / "LineageRegistry.json"
BATCH_SUBJECT = bytes.fromhex("60b0ce92ffc8c48594017e134acfd57c59b264bb801933dca516ff8970c1aaa2")
ZERO_ADDRESS = "0x" + "0" * 40
OWNER = 0  # account index of the deployer


# ================================================================================ harness


def artifact() -> dict[str, Any]:
    return json.loads(ARTIFACT.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


class Status(IntEnum):
    """`LineageRegistry.Status`."""

    UNKNOWN = 0
    TRUSTED = 1
    REVOKED = 2
    UNTRUSTED = 3


class Check(NamedTuple):
    """What `check(root, subject, anchorer)` returns."""

    status: Status
    timestamp: int
    block: int
    revoked_block: int


class Rec(NamedTuple):
    """What `record(root, subject, anchorer)` returns."""

    timestamp: int
    block: int
    revoked_block: int
    revoked_by_owner: bool


def b32(label: str) -> bytes:
    """A distinct, reproducible bytes32 for each label."""
    return hashlib.sha256(label.encode()).digest()


def nonzero32(label: str) -> bytes:
    """A bytes32 with no zero byte: all-nonzero calldata is the gas worst case."""
    n = 0
    while True:
        value = b32(f"{label}/{n}")
        if 0 not in value:
            return value
        n += 1


def _error_table() -> dict[bytes, tuple[str, list[str]]]:
    table = {}
    for item in artifact()["abi"]:
        if item["type"] == "error":
            types = [i["type"] for i in item["inputs"]]
            table[keccak(text=f"{item['name']}({','.join(types)})")[:4]] = (item["name"], types)
    return table


ERRORS = _error_table()


def revert_of(exc: BaseException) -> tuple[str, tuple[Any, ...]]:
    """(custom error name, decoded arguments) of a revert raised by eth-tester."""
    text = str(exc.args[0]) if exc.args else str(exc)
    prefix = "execution reverted: "
    assert text.startswith(prefix), text
    data = ast.literal_eval(text[len(prefix) :])
    assert isinstance(data, bytes) and data[:4] in ERRORS, text
    name, types = ERRORS[data[:4]]
    values = eth_abi.decode(types, data[4:])
    return name, tuple(
        to_checksum_address(v) if t == "address" else v for t, v in zip(types, values, strict=True)
    )


@dataclass
class Chain:
    """The embedded chain of one test module."""

    session: Session

    @property
    def w3(self) -> Web3:
        return self.session.w3

    def who(self, i: int) -> str:
        return str(self.w3.eth.accounts[i])

    @property
    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def mine(self, blocks: int = 1) -> None:
        self.w3.provider.ethereum_tester.mine_blocks(blocks)  # type: ignore[attr-defined]

    def deploy(self, by: int = OWNER) -> Reg:
        art = artifact()
        factory = self.w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        receipt = self.w3.eth.wait_for_transaction_receipt(
            factory.constructor().transact({"from": self.who(by)})
        )
        assert receipt["status"] == 1
        contract = self.w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])
        return Reg(self, contract, receipt)


@dataclass
class Reg:
    """One deployed registry; `who` arguments are account indexes."""

    chain: Chain
    contract: Any
    deploy_receipt: Any

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def who(self, i: int) -> str:
        return self.chain.who(i)

    def tx(self, who: int, fn: str, *args: Any) -> Any:
        """Sends `fn(*args)` from account `who`; the (successful) receipt."""
        sent = getattr(self.contract.functions, fn)(*args).transact({"from": self.who(who)})
        receipt = self.chain.w3.eth.wait_for_transaction_receipt(sent)
        assert receipt["status"] == 1, (fn, args)
        return receipt

    def call(self, fn: str, *args: Any, who: int = OWNER) -> Any:
        return getattr(self.contract.functions, fn)(*args).call({"from": self.who(who)})

    def refused(self, who: int, fn: str, *args: Any) -> tuple[str, tuple[Any, ...]]:
        """`fn(*args)` from `who` reverts: the eth_call's custom error (name, arguments); the
        same call sent as a real transaction (fixed gas, no estimate) is mined and fails
        (status 0, no logs)."""
        bound = getattr(self.contract.functions, fn)(*args)
        with pytest.raises(TransactionFailed) as by_call:
            bound.call({"from": self.who(who)})
        error = revert_of(by_call.value)
        sent = bound.transact({"from": self.who(who), "gas": 500_000})
        receipt = self.chain.w3.eth.wait_for_transaction_receipt(sent)
        assert (receipt["status"], receipt["logs"]) == (0, []), (fn, args)
        return error

    def events(self, receipt: Any, name: str) -> list[dict[str, Any]]:
        """The `name` events of this registry in `receipt`, arguments as a dict."""
        event = getattr(self.contract.events, name)()
        mine = [log for log in receipt["logs"] if log["address"] == self.address]
        found = []
        for log in mine:
            if bytes(log["topics"][0]) == bytes.fromhex(event.topic.removeprefix("0x")):
                found.append(dict(event.process_log(log)["args"]))
        return found

    def check(self, root: bytes, subject: bytes, anchorer: int | str) -> Check:
        who = self.who(anchorer) if isinstance(anchorer, int) else anchorer
        st, ts, block, revoked = self.call("check", root, subject, who)
        return Check(Status(st), ts, block, revoked)

    def status(self, root: bytes, subject: bytes, anchorer: int | str) -> Status:
        return self.check(root, subject, anchorer).status

    def record(self, root: bytes, subject: bytes, anchorer: int | str) -> Rec:
        who = self.who(anchorer) if isinstance(anchorer, int) else anchorer
        return Rec(*self.call("record", root, subject, who))

    def timestamp(self, receipt: Any) -> int:
        return int(self.chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"])


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    with open_embedded_chain(tmp_path_factory.mktemp("contract-chain"), write=True) as s:
        yield Chain(s)


@pytest.fixture
def reg(chain: Chain) -> Reg:
    """A fresh registry deployed by account 0."""
    return chain.deploy()


@pytest.fixture
def three(reg: Reg) -> Reg:
    """A fresh registry where accounts 1 and 2 are anchorers besides the owner."""
    reg.tx(OWNER, "grantAnchorer", reg.who(1))
    reg.tx(OWNER, "grantAnchorer", reg.who(2))
    return reg


# ============================================================================= interface

V2_FUNCTIONS = {
    "BATCH_SUBJECT()": ["bytes32"],
    "owner()": ["address"],
    "pendingOwner()": ["address"],
    "deployedAt()": ["uint256"],
    "anchor(bytes32,bytes32)": ["bool"],
    "anchorBatch(bytes32,uint32)": ["bool"],
    "check(bytes32,bytes32,address)": ["uint8", "uint64", "uint64", "uint64"],
    "record(bytes32,bytes32,address)": ["uint64", "uint64", "uint64", "bool"],
    "revoke(bytes32,bytes32,address,string)": [],
    "isAnchorer(address)": ["bool"],
    "untrustedFrom(address)": ["bool", "uint64"],
    "grantAnchorer(address)": [],
    "withdrawAnchorer(address)": [],
    "markUntrusted(address,uint64)": [],
    "transferOwnership(address)": [],
    "acceptOwnership()": [],
    "version()": ["string"],
    "batchLeafHash(bytes32,bytes32)": ["bytes32"],
    "verifyInclusion(bytes32,uint256,uint256,bytes32[],bytes32)": ["bool"],
}
V2_EVENTS = {
    "Anchored(bytes32,bytes32,address)": [True, True, True],
    "BatchAnchored(bytes32,uint32,address)": [True, False, True],
    "Revoked(bytes32,bytes32,address,address,string)": [True, True, True, False, False],
    "OwnershipTransferStarted(address,address)": [True, True],
    "OwnershipTransferred(address,address)": [True, True],
    "AnchorerGranted(address)": [True],
    "AnchorerWithdrawn(address)": [True],
    "AnchorerUntrusted(address,uint64)": [True, False],
}
V2_ERRORS = {
    "NotOwner()",
    "NotAnchorer(address)",
    "NotPendingOwner()",
    "UnknownRecord(bytes32,bytes32,address)",
    "NotAllowedToRevoke()",
    "AlreadyRevoked(bytes32,bytes32,address)",
    "ZeroAddress()",
    "ReservedSubject()",
    "EmptyBatch()",
    "AnchorerIsUntrusted(address)",
}


def _signature(item: dict[str, Any]) -> str:
    return f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"


def test_abi_is_exactly_the_v2_interface() -> None:
    abi = artifact()["abi"]
    functions = {
        _signature(i): [o["type"] for o in i["outputs"]] for i in abi if i["type"] == "function"
    }
    assert functions == V2_FUNCTIONS
    events = {
        _signature(i): [x["indexed"] for x in i["inputs"]] for i in abi if i["type"] == "event"
    }
    assert events == V2_EVENTS
    assert {_signature(i) for i in abi if i["type"] == "error"} == V2_ERRORS
    mutability = {_signature(i): i["stateMutability"] for i in abi if i["type"] == "function"}
    views = {s for s, m in mutability.items() if m in ("view", "pure")}
    assert views == {s for s in V2_FUNCTIONS if s.split("(")[0] in {
        "BATCH_SUBJECT", "owner", "pendingOwner", "deployedAt", "check", "record",
        "isAnchorer", "untrustedFrom", "version", "batchLeafHash", "verifyInclusion",
    }}  # fmt: skip
    assert not any(i["type"] in ("fallback", "receive") for i in abi)


# ============================================================================ deployment


def test_deployer_is_owner_and_anchorer_and_deployed_at_is_the_deployment_block(
    chain: Chain, reg: Reg
) -> None:
    assert reg.call("owner") == reg.who(0)
    assert reg.call("pendingOwner") == ZERO_ADDRESS
    assert reg.call("isAnchorer", reg.who(0)) is True
    assert not any(reg.call("isAnchorer", reg.who(i)) for i in range(1, 6))
    assert reg.call("version") == "aichain.registry/v2"
    assert reg.call("BATCH_SUBJECT") == BATCH_SUBJECT == keccak(text="aichain.batch.v1")
    assert reg.call("deployedAt") == reg.deploy_receipt["blockNumber"] == chain.head
    assert reg.events(reg.deploy_receipt, "OwnershipTransferred") == [
        {"previousOwner": ZERO_ADDRESS, "newOwner": reg.who(0)}
    ]
    assert reg.events(reg.deploy_receipt, "AnchorerGranted") == [{"anchorer": reg.who(0)}]


def test_runtime_code_is_the_same_in_every_deployment_and_deployed_at_lives_in_storage(
    chain: Chain,
) -> None:
    first = chain.deploy()
    chain.mine(3)
    second = chain.deploy(by=1)  # another deployer, a later block
    expected = bytes.fromhex(artifact()["deployedBytecode"].removeprefix("0x"))
    for r in (first, second):
        assert bytes(chain.w3.eth.get_code(r.address)) == expected
        slot2 = int.from_bytes(chain.w3.eth.get_storage_at(r.address, 2), "big")
        assert slot2 == r.call("deployedAt") == r.deploy_receipt["blockNumber"]
    assert second.call("deployedAt") >= first.call("deployedAt") + 4
    assert second.call("owner") == second.who(1) and second.call("isAnchorer", second.who(1))


# ===================================================================== storage layout


def _record_slot(root: bytes, subject: bytes, anchorer: str) -> bytes:
    """keccak256(a . keccak256(s . keccak256(r . 4))): _records is slot 4."""
    inner = keccak(root + (4).to_bytes(32, "big"))
    middle = keccak(subject + inner)
    return keccak(bytes(12) + bytes.fromhex(anchorer[2:]) + middle)


def _word(chain: Chain, reg: Reg, slot: bytes | int) -> int:
    key = slot if isinstance(slot, int) else int.from_bytes(slot, "big")
    return int.from_bytes(chain.w3.eth.get_storage_at(reg.address, key), "big")


def test_storage_layout_is_the_documented_one_slot_per_record(chain: Chain, three: Reg) -> None:
    reg = three
    root, subject = b32("layout/root"), b32("layout/subject")
    anchored = reg.tx(1, "anchor", root, subject)
    slot = _record_slot(root, subject, reg.who(1))
    ts, block = reg.timestamp(anchored), anchored["blockNumber"]
    assert _word(chain, reg, slot) == ts | block << 40
    revoked = reg.tx(OWNER, "revoke", root, subject, reg.who(1), "layout")
    assert _word(chain, reg, slot) == ts | block << 40 | revoked["blockNumber"] << 88 | 1 << 136
    assert reg.record(root, subject, 1) == Rec(ts, block, revoked["blockNumber"], True)
    # another anchorer's record of the same pair is another slot
    assert _word(chain, reg, _record_slot(root, subject, reg.who(2))) == 0

    assert _word(chain, reg, 0) == int(reg.who(0), 16)  # owner
    assert _word(chain, reg, 1) == 0  # pendingOwner
    reg.tx(OWNER, "markUntrusted", reg.who(2), 0x0102030405060708)
    anchorers = keccak(bytes(12) + bytes.fromhex(reg.who(2)[2:]) + (3).to_bytes(32, "big"))
    # authorised (byte 0) cleared, untrusted (byte 1) set, untrustedFrom in bytes 2..9
    assert _word(chain, reg, anchorers) == 0 | 1 << 8 | 0x0102030405060708 << 16
    owner_slot = keccak(bytes(12) + bytes.fromhex(reg.who(0)[2:]) + (3).to_bytes(32, "big"))
    assert _word(chain, reg, owner_slot) == 1


# =============================================================================== records


def test_anchor_then_check_and_record_report_time_block_and_trusted(reg: Reg) -> None:
    root, subject = b32("record/root"), b32("record/subject")
    assert reg.check(root, subject, OWNER) == Check(Status.UNKNOWN, 0, 0, 0)
    assert reg.record(root, subject, OWNER) == Rec(0, 0, 0, False)
    assert reg.call("anchor", root, subject) is True  # eth_call: a transaction is needed
    receipt = reg.tx(OWNER, "anchor", root, subject)
    ts, block = reg.timestamp(receipt), receipt["blockNumber"]
    assert ts > 0
    assert reg.check(root, subject, OWNER) == Check(Status.TRUSTED, ts, block, 0)
    assert reg.record(root, subject, OWNER) == Rec(ts, block, 0, False)
    assert reg.events(receipt, "Anchored") == [
        {"root": root, "subject": subject, "anchorer": reg.who(0)}
    ]
    assert len(receipt["logs"]) == 1
    # the record is the anchorer's: asked about anyone else it is unknown
    assert reg.check(root, subject, 1) == Check(Status.UNKNOWN, 0, 0, 0)
    assert reg.check(root, b32("record/other"), OWNER) == Check(Status.UNKNOWN, 0, 0, 0)
    assert reg.check(b32("record/other"), subject, OWNER) == Check(Status.UNKNOWN, 0, 0, 0)


def test_zero_subject_is_an_ordinary_subject(reg: Reg) -> None:
    root = b32("zero-subject/root")
    receipt = reg.tx(OWNER, "anchor", root, bytes(32))
    assert reg.status(root, bytes(32), OWNER) is Status.TRUSTED
    assert reg.events(receipt, "Anchored")[0]["subject"] == bytes(32)


def test_second_anchor_by_the_same_anchorer_is_a_no_op(reg: Reg) -> None:
    root, subject = b32("dup/root"), b32("dup/subject")
    first = reg.tx(OWNER, "anchor", root, subject)
    before = reg.record(root, subject, OWNER)
    assert reg.call("anchor", root, subject) is False  # eth_call tells that no tx is needed
    second = reg.tx(OWNER, "anchor", root, subject)  # sent anyway: the contract must no-op
    assert second["blockNumber"] > first["blockNumber"]
    assert second["logs"] == []
    assert reg.record(root, subject, OWNER) == before  # time and block of the first
    assert second["gasUsed"] < first["gasUsed"]
    found = reg.contract.events.Anchored.get_logs(
        from_block=reg.call("deployedAt"), argument_filters={"root": root}
    )
    assert [e["transactionHash"] for e in found] == [first["transactionHash"]]


def test_reanchoring_a_revoked_record_does_not_revive_it(reg: Reg) -> None:
    root, subject = b32("revive/root"), b32("revive/subject")
    reg.tx(OWNER, "anchor", root, subject)
    revoked = reg.tx(OWNER, "revoke", root, subject, reg.who(0), "bad data")
    before = reg.record(root, subject, OWNER)
    assert reg.call("anchor", root, subject) is False
    again = reg.tx(OWNER, "anchor", root, subject)
    assert again["logs"] == []
    assert reg.record(root, subject, OWNER) == before
    assert reg.check(root, subject, OWNER).status is Status.REVOKED
    assert reg.check(root, subject, OWNER).revoked_block == revoked["blockNumber"]


def test_two_anchorers_of_the_same_pair_hold_two_independent_records(three: Reg) -> None:
    reg = three
    root, subject = b32("two/root"), b32("two/subject")
    t1 = reg.tx(1, "anchor", root, subject)
    # anchorer 1's record neither blocks nor answers for anchorer 2
    assert reg.call("anchor", root, subject, who=2) is True
    assert reg.call("anchor", root, subject, who=1) is False
    t2 = reg.tx(2, "anchor", root, subject)
    assert reg.events(t2, "Anchored") == [
        {"root": root, "subject": subject, "anchorer": reg.who(2)}
    ]
    c1, c2 = reg.check(root, subject, 1), reg.check(root, subject, 2)
    assert c1 == Check(Status.TRUSTED, reg.timestamp(t1), t1["blockNumber"], 0)
    assert c2 == Check(Status.TRUSTED, reg.timestamp(t2), t2["blockNumber"], 0)
    assert reg.check(root, subject, OWNER).status is Status.UNKNOWN
    # a root's anchorers are found through the indexed Anchored events (topic 1 = root)
    found = reg.contract.events.Anchored.get_logs(
        from_block=reg.call("deployedAt"), argument_filters={"root": root}
    )
    assert [e["args"]["anchorer"] for e in found] == [reg.who(1), reg.who(2)]


def test_revoking_ones_own_record_leaves_the_other_anchorers_record_trusted(three: Reg) -> None:
    reg = three
    root, subject = b32("own/root"), b32("own/subject")
    reg.tx(1, "anchor", root, subject)
    reg.tx(2, "anchor", root, subject)
    receipt = reg.tx(1, "revoke", root, subject, reg.who(1), "mislabelled")
    assert reg.events(receipt, "Revoked") == [
        {
            "root": root,
            "subject": subject,
            "anchorer": reg.who(1),
            "by": reg.who(1),
            "reason": "mislabelled",
        }
    ]
    assert reg.check(root, subject, 1).status is Status.REVOKED
    assert reg.check(root, subject, 1).revoked_block == receipt["blockNumber"]
    assert reg.record(root, subject, 1).revoked_by_owner is False
    other = reg.check(root, subject, 2)
    assert (other.status, other.revoked_block) == (Status.TRUSTED, 0)
    assert reg.record(root, subject, 2).revoked_by_owner is False


def test_no_anchorer_can_revoke_another_anchorers_record(three: Reg) -> None:
    reg = three
    root, subject = b32("other/root"), b32("other/subject")
    reg.tx(1, "anchor", root, subject)
    reg.tx(2, "anchor", root, subject)
    assert reg.refused(2, "revoke", root, subject, reg.who(1), "squat") == (
        "NotAllowedToRevoke",
        (),
    )
    assert reg.refused(1, "revoke", root, subject, reg.who(2), "squat") == (
        "NotAllowedToRevoke",
        (),
    )
    assert reg.refused(4, "revoke", root, subject, reg.who(1), "x") == ("NotAllowedToRevoke", ())
    assert reg.status(root, subject, 1) is reg.status(root, subject, 2) is Status.TRUSTED


def test_owner_can_revoke_any_anchorers_record(three: Reg) -> None:
    reg = three
    root, subject = b32("owner-revoke/root"), b32("owner-revoke/subject")
    reg.tx(1, "anchor", root, subject)
    reg.tx(2, "anchor", root, subject)
    receipt = reg.tx(OWNER, "revoke", root, subject, reg.who(1), "policy")
    assert reg.events(receipt, "Revoked") == [
        {
            "root": root,
            "subject": subject,
            "anchorer": reg.who(1),
            "by": reg.who(0),
            "reason": "policy",
        }
    ]
    rec = reg.record(root, subject, 1)
    assert rec.revoked_by_owner is True and rec.revoked_block == receipt["blockNumber"]
    assert reg.status(root, subject, 1) is Status.REVOKED
    assert reg.status(root, subject, 2) is Status.TRUSTED
    # and its own record: revokedByOwner too
    reg.tx(OWNER, "anchor", root, subject)
    reg.tx(OWNER, "revoke", root, subject, reg.who(0), "mine")
    assert reg.record(root, subject, OWNER).revoked_by_owner is True


def test_revoking_a_missing_record_names_unknown_record_with_the_triple(three: Reg) -> None:
    reg = three
    root, subject = b32("missing/root"), b32("missing/subject")
    expected = ("UnknownRecord", (root, subject, reg.who(1)))
    assert reg.refused(1, "revoke", root, subject, reg.who(1), "x") == expected
    assert reg.refused(OWNER, "revoke", root, subject, reg.who(1), "x") == expected
    reg.tx(2, "anchor", root, subject)  # another anchorer's record does not make it exist
    assert reg.refused(OWNER, "revoke", root, subject, reg.who(1), "x") == expected
    assert reg.refused(4, "revoke", root, subject, reg.who(1), "x") == expected


def test_revoking_twice_names_already_revoked_and_the_first_reason_stands(three: Reg) -> None:
    reg = three
    root, subject = b32("twice/root"), b32("twice/subject")
    reg.tx(1, "anchor", root, subject)
    first = reg.tx(1, "revoke", root, subject, reg.who(1), "first")
    expected = ("AlreadyRevoked", (root, subject, reg.who(1)))
    assert reg.refused(1, "revoke", root, subject, reg.who(1), "second") == expected
    assert reg.refused(OWNER, "revoke", root, subject, reg.who(1), "third") == expected
    logs = reg.contract.events.Revoked.get_logs(
        from_block=reg.call("deployedAt"), argument_filters={"root": root}
    )
    assert [e["args"]["reason"] for e in logs] == ["first"]
    assert reg.record(root, subject, 1).revoked_block == first["blockNumber"]
    # and the other way round: after the owner's revocation the anchorer cannot add its own
    reg.tx(2, "anchor", root, subject)
    reg.tx(OWNER, "revoke", root, subject, reg.who(2), "owner first")
    assert reg.refused(2, "revoke", root, subject, reg.who(2), "late") == (
        "AlreadyRevoked",
        (root, subject, reg.who(2)),
    )


def test_anchor_with_batch_subject_names_reserved_subject(reg: Reg) -> None:
    root = b32("reserved/root")
    assert reg.refused(OWNER, "anchor", root, BATCH_SUBJECT) == ("ReservedSubject", ())
    assert reg.refused(4, "anchor", root, BATCH_SUBJECT) == ("ReservedSubject", ())
    assert reg.check(root, BATCH_SUBJECT, OWNER).status is Status.UNKNOWN


# ====================================================================== anchoring rights


def test_anchor_without_rights_names_not_anchorer_with_the_account(reg: Reg) -> None:
    root, subject = b32("unauth/root"), b32("unauth/subject")
    assert reg.refused(1, "anchor", root, subject) == ("NotAnchorer", (reg.who(1),))
    assert reg.refused(1, "anchorBatch", root, 3) == ("NotAnchorer", (reg.who(1),))
    assert reg.check(root, subject, 1).status is Status.UNKNOWN


def test_grant_and_withdraw_rights_are_no_ops_without_events_when_nothing_changes(
    reg: Reg,
) -> None:
    granted = reg.tx(OWNER, "grantAnchorer", reg.who(1))
    assert reg.events(granted, "AnchorerGranted") == [{"anchorer": reg.who(1)}]
    assert reg.call("isAnchorer", reg.who(1)) is True
    assert reg.tx(OWNER, "grantAnchorer", reg.who(1))["logs"] == []
    withdrawn = reg.tx(OWNER, "withdrawAnchorer", reg.who(1))
    assert reg.events(withdrawn, "AnchorerWithdrawn") == [{"anchorer": reg.who(1)}]
    assert reg.call("isAnchorer", reg.who(1)) is False
    assert reg.tx(OWNER, "withdrawAnchorer", reg.who(1))["logs"] == []
    assert reg.tx(OWNER, "withdrawAnchorer", reg.who(4))["logs"] == []  # never had rights


def test_withdrawn_anchorer_keeps_its_records_trusted_cannot_anchor_but_can_revoke(
    three: Reg,
) -> None:
    reg = three
    root, subject, later = b32("kept/root"), b32("kept/subject"), b32("kept/later")
    anchored = reg.tx(1, "anchor", root, subject)
    reg.tx(OWNER, "withdrawAnchorer", reg.who(1))
    assert reg.check(root, subject, 1) == Check(
        Status.TRUSTED, reg.timestamp(anchored), anchored["blockNumber"], 0
    )
    assert reg.refused(1, "anchor", later, subject) == ("NotAnchorer", (reg.who(1),))
    reg.tx(1, "revoke", root, subject, reg.who(1), "mine")
    assert reg.status(root, subject, 1) is Status.REVOKED  # a withdrawn key's revocation counts


def test_role_administration_is_owner_only_naming_not_owner(three: Reg) -> None:
    reg = three
    for fn, args in [
        ("grantAnchorer", (reg.who(4),)),
        ("withdrawAnchorer", (reg.who(0),)),
        ("markUntrusted", (reg.who(0), 0)),
        ("transferOwnership", (reg.who(4),)),
    ]:
        assert reg.refused(1, fn, *args) == ("NotOwner", ()), fn  # an anchorer is not the owner
        assert reg.refused(4, fn, *args) == ("NotOwner", ()), fn
    assert reg.call("isAnchorer", reg.who(0)) and not reg.call("isAnchorer", reg.who(4))
    assert reg.call("untrustedFrom", reg.who(0)) == [False, 0]


def test_zero_address_is_refused_naming_zero_address(reg: Reg) -> None:
    for fn, args in [
        ("grantAnchorer", (ZERO_ADDRESS,)),
        ("markUntrusted", (ZERO_ADDRESS, 1)),
        ("transferOwnership", (ZERO_ADDRESS,)),
    ]:
        assert reg.refused(OWNER, fn, *args) == ("ZeroAddress", ()), fn


# ============================================================================ ownership


def test_two_step_ownership_transfer(three: Reg) -> None:
    reg = three
    started = reg.tx(OWNER, "transferOwnership", reg.who(3))
    assert reg.events(started, "OwnershipTransferStarted") == [
        {"previousOwner": reg.who(0), "newOwner": reg.who(3)}
    ]
    replaced = reg.tx(OWNER, "transferOwnership", reg.who(4))  # a later call replaces it
    assert reg.events(replaced, "OwnershipTransferStarted")[0]["newOwner"] == reg.who(4)
    assert (reg.call("owner"), reg.call("pendingOwner")) == (reg.who(0), reg.who(4))
    assert reg.refused(3, "acceptOwnership") == ("NotPendingOwner", ())
    assert reg.refused(OWNER, "acceptOwnership") == ("NotPendingOwner", ())
    reg.tx(OWNER, "grantAnchorer", reg.who(5))  # still the owner in between

    accepted = reg.tx(4, "acceptOwnership")
    assert reg.events(accepted, "OwnershipTransferred") == [
        {"previousOwner": reg.who(0), "newOwner": reg.who(4)}
    ]
    assert (reg.call("owner"), reg.call("pendingOwner")) == (reg.who(4), ZERO_ADDRESS)
    assert reg.refused(4, "acceptOwnership") == ("NotPendingOwner", ())
    # anchoring rights do not move with ownership
    assert reg.call("isAnchorer", reg.who(0)) and not reg.call("isAnchorer", reg.who(4))
    assert reg.refused(OWNER, "grantAnchorer", reg.who(3)) == ("NotOwner", ())
    # the revoking power does: the new owner may revoke anyone's record, the old one not
    root, subject = b32("transfer/root"), b32("transfer/subject")
    reg.tx(1, "anchor", root, subject)
    assert reg.refused(OWNER, "revoke", root, subject, reg.who(1), "x") == (
        "NotAllowedToRevoke",
        (),
    )
    reg.tx(4, "revoke", root, subject, reg.who(1), "new owner")
    assert reg.record(root, subject, 1).revoked_by_owner is True


# =========================================================================== leaked keys


def test_mark_untrusted_flags_records_at_or_after_from_block_only(three: Reg) -> None:
    reg = three
    subject = b32("leak/subject")
    early, at, late = b32("leak/early"), b32("leak/at"), b32("leak/late")
    t_early = reg.tx(1, "anchor", early, subject)
    t_at = reg.tx(1, "anchor", at, subject)
    t_late = reg.tx(1, "anchor", late, subject)
    other = reg.tx(2, "anchor", at, subject)  # another anchorer, same pair, later block

    marked = reg.tx(OWNER, "markUntrusted", reg.who(1), t_at["blockNumber"])
    assert reg.events(marked, "AnchorerWithdrawn") == [{"anchorer": reg.who(1)}]
    assert reg.events(marked, "AnchorerUntrusted") == [
        {"anchorer": reg.who(1), "fromBlock": t_at["blockNumber"]}
    ]
    assert reg.call("untrustedFrom", reg.who(1)) == [True, t_at["blockNumber"]]
    assert reg.check(early, subject, 1) == Check(
        Status.TRUSTED, reg.timestamp(t_early), t_early["blockNumber"], 0
    )
    assert reg.status(at, subject, 1) is Status.UNTRUSTED  # "at or after"
    assert reg.check(late, subject, 1) == Check(
        Status.UNTRUSTED, reg.timestamp(t_late), t_late["blockNumber"], 0
    )
    assert reg.check(at, subject, 2) == Check(
        Status.TRUSTED, reg.timestamp(other), other["blockNumber"], 0
    )
    # the key loses its rights for good
    assert reg.call("isAnchorer", reg.who(1)) is False
    assert reg.refused(1, "anchor", b32("leak/after"), subject) == ("NotAnchorer", (reg.who(1),))
    assert reg.refused(1, "anchorBatch", b32("leak/batch"), 2) == ("NotAnchorer", (reg.who(1),))
    assert reg.refused(OWNER, "grantAnchorer", reg.who(1)) == (
        "AnchorerIsUntrusted",
        (reg.who(1),),
    )


def test_untrusted_key_cannot_revoke_even_its_trusted_records_but_the_owner_can(
    three: Reg,
) -> None:
    reg = three
    subject = b32("norevoke/subject")
    early, late = b32("norevoke/early"), b32("norevoke/late")
    reg.tx(1, "anchor", early, subject)
    reg.chain.mine(2)
    t_late = reg.tx(1, "anchor", late, subject)
    reg.tx(OWNER, "markUntrusted", reg.who(1), t_late["blockNumber"])
    for root in (early, late):
        assert reg.refused(1, "revoke", root, subject, reg.who(1), "x") == (
            "AnchorerIsUntrusted",
            (reg.who(1),),
        )
    assert reg.status(early, subject, 1) is Status.TRUSTED
    assert reg.status(late, subject, 1) is Status.UNTRUSTED
    reg.tx(OWNER, "revoke", early, subject, reg.who(1), "owner")
    reg.tx(OWNER, "revoke", late, subject, reg.who(1), "owner")
    assert reg.status(early, subject, 1) is Status.REVOKED
    assert reg.status(late, subject, 1) is Status.REVOKED  # Revoked outranks Untrusted
    # a key marked untrusted from a future block is refused at once, too
    reg.tx(2, "anchor", early, subject)
    reg.tx(OWNER, "markUntrusted", reg.who(2), reg.chain.head + 1000)
    assert reg.status(early, subject, 2) is Status.TRUSTED
    assert reg.refused(2, "revoke", early, subject, reg.who(2), "x") == (
        "AnchorerIsUntrusted",
        (reg.who(2),),
    )


def test_a_revocation_by_the_leaked_key_at_or_after_untrusted_from_does_not_count(
    three: Reg,
) -> None:
    """The leaked key revokes the anchorer's good records to deny service: those revocations
    are discounted once the key is marked; the anchorer's earlier revocations and any of the
    owner's still count."""
    reg = three
    subject = b32("discount/subject")
    good, before, bad = b32("discount/good"), b32("discount/before"), b32("discount/bad")
    reg.tx(1, "anchor", good, subject)
    reg.tx(1, "anchor", before, subject)
    honest = reg.tx(1, "revoke", before, subject, reg.who(1), "honest")  # before the leak
    reg.chain.mine(2)
    leak = reg.chain.head + 1  # the attacker's first block
    attack = reg.tx(1, "revoke", good, subject, reg.who(1), "attacker")
    assert attack["blockNumber"] == leak
    t_bad = reg.tx(1, "anchor", bad, subject)
    reg.tx(1, "revoke", bad, subject, reg.who(1), "attacker covers tracks")
    # before the owner notices, the attacker's revocations count like any other
    assert reg.status(good, subject, 1) is Status.REVOKED
    assert reg.status(bad, subject, 1) is Status.REVOKED

    reg.tx(OWNER, "markUntrusted", reg.who(1), leak)
    assert reg.check(good, subject, 1).status is Status.TRUSTED  # the revocation is discounted
    assert reg.check(good, subject, 1).revoked_block == attack["blockNumber"]  # but shown
    assert reg.status(before, subject, 1) is Status.REVOKED  # before untrusted-from: counts
    assert reg.check(before, subject, 1).revoked_block == honest["blockNumber"]
    assert reg.status(bad, subject, 1) is Status.UNTRUSTED
    assert reg.check(bad, subject, 1).block == t_bad["blockNumber"]

    # the owner's revocation counts: it replaces a discounted one (with a new event) ...
    owners = reg.tx(OWNER, "revoke", good, subject, reg.who(1), "owner")
    assert reg.events(owners, "Revoked") == [
        {
            "root": good,
            "subject": subject,
            "anchorer": reg.who(1),
            "by": reg.who(0),
            "reason": "owner",
        }
    ]
    assert reg.check(good, subject, 1).status is Status.REVOKED
    assert reg.record(good, subject, 1)[2:] == (owners["blockNumber"], True)
    reg.tx(OWNER, "revoke", bad, subject, reg.who(1), "owner")
    assert reg.status(bad, subject, 1) is Status.REVOKED
    # ... but not one that counts
    assert reg.refused(OWNER, "revoke", before, subject, reg.who(1), "x") == (
        "AlreadyRevoked",
        (before, subject, reg.who(1)),
    )
    assert reg.refused(OWNER, "revoke", good, subject, reg.who(1), "x") == (
        "AlreadyRevoked",
        (good, subject, reg.who(1)),
    )


def test_mark_untrusted_only_widens_and_widening_reclassifies_records(three: Reg) -> None:
    reg = three
    subject = b32("widen/subject")
    r1, r2 = b32("widen/r1"), b32("widen/r2")
    t1 = reg.tx(1, "anchor", r1, subject)
    reg.chain.mine(3)
    t2 = reg.tx(1, "anchor", r2, subject)
    revoked = reg.tx(1, "revoke", r1, subject, reg.who(1), "honest?")
    b1, b2, rb = t1["blockNumber"], t2["blockNumber"], revoked["blockNumber"]
    assert b1 < b2 < rb

    m = reg.tx(OWNER, "markUntrusted", reg.who(1), rb + 1)
    assert reg.events(m, "AnchorerUntrusted") == [{"anchorer": reg.who(1), "fromBlock": rb + 1}]
    assert (reg.status(r1, subject, 1), reg.status(r2, subject, 1)) == (
        Status.REVOKED,
        Status.TRUSTED,
    )
    later = reg.tx(OWNER, "markUntrusted", reg.who(1), rb + 50)  # a higher block: kept lower
    assert reg.events(later, "AnchorerUntrusted") == [{"anchorer": reg.who(1), "fromBlock": rb + 1}]
    assert reg.events(later, "AnchorerWithdrawn") == []  # it has no rights left to withdraw
    assert reg.call("untrustedFrom", reg.who(1)) == [True, rb + 1]

    reg.tx(OWNER, "markUntrusted", reg.who(1), rb)  # now the revocation is at untrusted-from
    assert (reg.status(r1, subject, 1), reg.status(r2, subject, 1)) == (
        Status.TRUSTED,
        Status.TRUSTED,
    )
    reg.tx(OWNER, "markUntrusted", reg.who(1), b2)
    assert (reg.status(r1, subject, 1), reg.status(r2, subject, 1)) == (
        Status.TRUSTED,
        Status.UNTRUSTED,
    )
    reg.tx(OWNER, "markUntrusted", reg.who(1), b1)
    assert (reg.status(r1, subject, 1), reg.status(r2, subject, 1)) == (
        Status.UNTRUSTED,
        Status.UNTRUSTED,
    )
    reg.tx(OWNER, "markUntrusted", reg.who(1), 0)
    assert reg.call("untrustedFrom", reg.who(1)) == [True, 0]
    again = reg.tx(OWNER, "markUntrusted", reg.who(1), b1)
    assert reg.events(again, "AnchorerUntrusted") == [{"anchorer": reg.who(1), "fromBlock": 0}]
    assert reg.call("untrustedFrom", reg.who(1)) == [True, 0]


def test_an_owner_whose_anchoring_key_is_marked_untrusted_can_still_revoke(reg: Reg) -> None:
    root, subject = b32("self/root"), b32("self/subject")
    t = reg.tx(OWNER, "anchor", root, subject)
    reg.tx(OWNER, "markUntrusted", reg.who(0), t["blockNumber"])
    assert reg.call("isAnchorer", reg.who(0)) is False
    assert reg.status(root, subject, OWNER) is Status.UNTRUSTED
    reg.tx(OWNER, "revoke", root, subject, reg.who(0), "owner")
    assert reg.record(root, subject, OWNER).revoked_by_owner is True
    assert reg.status(root, subject, OWNER) is Status.REVOKED


def test_every_status_transition_of_one_record(three: Reg) -> None:
    """Unknown -> Trusted -> Revoked (anchorer) -> Trusted (revocation discounted) ->
    Untrusted (mark widened to the record's block) -> Revoked (owner)."""
    reg = three
    root, subject = b32("walk/root"), b32("walk/subject")
    seen = [reg.status(root, subject, 1)]
    t = reg.tx(1, "anchor", root, subject)
    seen.append(reg.status(root, subject, 1))
    reg.chain.mine(2)
    r = reg.tx(1, "revoke", root, subject, reg.who(1), "x")
    seen.append(reg.status(root, subject, 1))
    reg.tx(OWNER, "markUntrusted", reg.who(1), r["blockNumber"])
    seen.append(reg.status(root, subject, 1))
    reg.tx(OWNER, "markUntrusted", reg.who(1), t["blockNumber"])
    seen.append(reg.status(root, subject, 1))
    reg.tx(OWNER, "revoke", root, subject, reg.who(1), "owner")
    seen.append(reg.status(root, subject, 1))
    assert seen == [
        Status.UNKNOWN,
        Status.TRUSTED,
        Status.REVOKED,
        Status.TRUSTED,
        Status.UNTRUSTED,
        Status.REVOKED,
    ]


# =================================================================================== gas


def test_one_anchor_uses_at_most_50000_gas_with_all_nonzero_calldata(three: Reg) -> None:
    """PRODUCT P4: whole-transaction gas, deterministic; a second anchorer's record of the same
    pair is a fresh slot too and costs the same."""
    root, subject = nonzero32("gas/root"), nonzero32("gas/subject")
    first = three.tx(1, "anchor", root, subject)
    second = three.tx(2, "anchor", root, subject)
    assert first["gasUsed"] <= 50_000, first["gasUsed"]
    assert second["gasUsed"] == first["gasUsed"]
    duplicate = three.tx(1, "anchor", root, subject)
    assert duplicate["gasUsed"] < 30_000, duplicate["gasUsed"]
