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
from typing import TYPE_CHECKING

from aichain_audit.errors import InputError, ManifestError, UsageError
from aichain_audit.fingerprint.interface import (
    ConfigFingerprinter,
    DatasetFingerprinter,
    ModelFingerprinter,
    Progress,
)
from aichain_audit.fingerprint.paths import PathPolicy, argument_name
from aichain_audit.inputfile import read_input
from aichain_audit.lineage import (
    CONFIG,
    DATASET,
    MAX_PROOF_BYTES,
    MLFLOW_RUN_ID,
    PATH_KINDS,
    Leaf,
    LineageManifest,
    mlflow_run_leaf,
    name_leaf,
    parent_leaf,
)
from aichain_audit.proof import InclusionProof, load_proof, prove

if TYPE_CHECKING:  # kept out of the start-up path: fingerprinting never imports these
    from aichain_audit.anchoring import LedgerCheck, Revocation
    from aichain_audit.fingerprint.onnx_model import ModelFingerprint
    from aichain_audit.ledger import ChainSettings
    from aichain_audit.ledger.admin import RegistryState
    from aichain_audit.receipt import AnchorReceipt
    from aichain_audit.verify.findings import Verification

__all__ = [
    "FingerprintResult",
    "PathPolicy",
    "Progress",
    "check_proof",
    "fingerprint",
    "load_manifest",
    "prove",
]


@dataclass(frozen=True)
class FingerprintResult:
    manifest: LineageManifest
    model: ModelFingerprint | None = None
    dataset_files: int = 0
    dataset_bytes: int = 0
    config_values: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _is_unicode(text: str) -> bool:
    """False for text holding lone surrogates (bytes that were not UTF-8 on the command line)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    cache: bool = False,
) -> FingerprintResult:
    """Fingerprints a model, datasets and configs into one lineage manifest.

    No manifest is written; `LineageManifest.to_json` gives the bytes to store. With
    `cache`, digests of unchanged dataset files come from the opt-in digest cache.
    """
    if model is None and not datasets and not configs:
        raise UsageError("nothing to fingerprint: give --model, --dataset or --config")
    if name is not None and not _is_unicode(name):
        raise UsageError("--name is not valid UTF-8 text")
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
        if not MLFLOW_RUN_ID.fullmatch(mlflow_run):
            raise UsageError(
                f"--mlflow-run {mlflow_run!r} is not an MLflow run id "
                "(1 to 256 ASCII letters, digits, '-' or '_')"
            )
        leaves.append(mlflow_run_leaf(mlflow_run))
    # Cheap inputs first, so a malformed config fails before an hour of hashing.
    leaves.extend(ConfigFingerprinter().fingerprint(configs).leaves)
    fp = None
    if model is not None:
        fingerprinted = ModelFingerprinter().fingerprint([model])
        fp = fingerprinted.model
        leaves.extend(fingerprinted.leaves)
    data = DatasetFingerprinter(policy, progress=progress, cache=cache).fingerprint(datasets)
    data_leaves, total, skipped = data.leaves, data.total_bytes, data.skipped
    leaves.extend(data_leaves)
    if not any(leaf["kind"] in (*PATH_KINDS, CONFIG) for leaf in leaves):
        raise UsageError("nothing to fingerprint: the folders given hold no files")
    manifest = LineageManifest.build(leaves)
    return FingerprintResult(
        manifest,
        fp,
        dataset_files=sum(1 for leaf in data_leaves if leaf["kind"] == DATASET),
        dataset_bytes=total,
        config_values=sum(1 for leaf in leaves if leaf["kind"] == CONFIG),
        skipped=skipped,
    )


def load_manifest(path: Path) -> LineageManifest:
    """Reads and validates a lineage manifest file."""
    return LineageManifest.read(path)


def read_proof(path: Path) -> InclusionProof:
    """Reads and validates a proof file (`aichain.proof/v1`)."""
    return load_proof(read_input(path, limit=MAX_PROOF_BYTES, what="proof"), str(path))


def check_proof(proof: InclusionProof, root: bytes) -> bool:
    """True when the proof places its leaf in the tree with the given (trusted) root."""
    return proof.verifies_against(root)


_ = ManifestError  # re-exported for API users catching manifest problems


# --- anchoring ---------------------------------------------------------------------------
def anchor(manifest_paths: Sequence[Path], settings: ChainSettings) -> list[AnchorReceipt]:
    """Anchors lineage roots (several: one batch); see `aichain_audit.anchoring.anchor`."""
    from aichain_audit import anchoring

    return anchoring.anchor(manifest_paths, settings)


def revoke(
    target: str,
    reason: str,
    settings: ChainSettings,
    subject: str | None = None,
    anchorer: str | None = None,
) -> Revocation:
    """Revokes one record; see `aichain_audit.anchoring.revoke`."""
    from aichain_audit import anchoring

    return anchoring.revoke(target, reason, settings, subject, anchorer)


def check_ledger(
    root: bytes,
    subject: str,
    settings: ChainSettings,
    pins: Sequence[str] = (),
    receipt: Path | None = None,
) -> LedgerCheck:
    """The registry's word on a lineage by the trust rule; see `anchoring.check_ledger`."""
    from aichain_audit import anchoring
    from aichain_audit.ledger.registry import hex32
    from aichain_audit.receipt import load_receipt

    batch = None
    if receipt is not None:
        pointer = load_receipt(receipt)
        if pointer.root != root.hex() or pointer.subject != subject:
            raise InputError(f"{receipt}: the receipt is for another lineage")
        batch = pointer.batch
    return anchoring.check_ledger(root, hex32(subject), settings, pins, batch)


# --- registry administration (`aichain_audit.ledger.admin`) -----------------------------
def deploy_registry(settings: ChainSettings) -> RegistryState:
    """Deploys a new registry; the deployer owns it and may anchor."""
    from aichain_audit.ledger import admin

    return admin.deploy(settings)


def registry_status(settings: ChainSettings, account: str | None = None) -> RegistryState:
    """Owner, pending owner, and `account`'s anchoring rights and untrusted state."""
    from aichain_audit.ledger import admin

    return admin.status(settings, account)


def grant_anchorer(settings: ChainSettings, account: str) -> RegistryState:
    """Grants `account` the right to anchor (owner only)."""
    from aichain_audit.ledger import admin

    return admin.grant(settings, account)


def withdraw_anchorer(settings: ChainSettings, account: str) -> RegistryState:
    """Withdraws `account`'s right to anchor (owner only)."""
    from aichain_audit.ledger import admin

    return admin.withdraw(settings, account)


def mark_untrusted(settings: ChainSettings, account: str, from_block: int) -> RegistryState:
    """Marks a leaked key's records from `from_block` on as untrusted (owner only)."""
    from aichain_audit.ledger import admin

    return admin.mark_untrusted(settings, account, from_block)


def transfer_registry_owner(settings: ChainSettings, account: str) -> RegistryState:
    """Starts a two-step ownership transfer to `account` (owner only)."""
    from aichain_audit.ledger import admin

    return admin.transfer_owner(settings, account)


def accept_registry_owner(settings: ChainSettings) -> RegistryState:
    """Accepts a pending ownership transfer (the pending owner only)."""
    from aichain_audit.ledger import admin

    return admin.accept_owner(settings)


# --- diff --------------------------------------------------------------------------------
if TYPE_CHECKING:
    from aichain_audit.verify.diff import LeafDiff


def diff(
    a: Path, b: Path, *, policy: PathPolicy = PathPolicy(), progress: Progress | None = None
) -> LeafDiff:
    """`aichain diff A B`: two lineages compared leaf by leaf, each a manifest or a model,
    dataset or config fingerprinted now (rules in `aichain_audit.verify.diff.diff_paths`)."""
    from aichain_audit.verify.diff import diff_paths

    return diff_paths(a, b, policy=policy, progress=progress)


# --- verification ------------------------------------------------------------------------
def verify(
    model: Path,
    lineage: Path,
    settings: ChainSettings,
    *,
    receipt: Path | None = None,
    datasets: Sequence[Path] = (),
    pins: Sequence[str] = (),
    policy: PathPolicy = PathPolicy(),
) -> Verification:
    """Verifies a deployed model against its lineage and the pinned ledger (and, when given,
    its datasets); see `aichain_audit.verify.compose.verify_lineage`. Never raises for a
    failed check: every result is a finding, and `Verification.verified` is the verdict."""
    from aichain_audit.verify.compose import verify_lineage

    return verify_lineage(
        model, lineage, settings, receipt=receipt, datasets=datasets, pins=pins, policy=policy
    )


def check_inclusion(
    proof: InclusionProof,
    trusted_root: bytes,
    ledger: LedgerCheck | None = None,
    require_pinned: bool = False,
) -> Verification:
    """`check-proof`'s verdict as findings; see `aichain_audit.verify.proof.check_inclusion`."""
    from aichain_audit.verify.proof import check_inclusion as check

    return check(proof, trusted_root, ledger, require_pinned)
