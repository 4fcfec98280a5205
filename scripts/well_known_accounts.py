"""Writes aichain_audit/ledger/artifacts/well_known_accounts.json: the addresses of the first
1,000 accounts (m/44'/60'/0'/0/0..999) of each well-known development mnemonic, which anyone
can spend from. Run from the repository root: `python scripts/well_known_accounts.py`.

Addresses, never keys, are committed; deriving 2,000 keys at run time would cost seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.hdaccount import key_from_seed, seed_from_mnemonic

COUNT = 1_000
PATH = "m/44'/60'/0'/0/{}"
MNEMONICS = {
    # anvil's and Hardhat's default accounts
    "anvil-hardhat": "test test test test test test test test test test test junk",
    # `ganache --deterministic`
    "ganache-deterministic": (
        "myth like bonus scare over problem client lizard pioneer submit female collect"
    ),
}
OUT = Path("aichain_audit/ledger/artifacts/well_known_accounts.json")


def main() -> None:
    doc: dict[str, object] = {"path": PATH, "count": COUNT, "mnemonics": {}}
    for name, mnemonic in MNEMONICS.items():
        seed = seed_from_mnemonic(mnemonic, "")
        addresses = [
            Account.from_key(key_from_seed(seed, PATH.format(i))).address.lower()
            for i in range(COUNT)
        ]
        doc["mnemonics"][name] = {"mnemonic": mnemonic, "addresses": addresses}  # type: ignore[index]
    OUT.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
