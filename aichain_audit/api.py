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
from typing import TYPE_CHECKING, Protocol

from aichain_audit.errors import InputError, ManifestError, UsageError
from aichain_audit.fingerprint.config import flatten, load_config
from aichain_audit.fingerprint.hashing import FileDigest, HashJob, Unreadable, digest_files
from aichain_audit.fingerprint.paths import ListedFile, PathPolicy, argument_name, list_argument
from aichain_audit.inputfile import read_input
from aichain_audit.lineage import (
    MAX_PROOF_BYTES,
    MLFLOW_RUN_ID,
    PATH_KINDS,
    Leaf,
    LineageManifest,
    config_leaf,
    file_leaf,
    item_conflict,
    mlflow_run_leaf,
    name_leaf,
    parent_leaf,
    semantic_leaf,
    skipped_leaf,
    tensor_leaf,
)
from aichain_audit.proof import InclusionProof, load_proof, prove

if TYPE_CHECKING:  # kept out of the start-up path: fingerprinting never imports these
    from aichain_audit.anchoring import LedgerCheck, Revocation
    from aichain_audit.fingerprint.onnx_model import ModelFingerprint
    from aichain_audit.ledger import ChainSettings
    from aichain_audit.receipt import AnchorReceipt

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
    model: ModelFingerprint | None = None
    dataset_files: int = 0
    dataset_bytes: int = 0
    config_values: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _hash_datasets(
    datasets: Sequence[Path], policy: PathPolicy, progress: Progress | None, cache: bool = False
) -> tuple[list[Leaf], int, list[tuple[str, str]]]:
    listed: list[ListedFile] = []
    skipped: list[tuple[str, str]] = []
    for arg in datasets:
        listing = list_argument(arg, policy)
        listed.extend(listing.files)
        skipped.extend(listing.skipped)
    for recorded in [f.name for f in listed] + [n for n, _ in skipped]:
        conflict = item_conflict(recorded)  # refused before an hour of hashing, not after
        if conflict is not None:
            raise InputError(conflict)
    total = sum(f.size for f in listed)
    digest_cache = None
    cached: list[FileDigest | None] = [None] * len(listed)
    if cache:
        from aichain_audit.fingerprint.cache import DigestCache
        from aichain_audit.home import aichain_home

        digest_cache = DigestCache(aichain_home() / "digests.sqlite3")
        cached = digest_cache.lookup(listed)
    todo = [i for i, c in enumerate(cached) if c is None]
    jobs = [HashJob(listed[i].path, listed[i].name, listed[i].size, listed[i].link is not None)
            for i in todo]  # fmt: skip
    if progress:
        progress.start("hashing datasets", sum(job.size for job in jobs))
    try:
        fresh = digest_files(jobs, progress=progress.advance if progress else None)
    finally:
        if progress:
            progress.stop()
    results: list[FileDigest | InputError] = []
    fresh_iter = iter(fresh)
    for c in cached:
        results.append(c if c is not None else next(fresh_iter))
    if digest_cache is not None:
        hashed = [(listed[i], r) for i, r in zip(todo, fresh, strict=True)]
        done = [(f, r) for f, r in hashed if isinstance(r, FileDigest)]
        digest_cache.store([f for f, _ in done], [r for _, r in done])
        digest_cache.close()
    leaves: list[Leaf] = []
    for f, r in zip(listed, results, strict=True):
        if isinstance(r, InputError):
            if isinstance(r, Unreadable):
                if policy.skip_unreadable:
                    skipped.append((f.name, "unreadable"))
                    continue
                raise Unreadable(r.message + "; pass --skip-unreadable to record it as skipped")
            raise r
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


def _model_leaves(model: Path) -> tuple[list[Leaf], ModelFingerprint]:
    from aichain_audit.fingerprint.onnx_model import SCHEME, fingerprint_model

    conflict = item_conflict(argument_name(model))
    if conflict is not None:
        raise InputError(conflict)
    fp = fingerprint_model(model)
    leaves: list[Leaf] = [file_leaf("model", fp.name, fp.file.digest, fp.file.size)]
    leaves.extend(file_leaf("model-data", n, d.digest, d.size) for n, d in fp.external)
    s = fp.semantic
    leaves.append(semantic_leaf(fp.name, SCHEME, s.graph, s.weights, s.metadata))
    leaves.extend(tensor_leaf(fp.name, t.id, t.name, t.digest) for t in s.tensors)
    return leaves, fp


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
    leaves.extend(_config_leaves(configs))
    fp = None
    if model is not None:
        model_leaves, fp = _model_leaves(model)
        leaves.extend(model_leaves)
    data_leaves, total, skipped = _hash_datasets(datasets, policy, progress, cache)
    leaves.extend(data_leaves)
    if not any(leaf["kind"] in (*PATH_KINDS, "config") for leaf in leaves):
        raise UsageError("nothing to fingerprint: the folders given hold no files")
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


def registry_command(
    action: str,
    settings: ChainSettings,
    account: str | None = None,
    from_block: int | None = None,
) -> dict[str, object]:
    """`aichain registry ACTION`: deploy, grant, withdraw, mark-untrusted, status,
    transfer-owner, accept-owner."""
    from aichain_audit.ledger import open_registry

    write = action != "status"
    deploying = action == "deploy"
    embedded_deploy = deploying and settings.embedded
    with open_registry(
        settings, write=write, need_registry=not deploying, deploy_if_missing=embedded_deploy
    ) as conn:
        reg = conn.registry
        tx = None
        if embedded_deploy:
            if conn.deploy_tx is None:
                raise UsageError(f"the embedded chain already has a registry at {reg.address}")
            tx = conn.deploy_tx
        elif deploying:
            tx = reg.deploy()
        elif action in ("grant", "withdraw", "transfer-owner", "mark-untrusted"):
            from web3 import Web3

            if account is None or not Web3.is_address(account):
                raise UsageError(f"`registry {action}` needs an account address, got {account!r}")
            account = Web3.to_checksum_address(account)
            if action == "mark-untrusted":
                if from_block is None or from_block < 0:
                    raise UsageError("`registry mark-untrusted` needs --from-block N (N >= 0)")
                tx = reg.mark_untrusted(account, from_block)
            else:
                tx = {
                    "grant": reg.grant,
                    "withdraw": reg.withdraw,
                    "transfer-owner": reg.transfer_owner,
                }[action](account)
        elif action == "accept-owner":
            tx = reg.accept_owner()
        elif action != "status":
            raise UsageError(f"unknown registry action {action!r}")
        out: dict[str, object] = {
            "registry": reg.address,
            "chain_id": conn.chain_id,
            "chain": conn.kind,
            "tx": tx.tx if tx else None,
            "owner": reg.owner(),
            "pending_owner": reg.pending_owner(),
        }
        if account is not None:
            out["account"] = account
            out["is_anchorer"] = reg.is_anchorer(account)
            out["untrusted_from"] = reg.untrusted_from(account)
        if reg.signer is not None:
            out["signer"] = reg.signer.address
            out["signer_is_anchorer"] = reg.is_anchorer(reg.signer.address)
        if tx is not None:
            out["block"] = tx.block
            out["gas_used"] = tx.gas_used
        return out
