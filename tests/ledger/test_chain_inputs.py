"""Chain settings and addresses a user types, on a real anvil node (issue 17, Part 3, low
items): each bad one is a one-line exit 2, never an internal error, and `--chain-id` pins
the network of a verification."""

from __future__ import annotations

import json
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
)
from tests.verify.test_verify import make_model


@pytest.fixture
def anchored(anvil: Anvil, home: Path, tmp_path: Path) -> tuple[Key, Key, tuple[str, ...], Path]:
    """(owner, anchorer, chain options, lineage folder): a model lineage anchored by a
    granted anchorer, and its proof of the model digest as proof.json."""
    owner = funded_key(anvil)
    registry = deploy_registry(anvil, home, owner)
    chain = ("--chain", anvil.url, "--registry", registry)
    us = funded_key(anvil)
    ok_json(aichain("registry", "grant", us.address, *chain, "--json", env=cli_env(home, owner)))
    work = tmp_path / "work"
    work.mkdir()
    make_model(work / "model.onnx")
    env = cli_env(home)
    fp = aichain("fingerprint", "--model", work / "model.onnx", "-o", work / "lineage.json",
                 env=env)  # fmt: skip
    assert fp.returncode == 0, fp.stderr
    assert aichain("prove", work / "lineage.json", "#subject", "-o", work / "proof.json",
                   env=env).returncode == 0  # fmt: skip
    ok_json(aichain("anchor", work / "lineage.json", *chain, "--json", env=cli_env(home, us)))
    return owner, us, chain, work


def _verify(work: Path, home: Path, *args: object, **env: str) -> tuple[int, dict[str, object]]:
    proc = aichain("verify", work / "model.onnx", "--lineage", work / "lineage.json", "--json",
                   *args, env=cli_env(home, **env))  # fmt: skip
    assert proc.stdout, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _record(doc: dict[str, object]) -> dict[str, object]:
    checks = doc["checks"]
    assert isinstance(checks, list)
    return next(c for c in checks if c["name"] == "ledger.record")


def test_confirmations_beyond_the_chain_height_cannot_complete(
    anchored: tuple[Key, Key, tuple[str, ...], Path], home: Path
) -> None:
    _, _, chain, work = anchored
    code, doc = _verify(work, home, *chain, "--confirmations", "100000")
    assert code == 2 and doc["verified"] is False
    record = _record(doc)
    assert record["status"] == "error" and "confirmations" in str(record["detail"])
    line = assert_one_line_error(
        aichain(
            "check-proof",
            work / "proof.json",
            *chain,
            "--confirmations",
            "100000",
            env=cli_env(home),
        )
    )
    assert "confirmations" in line


def test_mark_untrusted_from_a_block_beyond_uint64_is_a_usage_error(
    anchored: tuple[Key, Key, tuple[str, ...], Path], home: Path
) -> None:
    owner, us, chain, _ = anchored
    line = assert_one_line_error(
        aichain(
            "registry",
            "mark-untrusted",
            us.address,
            "--from-block",
            str(2**64),
            *chain,
            env=cli_env(home, owner),
        )
    )
    assert "block" in line


def _bad_checksum(address: str) -> str:
    """`address` with the case of one letter flipped: mixed case, checksum wrong."""
    body = address[2:]
    i = next(i for i, c in enumerate(body) if c.isalpha())
    return "0x" + body[:i] + body[i].swapcase() + body[i + 1 :]


def test_a_mixed_case_address_with_a_bad_checksum_is_refused_naming_it(
    anchored: tuple[Key, Key, tuple[str, ...], Path], home: Path
) -> None:
    owner, us, chain, work = anchored
    other = _bad_checksum(us.address)
    env = cli_env(home, owner)
    for args in (
        ("registry", "grant", other, *chain),
        ("registry", "mark-untrusted", other, "--from-block", "1", *chain),
        ("check-proof", work / "proof.json", *chain, "--trust", other),
    ):
        line = assert_one_line_error(aichain(*args, env=env))
        assert other in line and "checksum" in line
    code, doc = _verify(work, home, *chain, "--trust", other)
    assert code == 2 and other in str(_record(doc)["detail"])
    # all-lowercase and all-uppercase hex carry no checksum and stay accepted
    for plain in (us.address.lower(), "0x" + us.address[2:].upper()):
        proc = aichain("check-proof", work / "proof.json", *chain, "--trust", plain,
                       env=cli_env(home))  # fmt: skip
        assert proc.returncode == 0, proc.stderr


def test_chain_id_pins_the_network_of_a_verification(
    anchored: tuple[Key, Key, tuple[str, ...], Path], home: Path, anvil: Anvil
) -> None:
    _, us, chain, work = anchored
    pins = ("--trust", us.address)
    code, _ = _verify(work, home, *chain, *pins, "--chain-id", str(anvil.chain_id))
    assert code == 0
    code, doc = _verify(work, home, *chain, *pins, "--chain-id", "1")
    assert code == 2 and doc["verified"] is False
    assert "chain id" in str(_record(doc)["detail"])
    code, doc = _verify(work, home, *chain, *pins, AICHAIN_CHAIN_ID="1")
    assert code == 2 and "chain id" in str(_record(doc)["detail"])
    line = assert_one_line_error(
        aichain(
            "check-proof", work / "proof.json", *chain, *pins, "--chain-id", "1", env=cli_env(home)
        )
    )
    assert "chain id" in line
    line = assert_one_line_error(
        aichain(
            "check-proof",
            work / "proof.json",
            *chain,
            *pins,
            env=cli_env(home, AICHAIN_CHAIN_ID="1"),
        )
    )
    assert "chain id" in line
    ok = aichain("check-proof", work / "proof.json", *chain, *pins, "--chain-id",
                 str(anvil.chain_id), env=cli_env(home))  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_a_revocation_made_after_the_key_was_marked_untrusted_is_shown_as_not_counted(
    anchored: tuple[Key, Key, tuple[str, ...], Path], home: Path
) -> None:
    owner, us, chain, work = anchored
    proc = aichain("revoke", work / "lineage.json", "--reason", "cover up", *chain, "--json",
                   env=cli_env(home, us))  # fmt: skip
    revoked_at = ok_json(proc)["block"]
    # the owner learns the key leaked just before that revocation
    ok_json(aichain("registry", "mark-untrusted", us.address, "--from-block", str(revoked_at),
                    *chain, "--json", env=cli_env(home, owner)))  # fmt: skip
    code, doc = _verify(work, home, *chain, "--trust", us.address)
    record = _record(doc)
    assert code == 0 and record["actual"] == "trusted"
    assert "cover up" in str(record["detail"]) and "not counted" in str(record["detail"])
