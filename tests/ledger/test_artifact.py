"""The committed contract artifact: reproducible from source, and the code the client trusts."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from aichain_audit.ledger import registry as registry_module
from aichain_audit.ledger.embedded import Session, dev_keys, open_embedded_chain
from aichain_audit.ledger.registry import Registry, RegistryError

REPO = Path(__file__).resolve().parents[2]
CONTRACTS = REPO / "contracts"
ARTIFACT = REPO / "aichain_audit" / "ledger" / "artifacts" / "LineageRegistry.json"


def committed() -> dict[str, Any]:
    return json.loads(ARTIFACT.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def pinned_solc() -> str:
    package = json.loads((CONTRACTS / "package.json").read_text(encoding="utf-8"))
    return str(package["devDependencies"]["solc"])


@pytest.mark.slow  # runs the CLI in a process
def test_rebuilding_the_contract_reproduces_the_committed_artifact_byte_for_byte() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: the contract build needs Node.js >= 20")
    if not (CONTRACTS / "node_modules" / "solc" / "package.json").is_file():
        pytest.fail(
            f"{CONTRACTS / 'node_modules'} has no solc: run `cd contracts && npm ci` "
            "(or `make test`, which does) before running this test"
        )
    proc = subprocess.run(
        [node, "build.mjs", "--check"],
        cwd=CONTRACTS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}{proc.stderr}"
    assert "is up to date" in proc.stdout


def test_installed_solc_is_the_pinned_one() -> None:
    installed = CONTRACTS / "node_modules" / "solc" / "package.json"
    if not installed.is_file():
        pytest.fail("contracts/node_modules/solc is missing: run `cd contracts && npm ci`")
    version = json.loads(installed.read_text(encoding="utf-8"))["version"]
    assert version == pinned_solc()
    lock = json.loads((CONTRACTS / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/solc"]["version"] == pinned_solc()


def test_artifact_settings_record_cancun_and_the_pinned_solc() -> None:
    art = committed()
    assert art["settings"]["evmVersion"] == "cancun"
    assert art["settings"]["metadata"] == {"bytecodeHash": "none"}
    assert art["solcVersion"].startswith(pinned_solc() + "+")
    source = (CONTRACTS / "LineageRegistry.sol").read_bytes()
    pragma = re.search(rb"^pragma solidity (\S+);", source, re.M)
    assert pragma is not None and pragma.group(1).decode() == pinned_solc()
    assert art["sourceSha256"] == hashlib.sha256(source).hexdigest()
    assert (art["contractName"], art["sourceName"]) == ("LineageRegistry", "LineageRegistry.sol")


def test_client_loads_the_committed_artifact() -> None:
    assert registry_module.artifact() == committed()


# ------------------------------------------------- what Registry.attach compares against


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    with open_embedded_chain(tmp_path_factory.mktemp("artifact-chain"), write=True) as s:
        yield s


def deploy_raw(session: Session, init_code: bytes) -> str:
    """Deploys `init_code` as is from dev key 1 (not through the client); the new address."""
    account = Account.from_key(dev_keys()[1])
    w3 = session.w3
    tx = {
        "data": "0x" + init_code.hex(),
        "gas": 3_000_000,
        "nonce": w3.eth.get_transaction_count(account.address),
        "chainId": w3.eth.chain_id,
        "maxFeePerGas": 10 * 10**9,
        "maxPriorityFeePerGas": 10**9,
    }
    sent = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(sent)
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


def returning(runtime: bytes) -> bytes:
    """Init code that deploys exactly `runtime` (CODECOPY of what follows it, then RETURN)."""
    n = len(runtime)
    assert n < 2**16
    # PUSH2 n, DUP1, PUSH1 14, PUSH1 0, CODECOPY, PUSH1 0, RETURN, then padding to 14 bytes
    prelude = bytes([0x61, n >> 8, n & 0xFF, 0x80, 0x60, 0x0E, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3])
    prelude += b"\x00" * (14 - len(prelude))
    return prelude + runtime


def test_deployed_code_is_the_artifact_deployed_bytecode_and_attach_accepts_it(
    session: Session,
) -> None:
    expected = bytes.fromhex(committed()["deployedBytecode"].removeprefix("0x"))
    init_code = bytes.fromhex(committed()["bytecode"].removeprefix("0x"))
    deployed = deploy_raw(session, init_code)
    assert bytes(session.w3.eth.get_code(deployed)) == expected
    assert Registry(session.w3, deployed, signer=None).address == deployed
    # the same runtime, put there by other init code, is accepted: attach compares runtime code
    copy = deploy_raw(session, returning(expected))
    assert Registry(session.w3, copy, signer=None).address == copy


def test_attach_refuses_an_address_whose_code_differs_by_one_byte(session: Session) -> None:
    runtime = bytearray.fromhex(committed()["deployedBytecode"].removeprefix("0x"))
    runtime[-1] ^= 0x01  # last byte of the CBOR trailer: never executed, still different code
    other = deploy_raw(session, returning(bytes(runtime)))
    with pytest.raises(RegistryError, match="holds other code"):
        Registry(session.w3, other, signer=None)


def test_attach_refuses_an_address_without_code(session: Session) -> None:
    empty = Account.from_key(dev_keys()[4]).address
    with pytest.raises(RegistryError, match="no contract"):
        Registry(session.w3, empty, signer=None)
