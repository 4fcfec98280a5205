"""LineageRegistry behaviour on the embedded chain: the real compiled contract in py-evm.

One chain for the whole module (one write session, committed at the end); each test deploys
its own registry on it so that ownership and rights changes never leak between tests. Actors
are the embedded chain's public development keys: dev key 0 deploys (owner and anchorer),
dev keys 1..4 are the other parties.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from eth_utils import keccak
from web3.logs import DISCARD
from web3.middleware import Web3Middleware

from aichain_audit.ledger.embedded import Session, dev_keys, open_embedded_chain
from aichain_audit.ledger.keys import dev_signer
from aichain_audit.ledger.registry import (
    ZERO_ADDRESS,
    Registry,
    RegistryError,
    Status,
    TxResult,
)

BATCH_SUBJECT = bytes.fromhex("60b0ce92ffc8c48594017e134acfd57c59b264bb801933dca516ff8970c1aaa2")


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


@dataclass(frozen=True)
class Deployment:
    """A freshly deployed registry, seen through one client per dev key."""

    regs: list[Registry]  # regs[i] signs with dev key i
    deploy_tx: TxResult

    @property
    def owner(self) -> Registry:
        return self.regs[0]

    def addr(self, i: int) -> str:
        signer = self.regs[i].signer
        assert signer is not None
        return signer.address


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with open_embedded_chain(tmp_path_factory.mktemp("contract-chain"), write=True) as s:
        yield s


@pytest.fixture
def dep(session: Session) -> Deployment:
    keys = dev_keys()
    owner = Registry(session.w3, None, signer=dev_signer(keys[0]))
    deploy_tx = owner.deploy()
    assert owner.address is not None
    others = [Registry(session.w3, owner.address, signer=dev_signer(k)) for k in keys[1:5]]
    return Deployment([owner, *others], deploy_tx)


def events(reg: Registry, tx: str, name: str) -> list[dict[str, Any]]:
    """The `name` events the registry emitted in transaction `tx`."""
    receipt = reg.w3.eth.get_transaction_receipt(tx)
    event = getattr(reg.contract.events, name)()
    return [dict(e["args"]) for e in event.process_receipt(receipt, errors=DISCARD)]


def assert_refused(reg: Registry, error: str, action: Callable[[], Any]) -> RegistryError:
    """`action` fails with a RegistryError naming the contract's custom `error`, sending nothing."""
    head = reg.w3.eth.block_number
    with pytest.raises(RegistryError, match=rf"\b{error}\b") as info:
        action()
    assert reg.w3.eth.block_number == head, "a refused call must not mine a transaction"
    return info.value


@contextmanager
def rpc_log(w3: Any) -> Iterator[list[str]]:
    """The JSON-RPC methods web3 sends while the block runs."""
    methods: list[str] = []

    class Log(Web3Middleware):
        def request_processor(self, method: Any, params: Any) -> Any:
            methods.append(str(method))
            return method, params

    w3.middleware_onion.add(Log, name="rpc-log")
    try:
        yield methods
    finally:
        w3.middleware_onion.remove("rpc-log")


# ---------------------------------------------------------------------------- deployment


def test_deployer_is_owner_and_anchorer_and_nobody_else_is(dep: Deployment) -> None:
    owner = dep.owner
    assert owner.owner() == dep.addr(0)
    assert owner.pending_owner() == ZERO_ADDRESS
    assert owner.is_anchorer(dep.addr(0))
    assert not any(owner.is_anchorer(dep.addr(i)) for i in range(1, 5))
    assert owner.contract.functions.version().call() == "aichain.registry/v1"
    assert events(owner, dep.deploy_tx.tx, "OwnershipTransferred") == [
        {"previousOwner": ZERO_ADDRESS, "newOwner": dep.addr(0)}
    ]
    assert events(owner, dep.deploy_tx.tx, "AnchorerGranted") == [{"anchorer": dep.addr(0)}]


# ------------------------------------------------------------------------------- records


def test_anchor_then_record_reports_anchorer_time_block_trusted_in_one_eth_call(
    dep: Deployment,
) -> None:
    root, subject = b32("record/root"), b32("record/subject")
    assert dep.owner.record(root, subject) is None
    tx = dep.owner.anchor(root, subject)
    with rpc_log(dep.owner.w3) as methods:
        rec = dep.owner.record(root, subject)
    assert methods.count("eth_call") == 1, methods
    assert rec is not None
    assert rec.anchorer == dep.addr(0)
    assert rec.timestamp == tx.timestamp > 0
    assert rec.block == tx.block
    assert rec.revoked is False
    assert rec.status is Status.TRUSTED
    # the raw view agrees with the one-call `check` the client uses
    raw = dep.owner.contract.functions.record(root, subject).call()
    assert list(raw) == [dep.addr(0), tx.timestamp, tx.block, False]
    assert events(dep.owner, tx.tx, "Anchored") == [
        {"root": root, "subject": subject, "anchorer": dep.addr(0)}
    ]


def test_duplicate_anchor_is_idempotent_and_emits_no_second_event(dep: Deployment) -> None:
    reg = dep.owner
    root, subject = b32("dup/root"), b32("dup/subject")
    fn = reg.contract.functions.anchor(root, subject)
    assert fn.call({"from": dep.addr(0)}) is True
    first = reg.anchor(root, subject)
    before = reg.record(root, subject)
    assert fn.call({"from": dep.addr(0)}) is False  # eth_call tells that no tx is needed

    second = reg.anchor(root, subject)  # the client sends it anyway: the contract must no-op
    assert second.block > first.block
    assert reg.w3.eth.get_transaction_receipt(second.tx)["logs"] == []
    assert reg.record(root, subject) == before  # anchorer, time and block of the first
    found = reg.contract.events.Anchored.get_logs(
        from_block=0, argument_filters={"root": root, "subject": subject}
    )
    assert [e["transactionHash"].hex().removeprefix("0x") for e in found] == [
        first.tx.removeprefix("0x")
    ]
    assert second.gas_used < first.gas_used


def test_reanchoring_a_revoked_record_does_not_revive_it(dep: Deployment) -> None:
    reg = dep.owner
    root, subject = b32("revive/root"), b32("revive/subject")
    reg.anchor(root, subject)
    reg.revoke(root, subject, "bad data")
    tx = reg.anchor(root, subject)
    assert reg.w3.eth.get_transaction_receipt(tx.tx)["logs"] == []
    rec = reg.record(root, subject)
    assert rec is not None and rec.status is Status.REVOKED


def test_roots_of_subject_are_found_through_indexed_anchored_events(dep: Deployment) -> None:
    owner, other = dep.owner, dep.regs[1]
    subject, unrelated = b32("disc/subject"), b32("disc/other-subject")
    r1, r2, r3 = b32("disc/r1"), b32("disc/r2"), b32("disc/r3")
    owner.grant(dep.addr(1))
    t1 = owner.anchor(r1, subject)
    t3 = owner.anchor(r3, unrelated)
    t2 = other.anchor(r2, subject)
    # The same subject anchored in ANOTHER registry on the same chain must not show up.
    elsewhere = Registry(owner.w3, None, signer=owner.signer)
    elsewhere.deploy()
    elsewhere.anchor(b32("disc/elsewhere"), subject)

    assert owner.roots_of(subject) == [(r1, dep.addr(0), t1.block), (r2, dep.addr(1), t2.block)]
    assert owner.roots_of(unrelated) == [(r3, dep.addr(0), t3.block)]
    assert owner.roots_of(b32("disc/never")) == []
    # The subject really is topic 2 of Anchored (what an auditor filters on with eth_getLogs).
    topic0 = keccak(text="Anchored(bytes32,bytes32,address)")
    raw = owner.w3.eth.get_logs(
        {"address": owner.address, "fromBlock": 0, "topics": [topic0, None, subject]}
    )
    assert [bytes(log["topics"][1]) for log in raw] == [r1, r2]


# ---------------------------------------------------------------------- anchoring rights


def test_anchor_by_account_without_rights_is_rejected_naming_not_anchorer(
    dep: Deployment,
) -> None:
    root, subject = b32("unauth/root"), b32("unauth/subject")
    assert_refused(dep.regs[1], "NotAnchorer", lambda: dep.regs[1].anchor(root, subject))
    assert dep.owner.record(root, subject) is None


def test_granted_account_can_anchor(dep: Deployment) -> None:
    tx = dep.owner.grant(dep.addr(1))
    assert events(dep.owner, tx.tx, "AnchorerGranted") == [{"anchorer": dep.addr(1)}]
    assert dep.owner.is_anchorer(dep.addr(1))
    root, subject = b32("grant/root"), b32("grant/subject")
    dep.regs[1].anchor(root, subject)
    rec = dep.owner.record(root, subject)
    assert rec is not None and rec.anchorer == dep.addr(1) and rec.status is Status.TRUSTED


def test_withdrawn_account_cannot_anchor(dep: Deployment) -> None:
    dep.owner.grant(dep.addr(1))
    tx = dep.owner.withdraw(dep.addr(1))
    assert events(dep.owner, tx.tx, "AnchorerWithdrawn") == [{"anchorer": dep.addr(1)}]
    assert not dep.owner.is_anchorer(dep.addr(1))
    root, subject = b32("withdraw/root"), b32("withdraw/subject")
    assert_refused(dep.regs[1], "NotAnchorer", lambda: dep.regs[1].anchor(root, subject))
    assert dep.owner.record(root, subject) is None


def test_records_anchored_before_withdrawal_stay_trusted(dep: Deployment) -> None:
    dep.owner.grant(dep.addr(1))
    root, subject = b32("kept/root"), b32("kept/subject")
    tx = dep.regs[1].anchor(root, subject)
    dep.owner.withdraw(dep.addr(1))
    rec = dep.owner.record(root, subject)
    assert rec is not None
    assert (rec.anchorer, rec.block, rec.status) == (dep.addr(1), tx.block, Status.TRUSTED)


def test_granting_rights_is_owner_only_naming_not_owner(dep: Deployment) -> None:
    assert_refused(dep.regs[1], "NotOwner", lambda: dep.regs[1].grant(dep.addr(1)))
    assert not dep.owner.is_anchorer(dep.addr(1))


# ---------------------------------------------------------------------------- ownership


def test_transfer_owner_leaves_owner_unchanged_until_the_new_owner_accepts(
    dep: Deployment,
) -> None:
    owner, new = dep.owner, dep.regs[2]
    tx = owner.transfer_owner(dep.addr(2))
    assert events(owner, tx.tx, "OwnershipTransferStarted") == [
        {"previousOwner": dep.addr(0), "newOwner": dep.addr(2)}
    ]
    assert owner.owner() == dep.addr(0)
    assert owner.pending_owner() == dep.addr(2)
    owner.grant(dep.addr(3))  # still the owner in between
    assert owner.is_anchorer(dep.addr(3))

    accepted = new.accept_owner()
    assert events(owner, accepted.tx, "OwnershipTransferred") == [
        {"previousOwner": dep.addr(0), "newOwner": dep.addr(2)}
    ]
    assert owner.owner() == dep.addr(2)
    assert owner.pending_owner() == ZERO_ADDRESS
    # anchoring rights do not move with ownership
    assert owner.is_anchorer(dep.addr(0)) and not owner.is_anchorer(dep.addr(2))


def test_accept_owner_by_stranger_is_rejected_naming_not_pending_owner(
    dep: Deployment,
) -> None:
    dep.owner.transfer_owner(dep.addr(2))
    assert_refused(dep.regs[3], "NotPendingOwner", dep.regs[3].accept_owner)
    assert dep.owner.owner() == dep.addr(0)
    assert dep.owner.pending_owner() == dep.addr(2)


def test_old_owner_grant_is_rejected_naming_not_owner_after_transfer(dep: Deployment) -> None:
    dep.owner.transfer_owner(dep.addr(2))
    dep.regs[2].accept_owner()
    assert_refused(dep.owner, "NotOwner", lambda: dep.owner.grant(dep.addr(4)))
    assert not dep.owner.is_anchorer(dep.addr(4))
    dep.regs[2].grant(dep.addr(4))  # the new owner can
    assert dep.owner.is_anchorer(dep.addr(4))


# ------------------------------------------------------------------------------- revoke


def test_revoke_by_anchorer_marks_revoked_with_reason_in_event(dep: Deployment) -> None:
    dep.owner.grant(dep.addr(1))
    root, subject = b32("revoke/root"), b32("revoke/subject")
    anchored = dep.regs[1].anchor(root, subject)
    tx = dep.regs[1].revoke(root, subject, "trained on a leaked test set")
    rec = dep.owner.record(root, subject)
    assert rec is not None
    assert rec.revoked is True and rec.status is Status.REVOKED
    assert (rec.anchorer, rec.block) == (dep.addr(1), anchored.block)  # the record is kept
    assert dep.owner.contract.functions.status(root, subject).call() == Status.REVOKED
    assert events(dep.owner, tx.tx, "Revoked") == [
        {
            "root": root,
            "subject": subject,
            "by": dep.addr(1),
            "reason": "trained on a leaked test set",
        }
    ]


def test_revoke_by_stranger_is_rejected_naming_not_allowed_to_revoke(dep: Deployment) -> None:
    root, subject = b32("stranger/root"), b32("stranger/subject")
    dep.owner.anchor(root, subject)
    stranger = dep.regs[4]
    assert_refused(stranger, "NotAllowedToRevoke", lambda: stranger.revoke(root, subject, "x"))
    rec = dep.owner.record(root, subject)
    assert rec is not None and rec.status is Status.TRUSTED


def test_owner_can_revoke_a_record_anchored_by_someone_else(dep: Deployment) -> None:
    dep.owner.grant(dep.addr(1))
    root, subject = b32("owner-revoke/root"), b32("owner-revoke/subject")
    dep.regs[1].anchor(root, subject)
    tx = dep.owner.revoke(root, subject, "policy")
    rec = dep.owner.record(root, subject)
    assert rec is not None and rec.status is Status.REVOKED and rec.anchorer == dep.addr(1)
    assert [e["by"] for e in events(dep.owner, tx.tx, "Revoked")] == [dep.addr(0)]


def test_revoking_a_missing_record_is_rejected_naming_unknown_record(dep: Deployment) -> None:
    root, subject = b32("missing/root"), b32("missing/subject")
    assert_refused(dep.owner, "UnknownRecord", lambda: dep.owner.revoke(root, subject, "x"))
    assert dep.owner.record(root, subject) is None


def test_revoking_twice_is_rejected_naming_already_revoked_first_reason_stands(
    dep: Deployment,
) -> None:
    root, subject = b32("twice/root"), b32("twice/subject")
    dep.owner.anchor(root, subject)
    dep.owner.revoke(root, subject, "first")
    assert_refused(dep.owner, "AlreadyRevoked", lambda: dep.owner.revoke(root, subject, "second"))
    logs = dep.owner.contract.events.Revoked.get_logs(
        from_block=0, argument_filters={"root": root, "subject": subject}
    )
    assert [e["args"]["reason"] for e in logs] == ["first"]


def test_withdrawn_anchorer_can_still_revoke_its_own_record(dep: Deployment) -> None:
    dep.owner.grant(dep.addr(1))
    root, subject = b32("own-revoke/root"), b32("own-revoke/subject")
    dep.regs[1].anchor(root, subject)
    dep.owner.withdraw(dep.addr(1))
    dep.regs[1].revoke(root, subject, "mine")
    rec = dep.owner.record(root, subject)
    assert rec is not None and rec.status is Status.REVOKED


# --------------------------------------------------------------------------- leaked keys


def test_mark_untrusted_flags_records_at_or_after_from_block_only(dep: Deployment) -> None:
    owner, leaked = dep.owner, dep.regs[3]
    owner.grant(dep.addr(3))
    subject = b32("leak/subject")
    early, at, late = b32("leak/early"), b32("leak/at"), b32("leak/late")
    t_early = leaked.anchor(early, subject)
    t_at = leaked.anchor(at, subject)
    t_late = leaked.anchor(late, subject)
    assert t_early.block < t_at.block < t_late.block
    owners_root = b32("leak/owner")
    owner.anchor(owners_root, subject)  # same blocks range, another anchorer

    tx = owner.mark_untrusted(dep.addr(3), t_at.block)
    assert events(owner, tx.tx, "AnchorerUntrusted") == [
        {"anchorer": dep.addr(3), "fromBlock": t_at.block}
    ]

    def status(root: bytes) -> Status:
        rec = owner.record(root, subject)
        assert rec is not None
        return rec.status

    assert status(early) is Status.TRUSTED
    assert status(at) is Status.UNTRUSTED  # "at or after"
    assert status(late) is Status.UNTRUSTED
    assert status(owners_root) is Status.TRUSTED
    assert tuple(owner.contract.functions.untrustedFrom(dep.addr(3)).call()) == (True, t_at.block)
    # the leaked key also loses its rights for good
    assert not owner.is_anchorer(dep.addr(3))
    assert_refused(leaked, "NotAnchorer", lambda: leaked.anchor(b32("leak/after"), subject))
    assert_refused(owner, "AnchorerIsUntrusted", lambda: owner.grant(dep.addr(3)))


def test_mark_untrusted_is_owner_only_naming_not_owner(dep: Deployment) -> None:
    stranger = dep.regs[4]
    assert_refused(stranger, "NotOwner", lambda: stranger.mark_untrusted(dep.addr(0), 0))
    assert dep.owner.is_anchorer(dep.addr(0))


# ------------------------------------------------------------------------- batch subject


def test_batch_subject_constant_is_keccak_of_aichain_batch_v1(dep: Deployment) -> None:
    assert keccak(text="aichain.batch.v1") == BATCH_SUBJECT
    assert dep.owner.batch_subject() == BATCH_SUBJECT


def test_anchor_with_batch_subject_is_rejected_naming_reserved_subject(dep: Deployment) -> None:
    root = b32("reserved/root")
    assert_refused(dep.owner, "ReservedSubject", lambda: dep.owner.anchor(root, BATCH_SUBJECT))
    assert dep.owner.record(root, BATCH_SUBJECT) is None


# ----------------------------------------------------------------------------------- gas


def test_one_anchor_uses_at_most_50000_gas_with_all_nonzero_calldata(dep: Deployment) -> None:
    tx = dep.owner.anchor(nonzero32("gas/root"), nonzero32("gas/subject"))
    assert tx.gas_used <= 50_000, tx.gas_used
