"""Anchoring keys: environment or encrypted keystore, never shown, dev keys kept to dev chains."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

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
# `ganache --deterministic`
GANACHE_MNEMONIC = "myth like bonus scare over problem client lizard pioneer submit female collect"
HD_PATH = "m/44'/60'/0'/0/{}"


def derived(mnemonic: str, count: int) -> list[LocalAccount]:
    """The first `count` accounts of a mnemonic, derived with eth-account's HD wallet."""
    Account.enable_unaudited_hdwallet_features()
    return [Account.from_mnemonic(mnemonic, account_path=HD_PATH.format(i)) for i in range(count)]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_KEY, ENV_KEYSTORE, ENV_KEYSTORE_PASSWORD):
        monkeypatch.delenv(name, raising=False)


def test_the_known_anvil_addresses_are_the_public_mnemonic_accounts() -> None:
    # Hardhat prints 20 default accounts (anvil 10) of the same mnemonic
    assert {a.address.lower() for a in derived(ANVIL_MNEMONIC, 20)} <= ANVIL_DEV_ADDRESSES


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


@pytest.mark.parametrize(
    ("mnemonic", "count"),
    [(ANVIL_MNEMONIC, 20), (GANACHE_MNEMONIC, 10)],
    ids=["anvil-hardhat", "ganache-deterministic"],
)
def test_every_default_account_of_the_dev_tools_is_refused_off_dev_chains(
    mnemonic: str, count: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hardhat's 20 default accounts, anvil's 10 and `ganache --deterministic`'s, derived
    here from their public mnemonics, are refused whichever way the key arrives."""
    for index, account in enumerate(derived(mnemonic, count)):
        key_hex = bytes(account.key).hex()
        monkeypatch.setenv(ENV_KEY, "0x" + key_hex)
        signer = load_signer()
        assert signer is not None and signer.address == account.address
        assert signer.is_well_known(), (mnemonic, index)
        for chain_id in (1, 10, 8453, 11155111):
            with pytest.raises(UsageError, match="well-known development key") as info:
                refuse_dev_key(signer, chain_id, embedded=False)
            assert key_hex not in str(info.value).lower()
        refuse_dev_key(signer, 31337, embedded=False)
        refuse_dev_key(signer, 1337, embedded=False)
        refuse_dev_key(signer, 1, embedded=True)


# --- reads never load a signer ---------------------------------------------------------------
def _encrypted_keystore(path: Path) -> Path:
    path.write_text(json.dumps(Account.encrypt(Account.create().key, "pw", iterations=2)))
    return path


def _no_prompt(*args: object, **kwargs: object) -> str:
    raise AssertionError("a read asked for a keystore password")


@pytest.mark.parametrize("configured", ["garbage key", "dev key", "keystore", "both"])
def test_a_read_on_the_embedded_chain_never_loads_the_signer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: str
) -> None:
    """No registry is needed: the chain is created empty, then opened for reading."""
    import getpass

    from aichain_audit.ledger import ChainSettings, open_registry
    from aichain_audit.ledger.embedded import open_embedded_chain

    home = tmp_path / "home"
    monkeypatch.setenv("AICHAIN_HOME", str(home))
    with open_embedded_chain(home / "chain", write=True):
        pass
    if configured in ("garbage key", "both"):
        monkeypatch.setenv(ENV_KEY, "garbage")
    if configured == "dev key":
        monkeypatch.setenv(ENV_KEY, bytes(derived(GANACHE_MNEMONIC, 1)[0].key).hex())
    if configured in ("keystore", "both"):
        monkeypatch.setenv(ENV_KEYSTORE, str(_encrypted_keystore(tmp_path / "key.json")))
    monkeypatch.setattr(getpass, "getpass", _no_prompt)
    settings = ChainSettings.resolve(keystore=tmp_path / "flag-key.json")
    with open_registry(settings, write=False, need_registry=False) as conn:
        assert conn.registry.signer is None
        assert conn.chain_id > 0


@pytest.mark.parametrize("configured", ["garbage key", "keystore"])
def test_a_write_loads_the_signer_before_it_opens_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, configured: str
) -> None:
    from aichain_audit.errors import AichainError
    from aichain_audit.ledger import ChainSettings, open_registry

    home = tmp_path / "home"
    monkeypatch.setenv("AICHAIN_HOME", str(home))
    if configured == "garbage key":
        monkeypatch.setenv(ENV_KEY, "garbage")
    else:
        monkeypatch.setenv(ENV_KEYSTORE, str(_encrypted_keystore(tmp_path / "key.json")))
    with (
        pytest.raises(AichainError, match=ENV_KEY if configured == "garbage key" else "password"),
        open_registry(ChainSettings.resolve(), write=True, need_registry=False),
    ):
        pass
    assert not (home / "chain").exists()  # refused before the chain was created


@pytest.mark.parametrize(
    "mnemonic", [ANVIL_MNEMONIC, GANACHE_MNEMONIC], ids=["anvil-hardhat", "ganache-deterministic"]
)
@pytest.mark.parametrize("index", [20, 21, 137, 500, 999])
def test_accounts_of_a_well_known_mnemonic_up_to_index_999_are_refused_off_dev_chains(
    mnemonic: str, index: int
) -> None:
    """Anyone can derive more than the 20 accounts the dev tools print: the first 1,000 of
    each public mnemonic are refused."""
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(mnemonic, account_path=HD_PATH.format(index))
    signer = dev_signer(bytes(account.key))
    with pytest.raises(UsageError, match="well-known development key"):
        refuse_dev_key(signer, 8453, embedded=False)
    refuse_dev_key(signer, 31337, embedded=False)
