"""The public Python API; the CLI is a thin layer over these functions.

    >>> from pathlib import Path
    >>> from aichain_audit import api
    >>> result = api.fingerprint(configs=[Path("samples/train.yaml")])  # doctest: +SKIP
    >>> result.manifest.root_hex  # doctest: +SKIP
    '…64 hex digits…'

Functions take plain objects and return plain objects; they raise only
`aichain_audit.errors.AichainError` subclasses for conditions a user can act on.
Fingerprinting imports neither web3 nor mlflow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aichain_audit.errors import InputError, ManifestError, UsageError
from aichain_audit.fingerprint.config import flatten, load_config
from aichain_audit.fingerprint.hashing import HashJob, digest_files
from aichain_audit.fingerprint.paths import ListedFile, PathPolicy, argument_name, list_argument
from aichain_audit.lineage import (
    Leaf,
    LineageManifest,
    config_leaf,
    file_leaf,
    mlflow_run_leaf,
    name_leaf,
    parent_leaf,
    semantic_leaf,
    skipped_leaf,
    tensor_leaf,
)
from aichain_audit.proof import InclusionProof, load_proof, prove

__all__ = [
    "FingerprintResult",
    "PathPolicy",
    "Progress",
    "check_proof",
    "fingerprint",
    "load_manifest",
    "prove",
]


class Progress(Protocol):
    """Receives progress of long work (the CLI draws a bar on stderr)."""

    def start(self, description: str, total: int) -> None: ...
    def advance(self, amount: int) -> None: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class FingerprintResult:
    manifest: LineageManifest
    model: object | None = None  # a ModelFingerprint; typed loosely to keep onnx imports lazy
    dataset_files: int = 0
    dataset_bytes: int = 0
    config_values: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _hash_datasets(
    datasets: Sequence[Path], policy: PathPolicy, progress: Progress | None
) -> tuple[list[Leaf], int, list[tuple[str, str]]]:
    listed: list[ListedFile] = []
    skipped: list[tuple[str, str]] = []
    for arg in datasets:
        listing = list_argument(arg, policy)
        listed.extend(listing.files)
        skipped.extend(listing.skipped)
    jobs = [HashJob(f.path, f.name, f.size, follow=f.link is not None) for f in listed]
    total = sum(f.size for f in listed)
    if progress:
        progress.start("hashing datasets", total)
    try:
        results = digest_files(jobs, progress=progress.advance if progress else None)
    finally:
        if progress:
            progress.stop()
    leaves: list[Leaf] = []
    for f, r in zip(listed, results, strict=True):
        if isinstance(r, InputError):
            if policy.skip_unreadable and type(r).__name__ == "Unreadable":
                skipped.append((f.name, "unreadable"))
                continue
            hint = (
                "; pass --skip-unreadable to record it as skipped" if "cannot" in r.message else ""
            )
            raise type(r)(r.message + hint)
        leaves.append(file_leaf("dataset", f.name, r.digest, r.size, f.link))
    leaves.extend(skipped_leaf(name, reason) for name, reason in skipped)
    return leaves, total, skipped


def _config_leaves(configs: Sequence[Path]) -> list[Leaf]:
    leaves: list[Leaf] = []
    for path in configs:
        name = argument_name(path)
        value = load_config(path, str(path))
        leaves.extend(config_leaf(name, pointer, v) for pointer, v in flatten(value, name))
    return leaves


def _model_leaves(model: Path) -> tuple[list[Leaf], object]:
    from aichain_audit.fingerprint.onnx_model import SCHEME, fingerprint_model

    fp = fingerprint_model(model)
    leaves: list[Leaf] = [file_leaf("model", fp.name, fp.file.digest, fp.file.size)]
    leaves.extend(file_leaf("model-data", n, d.digest, d.size) for n, d in fp.external)
    s = fp.semantic
    leaves.append(semantic_leaf(fp.name, SCHEME, s.graph, s.weights, s.metadata))
    leaves.extend(tensor_leaf(fp.name, t.id, t.name, t.digest) for t in s.tensors)
    return leaves, fp


def _refuse_same_base_names(paths: Sequence[Path]) -> None:
    """Arguments are recorded by base name, so two with the same one would merge silently."""
    seen: dict[str, Path] = {}
    for path in paths:
        recorded = argument_name(path)
        if recorded in seen:
            raise UsageError(
                f"{seen[recorded]} and {path} would both be recorded as {recorded!r}; "
                "rename one, or pass their common parent folder"
            )
        seen[recorded] = path


def fingerprint(
    *,
    model: Path | None = None,
    datasets: Sequence[Path] = (),
    configs: Sequence[Path] = (),
    name: str | None = None,
    parent: str | None = None,
    mlflow_run: str | None = None,
    policy: PathPolicy = PathPolicy(),
    progress: Progress | None = None,
) -> FingerprintResult:
    """Fingerprints a model, datasets and configs into one lineage manifest.

    Nothing is written; `LineageManifest.to_json` gives the bytes to store.
    """
    if model is None and not datasets and not configs:
        raise UsageError("nothing to fingerprint: give --model, --dataset or --config")
    _refuse_same_base_names([*([model] if model is not None else []), *datasets, *configs])
    leaves: list[Leaf] = []
    if name is not None:
        if not name.strip():
            raise UsageError("--name must not be empty")
        leaves.append(name_leaf(name))
    if parent is not None:
        p = parent.strip().lower().removeprefix("0x")
        if len(p) != 64 or any(c not in "0123456789abcdef" for c in p):
            raise UsageError("--parent must be a lineage root: 64 hex digits")
        leaves.append(parent_leaf(p))
    if mlflow_run is not None:
        leaves.append(mlflow_run_leaf(mlflow_run))
    # Cheap inputs first, so a malformed config fails before an hour of hashing.
    leaves.extend(_config_leaves(configs))
    fp = None
    if model is not None:
        model_leaves, fp = _model_leaves(model)
        leaves.extend(model_leaves)
    data_leaves, total, skipped = _hash_datasets(datasets, policy, progress)
    leaves.extend(data_leaves)
    manifest = LineageManifest.build(leaves)
    return FingerprintResult(
        manifest,
        fp,
        dataset_files=sum(1 for leaf in data_leaves if leaf["kind"] == "dataset"),
        dataset_bytes=total,
        config_values=sum(1 for leaf in leaves if leaf["kind"] == "config"),
        skipped=skipped,
    )


def load_manifest(path: Path) -> LineageManifest:
    """Reads and validates a lineage manifest file."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a lineage manifest") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    return LineageManifest.from_json(data, str(path))


def read_proof(path: Path) -> InclusionProof:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    return load_proof(data, str(path))


def check_proof(proof: InclusionProof, root: bytes) -> bool:
    """True when the proof places its leaf in the tree with the given (trusted) root."""
    return proof.verifies_against(root)


_ = ManifestError  # re-exported for API users catching manifest problems
