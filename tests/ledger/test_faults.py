"""Faults a real deployment meets: dead or restarting nodes, wrong chains or registries, races."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from aichain_audit.ledger.registry import Registry, Status, artifact
from aichain_audit.ledger.rpc import DEFAULT_RETRY_BUDGET
from tests.conftest import assert_one_line_error
from tests.ledger.conftest import (
    GENEROUS,
    MAX_ATTEMPTS,
    Anvil,
    AnvilFactory,
    aichain,
    aichain_bg,
    anchored_logs,
    cli_env,
    deploy_registry,
    finish,
    free_port,
    funded_key,
    manifest_root,
    manifest_subject,
    new_key,
    ok_json,
    receipt_file,
    registry_reader,
    retry_attempts,
    slow_link,
)

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes


def random_address() -> str:
    from web3 import Web3

    return Web3.to_checksum_address("0x" + secrets.token_hex(20))


def test_unreachable_node_fails_in_one_line_within_the_retry_budget_and_writes_nothing(
    home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    lineage = lineage_factory("unreachable")
    port = free_port()  # nothing listens there
    # credentials and an API key in the URL must not reach the message
    url = f"http://user:hunter2@127.0.0.1:{port}/v3/apikey0123456789"
    started = time.monotonic()
    proc = aichain(
        "anchor", lineage, "--chain", url, "--registry", random_address(), env=cli_env(home)
    )
    elapsed = time.monotonic() - started
    line = assert_one_line_error(proc)
    # What the CLI measured itself: it retried, and stopped because its 10 s deadline passed.
    attempts = retry_attempts(line, DEFAULT_RETRY_BUDGET)
    assert 2 <= attempts <= MAX_ATTEMPTS, line
    # Slowness cannot make a process give up sooner; a loaded machine can make it later.
    assert DEFAULT_RETRY_BUDGET <= elapsed < GENEROUS * DEFAULT_RETRY_BUDGET, elapsed
    assert f"127.0.0.1:{port}" in line
    assert "hunter2" not in proc.stderr and "apikey0123456789" not in proc.stderr
    assert proc.stdout == ""
    assert not receipt_file(lineage).exists()


def test_anchor_survives_a_node_restart_while_waiting_for_confirmations(
    anvil_factory: AnvilFactory, tmp_path: Path, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    state = tmp_path / "anvil-state.json"
    node = anvil_factory(state=state)
    key = funded_key(node)
    registry = deploy_registry(node, home, key)
    lineage = lineage_factory("restart")
    root = manifest_root(lineage)
    proc = aichain_bg(
        "anchor", lineage, "--chain", node.url, "--registry", registry,
        "--confirmations", "3", "--json", env=cli_env(home, key),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (logs := anchored_logs(node, registry, root)):
            assert proc.poll() is None, finish(proc)
            assert time.monotonic() < deadline, "the anchor transaction was never mined"
            time.sleep(0.05)
        mined_in = int(logs[0]["blockNumber"], 16)
        assert node.block_number() == mined_in
        assert proc.poll() is None, "the CLI did not wait for 3 confirmations"

        node.stop()  # SIGTERM: anvil dumps its state to --state on exit
        assert state.is_file() and state.stat().st_size > 0
        time.sleep(1.5)  # down long enough for the CLI's polls (every 0.2 s) to fail
        node.start()  # same port, same --state: the chain resumes where it stopped
        assert node.block_number() == mined_in, "anvil did not reload its --state"
        assert len(anchored_logs(node, registry, root)) == 1
        assert proc.poll() is None, finish(proc)

        while proc.poll() is None and time.monotonic() < deadline:
            node.mine(1)
            time.sleep(0.25)
        done = finish(proc, timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (receipt,) = ok_json(done)
    assert done.stderr == ""
    assert node.block_number() >= mined_in + 2  # three confirmations, counted on the new node
    logs = anchored_logs(node, registry, root)
    assert len(logs) == 1, logs
    assert receipt["tx"] == logs[0]["transactionHash"]
    assert receipt["block"] == mined_in and receipt["existing"] is False
    assert json.loads(receipt_file(lineage).read_text())["tx"] == receipt["tx"]
    assert node.nonce(key.address) == 2  # deploy + one anchor: nothing was sent twice
    record = registry_reader(node, registry).record(root, manifest_subject(lineage), key.address)
    assert record is not None and record.status is Status.TRUSTED


def test_wrong_chain_id_is_refused_in_one_line_before_anything_is_sent(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    key = funded_key(anvil)
    registry = deploy_registry(anvil, home, key)
    lineage = lineage_factory("wrong-chain")
    nonce = anvil.nonce(key.address)
    proc = aichain(
        "anchor", lineage, "--chain", anvil.url, "--registry", registry, "--chain-id", "1",
        env=cli_env(home, key),
    )  # fmt: skip
    line = assert_one_line_error(proc)
    assert "chain id" in line and "31337" in line and "expected 1" in line
    assert anvil.nonce(key.address) == nonce
    assert not receipt_file(lineage).exists()
    assert anchored_logs(anvil, registry, manifest_root(lineage)) == []


def test_unfunded_key_fails_in_one_line_and_nothing_is_recorded(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    owner = funded_key(anvil)
    registry = deploy_registry(anvil, home, owner)
    broke = new_key()
    chain = ("--chain", anvil.url, "--registry", registry)
    ok_json(aichain("registry", "grant", broke.address, *chain, "--json", env=cli_env(home, owner)))
    lineage = lineage_factory("unfunded")
    proc = aichain("anchor", lineage, *chain, env=cli_env(home, broke))
    line = assert_one_line_error(proc)
    assert "insufficient funds" in line.lower()
    assert f"127.0.0.1:{anvil.port} refused the transaction" in line
    assert anvil.nonce(broke.address) == 0
    assert not receipt_file(lineage).exists()
    reader = registry_reader(anvil, registry)
    assert reader.record(manifest_root(lineage), bytes(32), broke.address) is None


TINY_INIT_CODE = "0x60fe60005360016000f3"  # deploys the one-byte runtime 0xfe


def _address_without_registry(node: Anvil, kind: str) -> str:
    address = random_address()
    if kind == "random address":
        return address
    if kind == "funded account":
        node.fund(address, 1)
        return address
    if kind == "tiny contract":  # a real deployment of other code
        node.fund(address, 1)
        node.rpc("anvil_impersonateAccount", address)
        tx = node.rpc("eth_sendTransaction", {"from": address, "data": TINY_INIT_CODE})
        deadline = time.monotonic() + 60  # anvil mines asynchronously: under load it lags
        while (receipt := node.rpc("eth_getTransactionReceipt", tx)) is None:
            assert time.monotonic() < deadline, "anvil did not mine the deployment within 60 s"
            time.sleep(0.05)
        deployed = receipt["contractAddress"]
        assert node.rpc("eth_getCode", deployed, "latest") == "0xfe"
        return str(deployed)
    assert kind == "registry code with one byte changed"
    code = bytearray(bytes.fromhex(artifact()["deployedBytecode"].removeprefix("0x")))
    code[len(code) // 2] ^= 0x01
    node.rpc("anvil_setCode", address, "0x" + code.hex())
    return address


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("random address", "no contract"),
        ("funded account", "no contract"),
        ("tiny contract", "other code"),
        ("registry code with one byte changed", "other code"),
    ],
)
def test_registry_address_without_our_contract_is_refused_in_one_line(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path], kind: str, expected: str
) -> None:
    key = funded_key(anvil)
    address = _address_without_registry(anvil, kind)
    lineage = lineage_factory("no-registry")
    proc = aichain(
        "anchor", lineage, "--chain", anvil.url, "--registry", address, env=cli_env(home, key)
    )
    line = assert_one_line_error(proc)
    assert expected in line, line
    assert address.lower() in line.lower()
    assert anvil.nonce(key.address) == 0
    assert not receipt_file(lineage).exists()


@pytest.mark.parametrize("shared_home", [True, False], ids=["one home", "two homes"])
def test_two_processes_anchoring_with_the_same_key_on_a_node_both_land_with_distinct_nonces(
    anvil: Anvil, tmp_path: Path, lineage_factory: Callable[[str], Path], shared_home: bool
) -> None:
    """With one AICHAIN_HOME the nonce lock serialises the two senders; with two homes (two
    machines, in effect) the loser of the race must read the nonce again. A slow link makes
    the race certain: both processes read the pending nonce while the first send is held."""
    key = funded_key(anvil)
    registry = deploy_registry(anvil, tmp_path / "deployer", key)
    lineages = [lineage_factory("race-a"), lineage_factory("race-b")]
    homes = [tmp_path / "home-a", tmp_path / ("home-a" if shared_home else "home-b")]
    with slow_link(anvil.url, {"eth_sendRawTransaction": 1.5}) as url:
        chain = ("--chain", url, "--registry", registry, "--json")
        procs = [
            aichain_bg("anchor", manifest, *chain, env=cli_env(home, key))
            for manifest, home in zip(lineages, homes, strict=True)
        ]
        results = [finish(p) for p in procs]
    receipts = [ok_json(r)[0] for r in results]
    nonces = {int(anvil.rpc("eth_getTransactionByHash", r["tx"])["nonce"], 16) for r in receipts}
    assert nonces == {1, 2}  # 0 was the deployment
    assert anvil.nonce(key.address) == 3
    reader = registry_reader(anvil, registry)
    for manifest, receipt in zip(lineages, receipts, strict=True):
        assert receipt["existing"] is False
        record = reader.record(manifest_root(manifest), manifest_subject(manifest), key.address)
        assert record is not None and record.status is Status.TRUSTED
        assert record.anchorer == key.address
        assert receipt["anchorer"] == key.address
        assert len(anchored_logs(anvil, registry, manifest_root(manifest))) == 1
        assert receipt_file(manifest).is_file()


def test_two_processes_anchoring_on_a_new_embedded_chain_at_once_both_land_in_one_registry(
    home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    from aichain_audit.ledger.embedded import open_embedded_chain

    lineages = [lineage_factory("embedded-a"), lineage_factory("embedded-b")]
    assert not (home / "chain").exists()  # both race to create the chain and its registry
    env = cli_env(home)
    procs = [aichain_bg("anchor", manifest, "--json", env=env) for manifest in lineages]
    receipts = [ok_json(finish(p))[0] for p in procs]
    assert receipts[0]["registry"] == receipts[1]["registry"]
    assert {r["chain"] for r in receipts} == {"embedded"}
    assert receipts[0]["tx"] != receipts[1]["tx"]
    with open_embedded_chain(home / "chain") as session:
        address = session.get("registry")
        assert address == receipts[0]["registry"]
        reader = Registry(session.w3, address, signer=None)
        for manifest, receipt in zip(lineages, receipts, strict=True):
            anchorer = receipt["anchorer"]
            record = reader.record(manifest_root(manifest), manifest_subject(manifest), anchorer)
            assert record is not None and record.status is Status.TRUSTED
            assert record.block == receipt["block"]
            assert receipt_file(manifest).is_file()
