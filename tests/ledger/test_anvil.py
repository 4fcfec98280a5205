"""The registry life cycle on a real anvil node, driven through the CLI as a user would."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from aichain_audit import merkle
from aichain_audit.ledger.keys import ANVIL_DEV_ADDRESSES
from aichain_audit.ledger.registry import Status
from tests.conftest import assert_one_line_error
from tests.ledger.conftest import (
    ANVIL_DEV_KEY_0,
    BATCH_ANCHORED_TOPIC,
    BATCH_SUBJECT,
    Anvil,
    AnvilFactory,
    aichain,
    anchored_logs,
    cli_env,
    deploy_registry,
    funded_key,
    manifest_root,
    manifest_subject,
    ok_json,
    receipt_file,
    registry_reader,
)

ZERO = "0x" + "0" * 40


def test_registry_life_cycle_deploy_grant_anchor_batch_revoke_withdraw_transfer(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    owner, anchorer, stranger, new_owner = (funded_key(anvil) for _ in range(4))
    as_owner, as_anchorer = cli_env(home, owner), cli_env(home, anchorer)
    as_stranger, as_new_owner = cli_env(home, stranger), cli_env(home, new_owner)

    # deploy: the deployer owns the registry and may anchor
    registry = deploy_registry(anvil, home, owner)
    chain = ("--chain", anvil.url, "--registry", registry)
    reader = registry_reader(anvil, registry)  # checks the address holds our exact runtime code
    assert reader.owner() == owner.address
    assert reader.is_anchorer(owner.address)
    assert not reader.is_anchorer(anchorer.address)

    granted = ok_json(
        aichain("registry", "grant", anchorer.address, *chain, "--json", env=as_owner)
    )
    assert granted["is_anchorer"] is True
    assert reader.is_anchorer(anchorer.address)

    # a single anchor by the granted account
    lineage = lineage_factory("single")
    root, subject = manifest_root(lineage), manifest_subject(lineage)
    (first,) = ok_json(aichain("anchor", lineage, *chain, "--json", env=as_anchorer))
    assert first["root"] == root.hex()
    assert first["chain_id"] == 31337
    assert first["chain"] == "rpc"
    assert first["registry"] == registry
    assert first["anchorer"] == anchorer.address
    assert first["existing"] is False
    assert first["batch"] is None
    assert 0 < first["gas_used"] <= 50_000
    tx = anvil.rpc("eth_getTransactionReceipt", first["tx"])
    assert int(tx["blockNumber"], 16) == first["block"]
    assert int(tx["gasUsed"], 16) == first["gas_used"]
    assert tx["from"].lower() == anchorer.address.lower()
    on_disk = json.loads(receipt_file(lineage).read_text())
    assert {k: on_disk[k] for k in first} == first
    record = reader.record(root, subject, anchorer.address)
    assert record is not None and record.status is Status.TRUSTED
    assert record.anchorer == anchorer.address and record.block == first["block"]

    # anchoring the same lineage again finds the record and sends nothing
    nonce = anvil.nonce(anchorer.address)
    (again,) = ok_json(aichain("anchor", lineage, *chain, "--json", env=as_anchorer))
    assert again["existing"] is True
    assert again["tx"] == first["tx"] and again["block"] == first["block"]
    assert anvil.nonce(anchorer.address) == nonce
    assert len(anchored_logs(anvil, registry, root)) == 1

    # a batch of three lineages in one transaction
    batch = [lineage_factory(f"batch-{i}") for i in range(3)]
    receipts = ok_json(aichain("anchor", *batch, *chain, "--json", env=as_anchorer))
    assert len(receipts) == 3
    assert len({r["tx"] for r in receipts}) == 1
    assert anvil.nonce(anchorer.address) == nonce + 1
    batch_root = bytes.fromhex(receipts[0]["batch"]["root"])
    for i, (manifest, r) in enumerate(zip(batch, receipts, strict=True)):
        assert r["root"] == manifest_root(manifest).hex()
        assert r["batch"]["index"] == i and r["batch"]["size"] == 3
        assert r["batch"]["root"] == batch_root.hex()
        leaf = hashlib.sha256(b"\x00" + manifest_root(manifest) + manifest_subject(manifest))
        path = [bytes.fromhex(p) for p in r["batch"]["path"]]
        assert merkle.verify_inclusion(leaf.digest(), i, 3, path, batch_root)
        assert not merkle.verify_inclusion(leaf.digest(), (i + 1) % 3, 3, path, batch_root)
        assert json.loads(receipt_file(manifest).read_text())["tx"] == r["tx"]
        # batched lineages get no Anchored event of their own
        assert anchored_logs(anvil, registry, manifest_root(manifest)) == []
    batch_record = reader.record(batch_root, BATCH_SUBJECT, anchorer.address)
    assert batch_record is not None and batch_record.status is Status.TRUSTED
    assert len(anvil.logs(registry, [BATCH_ANCHORED_TOPIC, "0x" + batch_root.hex()])) == 1
    # the same batch again: found, nothing sent
    again = ok_json(aichain("anchor", *batch, *chain, "--json", env=as_anchorer))
    assert [r["existing"] for r in again] == [True] * 3
    assert {r["tx"] for r in again} == {receipts[0]["tx"]}
    assert [r["batch"] for r in again] == [r["batch"] for r in receipts]
    assert anvil.nonce(anchorer.address) == nonce + 1

    # a stranger has no record of its own, and may not revoke the anchorer's; the anchorer may
    assert "no record by" in assert_one_line_error(
        aichain("revoke", lineage, "--reason", "x", *chain, env=as_stranger)
    )
    refused = aichain(
        "revoke", lineage, "--reason", "x", "--anchorer", anchorer.address, *chain, env=as_stranger
    )
    assert "NotAllowedToRevoke" in assert_one_line_error(refused)
    assert reader.record(root, subject, anchorer.address).status is Status.TRUSTED
    revoked = ok_json(
        aichain("revoke", lineage, "--reason", "x", *chain, "--json", env=as_anchorer)
    )
    assert revoked["root"] == root.hex() and revoked["reason"] == "x"
    assert reader.record(root, subject, anchorer.address).status is Status.REVOKED
    # the owner revokes the anchorer's whole batch by its root (no manifest): the subject is found
    by_root = aichain(
        "revoke", batch_root.hex(), "--reason", "y", "--anchorer", anchorer.address, *chain,
        "--json", env=as_owner,
    )  # fmt: skip
    revoked_batch = ok_json(by_root)
    assert revoked_batch["subject"] == BATCH_SUBJECT.hex()
    assert revoked_batch["batch_size"] == 3 and revoked_batch["anchorer"] == anchorer.address
    assert reader.record(batch_root, BATCH_SUBJECT, anchorer.address).status is Status.REVOKED

    # withdrawn rights: a new anchor is refused by the contract, and no receipt is written
    withdrawn = aichain("registry", "withdraw", anchorer.address, *chain, "--json", env=as_owner)
    assert ok_json(withdrawn)["is_anchorer"] is False
    late = lineage_factory("after-withdraw")
    nonce = anvil.nonce(anchorer.address)
    refused = aichain("anchor", late, *chain, env=as_anchorer)
    assert "NotAnchorer" in assert_one_line_error(refused)
    assert not receipt_file(late).exists()
    assert anvil.nonce(anchorer.address) == nonce
    assert reader.record(manifest_root(late), manifest_subject(late), anchorer.address) is None

    # two-step ownership transfer
    started = aichain(
        "registry", "transfer-owner", new_owner.address, *chain, "--json", env=as_owner
    )
    assert ok_json(started)["pending_owner"] == new_owner.address
    assert reader.owner() == owner.address
    accepted = ok_json(aichain("registry", "accept-owner", *chain, "--json", env=as_new_owner))
    assert accepted["owner"] == new_owner.address
    status = ok_json(aichain("registry", "status", *chain, "--json", env=cli_env(home)))
    assert status["owner"] == new_owner.address
    assert status["pending_owner"] == ZERO
    assert status["registry"] == registry and status["chain_id"] == 31337
    assert reader.owner() == new_owner.address


@pytest.mark.parametrize(
    "dev_key",
    [ANVIL_DEV_KEY_0, "0x" + "00" * 31 + "01"],
    ids=["anvil account 0", "embedded chain dev key 1"],
)
def test_well_known_dev_key_deploys_on_31337_and_is_refused_on_other_chain_ids(
    anvil_factory: AnvilFactory, home: Path, dev_key: str
) -> None:
    from eth_account import Account

    from aichain_audit.ledger.embedded import dev_keys

    dev_address = Account.from_key(dev_key).address
    known = dev_address.lower() in ANVIL_DEV_ADDRESSES or bytes.fromhex(dev_key[2:]) in dev_keys()
    assert known
    as_dev = cli_env(home, dev_key)

    dev_chain = anvil_factory(chain_id=31337)
    dev_chain.fund(dev_address)
    deployed = ok_json(
        aichain("registry", "deploy", "--chain", dev_chain.url, "--json", env=as_dev)
    )
    assert deployed["owner"] == dev_address and deployed["chain_id"] == 31337
    assert dev_chain.nonce(dev_address) == 1

    other = anvil_factory(chain_id=4242)
    other.fund(dev_address)  # funds are not what stops it
    head = other.block_number()
    refused = aichain("registry", "deploy", "--chain", other.url, "--json", env=as_dev)
    line = assert_one_line_error(refused)
    assert "well-known" in line and "4242" in line
    assert refused.stdout == ""
    assert dev_key.removeprefix("0x") not in (refused.stdout + refused.stderr).lower()
    assert other.nonce(dev_address) == 0
    assert other.block_number() == head

    # control: the refusal is about the key, not about chain 4242
    own = funded_key(other)
    ok = ok_json(
        aichain("registry", "deploy", "--chain", other.url, "--json", env=cli_env(home, own))
    )
    assert ok["chain_id"] == 4242 and ok["owner"] == own.address
