"""Anchoring keys: from the environment or an encrypted keystore, never from argv.

A key is never printed or logged: `Signer` keeps it private and its repr shows
only the address. Well-known development keys (the embedded chain's and anvil's
defaults) are refused on any chain but the embedded one and the dev chain ids
1337 and 31337, where they are the point.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aichain_audit.errors import InputError, UsageError

ENV_KEY = "AICHAIN_PRIVATE_KEY"
ENV_KEYSTORE = "AICHAIN_KEYSTORE"
ENV_KEYSTORE_PASSWORD = "AICHAIN_KEYSTORE_PASSWORD"
DEV_CHAIN_IDS = frozenset({1337, 31337})

# Addresses of anvil's and Hardhat's default accounts (mnemonic "test test ... junk",
# m/44'/60'/0'/0/0..9). Anyone can spend from them; a test derives them again.
ANVIL_DEV_ADDRESSES = frozenset(
    a.lower()
    for a in (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
        "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
        "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
    )
)
# eth-tester's default accounts have private keys 1..10; any key this small is guessable.
_GUESSABLE_KEY_LIMIT = 2**64


@dataclass(frozen=True)
class Signer:
    """A local account that signs transactions. Its key never leaves this object."""

    address: str
    source: str  # where the key came from, for messages: "environment", "keystore FILE", "dev"
    _account: Any = field(repr=False, compare=False)

    @property
    def account(self) -> Any:
        return self._account

    def is_well_known(self) -> bool:
        key_int = int.from_bytes(bytes(self._account.key), "big")
        return key_int < _GUESSABLE_KEY_LIMIT or self.address.lower() in ANVIL_DEV_ADDRESSES

    def __repr__(self) -> str:
        return f"Signer({self.address}, from {self.source})"

    __str__ = __repr__


def _from_key(key: str, source: str) -> Signer:
    from eth_account import Account

    text = key.strip()
    hex_part = text.removeprefix("0x").removeprefix("0X")
    if len(hex_part) != 64 or any(c not in "0123456789abcdefABCDEF" for c in hex_part):
        # Never echo the value: it may be a real key with a typo.
        raise InputError(f"the private key from the {source} is not 32 bytes of hex")
    try:
        account = Account.from_key(bytes.fromhex(hex_part))
    except Exception:
        raise InputError(
            f"the private key from the {source} is not a valid secp256k1 key"
        ) from None
    return Signer(account.address, source, account)


def dev_signer(private_key: bytes) -> Signer:
    """A signer for a development key of the embedded chain."""
    from eth_account import Account

    account = Account.from_key(private_key)
    return Signer(account.address, "embedded chain's development account", account)


def load_signer(keystore: Path | None = None) -> Signer | None:
    """The signer the user configured: AICHAIN_PRIVATE_KEY, or a keystore; None if neither."""
    keystore_path = keystore or (
        Path(os.environ[ENV_KEYSTORE]) if os.environ.get(ENV_KEYSTORE) else None
    )
    env_key = os.environ.get(ENV_KEY)
    if env_key and keystore_path:
        raise UsageError(f"both {ENV_KEY} and a keystore are set; use one")
    if env_key:
        return _from_key(env_key, f"environment variable {ENV_KEY}")
    if keystore_path:
        return _from_keystore(keystore_path)
    return None


def _from_keystore(path: Path) -> Signer:
    from eth_account import Account

    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"keystore {path}: no such file") from None
    except (OSError, ValueError) as exc:
        raise InputError(f"keystore {path}: cannot read it as JSON ({exc})") from None
    password = os.environ.get(ENV_KEYSTORE_PASSWORD)
    if password is None:
        if not sys.stdin.isatty():
            raise UsageError(
                f"keystore {path} needs a password: set {ENV_KEYSTORE_PASSWORD} "
                "or run in a terminal to be asked"
            )
        password = getpass.getpass(f"password for keystore {path}: ")
    try:
        key = Account.decrypt(doc, password)
    except ValueError:
        raise InputError(f"keystore {path}: wrong password or corrupt keystore") from None
    except Exception as exc:
        raise InputError(
            f"keystore {path}: not an Ethereum keystore ({type(exc).__name__})"
        ) from None
    account = Account.from_key(key)
    return Signer(account.address, f"keystore {path}", account)


def refuse_dev_key(signer: Signer, chain_id: int, embedded: bool) -> None:
    """Refuses well-known keys on a chain where someone could use them against us."""
    if embedded or chain_id in DEV_CHAIN_IDS:
        return
    if signer.is_well_known():
        raise UsageError(
            f"the key for {signer.address} is a well-known development key; it is refused on "
            f"chain {chain_id} (allowed only on the embedded chain and chain ids 1337 and 31337)"
        )
