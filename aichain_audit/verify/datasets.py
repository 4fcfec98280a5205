"""`dataset`: datasets given to `verify` re-fingerprinted and compared file by file.

They go through the same fingerprinter as `aichain fingerprint` (so the same names, path
policy and digests), and only the leaves under the names of the given arguments are
compared: each file that differs, is missing or is extra is its own failed finding.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aichain_audit.fingerprint.interface import DatasetFingerprinter
from aichain_audit.fingerprint.paths import PathPolicy
from aichain_audit.verify.diff import InputKind, diff_leaves, scope
from aichain_audit.verify.findings import CheckStatus, Finding
from aichain_audit.verify.lineage_root import ReadManifest
from aichain_audit.verify.request import dataset_name

if TYPE_CHECKING:
    from aichain_audit.fingerprint.engine import Engine

_KINDS = ("dataset", "skipped")


def check_datasets(
    datasets: Sequence[Path | str],
    manifest: ReadManifest,
    policy: PathPolicy = PathPolicy(),
    engine: Engine | None = None,
) -> list[Finding]:
    """A dataset is a path or an object storage URL the person running `verify` named: a
    source only the lineage or an MLflow run names is never fetched (`verify.mlflow`)."""
    if not datasets:
        return []
    names = {dataset_name(p) for p in datasets}
    under = [scope(InputKind.DATASET, name) for name in names]
    recorded = [x for x in manifest.of_kind(*_KINDS) if any(keep(x) for keep in under)]
    fresh = DatasetFingerprinter(policy, engine=engine).fingerprint(datasets).leaves
    diff = diff_leaves(recorded, fresh)
    findings: list[Finding] = []
    for change in diff.changed:
        before, after = change.before or {}, change.after or {}
        findings.append(
            Finding("dataset", CheckStatus.FAIL, change.item, before.get("digest"),
                    after.get("digest"), "the file's content differs from the lineage's")
        )  # fmt: skip
    for change in diff.removed:
        findings.append(
            Finding("dataset", CheckStatus.FAIL, change.item, (change.before or {}).get("digest"),
                    None, "in the lineage but missing from the dataset given")
        )  # fmt: skip
    for change in diff.added:
        findings.append(
            Finding("dataset", CheckStatus.FAIL, change.item, None,
                    (change.after or {}).get("digest"), "in the dataset but not in the lineage")
        )  # fmt: skip
    differing = {c.item for c in (*diff.changed, *diff.removed, *diff.added)}
    for leaf in fresh:
        if leaf["path"] not in differing:
            findings.append(Finding("dataset", CheckStatus.PASS, str(leaf["path"]),
                                    leaf.get("digest"), leaf.get("digest"), ""))  # fmt: skip
    if not recorded and not fresh:
        findings.append(Finding("dataset", CheckStatus.FAIL, ", ".join(sorted(names)), None, None,
                                "no files in the lineage under these names"))  # fmt: skip
    return findings
