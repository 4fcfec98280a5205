"""`lineage.root`: the manifest's root recomputed from its leaves.

The manifest is read leniently here: a root member that does not match the leaves is a
finding (exit 1), not an input error, so that a tampered leaf is named instead of refused.
Everything else about the manifest (schema, leaf members, order) is still validated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from aichain_audit import merkle
from aichain_audit.canonical import parse_json_strict
from aichain_audit.errors import ManifestError
from aichain_audit.inputfile import read_input
from aichain_audit.lineage import (
    MAX_MANIFEST_BYTES,
    SCHEMA,
    Leaf,
    derive_subject,
    encode_leaf,
    validate_leaf,
)
from aichain_audit.verify.findings import CheckStatus, Finding


@dataclass(frozen=True)
class ReadManifest:
    """A manifest's leaves, the root they give, and what the file states."""

    path: Path
    leaves: tuple[Leaf, ...]
    root: bytes  # recomputed from the leaves: the content verification goes by
    subject: str  # derived from the leaves
    stated_root: object
    stated_subject: object

    def of_kind(self, *kinds: str) -> list[Leaf]:
        return [leaf for leaf in self.leaves if leaf["kind"] in kinds]


def read_manifest(path: Path) -> ReadManifest:
    """Reads a manifest's leaves and recomputes root and subject (ManifestError if malformed)."""
    shown = str(path)
    data = read_input(path, limit=MAX_MANIFEST_BYTES, what="lineage manifest")
    try:
        doc = parse_json_strict(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"{shown}: not a lineage manifest ({exc})") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        raise ManifestError(f"{shown}: not an {SCHEMA} manifest")
    raw = doc.get("leaves")
    if not isinstance(raw, list) or not raw:
        raise ManifestError(f"{shown}: 'leaves' must be a non-empty list")
    leaves = tuple(validate_leaf(leaf, f"{shown}: leaf {i}") for i, leaf in enumerate(raw))
    encoded = [encode_leaf(leaf, f"{shown}: leaf {i}") for i, leaf in enumerate(leaves)]
    root = merkle.root([merkle.leaf_hash(e) for e in encoded])
    ordered = all(a < b for a, b in itertools.pairwise(encoded))
    subject = derive_subject(leaves)
    stated = ReadManifest(path, leaves, root, subject, doc.get("root"), doc.get("subject"))
    if not ordered:
        raise ManifestError(f"{shown}: leaves are not in canonical order (or repeat)")
    return stated


def check_root(manifest: ReadManifest) -> list[Finding]:
    """The stated root and subject against those the leaves give; the subject leaf's count."""
    shown = str(manifest.path)
    subjects = manifest.of_kind("subject")
    problems = []
    if manifest.stated_root != manifest.root.hex():
        problems.append("the manifest's root does not match its leaves")
    if len(subjects) != 1:
        problems.append("the manifest does not have exactly one subject leaf")
    else:
        if subjects[0]["digest"] != manifest.subject or manifest.stated_subject != manifest.subject:
            problems.append("the subject does not match the model leaves")
        if subjects[0]["leaves"] != len(manifest.leaves):
            problems.append("the subject leaf's count does not match the leaves")
    if problems:
        return [
            Finding(
                "lineage.root", CheckStatus.FAIL, shown, str(manifest.stated_root),
                manifest.root.hex(), "; ".join(problems) + " (a leaf or the root was edited)",
            )
        ]  # fmt: skip
    return [
        Finding(
            "lineage.root", CheckStatus.PASS, shown, manifest.root.hex(), manifest.root.hex(),
            f"{len(manifest.leaves)} leaves",
        )
    ]  # fmt: skip
