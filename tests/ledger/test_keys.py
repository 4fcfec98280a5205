"""Anchoring keys: environment or encrypted keystore, never shown, dev keys kept to dev chains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account

from aichain_audit.errors import InputError, UsageError
from aichain_audit.ledger.embedded import dev_keys
from aichain_audit.ledger.keys import (
    ANVIL_DEV_ADDRESSES,
    ENV_KEY,
    ENV_KEYSTORE,
    ENV_KEYSTORE_PASSWORD,
    dev_signer,
    load_signer,
    refuse_dev_key,
)

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_KEY, ENV_KEYSTORE, ENV_KEYSTORE_PASSWORD):
        monkeypatch.delenv(name, raising=False)


def test_the_known_anvil_addresses_are_the_public_mnemonic_accounts() -> None:
    Account.enable_unaudited_hdwallet_features()
    derived = {
        Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address.lower()
        for i in range(10)
    }
    assert derived == ANVIL_DEV_ADDRESSES


def test_a_key_from_the_environment_is_used_and_never_shown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    acct = Account.create()
    key_hex = bytes(acct.key).hex()
    monkeypatch.setenv(ENV_KEY, "0x" + key_hex)
    signer = load_signer()
    assert signer is not None
    assert signer.address == acct.address
    assert key_hex not in repr(signer) + str(signer)


def test_a_malformed_key_is_refused_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "ab" * 31 + "zz"
    monkeypatch.setenv(ENV_KEY, secret)
    with pytest.raises(InputError) as info:
        load_signer()
    assert secret not in str(info.value)


def test_an_encrypted_keystore_is_decrypted_with_the_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    acct = Account.create()
    store = tmp_path / "key.json"
    store.write_text(json.dumps(Account.encrypt(acct.key, "correct horse", iterations=2)))
    monkeypatch.setenv(ENV_KEYSTORE_PASSWORD, "correct horse")
    signer = load_signer(store)
    assert signer is not None
    assert signer.address == acct.address
    monkeypatch.setenv(ENV_KEYSTORE, str(store))
    assert load_signer() is not None
    monkeypatch.setenv(ENV_KEYSTORE_PASSWORD, "wrong")
    with pytest.raises(InputError, match="wrong password"):
        load_signer(store)


def test_a_keystore_without_a_password_and_no_terminal_is_a_usage_error(tmp_path: Path) -> None:
    store = tmp_path / "key.json"
    store.write_text(json.dumps(Account.encrypt(Account.create().key, "pw", iterations=2)))
    with pytest.raises(UsageError, match=ENV_KEYSTORE_PASSWORD):
        load_signer(store)


def test_a_key_and_a_keystore_together_are_ambiguous(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_KEY, bytes(Account.create().key).hex())
    with pytest.raises(UsageError, match="use one"):
        load_signer(tmp_path / "key.json")


@pytest.mark.parametrize("chain_id", [1, 5, 8453, 4242])
def test_well_known_keys_are_refused_outside_dev_chains(chain_id: int) -> None:
    embedded = dev_signer(dev_keys()[0])
    Account.enable_unaudited_hdwallet_features()
    anvil = Account.from_mnemonic(ANVIL_MNEMONIC, account_path="m/44'/60'/0'/0/3")
    for signer in (embedded, dev_signer(bytes(anvil.key))):
        with pytest.raises(UsageError, match="well-known development key"):
            refuse_dev_key(signer, chain_id, embedded=False)
        refuse_dev_key(signer, 31337, embedded=False)
        refuse_dev_key(signer, 1337, embedded=False)
        refuse_dev_key(signer, chain_id, embedded=True)
    refuse_dev_key(dev_signer(bytes(Account.create().key)), chain_id, embedded=False)
