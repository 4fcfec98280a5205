"""Batch anchors: one RFC 9162 batch root on chain, each lineage proved into it.

The contract's `batchLeafHash` and `verifyInclusion` views run in the embedded EVM and are
compared with `aichain_audit.merkle`, which is what the anchoring tool uses off chain.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit import api, merkle
from aichain_audit.ledger.embedded import dev_keys, open_embedded_chain
from aichain_audit.ledger.keys import dev_signer
from aichain_audit.ledger.registry import Registry, RegistryError, Status, TxResult

N = 64
BATCH_SUBJECT = bytes.fromhex("60b0ce92ffc8c48594017e134acfd57c59b264bb801933dca516ff8970c1aaa2")


def b32(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def flip(value: bytes, bit: int = 0) -> bytes:
    """`value` with one bit changed."""
    out = bytearray(value)
    out[bit // 8 % len(out)] ^= 1 << (bit % 8)
    return bytes(out)


@dataclass(frozen=True)
class Batch:
    reg: Registry
    pairs: list[tuple[bytes, bytes]]  # (lineage root, subject)
    leaves: list[bytes]
    tree: merkle.MerkleTree
    tx: TxResult


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with open_embedded_chain(tmp_path_factory.mktemp("batch-chain"), write=True) as s:
        registry = Registry(s.w3, None, signer=dev_signer(dev_keys()[0]))
        registry.deploy()
        yield registry


@pytest.fixture(scope="module")
def batch(reg: Registry) -> Batch:
    pairs = [(b32(f"lineage/{i}"), b32(f"model/{i % 5}")) for i in range(N)]
    leaves = [merkle.leaf_hash(root + subject) for root, subject in pairs]
    tree = merkle.MerkleTree(leaves)
    tx = reg.anchor_batch(tree.root, N)
    return Batch(reg, pairs, leaves, tree, tx)


def on_chain(
    reg: Registry, leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """The contract's verifyInclusion, run by eth_call."""
    result = reg.contract.functions.verifyInclusion(leaf, index, size, list(proof), root).call()
    assert isinstance(result, bool)
    return result


def test_batch_leaf_is_sha256_of_0x00_root_subject_off_and_on_chain(batch: Batch) -> None:
    fn = batch.reg.contract.functions.batchLeafHash
    for (root, subject), leaf in zip(batch.pairs, batch.leaves, strict=True):
        expected = hashlib.sha256(b"\x00" + root + subject).digest()
        assert leaf == expected
        assert api.batch_leaf_hash(root, subject) == expected  # what `aichain anchor` uses
        assert fn(root, subject).call() == expected


def test_anchor_batch_records_batch_root_under_batch_subject(batch: Batch) -> None:
    reg, root = batch.reg, batch.tree.root
    assert reg.batch_subject() == BATCH_SUBJECT
    rec = reg.record(root, BATCH_SUBJECT)
    assert rec is not None
    assert rec.status is Status.TRUSTED
    owner = dev_signer(dev_keys()[0]).address
    assert (rec.anchorer, rec.block, rec.timestamp) == (owner, batch.tx.block, batch.tx.timestamp)
    receipt = reg.w3.eth.get_transaction_receipt(batch.tx.tx)
    anchored = reg.contract.events.BatchAnchored().process_receipt(receipt)
    assert [(e["args"]["batchRoot"], e["args"]["count"]) for e in anchored] == [(root, N)]
    assert len(receipt["logs"]) == 1  # no per-lineage Anchored event
    assert reg.find_anchor_tx(root, BATCH_SUBJECT, batch=True) == batch.tx
    # the batch's lineages are not findable by subject on chain, and not recorded singly
    assert reg.roots_of(batch.pairs[0][1]) == []
    assert reg.record(*batch.pairs[0]) is None


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
    reg: Registry, size: int, data: st.DataObject, tamper: str, seed: int
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
    on = on_chain(reg, leaf, at, n, proof, root)
    assert on is off, (tamper, index, size, at, n)
    if tamper == "none":
        assert on is True
    if must_fail:
        assert on is False


def test_empty_batch_is_rejected_naming_empty_batch(reg: Registry) -> None:
    with pytest.raises(RegistryError, match=r"\bEmptyBatch\b"):
        reg.anchor_batch(b32("empty"), 0)
    assert reg.record(b32("empty"), BATCH_SUBJECT) is None


def test_anchor_batch_of_64_uses_at_most_1500_gas_per_root(batch: Batch) -> None:
    assert batch.tx.gas_used <= 1_500 * N, batch.tx.gas_used
