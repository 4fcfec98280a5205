"""Block explorers of well-known chains, by chain id: links in reports, never fetched.

A chain missing here (the embedded chain, a private network, a test node) gets no links.
"""

from __future__ import annotations

# chain id: (name, explorer base URL)
EXPLORERS: dict[int, tuple[str, str]] = {
    1: ("Ethereum", "https://etherscan.io"),
    11155111: ("Sepolia", "https://sepolia.etherscan.io"),
    17000: ("Holesky", "https://holesky.etherscan.io"),
    560048: ("Hoodi", "https://hoodi.etherscan.io"),
    10: ("OP Mainnet", "https://optimistic.etherscan.io"),
    11155420: ("OP Sepolia", "https://sepolia-optimism.etherscan.io"),
    8453: ("Base", "https://basescan.org"),
    84532: ("Base Sepolia", "https://sepolia.basescan.org"),
    42161: ("Arbitrum One", "https://arbiscan.io"),
    421614: ("Arbitrum Sepolia", "https://sepolia.arbiscan.io"),
    137: ("Polygon PoS", "https://polygonscan.com"),
    100: ("Gnosis", "https://gnosisscan.io"),
}


def chain_name(chain_id: int | None) -> str | None:
    found = EXPLORERS.get(chain_id) if chain_id is not None else None
    return found[0] if found else None


def tx_url(chain_id: int | None, tx: str | None) -> str | None:
    found = EXPLORERS.get(chain_id) if chain_id is not None else None
    if found is None or not _hex(tx, 64):
        return None
    return f"{found[1]}/tx/{tx}"


def address_url(chain_id: int | None, address: str | None) -> str | None:
    found = EXPLORERS.get(chain_id) if chain_id is not None else None
    if found is None or not _hex(address, 40):
        return None
    return f"{found[1]}/address/{address}"


def _hex(value: str | None, digits: int) -> bool:
    """A 0x-prefixed hex string of exactly `digits` digits: nothing else goes into a link."""
    if not isinstance(value, str) or len(value) != digits + 2 or not value.startswith("0x"):
        return False
    return all(c in "0123456789abcdefABCDEF" for c in value[2:])
