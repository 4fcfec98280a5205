"""CLI paths across the chain: proofs trusted through the registry, keystores, revoking by root."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account import Account

from tests.ledger.conftest import (
    Anvil,
    aichain,
    cli_env,
    deploy_registry,
    funded_key,
    ok_json,
)

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes


def one_line_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("aichain: error: ")
    return lines[0]


def test_check_proof_trusts_a_root_only_while_the_registry_holds_it(
    home: Path, lineage_factory: Callable[[str], Path], tmp_path: Path
) -> None:
    env = cli_env(home)
    lineage = lineage_factory("proved")
    proof = tmp_path / "proof.json"
    assert aichain("prove", lineage, "proved.yaml#/model/C", "-o", proof, env=env).returncode == 0
    # Nothing anchored yet (and no embedded chain): cannot complete, and no chain is created.
    one_line_error(aichain("check-proof", proof, "--chain", "embedded", env=env))
    assert not (home / "chain").exists()
    ok_json(aichain("anchor", lineage, "--json", env=env))
    proc = aichain("check-proof", proof, "--chain", "embedded", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["record"] == "trusted"
    # A lineage that was never anchored: its proof is refused even though the path is fine.
    other = lineage_factory("unanchored")
    other_proof = tmp_path / "other.json"
    assert aichain("prove", other, "#subject", "-o", other_proof, env=env).returncode == 0
    proc = aichain("check-proof", other_proof, "--chain", "embedded", env=env)
    assert proc.returncode == 1
    assert "not anchored" in proc.stderr
    # Revoked: the proof no longer counts.
    assert aichain("revoke", lineage, "--reason", "wrong data", env=env).returncode == 0
    proc = aichain("check-proof", proof, "--chain", "embedded", env=env)
    assert proc.returncode == 1
    assert "revoked" in proc.stderr


def test_check_proof_needs_exactly_one_source_of_trust(
    home: Path, lineage_factory: Callable[[str], Path], tmp_path: Path
) -> None:
    env = cli_env(home)
    proof = tmp_path / "proof.json"
    assert aichain("prove", lineage_factory("x"), "#subject", "-o", proof, env=env).returncode == 0
    one_line_error(
        aichain("check-proof", proof, "--root", "00" * 32, "--chain", "embedded", env=env)
    )
    one_line_error(aichain("check-proof", proof, "--chain", "http://127.0.0.1:9", env=env))


def test_revoke_by_bare_root_finds_the_subject(
    home: Path, lineage_factory: Callable[[str], Path]
) -> None:
    env = cli_env(home)
    lineage = lineage_factory("by-root")
    ok_json(aichain("anchor", lineage, "--json", env=env))
    root = json.loads(lineage.read_text())["root"]
    doc = ok_json(aichain("revoke", root, "--reason", "leaked test set", "--json", env=env))
    assert doc["root"] == root
    proc = aichain("revoke", root, "--reason", "again", env=env)
    assert "AlreadyRevoked" in one_line_error(proc)
    assert "no record by" in one_line_error(
        aichain("revoke", "ab" * 32, "--reason", "nope", env=env)
    )


def test_an_encrypted_keystore_anchors_on_anvil(
    anvil: Anvil, home: Path, lineage_factory: Callable[[str], Path], tmp_path: Path
) -> None:
    owner = funded_key(anvil)
    registry = deploy_registry(anvil, home, owner)
    store = tmp_path / "owner.json"
    store.write_text(json.dumps(Account.encrypt(bytes.fromhex(owner.hex), "s3cret", iterations=2)))
    env = cli_env(home, AICHAIN_KEYSTORE=str(store), AICHAIN_KEYSTORE_PASSWORD="s3cret")
    lineage = lineage_factory("keystore")
    doc = ok_json(
        aichain("anchor", lineage, "--chain", anvil.url, "--registry", registry, "--json", env=env)
    )
    assert doc[0]["anchorer"] == owner.address
    bad = {**env, "AICHAIN_KEYSTORE_PASSWORD": "wrong"}
    line = one_line_error(
        aichain(
            "anchor", lineage_factory("k2"), "--chain", anvil.url, "--registry", registry, env=bad
        )
    )
    assert "wrong password" in line
