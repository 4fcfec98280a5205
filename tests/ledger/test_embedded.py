"""The embedded chain as a user meets it: state on disk, sessions, processes, the CLI.

Every process here is a real `python` process; the chain is the real SQLite-backed py-evm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from eth_tester import exceptions as tester_errors
from web3.exceptions import TransactionNotFound

from aichain_audit.ledger.embedded import Session, dev_keys, open_embedded_chain
from aichain_audit.ledger.keys import dev_signer
from aichain_audit.ledger.registry import Registry, Status

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes

REPO = Path(__file__).resolve().parents[2]
DEV0 = dev_signer(dev_keys()[0]).address
ROOT_A, ROOT_B = bytes([0xA1]) * 32, bytes([0xB2]) * 32
SUBJECT = bytes([0x5C]) * 32

# Anchors argv[2] for argv[3] in the chain at argv[1], deploying the registry if missing.
# Optional argv[4..6]: a "ready" file to create, a "go" file to wait for (so that several
# processes start at the same moment), and seconds to hold the session open after anchoring.
WRITER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from aichain_audit.ledger.embedded import Session, dev_keys, open_embedded_chain
    from aichain_audit.ledger.keys import dev_signer
    from aichain_audit.ledger.registry import Registry

    home, root, subject = Path(sys.argv[1]), bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
    ready, go, hold = (sys.argv[4:7] + ["", "", "0"])[:3]
    if ready:
        Path(ready).touch()
        while not Path(go).exists():
            time.sleep(0.005)
    with open_embedded_chain(home, write=True) as s:
        entered = time.time()
        reg = Registry(s.w3, s.get("registry"), signer=dev_signer(dev_keys()[0]))
        if reg.address is None:
            reg.deploy()
            s.set("registry", reg.address)
        tx, _ = reg.anchor(root, subject)
        if hold == "crash":
            os._exit(3)  # dies inside the session: no commit, no clean-up
        time.sleep(float(hold))
        left = time.time()
    print(json.dumps({"registry": reg.address, "tx": tx.tx, "block": tx.block,
                      "timestamp": tx.timestamp, "entered": entered, "left": left}))
    """
)

# Reads the record of argv[2]/argv[3], its transaction receipt and its Anchored log.
READER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from aichain_audit.ledger.embedded import open_embedded_chain
    from aichain_audit.ledger.registry import Registry

    home, root, subject = Path(sys.argv[1]), bytes.fromhex(sys.argv[2]), bytes.fromhex(sys.argv[3])
    with open_embedded_chain(home) as s:
        reg = Registry(s.w3, s.get("registry"), signer=None)
        from aichain_audit.ledger.keys import dev_signer
        from aichain_audit.ledger.embedded import dev_keys
        rec = reg.record(root, subject, dev_signer(dev_keys()[0]).address)
        found = reg.find_anchor_tx(rec)
        receipt = s.w3.eth.get_transaction_receipt(found.tx)
        logs = reg.contract.events.Anchored().process_receipt(receipt)
        print(json.dumps({
            "record": None if rec is None else [rec.anchorer, rec.timestamp, rec.block,
                                                rec.revoked, int(rec.status)],
            "tx": found.tx,
            "receipt": {"status": receipt["status"], "block": receipt["blockNumber"],
                        "to": receipt["to"]},
            "logs": [[e["args"]["root"].hex(), e["args"]["subject"].hex(), e["args"]["anchorer"]]
                     for e in logs],
            "head": s.w3.eth.block_number,
        }))
    """
)


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process: this checkout, no user chain or key settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHAIN_")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true", **extra)
    return env


def python(script: str, *args: str | Path, timeout: float = 60) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def aichain(
    *args: str | Path, cwd: Path, home: Path, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=cwd,
        env=child_env(AICHAIN_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def registry_in(home: Path, write: bool = False) -> Iterator[tuple[Session, Registry]]:
    """A session on the chain at `home` and its registry (if any), signing with dev key 0."""
    with open_embedded_chain(home, write=write) as s:
        yield s, Registry(s.w3, s.get("registry"), signer=dev_signer(dev_keys()[0]))


# ----------------------------------------------------------------------------- persistence


def test_anchor_in_one_process_is_read_with_receipt_and_log_in_another(tmp_path: Path) -> None:
    home = tmp_path / "chain"
    wrote = python(WRITER, home, ROOT_A.hex(), SUBJECT.hex())
    assert wrote["block"] == 2  # block 1 deployed the registry

    read = python(READER, home, ROOT_A.hex(), SUBJECT.hex())
    assert read["record"] == [DEV0, wrote["timestamp"], wrote["block"], False, Status.TRUSTED]
    assert read["tx"] == wrote["tx"]
    assert read["receipt"] == {"status": 1, "block": wrote["block"], "to": wrote["registry"]}
    assert read["logs"] == [[ROOT_A.hex(), SUBJECT.hex(), DEV0]]
    assert read["head"] == wrote["block"]


def test_failed_session_leaves_no_trace(tmp_path: Path) -> None:
    home = tmp_path / "chain"
    with registry_in(home, write=True) as (s, reg):
        reg.deploy()
        s.set("registry", reg.address)
        kept, _ = reg.anchor(ROOT_A, SUBJECT)
    with registry_in(home) as (s, reg):
        head = s.w3.eth.block_number
        nonce = s.w3.eth.get_transaction_count(DEV0)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), registry_in(home, write=True) as (s, reg):
        lost, _ = reg.anchor(ROOT_B, SUBJECT)
        s.set("marker", "written by the failed session")
        assert reg.record(ROOT_B, SUBJECT, DEV0) is not None  # visible inside the session...
        raise Boom

    with registry_in(home) as (s, reg):  # ...and gone after it
        assert reg.record(ROOT_B, SUBJECT, DEV0) is None
        assert reg.roots_of(SUBJECT) == [(ROOT_A, DEV0, kept.block)]
        assert s.w3.eth.block_number == head
        assert s.w3.eth.get_transaction_count(DEV0) == nonce
        assert s.get("marker") is None
        with pytest.raises((TransactionNotFound, tester_errors.TransactionNotFound)):
            s.w3.eth.get_transaction_receipt(lost.tx)
        rec = reg.record(ROOT_A, SUBJECT, DEV0)
        assert rec is not None and rec.status is Status.TRUSTED


def test_process_dying_inside_a_session_leaves_no_trace_and_no_lock(tmp_path: Path) -> None:
    home = tmp_path / "chain"
    python(WRITER, home, ROOT_A.hex(), SUBJECT.hex())
    proc = subprocess.run(
        [sys.executable, "-c", WRITER, home, ROOT_B.hex(), SUBJECT.hex(), "", "", "crash"],
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    with open_embedded_chain(home, write=True, lock_timeout=5) as s:  # the lock was freed
        reg = Registry(s.w3, s.get("registry"), signer=None)
        assert reg.record(ROOT_B, SUBJECT, DEV0) is None
        assert reg.record(ROOT_A, SUBJECT, DEV0) is not None
        assert s.w3.eth.block_number == 2


def test_two_processes_anchoring_at_the_same_moment_both_land(tmp_path: Path) -> None:
    home = tmp_path / "chain"
    with registry_in(home, write=True) as (s, reg):
        reg.deploy()
        s.set("registry", reg.address)
    go = tmp_path / "go"
    procs = []
    for name, root in (("a", ROOT_A), ("b", ROOT_B)):
        cmd = [sys.executable, "-c", WRITER, str(home), root.hex(), SUBJECT.hex()]
        cmd += [str(tmp_path / f"ready-{name}"), str(go), "0.3"]  # hold the session 0.3 s
        procs.append(
            subprocess.Popen(
                cmd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{n}").exists() for n in "ab"):
            assert time.monotonic() < deadline, "children never became ready"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        go.touch()
        outputs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outputs]
    a, b = (json.loads(out) for out, _ in outputs)
    first, second = sorted((a, b), key=lambda r: r["entered"])
    assert second["entered"] >= first["left"], "writer sessions overlapped"
    assert sorted([a["block"], b["block"]]) == [2, 3]

    with registry_in(home) as (s, reg):
        assert s.w3.eth.block_number == 3
        for root, wrote in ((ROOT_A, a), (ROOT_B, b)):
            rec = reg.record(root, SUBJECT, DEV0)
            assert rec is not None and rec.block == wrote["block"]
            assert rec.status is Status.TRUSTED
        assert {r for r, _, _ in reg.roots_of(SUBJECT)} == {ROOT_A, ROOT_B}


# ---------------------------------------------------------------------------------- CLI


def test_cli_anchor_deploys_on_first_use_writes_receipt_and_second_run_is_existing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "aichain-home"
    (tmp_path / "cfg.yaml").write_text("model:\n  C: 0.5\nseed: 42\n", encoding="utf-8")
    made = aichain(
        "fingerprint", "--config", "cfg.yaml", "-o", "lineage.json", cwd=tmp_path, home=home
    )
    assert made.returncode == 0, made.stderr
    manifest = json.loads((tmp_path / "lineage.json").read_text(encoding="utf-8"))
    assert not (home / "chain").exists()

    first = aichain("anchor", "lineage.json", cwd=tmp_path, home=home)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"anchored {manifest['root']}")
    receipt_file = tmp_path / "lineage.receipt.json"
    receipt = json.loads(receipt_file.read_text(encoding="utf-8"))
    assert receipt["schema"] == "aichain.receipt/v1"
    assert (receipt["root"], receipt["subject"]) == (manifest["root"], manifest["subject"])
    assert (receipt["chain"], receipt["existing"], receipt["batch"]) == ("embedded", False, None)
    assert receipt["anchorer"] == DEV0
    assert receipt["block"] == 2  # block 1: the registry deployed itself
    assert 0 < receipt["gas_used"] <= 50_000

    root = bytes.fromhex(manifest["root"])
    subject = bytes.fromhex(manifest["subject"].removeprefix("sha256:"))
    with registry_in(home / "chain") as (s, reg):
        assert reg.address == receipt["registry"] == s.get("registry")
        deploy_block = s.w3.eth.get_block(1)
        deploy_receipt = s.w3.eth.get_transaction_receipt(deploy_block["transactions"][0])
        assert deploy_receipt["contractAddress"] == receipt["registry"]
        rec = reg.record(root, subject, DEV0)
        assert rec is not None and rec.block == receipt["block"]
        assert reg.find_anchor_tx(rec).tx == receipt["tx"]  # type: ignore[union-attr]

    second = aichain("anchor", "lineage.json", "--json", cwd=tmp_path, home=home)
    assert second.returncode == 0, second.stderr
    [again] = json.loads(second.stdout)
    assert again["existing"] is True
    assert {k: again[k] for k in ("tx", "block", "registry")} == {
        k: receipt[k] for k in ("tx", "block", "registry")
    }
    assert json.loads(receipt_file.read_text(encoding="utf-8"))["existing"] is True
    with registry_in(home / "chain") as (s, _reg):
        assert s.w3.eth.block_number == 2  # nothing was sent the second time


@pytest.mark.parametrize("chain_exists", [False, True], ids=["empty-home", "chain-no-registry"])
def test_cli_registry_status_without_a_registry_exits_2_with_one_line(
    tmp_path: Path, chain_exists: bool
) -> None:
    home = tmp_path / "fresh-home"
    if chain_exists:  # a chain with blocks but no registry deployed on it
        with open_embedded_chain(home / "chain", write=True):
            pass
    proc = aichain("registry", "status", "--json", cwd=tmp_path, home=home)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("aichain: error: ")
    assert "Traceback" not in proc.stderr
    assert "registry" in lines[0] or "nothing has been anchored" in lines[0]
    assert home.exists() is chain_exists  # reading creates nothing
