"""Inclusion proofs of one lineage leaf (`aichain.proof/v1`).

A proof file is the RFC 8785 encoding of {schema, leaf, index, size, path, root}
followed by a newline. It is checked against a root the checker supplies, never
against the root written in the proof itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aichain_audit import merkle
from aichain_audit.canonical import canonical_json
from aichain_audit.errors import InputError, ManifestError
from aichain_audit.lineage import (
    PROOF_SCHEMA,
    Leaf,
    LineageManifest,
    item_of,
    parse_strict_json,
    validate_leaf,
)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class InclusionProof:
    leaf: Leaf
    index: int
    size: int
    path: tuple[bytes, ...]
    root: bytes

    @property
    def item(self) -> str | None:
        return item_of(self.leaf)

    def to_json(self) -> bytes:
        return (
            canonical_json(
                {
                    "schema": PROOF_SCHEMA,
                    "leaf": self.leaf,
                    "index": self.index,
                    "size": self.size,
                    "path": [p.hex() for p in self.path],
                    "root": self.root.hex(),
                }
            )
            + b"\n"
        )

    def verifies_against(self, root: bytes) -> bool:
        """True when the leaf is at `index` in the tree whose root is `root`."""
        leaf_hash = merkle.leaf_hash(canonical_json(self.leaf))
        return self.root == root and merkle.verify_inclusion(
            leaf_hash, self.index, self.size, list(self.path), root
        )


def prove(manifest: LineageManifest, item: str) -> InclusionProof:
    index = manifest.find(item)
    tree = manifest.tree()
    return InclusionProof(
        manifest.leaves[index], index, tree.size, tuple(tree.inclusion_proof(index)), manifest.root
    )


def _hex_hash(value: Any, what: str, shown: str) -> bytes:
    if not isinstance(value, str) or not _HEX64.match(value):
        raise InputError(f"{shown}: {what} must be 64 lowercase hex digits")
    return bytes.fromhex(value)


def parse_root(text: str) -> bytes:
    """A root given on the command line: 64 hex digits, optionally with a 0x prefix."""
    t = text.strip().lower().removeprefix("0x")
    return _hex_hash(t, "the root", "--root")


def load_proof(data: bytes, shown: str) -> InclusionProof:
    """Parses a proof file strictly: exact members, lowercase hex, a valid leaf."""
    try:
        doc = parse_strict_json(data, shown)
    except ManifestError as exc:
        raise InputError(exc.message) from None
    if not isinstance(doc, dict) or set(doc) != {"schema", "leaf", "index", "size", "path", "root"}:
        raise InputError(f"{shown}: not an {PROOF_SCHEMA} proof")
    if doc["schema"] != PROOF_SCHEMA:
        raise InputError(f"{shown}: schema {doc['schema']!r} is not {PROOF_SCHEMA!r}")
    try:
        leaf = validate_leaf(doc["leaf"], f"{shown}: leaf")
    except ManifestError as exc:
        raise InputError(exc.message) from None
    index, size = doc["index"], doc["size"]
    for name, v in (("index", index), ("size", size)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise InputError(f"{shown}: {name} must be a non-negative integer")
    if not isinstance(doc["path"], list):
        raise InputError(f"{shown}: path must be a list of hashes")
    path = tuple(_hex_hash(p, "each path element", shown) for p in doc["path"])
    return InclusionProof(leaf, index, size, path, _hex_hash(doc["root"], "root", shown))
