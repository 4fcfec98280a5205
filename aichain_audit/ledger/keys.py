"""Anchoring keys: from the environment or an encrypted keystore, never from argv.

A key is never printed or logged: `Signer` keeps it private and its repr shows
only the address. Well-known development keys (the embedded chain's, anvil's and
Hardhat's, ganache's deterministic ones, and the first 1,000 accounts of each public
mnemonic, listed in artifacts/well_known_accounts.json) are refused on any chain but the
embedded one and the dev chain ids 1337 and 31337, where they are the point.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from aichain_audit.errors import InputError, UsageError

ENV_KEY = "AICHAIN_PRIVATE_KEY"
ENV_KEYSTORE = "AICHAIN_KEYSTORE"
ENV_KEYSTORE_PASSWORD = "AICHAIN_KEYSTORE_PASSWORD"
DEV_CHAIN_IDS = frozenset({1337, 31337})

# Addresses of anvil's and Hardhat's default accounts: the mnemonic "test test ... junk",
# m/44'/60'/0'/0/0..19 (anvil prints 10, Hardhat 20). Anyone can spend from them; a test
# derives them again from the mnemonic.
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
        "0xBcd4042DE499D14e55001CcbB24a551F3b954096",
        "0x71bE63f3384f5fb98995898A86B02Fb2426c5788",
        "0xFABB0ac9d68B0B445fB7357272Ff202C5651694a",
        "0x1CBd3b2770909D4e10f157cABC84C7264073C9Ec",
        "0xdF3e18d64BC6A983f673Ab319CCaE4f1a57C7097",
        "0xcd3B766CCDd6AE721141F452C550Ca635964ce71",
        "0x2546BcD3c84621e976D8185a91A922aE77ECEc30",
        "0xbDA5747bFD65F08deb54cb465eB87D40e51B197E",
        "0xdD2FD4581271e230360230F9337D5c0430Bf44C0",
        "0x8626f6940E2eb28930eFb4CeF49B2d1F2C9C1199",
    )
)
# `ganache --deterministic`: the mnemonic "myth like bonus scare over problem client lizard
# pioneer submit female collect", m/44'/60'/0'/0/0..19 (ganache makes 10 by default).
GANACHE_DEV_ADDRESSES = frozenset(
    a.lower()
    for a in (
        "0x90F8bf6A479f320ead074411a4B0e7944Ea8c9C1",
        "0xFFcf8FDEE72ac11b5c542428B35EEF5769C409f0",
        "0x22d491Bde2303f2f43325b2108D26f1eAbA1e32b",
        "0xE11BA2b4D45Eaed5996Cd0823791E0C93114882d",
        "0xd03ea8624C8C5987235048901fB614fDcA89b117",
        "0x95cED938F7991cd0dFcb48F0a06a40FA1aF46EBC",
        "0x3E5e9111Ae8eB78Fe1CC3bb8915d5D461F3Ef9A9",
        "0x28a8746e75304c0780E011BEd21C72cD78cd535E",
        "0xACa94ef8bD5ffEE41947b4585a84BdA5a3d3DA6E",
        "0x1dF62f291b2E969fB0849d99D9Ce41e2F137006e",
        "0x610Bb1573d1046FCb8A70Bbbd395754cD57C2b60",
        "0x855FA758c77D68a04990E992aA4dcdeF899F654A",
        "0xfA2435Eacf10Ca62ae6787ba2fB044f8733Ee843",
        "0x64E078A8Aa15A41B85890265648e965De686bAE6",
        "0x2F560290FEF1B3Ada194b6aA9c40aa71f8e95598",
        "0xf408f04F9b7691f7174FA2bb73ad6d45fD5d3CBe",
        "0x66FC63C2572bF3ADD0Fe5d44b97c2E614E35e9a3",
        "0xF0D5BC18421fa04D0a2A2ef540ba5A9f04014BE3",
        "0x325A621DeA613BCFb5B1A69a7aCED0ea4AfBD73A",
        "0x3fD652C93dFA333979ad762Cf581Df89BaBa6795",
    )
)
WELL_KNOWN_ADDRESSES = ANVIL_DEV_ADDRESSES | GANACHE_DEV_ADDRESSES


@cache
def derived_well_known_addresses() -> frozenset[str]:
    """The first 1,000 accounts (m/44'/60'/0'/0/0..999) of each public mnemonic, lowercase:
    anyone can derive past the 20 the dev tools print. A committed table, written by
    scripts/well_known_accounts.py (deriving 2,000 keys takes seconds), read on first use."""
    from importlib import resources

    text = resources.files("aichain_audit.ledger").joinpath("artifacts/well_known_accounts.json")
    doc = json.loads(text.read_text(encoding="utf-8"))
    return frozenset(a for m in doc["mnemonics"].values() for a in m["addresses"])


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
        address = self.address.lower()
        return (
            key_int < _GUESSABLE_KEY_LIMIT
            or address in WELL_KNOWN_ADDRESSES
            or address in derived_well_known_addresses()
        )

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
    """The signer the user configured: AICHAIN_PRIVATE_KEY, or a keystore; None if neither.

    Only writes call this. A variable set but empty (or blank) is refused, never read as
    unset: it falling back to another key would sign with an identity nobody chose.
    """
    env_key = _env(ENV_KEY)
    env_keystore = _env(ENV_KEYSTORE) if keystore is None else None
    keystore_path = keystore or (Path(env_keystore) if env_keystore else None)
    if env_key and keystore_path:
        raise UsageError(f"both {ENV_KEY} and a keystore are set; use one")
    if env_key:
        return _from_key(env_key, f"environment variable {ENV_KEY}")
    if keystore_path:
        return _from_keystore(keystore_path)
    return None


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    if value is not None and not value.strip():
        raise UsageError(
            f"{name} is set but empty: an empty value is refused, never read as unset "
            "(set it, or unset it)"
        )
    return value


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
