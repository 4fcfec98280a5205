"""Anchor receipts (`aichain.receipt/v1`): what anchoring a lineage root produced.

A receipt lives beside its manifest (`lineage.json` -> `lineage.receipt.json`),
never inside it. It is a pointer for finding the record (and, for a batch, the
path from the lineage to the anchored batch root): verification never trusts it.
It reads only the batch path from a receipt, verifies that path against a batch
root the registry it pins has recorded, and re-reads everything else there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aichain_audit.canonical import canonical_json, parse_json_strict
from aichain_audit.errors import InputError
from aichain_audit.lineage import count_member, hex64_member

SCHEMA = "aichain.receipt/v1"
MAX_RECEIPT_BYTES = 1 << 20


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
    anchorer: str  # as read from the chain
    gas_used: int
    batch: BatchInfo | None
    existing: bool  # True when the record was already there (our transaction, if any, a no-op)
    status: str = "trusted"  # the record's status as read from the chain

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["schema"] = SCHEMA
        return doc

    def to_json(self) -> bytes:
        return canonical_json(self.to_dict()) + b"\n"


@dataclass(frozen=True)
class ReceiptPointer:
    """What is read from a receipt: the lineage it names and, for a batch, its path."""

    root: str
    subject: str
    batch: BatchInfo | None
    registry: str | None = None  # what the receipt names: reported, never read from
    chain_id: int | None = None


def receipt_path(manifest: Path) -> Path:
    """`lineage.json` -> `lineage.receipt.json` (any other name: NAME.receipt.json)."""
    name = manifest.name
    stem = name[: -len(".json")] if name.endswith(".json") else name
    return manifest.with_name(f"{stem}.receipt.json")


def parse_receipt(data: bytes, shown: str) -> ReceiptPointer:
    """Reads a receipt as plain JSON (exit 2 when it does not parse); nothing in it is trusted.

    Only the lineage root, subject and batch position are taken; the chain, registry and
    anchorer in it are ignored: the auditor pins those.
    """
    try:
        doc = parse_json_strict(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"{shown}: not a receipt ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise InputError(f"{shown}: not an {SCHEMA} receipt")
    root = hex64_member(doc.get("root"), "root", shown)
    subject = doc.get("subject")
    if not isinstance(subject, str) or ":" not in subject:
        raise InputError(f"{shown}: subject must be a digest")
    registry = doc.get("registry") if isinstance(doc.get("registry"), str) else None
    chain_id = doc.get("chain_id") if type(doc.get("chain_id")) is int else None
    raw = doc.get("batch")
    if raw is None:
        return ReceiptPointer(root, subject, None, registry, chain_id)
    if not isinstance(raw, dict) or set(raw) != {"index", "size", "root", "path"}:
        raise InputError(f"{shown}: batch must have index, size, root and path")
    path = raw["path"]
    if not isinstance(path, list) or len(path) > 64:
        raise InputError(f"{shown}: batch path must be a list of at most 64 hashes")
    batch = BatchInfo(
        index=count_member(raw["index"], "batch index", shown),
        size=count_member(raw["size"], "batch size", shown),
        root=hex64_member(raw["root"], "batch root", shown),
        path=[hex64_member(p, "each batch path element", shown) for p in path],
    )
    return ReceiptPointer(root, subject, batch, registry, chain_id)


def load_receipt(path: Path) -> ReceiptPointer:
    """Reads a receipt file (a regular file of at most 1 MiB) with `parse_receipt`."""
    from aichain_audit.inputfile import read_input

    return parse_receipt(read_input(path, limit=MAX_RECEIPT_BYTES, what="receipt"), str(path))
