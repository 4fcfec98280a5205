"""Inclusion proofs of one lineage leaf (`aichain.proof/v1`).

A proof file is the RFC 8785 encoding of {schema, leaf, index, size, path, root,
size_proof} followed by a newline. `size_proof` is the inclusion proof of the
lineage's subject leaf, whose `leaves` member states the tree size: RFC 9162 audit
paths authenticate the size only through their shape, so without it a proof's
size could be altered and still verify. A proof is checked against a root the
checker supplies, never against the root written in the proof itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aichain_audit import merkle
from aichain_audit.canonical import canonical_json
from aichain_audit.errors import InputError, ManifestError
from aichain_audit.lineage import (
    PROOF_SCHEMA,
    SUBJECT,
    Leaf,
    LineageManifest,
    count_member,
    encode_leaf,
    hex64_member,
    item_of,
    parse_strict_json,
    validate_leaf,
)


@dataclass(frozen=True)
class InclusionProof:
    leaf: Leaf
    index: int
    size: int
    path: tuple[bytes, ...]
    root: bytes
    subject: Leaf
    subject_index: int
    subject_path: tuple[bytes, ...]

    @property
    def item(self) -> str | None:
        return item_of(self.leaf)

    @property
    def kind(self) -> str:
        """The proven leaf's kind: an item alone does not say what was proven."""
        return str(self.leaf["kind"])

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
                    "size_proof": {
                        "leaf": self.subject,
                        "index": self.subject_index,
                        "path": [p.hex() for p in self.subject_path],
                    },
                }
            )
            + b"\n"
        )

    def verifies_against(self, root: bytes) -> bool:
        """True when the leaf is at `index` of the `size`-leaf tree whose root is `root`."""

        def included(leaf: Leaf, index: int, path: tuple[bytes, ...]) -> bool:
            leaf_hash = merkle.leaf_hash(canonical_json(leaf))
            return merkle.verify_inclusion(leaf_hash, index, self.size, list(path), root)

        return (
            self.root == root
            and self.subject["kind"] == SUBJECT
            and self.subject["leaves"] == self.size
            and included(self.leaf, self.index, self.path)
            and included(self.subject, self.subject_index, self.subject_path)
        )


def prove(manifest: LineageManifest, item: str, kind: str | None = None) -> InclusionProof:
    index = manifest.find(item, kind)
    s = manifest.subject_index()
    tree = manifest.tree()
    return InclusionProof(
        leaf=manifest.leaves[index],
        index=index,
        size=tree.size,
        path=tuple(tree.inclusion_proof(index)),
        root=manifest.root,
        subject=manifest.leaves[s],
        subject_index=s,
        subject_path=tuple(tree.inclusion_proof(s)),
    )


def _hex_hash(value: Any, what: str, shown: str) -> bytes:
    return bytes.fromhex(hex64_member(value, what, shown))


def _leaf(value: Any, shown: str) -> Leaf:
    try:
        leaf = validate_leaf(value, f"{shown}: leaf")
        encode_leaf(leaf, f"{shown}: leaf")
    except ManifestError as exc:
        raise InputError(exc.message) from None
    return leaf


def _path(value: Any, shown: str) -> tuple[bytes, ...]:
    if not isinstance(value, list):
        raise InputError(f"{shown}: path must be a list of hashes")
    return tuple(_hex_hash(p, "each path element", shown) for p in value)


def parse_root(text: str) -> bytes:
    """A root given on the command line: 64 hex digits, optionally with a 0x prefix."""
    t = text.strip().lower().removeprefix("0x")
    return _hex_hash(t, "the root", "--root")


def load_proof(data: bytes, shown: str) -> InclusionProof:
    """Parses a proof file strictly: exact members, lowercase hex, valid leaves."""
    try:
        # The file is JCS (checked below): 2**53 as a float is written `9007199254740992`.
        doc = parse_strict_json(data, shown, jcs_numbers=True)
    except ManifestError as exc:
        raise InputError(exc.message) from None
    members = {"schema", "leaf", "index", "size", "path", "root", "size_proof"}
    if not isinstance(doc, dict) or set(doc) != members:
        raise InputError(f"{shown}: not an {PROOF_SCHEMA} proof")
    if doc["schema"] != PROOF_SCHEMA:
        raise InputError(f"{shown}: schema {doc['schema']!r} is not {PROOF_SCHEMA!r}")
    sp = doc["size_proof"]
    if not isinstance(sp, dict) or set(sp) != {"leaf", "index", "path"}:
        raise InputError(f"{shown}: size_proof must have leaf, index and path")
    subject = _leaf(sp["leaf"], shown)
    if subject["kind"] != SUBJECT:
        raise InputError(f"{shown}: size_proof must prove the subject leaf")
    proof = InclusionProof(
        leaf=_leaf(doc["leaf"], shown),
        index=count_member(doc["index"], "index", shown),
        size=count_member(doc["size"], "size", shown),
        path=_path(doc["path"], shown),
        root=_hex_hash(doc["root"], "root", shown),
        subject=subject,
        subject_index=count_member(sp["index"], "size_proof index", shown),
        subject_path=_path(sp["path"], shown),
    )
    # A proof file is exactly the bytes `aichain prove` writes (docs/SPEC.md section 10), so
    # that changing any byte of it, even one that keeps its meaning, makes it fail.
    if data != proof.to_json():
        raise InputError(
            f"{shown}: not in canonical form (re-indented, reordered or re-encoded?); "
            "use the file exactly as `aichain prove` wrote it"
        )
    return proof
