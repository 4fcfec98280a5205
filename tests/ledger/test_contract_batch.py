"""Batch anchors: one RFC 9162 batch root on chain per anchorer, each lineage proved into it.

The contract's `batchLeafHash` and `verifyInclusion` views run in the embedded EVM and are
compared with `aichain_audit.merkle`, which is what the anchoring tool uses off chain. The
contract is driven through plain web3 (the harness of test_contract.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit import merkle
from tests.ledger.test_contract import (
    BATCH_SUBJECT,
    OWNER,
    Chain,
    Check,
    Reg,
    Status,
    b32,
    chain,  # noqa: F401  (the module-scoped chain fixture)
    nonzero32,
)

N = 64


def flip(value: bytes, bit: int = 0) -> bytes:
    """`value` with one bit changed."""
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@dataclass(frozen=True)
class Batch:
    reg: Reg
    pairs: list[tuple[bytes, bytes]]  # (lineage root, subject)
    leaves: list[bytes]
    tree: merkle.MerkleTree
    receipt: Any  # of anchorBatch(tree.root, N) by account 1


@pytest.fixture(scope="module")
def shared(chain: Chain) -> Reg:  # noqa: F811
    """One registry for the read-only tests of this module; accounts 1, 2 are anchorers."""
    reg = chain.deploy()
    reg.tx(OWNER, "grantAnchorer", reg.who(1))
    reg.tx(OWNER, "grantAnchorer", reg.who(2))
    return reg


@pytest.fixture
def reg(chain: Chain) -> Reg:  # noqa: F811
    """A fresh registry for a test that changes state; accounts 1, 2 are anchorers."""
    fresh = chain.deploy()
    fresh.tx(OWNER, "grantAnchorer", fresh.who(1))
    fresh.tx(OWNER, "grantAnchorer", fresh.who(2))
    return fresh


def make_batch(reg: Reg, label: str, anchorer: int = 1) -> Batch:
    pairs = [(b32(f"{label}/lineage/{i}"), b32(f"{label}/model/{i % 5}")) for i in range(N)]
    leaves = [merkle.leaf_hash(root + subject) for root, subject in pairs]
    tree = merkle.MerkleTree(leaves)
    receipt = reg.tx(anchorer, "anchorBatch", tree.root, N)
    return Batch(reg, pairs, leaves, tree, receipt)


@pytest.fixture(scope="module")
def batch(shared: Reg) -> Batch:
    return make_batch(shared, "shared")


def on_chain(
    reg: Reg, leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """The contract's verifyInclusion, run by eth_call."""
    result = reg.call("verifyInclusion", leaf, index, size, list(proof), root)
    assert isinstance(result, bool)
    return result


# ================================================================================ leaves


def test_batch_leaf_is_sha256_of_0x00_root_subject_off_and_on_chain(batch: Batch) -> None:
    for (root, subject), leaf in zip(batch.pairs, batch.leaves, strict=True):
        expected = hashlib.sha256(b"\x00" + root + subject).digest()
        assert leaf == expected
        assert batch.reg.call("batchLeafHash", root, subject) == expected


# ============================================================================== records


def test_anchor_batch_records_batch_root_under_batch_subject_for_its_anchorer(
    batch: Batch,
) -> None:
    reg, root, receipt = batch.reg, batch.tree.root, batch.receipt
    assert reg.check(root, BATCH_SUBJECT, 1) == Check(
        Status.TRUSTED, reg.timestamp(receipt), receipt["blockNumber"], 0
    )
    assert reg.record(root, BATCH_SUBJECT, 1)[2:] == (0, False)
    assert reg.events(receipt, "BatchAnchored") == [
        {"batchRoot": root, "count": N, "anchorer": reg.who(1)}
    ]
    assert len(receipt["logs"]) == 1  # no Anchored event, neither for the batch nor a lineage
    # the record is anchorer 1's alone; the lineages are not recorded singly
    assert reg.check(root, BATCH_SUBJECT, OWNER).status is Status.UNKNOWN
    assert reg.check(root, BATCH_SUBJECT, 2).status is Status.UNKNOWN
    assert reg.check(*batch.pairs[0], 1).status is Status.UNKNOWN
    found = reg.contract.events.Anchored.get_logs(from_block=reg.call("deployedAt"))
    assert found == []


def test_batch_records_are_per_anchorer_and_idempotent_per_anchorer(reg: Reg) -> None:
    b = make_batch(reg, "per-anchorer", anchorer=1)
    root = b.tree.root
    # a second anchorer's batch of the same root is its own record, with its own event
    assert reg.call("anchorBatch", root, N, who=2) is True
    second = reg.tx(2, "anchorBatch", root, N)
    assert reg.events(second, "BatchAnchored") == [
        {"batchRoot": root, "count": N, "anchorer": reg.who(2)}
    ]
    assert reg.check(root, BATCH_SUBJECT, 2).block == second["blockNumber"]
    # the first anchorer's repeat is a no-op, whatever count it claims
    before = reg.record(root, BATCH_SUBJECT, 1)
    assert reg.call("anchorBatch", root, N, who=1) is False
    again = reg.tx(1, "anchorBatch", root, 7)
    assert again["logs"] == []
    assert again["gasUsed"] < b.receipt["gasUsed"]
    assert reg.record(root, BATCH_SUBJECT, 1) == before
    found = reg.contract.events.BatchAnchored.get_logs(
        from_block=reg.call("deployedAt"), argument_filters={"batchRoot": root}
    )
    assert [(e["args"]["anchorer"], e["args"]["count"]) for e in found] == [
        (reg.who(1), N),
        (reg.who(2), N),
    ]


def test_batch_records_are_revoked_per_anchorer(reg: Reg) -> None:
    b = make_batch(reg, "revoke", anchorer=1)
    root = b.tree.root
    reg.tx(2, "anchorBatch", root, N)
    assert reg.refused(2, "revoke", root, BATCH_SUBJECT, reg.who(1), "squat") == (
        "NotAllowedToRevoke",
        (),
    )
    receipt = reg.tx(1, "revoke", root, BATCH_SUBJECT, reg.who(1), "bad batch")
    assert reg.events(receipt, "Revoked") == [
        {
            "root": root,
            "subject": BATCH_SUBJECT,
            "anchorer": reg.who(1),
            "by": reg.who(1),
            "reason": "bad batch",
        }
    ]
    assert reg.status(root, BATCH_SUBJECT, 1) is Status.REVOKED
    assert reg.status(root, BATCH_SUBJECT, 2) is Status.TRUSTED
    # a revoked batch is not revived by anchoring it again
    assert reg.tx(1, "anchorBatch", root, N)["logs"] == []
    assert reg.status(root, BATCH_SUBJECT, 1) is Status.REVOKED
    reg.tx(OWNER, "revoke", root, BATCH_SUBJECT, reg.who(2), "policy")
    assert reg.status(root, BATCH_SUBJECT, 2) is Status.REVOKED
    assert reg.record(root, BATCH_SUBJECT, 2).revoked_by_owner is True


def test_batch_records_of_a_leaked_key_turn_untrusted(reg: Reg) -> None:
    early = make_batch(reg, "leak-early", anchorer=2)
    late = make_batch(reg, "leak-late", anchorer=2)
    reg.tx(OWNER, "markUntrusted", reg.who(2), late.receipt["blockNumber"])
    assert reg.status(early.tree.root, BATCH_SUBJECT, 2) is Status.TRUSTED
    assert reg.status(late.tree.root, BATCH_SUBJECT, 2) is Status.UNTRUSTED
    assert reg.refused(2, "anchorBatch", b32("leak/next"), 1) == ("NotAnchorer", (reg.who(2),))


def test_empty_batch_names_empty_batch(reg: Reg) -> None:
    assert reg.refused(1, "anchorBatch", b32("empty"), 0) == ("EmptyBatch", ())
    assert reg.check(b32("empty"), BATCH_SUBJECT, 1).status is Status.UNKNOWN
    assert reg.refused(4, "anchorBatch", b32("stranger"), 5) == ("NotAnchorer", (reg.who(4),))


# =============================================================================== proofs


def test_every_index_of_the_64_batch_verifies_on_chain_and_off_chain(batch: Batch) -> None:
    root = batch.tree.root
    for i, leaf in enumerate(batch.leaves):
        proof = batch.tree.inclusion_proof(i)
        assert len(proof) == 6
        assert merkle.verify_inclusion(leaf, i, N, proof, root) is True
        assert on_chain(batch.reg, leaf, i, N, proof, root) is True, i


@pytest.mark.parametrize("index", [0, 1, 31, 32, 62, 63])
def test_tampered_proof_wrong_index_or_wrong_size_fail_on_chain_and_off_chain(
    batch: Batch, index: int
) -> None:
    leaf, root = batch.leaves[index], batch.tree.root
    proof = batch.tree.inclusion_proof(index)
    cases: dict[str, tuple[bytes, int, int, list[bytes], bytes]] = {}
    for j in range(len(proof)):
        tampered = list(proof)
        tampered[j] = flip(tampered[j], 8 * j + 3)
        cases[f"proof[{j}] tampered"] = (leaf, index, N, tampered, root)
    cases["wrong index"] = (leaf, (index + 1) % N, N, proof, root)
    cases["index == size"] = (leaf, N, N, proof, root)
    cases["size + 1"] = (leaf, index, N + 1, proof, root)
    cases["size * 2"] = (leaf, index, 2 * N, proof, root)
    cases["size / 2"] = (leaf, index % (N // 2), N // 2, proof, root)
    cases["size 0"] = (leaf, 0, 0, proof, root)
    cases["proof truncated"] = (leaf, index, N, proof[:-1], root)
    cases["proof extended"] = (leaf, index, N, [*proof, b32("extra")], root)
    cases["other leaf"] = (batch.leaves[(index + 1) % N], index, N, proof, root)
    for name, args in cases.items():
        assert merkle.verify_inclusion(*args) is False, name
        assert on_chain(batch.reg, *args) is False, name


TAMPERS = ["none", "element", "index", "size", "leaf", "root", "truncate", "extend"]


@settings(max_examples=25, deadline=None)
@given(
    size=st.integers(1, 40),
    data=st.data(),
    tamper=st.sampled_from(TAMPERS),
    seed=st.integers(0, 2**32),
)
def test_contract_verify_inclusion_agrees_with_merkle_module(
    shared: Reg, size: int, data: st.DataObject, tamper: str, seed: int
) -> None:
    leaves = [merkle.leaf_hash(b32(f"{seed}/{i}")) for i in range(size)]
    tree = merkle.MerkleTree(leaves)
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, root, proof, at, n = leaves[index], tree.root, tree.inclusion_proof(index), index, size
    must_fail = tamper != "none"
    if tamper == "element" and proof:
        j = data.draw(st.integers(0, len(proof) - 1), label="element")
        proof[j] = flip(proof[j], data.draw(st.integers(0, 255), label="bit"))
    elif tamper in ("element", "extend"):  # an empty proof has no element to tamper with
        proof.append(b32(f"extra/{seed}"))
    elif tamper == "index":
        at = data.draw(st.integers(0, size + 3).filter(lambda k: k != index), label="new index")
        must_fail = at >= size  # a wrong index in range need not fail in every tree shape
    elif tamper == "size":
        n = data.draw(st.integers(0, 44).filter(lambda k: k != size), label="new size")
        must_fail = index >= n  # the size is authenticated only as far as it shapes the path
    elif tamper == "leaf":
        leaf = flip(leaf, seed % 256)
    elif tamper == "root":
        root = flip(root, seed % 256)
    elif tamper == "truncate":
        if not proof:
            proof.append(b32(f"extra/{seed}"))
        else:
            proof.pop()

    off = merkle.verify_inclusion(leaf, at, n, proof, root)
    on = on_chain(shared, leaf, at, n, proof, root)
    assert on is off, (tamper, index, size, at, n)
    if tamper == "none":
        assert on is True
    if must_fail:
        assert on is False


# =================================================================================== gas


def test_anchor_batch_of_64_uses_at_most_1500_gas_per_root(reg: Reg) -> None:
    """PRODUCT P4: whole-transaction gas of anchorBatch(root, 64), all-nonzero calldata."""
    receipt = reg.tx(1, "anchorBatch", nonzero32("gas/batch"), N)
    assert receipt["gasUsed"] <= 1_500 * N, receipt["gasUsed"]
    again = reg.tx(2, "anchorBatch", nonzero32("gas/batch"), N)  # another anchorer: same cost
    assert again["gasUsed"] == receipt["gasUsed"]
