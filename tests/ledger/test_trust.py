"""Registry v2 and the trust model on a real anvil node (issue 7): records per anchorer,
honest anchor results, unambiguous revocation, batch proofs, anchorer pinning, leaked keys."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import assert_one_line_error
from tests.ledger.conftest import (
    Anvil,
    Key,
    aichain,
    aichain_bg,
    cli_env,
    deploy_registry,
    finish,
    funded_key,
    json_rpc,
    manifest_root,
    manifest_subject,
    ok_json,
    receipt_file,
    registry_reader,
)


def _setup(anvil: Anvil, home: Path, n: int = 2) -> tuple[Key, list[Key], tuple[str, ...]]:
    """A registry owned by a fresh key, and `n` granted anchorers."""
    owner = funded_key(anvil)
    registry = deploy_registry(anvil, home, owner)
    chain = ("--chain", anvil.url, "--registry", registry)
    anchorers = [funded_key(anvil) for _ in range(n)]
    for a in anchorers:
        ok_json(aichain("registry", "grant", a.address, *chain, "--json", env=cli_env(home, owner)))
    return owner, anchorers, chain


def _contract(anvil: Anvil, registry: str) -> object:
    return registry_reader(anvil, registry).contract


def _send_as(anvil: Anvil, key: Key, fn: object, tip: int = 2 * 10**9) -> str:
    """Signs and sends one contract call with `key` (the attacker's own tooling)."""
    from eth_account import Account

    w3 = anvil.w3()
    tx = fn.build_transaction(  # type: ignore[attr-defined]
        {
            "from": key.address,
            "nonce": w3.eth.get_transaction_count(key.address, "pending"),
            "gas": 300_000,
            "chainId": 31337,
            "maxFeePerGas": 20 * 10**9,
            "maxPriorityFeePerGas": tip,  # above the tool's 1 gwei: mined first
        }
    )
    signed = Account.from_key(key.env).sign_transaction(tx)
    return "0x" + bytes(w3.eth.send_raw_transaction(signed.raw_transaction)).hex()


def test_a_squatter_mined_first_neither_takes_nor_blocks_our_record(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    _, (us, squatter), chain = _setup(anvil, home)
    lineage = lineage_factory("squatted")
    root, subject = manifest_root(lineage), manifest_subject(lineage)
    registry = chain[-1]
    anvil.rpc("evm_setAutomine", False)
    try:
        # the squatter saw our root (mempool, CI log) and gets its transaction in first
        _send_as(anvil, squatter, _contract(anvil, registry).functions.anchor(root, subject))  # type: ignore[attr-defined]
        ours = aichain_bg("anchor", lineage, *chain, "--json", env=cli_env(home, us))
        import time

        deadline = time.monotonic() + 60
        while int(anvil.rpc("txpool_status")["pending"], 16) < 2:
            assert time.monotonic() < deadline, "our anchor never reached the mempool"
            time.sleep(0.2)
        anvil.mine(1)
        anvil.rpc("evm_setAutomine", True)
        (receipt,) = ok_json(finish(ours))
    finally:
        anvil.rpc("evm_setAutomine", True)
    assert receipt["anchorer"] == us.address
    assert receipt["existing"] is False
    assert receipt["status"] == "trusted"
    reader = registry_reader(anvil, registry)
    assert reader.record(root, subject, us.address) is not None
    assert reader.record(root, subject, squatter.address) is not None
    # the squatter revokes its own record: ours stands
    contract = _contract(anvil, registry)
    _send_as(anvil, squatter, contract.functions.revoke(root, subject, squatter.address, "gotcha"))  # type: ignore[attr-defined]
    assert reader.record(root, subject, us.address).status_name == "trusted"
    proof = lineage.with_name("p.json")
    assert aichain("prove", lineage, "#subject", "-o", proof, env=cli_env(home)).returncode == 0
    env = cli_env(home)
    pinned = aichain("check-proof", proof, *chain, "--trust", us.address, "--json", env=env)
    assert json.loads(pinned.stdout)["record"] == "trusted", pinned.stderr
    assert pinned.returncode == 0
    # unpinned, the squatter's revoked record counts too: the registry rule fails closed
    unpinned = aichain("check-proof", proof, *chain, "--json", env=cli_env(home))
    assert unpinned.returncode == 1
    doc = json.loads(unpinned.stdout)
    assert doc["trust"] == "registry" and doc["record"] == "revoked"
    assert {r["anchorer"] for r in doc["records"]} == {us.address, squatter.address}


def test_revoke_by_bare_root_refuses_and_lists_several_records(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    _, (us,), chain = _setup(anvil, home, 1)
    lineage = lineage_factory("decoy")
    root = manifest_root(lineage)
    ok_json(aichain("anchor", lineage, *chain, "--json", env=cli_env(home, us)))
    # a batch record under the same root, by the same key (a planted decoy)
    _send_as(anvil, us, _contract(anvil, chain[-1]).functions.anchorBatch(root, 1))  # type: ignore[attr-defined]
    line = assert_one_line_error(
        aichain("revoke", root.hex(), "--reason", "x", *chain, env=cli_env(home, us))
    )
    assert "2 records" in line and "batch" in line and manifest_subject(lineage).hex() in line
    reader = registry_reader(anvil, chain[-1])
    assert reader.record(root, manifest_subject(lineage), us.address).status_name == "trusted"


def test_anchoring_onto_a_revoked_or_untrusted_record_exits_1_without_a_receipt(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    owner, (us,), chain = _setup(anvil, home, 1)
    revoked = lineage_factory("revoked")
    ok_json(aichain("anchor", revoked, *chain, "--json", env=cli_env(home, us)))
    proc = aichain("revoke", revoked, "--reason", "leaked test set", *chain, env=cli_env(home, us))
    assert proc.returncode == 0, proc.stderr
    assert us.address in proc.stdout
    receipt_file(revoked).unlink()
    line = assert_one_line_error(aichain("anchor", revoked, *chain, env=cli_env(home, us)), 1)
    assert "revoked" in line and "leaked test set" in line
    assert not receipt_file(revoked).exists()

    untrusted = lineage_factory("untrusted")
    (first,) = ok_json(aichain("anchor", untrusted, *chain, "--json", env=cli_env(home, us)))
    env_owner = cli_env(home, owner)
    proc = aichain(
        "registry", "mark-untrusted", us.address, "--from-block", str(first["block"]), *chain,
        "--json", env=env_owner,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    status = ok_json(aichain("registry", "status", us.address, *chain, "--json", env=env_owner))
    assert status["is_anchorer"] is False and status["untrusted_from"] == first["block"]
    receipt_file(untrusted).unlink()
    line = assert_one_line_error(aichain("anchor", untrusted, *chain, env=cli_env(home, us)), 1)
    assert "untrusted" in line
    # and the leaked key can no longer revoke
    proc = aichain("revoke", untrusted, "--reason", "cover up", *chain, env=cli_env(home, us))
    assert proc.returncode == 2
    assert "AnchorerIsUntrusted" in proc.stderr


def test_a_batched_lineage_is_checked_through_its_receipt_and_fails_once_revoked(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    _, (us,), chain = _setup(anvil, home, 1)
    a, b = lineage_factory("batch-a"), lineage_factory("batch-b")
    receipts = ok_json(aichain("anchor", a, b, *chain, "--json", env=cli_env(home, us)))
    assert [r["batch"]["size"] for r in receipts] == [2, 2]
    proof = a.with_name("proof-a.json")
    assert aichain("prove", a, "a.yaml#/model/C".replace("a.yaml", "batch-a.yaml"), "-o", proof,
                   env=cli_env(home)).returncode == 0  # fmt: skip
    env = cli_env(home)
    # without the receipt the lineage root itself is not recorded
    assert aichain("check-proof", proof, *chain, "--trust", us.address, env=env).returncode == 1
    ok = aichain("check-proof", proof, *chain, "--trust", us.address, "--receipt",
                 receipt_file(a), "--json", env=env)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["batch"]["size"] == 2
    # a tampered path: exit 1, never trusted
    tampered = a.with_name("tampered.receipt.json")
    doc = json.loads(receipt_file(a).read_text())
    doc["batch"]["path"][0] = "00" * 32
    tampered.write_text(json.dumps(doc))
    bad = aichain("check-proof", proof, *chain, "--receipt", tampered, env=env)
    assert bad.returncode == 1, bad.stderr
    # revoking the lineage by its manifest resolves to the batch record and says so
    rev = aichain("revoke", b, "--reason", "bad batch", *chain, env=cli_env(home, us))
    assert rev.returncode == 0, rev.stderr
    assert "2 lineages" in rev.stdout
    after = aichain("check-proof", proof, *chain, "--receipt", receipt_file(a), env=env)
    assert after.returncode == 1
    assert "revoked" in after.stderr and "bad batch" in after.stderr


def test_pinned_anchorers_alone_count(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    _, (alice, bob), chain = _setup(anvil, home)
    lineage = lineage_factory("pinned")
    proof = lineage.with_name("p.json")
    env = cli_env(home)
    assert aichain("prove", lineage, "#subject", "-o", proof, env=env).returncode == 0
    ok_json(aichain("anchor", lineage, *chain, "--json", env=cli_env(home, alice)))
    # a record by an unpinned anchorer is not accepted
    only_bob = aichain("check-proof", proof, *chain, "--trust", bob.address, env=env)
    assert only_bob.returncode == 1 and "not anchored" in only_bob.stderr
    assert aichain("check-proof", proof, *chain, "--trust", alice.address, env=env).returncode == 0
    # a revoked counted record fails the check even when another counted record is trusted
    receipt_file(lineage).unlink()
    ok_json(aichain("anchor", lineage, *chain, "--json", env=cli_env(home, bob)))
    revoked = aichain("revoke", lineage, "--reason", "oops", *chain, env=cli_env(home, bob))
    assert revoked.returncode == 0, revoked.stderr
    both = aichain(
        "check-proof", proof, *chain, "--trust", alice.address, "--trust", bob.address, env=env
    )
    assert both.returncode == 1 and "revoked" in both.stderr
    # the environment pins too; --require-pinned fails an unpinned result
    via_env = aichain("check-proof", proof, *chain, env={**env, "AICHAIN_TRUST": alice.address})
    assert via_env.returncode == 0, via_env.stderr
    unpinned = aichain("check-proof", proof, *chain, "--require-pinned", env=env)
    assert unpinned.returncode == 1
    assert "--require-pinned" in unpinned.stderr or "revoked" in unpinned.stderr
    line = assert_one_line_error(aichain("check-proof", proof, *chain, "--trust", "", env=env))
    assert "empty" in line


def test_concurrent_anchors_with_one_key_report_one_creator(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    _, (us,), chain = _setup(anvil, home, 1)
    lineage = lineage_factory("race")
    copies = []
    for i in range(3):
        copy = lineage.with_name(f"race-{i}.json")
        copy.write_bytes(lineage.read_bytes())
        copies.append(copy)
    procs = [aichain_bg("anchor", c, *chain, "--json", env=cli_env(home, us)) for c in copies]
    results = [ok_json(finish(p))[0] for p in procs]
    created = [r for r in results if not r["existing"]]
    assert len(created) == 1
    assert {r["tx"] for r in results} == {created[0]["tx"]}
    assert all(r["anchorer"] == us.address and r["status"] == "trusted" for r in results)


@contextmanager
def range_limited_link(target: str, max_range: int) -> Iterator[tuple[str, list[int]]]:
    """A relay to the real node that refuses `eth_getLogs` over more than `max_range` blocks,
    as public nodes do; it records the ranges it was asked for."""
    asked: list[int] = []

    class Relay(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = json.loads(body)
            if request.get("method") == "eth_getLogs":
                f = request["params"][0]
                span = int(f["toBlock"], 16) - int(f["fromBlock"], 16) + 1
                asked.append(span)
                if span > max_range:
                    answer = json.dumps(
                        {
                            "jsonrpc": "2.0",
                            "id": request["id"],
                            "error": {
                                "code": -32005,
                                "message": f"block range too large (max {max_range})",
                            },
                        }
                    )
                    self._reply(200, answer.encode())  # fmt: skip
                    return
            upstream = urllib.request.Request(
                target, body, {"Content-Type": "application/json"}, method="POST"
            )
            with urllib.request.urlopen(upstream, timeout=30) as response:
                self._reply(response.status, response.read())

        def _reply(self, status: int, answer: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_unpinned_reads_scan_events_in_ranges_that_halve_when_a_node_refuses(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    _, (us,), chain = _setup(anvil, home, 1)
    lineage = lineage_factory("scanned")
    (anchored,) = ok_json(aichain("anchor", lineage, *chain, "--json", env=cli_env(home, us)))
    for _ in range(45):  # the record now lies far behind the head (small steps: a busy
        json_rpc(anvil.url, "anvil_mine", [hex(100)], timeout=60)  # machine mines slowly)
    proof = lineage.with_name("p.json")
    assert aichain("prove", lineage, "#subject", "-o", proof, env=cli_env(home)).returncode == 0
    with range_limited_link(anvil.url, 700) as (url, asked):
        proc = aichain(
            "check-proof", proof, "--chain", url, "--registry", chain[-1], "--json",
            "--confirmations", "3", env=cli_env(home),
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["trust"] == "registry" and doc["warnings"]
    assert [r["anchorer"] for r in doc["records"]] == [us.address]
    assert doc["records"][0]["block"] == anchored["block"]
    assert doc["block_read"] == anvil.block_number() - 2  # latest less confirmations - 1
    assert asked[0] == 2_000 and min(asked) <= 700 and max(asked[1:]) <= 1_000
