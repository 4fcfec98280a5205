"""A revoked batch record counts like any other record (issue 17, Part 2 item 1), on anvil.

Every record of a counted anchorer that the verifier can see counts, direct or batch: a
trusted direct record never hides a revoked batch record; anchoring again after a batch
revocation is refused like anchoring onto a revoked direct record; and revoking a batch
through a manifest writes a revoked record for every member whose receipt is at hand, so a
verifier without the batch receipt sees the revocation too.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.ledger.conftest import (
    Anvil,
    Key,
    aichain,
    cli_env,
    deploy_registry,
    funded_key,
    ok_json,
    receipt_file,
)
from tests.verify.test_verify import make_model


@pytest.fixture
def setup(anvil: Anvil, home: Path) -> tuple[Key, list[Key], tuple[str, ...]]:
    """A registry owned by a fresh key, and two granted anchorers A1 and A2."""
    owner = funded_key(anvil)
    registry = deploy_registry(anvil, home, owner)
    chain = ("--chain", anvil.url, "--registry", registry)
    anchorers = [funded_key(anvil) for _ in range(2)]
    for a in anchorers:
        ok_json(aichain("registry", "grant", a.address, *chain, "--json", env=cli_env(home, owner)))
    return owner, anchorers, chain


@pytest.fixture
def pair(tmp_path: Path, home: Path) -> tuple[Path, Path, Path]:
    """(L1, L2, proof of L1's model digest): L1 holds a real ONNX model, L2 only a config."""
    folder = tmp_path / "lineages"
    folder.mkdir()
    make_model(folder / "model.onnx")
    for name in ("l1", "l2"):
        (folder / f"{name}.yaml").write_text(f"name: {name}\nnonce: {uuid.uuid4().hex}\n")
    env = cli_env(home)
    l1, l2 = folder / "l1.json", folder / "l2.json"
    fp = aichain("fingerprint", "--model", folder / "model.onnx", "--config", folder / "l1.yaml",
                 "-o", l1, env=env, cwd=folder)  # fmt: skip
    assert fp.returncode == 0, fp.stderr
    fp = aichain("fingerprint", "--config", folder / "l2.yaml", "-o", l2, env=env, cwd=folder)
    assert fp.returncode == 0, fp.stderr
    proof = folder / "proof.json"
    assert aichain("prove", l1, "#subject", "-o", proof, env=env).returncode == 0
    return l1, l2, proof


def _batch(l1: Path, l2: Path, a1: Key, chain: tuple[str, ...], home: Path) -> tuple[str, Path]:
    """A1 batch-anchors L1 and L2; (the batch root, a copy of L1's batch receipt)."""
    receipts = ok_json(aichain("anchor", l1, l2, *chain, "--json", env=cli_env(home, a1)))
    kept = l1.with_name("l1.batch-receipt.json")
    shutil.copyfile(receipt_file(l1), kept)
    return str(receipts[0]["batch"]["root"]), kept


def _revoke_bare(root: str, a1: Key, chain: tuple[str, ...], home: Path) -> None:
    """Revokes the batch record by its bare root: no member is at hand."""
    proc = aichain("revoke", root, "--reason", "poisoned batch", *chain, env=cli_env(home, a1))
    assert proc.returncode == 0, proc.stderr


def _verify(
    l1: Path, chain: tuple[str, ...], home: Path, *extra: object
) -> tuple[int, dict[str, object]]:
    proc = aichain("verify", l1.with_name("model.onnx"), "--lineage", l1, *chain, "--json",
                   *extra, env=cli_env(home), cwd=l1.parent)  # fmt: skip
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _record(doc: dict[str, object]) -> dict[str, object]:
    checks = doc["checks"]
    assert isinstance(checks, list)
    return next(c for c in checks if c["name"] == "ledger.record")


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "registry-trust"])
def test_a_revoked_batch_record_fails_beside_another_anchorers_trusted_direct_record(
    setup: tuple[Key, list[Key], tuple[str, ...]],
    pair: tuple[Path, Path, Path],
    home: Path,
    pinned: bool,
) -> None:
    _, (a1, a2), chain = setup
    l1, l2, proof = pair
    batch_root, kept = _batch(l1, l2, a1, chain, home)
    _revoke_bare(batch_root, a1, chain, home)
    ok_json(aichain("anchor", l1, *chain, "--json", env=cli_env(home, a2)))  # A2, directly
    pins = ("--trust", a1.address, "--trust", a2.address) if pinned else ()
    env = cli_env(home)
    proc = aichain("check-proof", proof, *chain, *pins, "--receipt", kept, "--json", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["record"] == "revoked"
    assert "poisoned batch" in proc.stderr
    code, out = _verify(l1, chain, home, *pins, "--receipt", kept)
    assert code == 1 and out["verified"] is False
    record = _record(out)
    assert record["status"] == "fail" and record["actual"] == "revoked"
    assert "poisoned batch" in str(record["detail"])
    # without the receipt, A2's direct record alone is what the verifier can see
    assert aichain("check-proof", proof, *chain, *pins, env=env).returncode == 0


def test_a_revoked_batch_record_fails_beside_the_same_anchorers_trusted_direct_record(
    setup: tuple[Key, list[Key], tuple[str, ...]],
    pair: tuple[Path, Path, Path],
    home: Path,
) -> None:
    _, (a1, _), chain = setup
    l1, l2, proof = pair
    batch_root, kept = _batch(l1, l2, a1, chain, home)
    _revoke_bare(batch_root, a1, chain, home)
    receipt_file(l1).unlink()  # the tool cannot know L1 was in the batch: it anchors
    ok_json(aichain("anchor", l1, *chain, "--json", env=cli_env(home, a1)))
    for pins in (("--trust", a1.address), ()):
        proc = aichain("check-proof", proof, *chain, *pins, "--receipt", kept, env=cli_env(home))
        assert proc.returncode == 1, proc.stderr
        assert "revoked" in proc.stderr
        code, out = _verify(l1, chain, home, *pins, "--receipt", kept)
        assert code == 1 and _record(out)["actual"] == "revoked"


def test_anchoring_again_after_a_batch_revocation_exits_1_and_keeps_the_receipt(
    setup: tuple[Key, list[Key], tuple[str, ...]],
    pair: tuple[Path, Path, Path],
    home: Path,
) -> None:
    _, (a1, _), chain = setup
    l1, l2, _ = pair
    batch_root, _ = _batch(l1, l2, a1, chain, home)
    _revoke_bare(batch_root, a1, chain, home)
    before = receipt_file(l2).read_bytes()
    line = assert_one_line_error(aichain("anchor", l2, *chain, env=cli_env(home, a1)), 1)
    assert "revoked" in line and "poisoned batch" in line
    assert receipt_file(l2).read_bytes() == before
    # a new batch holding a member of the revoked one is refused the same way
    line = assert_one_line_error(aichain("anchor", l1, l2, *chain, env=cli_env(home, a1)), 1)
    assert "revoked" in line
    assert receipt_file(l2).read_bytes() == before


@pytest.mark.parametrize("pinned", [True, False], ids=["pinned", "registry-trust"])
def test_revoking_a_batch_through_a_manifest_revokes_each_member_at_hand_for_direct_lookups(
    setup: tuple[Key, list[Key], tuple[str, ...]],
    pair: tuple[Path, Path, Path],
    home: Path,
    pinned: bool,
) -> None:
    _, (a1, _), chain = setup
    l1, l2, proof = pair
    _batch(l1, l2, a1, chain, home)
    proc = aichain("revoke", l2, "--reason", "poisoned batch", *chain, "--json",
                   env=cli_env(home, a1))  # fmt: skip
    doc = ok_json(proc)
    assert doc["batch_size"] == 2
    assert sorted(doc["members"]) == sorted(json.loads(p.read_text())["root"] for p in (l1, l2))
    for path in (l1, l2):
        receipt_file(path).unlink()  # a verifier who never got the batch receipt
    pins = ("--trust", a1.address) if pinned else ()
    checked = aichain("check-proof", proof, *chain, *pins, env=cli_env(home))
    assert checked.returncode == 1 and "poisoned batch" in checked.stderr
    code, out = _verify(l1, chain, home, *pins)
    assert code == 1 and _record(out)["actual"] == "revoked"
    # and the revoked member cannot be anchored again by its anchorer
    line = assert_one_line_error(aichain("anchor", l1, *chain, env=cli_env(home, a1)), 1)
    assert "revoked" in line
    assert not receipt_file(l1).exists()
