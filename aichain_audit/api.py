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
    MAX_MANIFEST_BYTES,
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
    from aichain_audit.fingerprint.onnx_model import ModelFingerprint
    from aichain_audit.ledger import ChainSettings
    from aichain_audit.ledger.registry import Registry
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
    data = read_input(path, limit=MAX_MANIFEST_BYTES, what="lineage manifest")
    return LineageManifest.from_json(data, str(path))


def read_proof(path: Path) -> InclusionProof:
    """Reads and validates a proof file (`aichain.proof/v1`)."""
    return load_proof(read_input(path, limit=MAX_PROOF_BYTES, what="proof"), str(path))


def check_proof(proof: InclusionProof, root: bytes) -> bool:
    """True when the proof places its leaf in the tree with the given (trusted) root."""
    return proof.verifies_against(root)


_ = ManifestError  # re-exported for API users catching manifest problems


# --- anchoring ---------------------------------------------------------------------------
def batch_leaf_hash(root: bytes, subject: bytes) -> bytes:
    """A lineage's leaf in a batch anchor: SHA-256(0x00 || root || subject) (RFC 9162 leaf)."""
    from aichain_audit import merkle

    return merkle.leaf_hash(root + subject)


def anchor(manifest_paths: Sequence[Path], settings: ChainSettings) -> list[AnchorReceipt]:
    """Anchors one lineage root, or several in one batch transaction; idempotent.

    Returns one `AnchorReceipt` per manifest and writes each beside its manifest
    (`<name>.receipt.json`) once everything has landed. An already anchored root
    reports the existing record and sends nothing.
    """
    from aichain_audit import merkle
    from aichain_audit.atomicfile import write_atomic
    from aichain_audit.ledger import open_registry
    from aichain_audit.ledger.registry import TxResult, hex32
    from aichain_audit.receipt import AnchorReceipt, BatchInfo, receipt_path

    if not manifest_paths:
        raise UsageError("give at least one lineage manifest to anchor")
    manifests = [load_manifest(p) for p in manifest_paths]
    pairs = [(m.root, hex32(m.subject)) for m in manifests]
    if len(set(pairs)) != len(pairs):
        raise UsageError("the same lineage is given twice")
    receipts: list[AnchorReceipt] = []
    with open_registry(settings, write=True, deploy_if_missing=settings.embedded) as conn:
        reg = conn.registry

        def receipt(
            root: bytes,
            subject: str,
            tx: TxResult,
            batch: BatchInfo | None,
            existing: bool,
            anchorer: str,
        ) -> AnchorReceipt:
            return AnchorReceipt(
                root=root.hex(), subject=subject, tx=tx.tx, block=tx.block,
                block_time=tx.timestamp, chain_id=conn.chain_id, chain=conn.kind,
                registry=str(reg.address), anchorer=anchorer, gas_used=tx.gas_used,
                batch=batch, existing=existing,
            )  # fmt: skip

        if len(manifests) == 1:
            (root, subject), m = pairs[0], manifests[0]
            record = reg.record(root, subject)
            if record is not None:
                found = reg.find_anchor_tx(root, subject, block=record.block)
                if found is None:
                    raise InputError("the record exists but its transaction was not found")
                receipts.append(receipt(root, m.subject, found, None, True, record.anchorer))
            else:
                tx = reg.anchor(root, subject)
                receipts.append(receipt(root, m.subject, tx, None, False, reg.signer.address))
        else:
            leaves = [batch_leaf_hash(r, s) for r, s in pairs]
            tree = merkle.MerkleTree(leaves)
            batch_subject = reg.batch_subject()
            record = reg.record(tree.root, batch_subject)
            if record is not None:
                found = reg.find_anchor_tx(tree.root, batch_subject, batch=True, block=record.block)
                if found is None:
                    raise InputError("the batch record exists but its transaction was not found")
                tx, existing, anchorer = found, True, record.anchorer
            else:
                tx = reg.anchor_batch(tree.root, len(leaves))
                existing, anchorer = False, reg.signer.address
            for i, m in enumerate(manifests):
                info = BatchInfo(
                    i, len(leaves), tree.root.hex(), [p.hex() for p in tree.inclusion_proof(i)]
                )
                receipts.append(receipt(pairs[i][0], m.subject, tx, info, existing, anchorer))
    for path, r in zip(manifest_paths, receipts, strict=True):
        write_atomic(receipt_path(path), r.to_json())
    return list(receipts)


def _root_and_subject(target: str, subject: str | None, reg: Registry) -> tuple[bytes, bytes]:
    """ROOT (hex) or a manifest path, and the subject: given, from the manifest, or found."""
    from aichain_audit.ledger.registry import hex32

    path = Path(target)
    if target.endswith(".json") or path.is_file():
        m = load_manifest(path)
        return m.root, hex32(subject or m.subject)
    root = hex32(target)
    if subject is not None:
        return root, hex32(subject)
    if reg.record(root, reg.batch_subject()) is not None:
        return root, reg.batch_subject()
    subjects = set(reg.subjects_of(root))
    if not subjects:
        raise InputError(f"root {root.hex()} is not anchored in this registry")
    if len(subjects) > 1:
        raise UsageError(f"root {root.hex()} is anchored with several subjects; pass --subject")
    return root, subjects.pop()


def anchored_status(root: bytes, subject: str, chain: str | None, registry: str | None) -> str:
    """'trusted', 'revoked', 'untrusted' or 'not anchored': the registry's word on a root."""
    from aichain_audit.ledger import ChainSettings, open_registry
    from aichain_audit.ledger.registry import hex32

    settings = ChainSettings.resolve(chain, registry)
    if not settings.embedded and settings.registry is None:
        raise UsageError("--chain needs --registry (or AICHAIN_REGISTRY)")
    with open_registry(settings, write=False) as conn:
        record = conn.registry.record(root, hex32(subject))
    if record is None:
        return "not anchored"
    return str(record.status.name.lower())


def revoke(
    target: str, reason: str, settings: ChainSettings, subject: str | None = None
) -> dict[str, object]:
    """Revokes an anchored record (by its anchorer or the registry owner), with a reason."""
    from aichain_audit.ledger import open_registry

    if not reason.strip():
        raise UsageError("--reason must say why the record is revoked")
    with open_registry(settings, write=True) as conn:
        root, subj = _root_and_subject(target, subject, conn.registry)
        if conn.registry.record(root, subj) is None:
            raise InputError(f"no record of root {root.hex()} with subject {subj.hex()}")
        tx = conn.registry.revoke(root, subj, reason)
        return {
            "root": root.hex(), "subject": subj.hex(), "tx": tx.tx, "block": tx.block,
            "chain_id": conn.chain_id, "registry": conn.registry.address, "gas_used": tx.gas_used,
            "reason": reason,
        }  # fmt: skip


def registry_command(
    action: str, settings: ChainSettings, account: str | None = None
) -> dict[str, object]:
    """`aichain registry ACTION`: deploy, grant, withdraw, status, transfer-owner, accept-owner."""
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
        elif action in ("grant", "withdraw", "transfer-owner"):
            from web3 import Web3

            if account is None or not Web3.is_address(account):
                raise UsageError(f"`registry {action}` needs an account address, got {account!r}")
            account = Web3.to_checksum_address(account)
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
        if reg.signer is not None:
            out["signer"] = reg.signer.address
            out["signer_is_anchorer"] = reg.is_anchorer(reg.signer.address)
        if tx is not None:
            out["block"] = tx.block
            out["gas_used"] = tx.gas_used
        return out
