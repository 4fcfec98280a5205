"""`lineage.root`: the manifest's root recomputed from its leaves.

The manifest is read leniently here: a root member that does not match the leaves is a
finding (exit 1), not an input error, so that a tampered leaf is named instead of refused.
Everything else about the manifest (schema, leaf members, order) is still validated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aichain_audit import merkle
from aichain_audit.inputfile import read_input
from aichain_audit.lineage import MAX_MANIFEST_BYTES, Leaf, derive_subject, read_leaves
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
    data = read_input(path, limit=MAX_MANIFEST_BYTES, what="lineage manifest")
    doc, leaves, encoded = read_leaves(data, str(path))
    root = merkle.root_of_data(encoded)
    subject = derive_subject(leaves)
    return ReadManifest(path, leaves, root, subject, doc.get("root"), doc.get("subject"))


def check_root(manifest: ReadManifest) -> list[Finding]:
    """The stated root and subject against those the leaves give; the subject leaf's count."""
    shown = str(manifest.path)
    (subject,) = manifest.of_kind("subject")  # read_leaves checked there is exactly one
    problems = []
    if manifest.stated_root != manifest.root.hex():
        problems.append("the manifest's root does not match its leaves")
    if subject["digest"] != manifest.subject or manifest.stated_subject != manifest.subject:
        problems.append("the subject does not match the model leaves")
    if subject["leaves"] != len(manifest.leaves):
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
