"""Anchor receipts (`aichain.receipt/v1`): what anchoring a lineage root produced.

A receipt lives beside its manifest (`lineage.json` -> `lineage.receipt.json`),
never inside it. It is a convenience for finding the record (and, for a batch,
the proof from the lineage root to the anchored batch root): verification never
trusts it, it re-reads the registry the auditor pins.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aichain_audit.canonical import canonical_json

SCHEMA = "aichain.receipt/v1"


@dataclass(frozen=True)
class BatchInfo:
    """Where a lineage sits in a batch anchor: RFC 9162 proof of its batch leaf."""

    index: int
    size: int
    root: str  # the anchored batch root, hex
    path: list[str]  # audit path from SHA-256(0x00 || root || subject) to the batch root


@dataclass(frozen=True)
class AnchorReceipt:
    root: str
    subject: str
    tx: str
    block: int
    block_time: int
    chain_id: int
    chain: str  # "embedded" or "rpc"
    registry: str
    anchorer: str
    gas_used: int
    batch: BatchInfo | None
    existing: bool  # True when the record was already there and nothing was sent

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["schema"] = SCHEMA
        return doc

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict()) + b"\n"


def receipt_path(manifest: Path) -> Path:
    """`lineage.json` -> `lineage.receipt.json` (any other name: NAME.receipt.json)."""
    name = manifest.name
    stem = name[: -len(".json")] if name.endswith(".json") else name
    return manifest.with_name(f"{stem}.receipt.json")
