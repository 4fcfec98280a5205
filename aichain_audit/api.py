"""The public Python API; the CLI is a thin layer over these functions.

    >>> from pathlib import Path
    >>> from aichain_audit import api
    >>> result = api.fingerprint(configs=[Path("samples/train.yaml")])  # doctest: +SKIP
    >>> result.manifest.root_hex  # doctest: +SKIP
    '…64 hex digits…'

Functions take plain objects and return plain objects; they raise only
`aichain_audit.errors.AichainError` subclasses for conditions a user can act on.
Fingerprinting imports neither web3 nor mlflow (unless it is asked to read an MLflow run).

Inside a training script, `log_lineage` fingerprints and records the lineage in the active
MLflow run:

    >>> import mlflow  # doctest: +SKIP
    >>> with mlflow.start_run():  # doctest: +SKIP
    ...     mlflow.log_params({"lr": 0.1})
    ...     ...  # train, export model.onnx
    ...     api.log_lineage(model=Path("model.onnx"), datasets=[Path("data/")],
    ...                     configs=[Path("train.yaml")])
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aichain_audit.errors import AichainError, InputError, ManifestError, UsageError
from aichain_audit.fingerprint.interface import (
    ConfigFingerprinter,
    DatasetFingerprinter,
    ModelFingerprinter,
    Progress,
)
from aichain_audit.fingerprint.paths import PathPolicy, argument_name
from aichain_audit.fingerprint.storage import is_url, storage_for
from aichain_audit.inputfile import read_input
from aichain_audit.lineage import (
    CONFIG,
    DATASET,
    MAX_PROOF_BYTES,
    MLFLOW_PARAM_NAME,
    MLFLOW_RUN,
    MLFLOW_RUN_ID,
    PATH_KINDS,
    Leaf,
    LineageManifest,
    mlflow_input_leaf,
    mlflow_param_leaf,
    mlflow_run_leaf,
    name_leaf,
    parent_leaf,
)
from aichain_audit.proof import InclusionProof, load_proof, prove
from aichain_audit.verify.request import VerifyRequest

if TYPE_CHECKING:  # kept out of the start-up path: fingerprinting never imports these
    from aichain_audit.anchoring import LedgerCheck, Revocation
    from aichain_audit.fingerprint.engine import Engine
    from aichain_audit.fingerprint.model import ModelFingerprint
    from aichain_audit.ledger import ChainSettings
    from aichain_audit.ledger.admin import RegistryState
    from aichain_audit.receipt import AnchorReceipt
    from aichain_audit.report.dsse import SigningKey
    from aichain_audit.tracking import DatasetInput, ModelArtifact, RunRecord
    from aichain_audit.tracking.client import Session
    from aichain_audit.verify.diff import LeafDiff
    from aichain_audit.verify.findings import Verification

# The API, exactly: `from aichain_audit.api import *` gives these names and nothing else
# (README "Python API" lists them; tests/test_api.py checks both).
__all__ = [  # noqa: RUF022 - grouped by task, as README lists them
    # fingerprinting and proofs
    "FingerprintResult",
    "LineageManifest",
    "InclusionProof",
    "PathPolicy",
    "Progress",
    "fingerprint",
    "load_manifest",
    "prove",
    "read_proof",
    "check_proof",
    # MLflow
    "log_lineage",
    "record_lineage",
    # the ledger
    "ChainSettings",
    "AnchorReceipt",
    "Revocation",
    "LedgerCheck",
    "RegistryState",
    "anchor",
    "record_anchor",
    "revoke",
    "check_ledger",
    "deploy_registry",
    "registry_status",
    "grant_anchorer",
    "withdraw_anchorer",
    "mark_untrusted",
    "transfer_registry_owner",
    "accept_registry_owner",
    # comparing, verifying, reporting
    "LeafDiff",
    "VerifyRequest",
    "Verification",
    "diff",
    "verify",
    "check_inclusion",
    "report",
]

# Types of the API that live in modules its start-up never imports (web3 among them): they
# are imported when first asked for, as `api.ChainSettings` or by `import *`.
_LAZY = {
    "ChainSettings": "aichain_audit.ledger",
    "AnchorReceipt": "aichain_audit.receipt",
    "Revocation": "aichain_audit.anchoring",
    "LedgerCheck": "aichain_audit.anchoring",
    "RegistryState": "aichain_audit.ledger.admin",
    "LeafDiff": "aichain_audit.verify.diff",
    "Verification": "aichain_audit.verify.findings",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class FingerprintResult:
    """What `fingerprint` returns: the manifest (`manifest.to_json()` is the file) and counts."""

    manifest: LineageManifest
    model: ModelFingerprint | None = None
    dataset_files: int = 0
    dataset_bytes: int = 0
    config_values: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    run: RunRecord | None = None  # the MLflow run the lineage was taken from
    # each dataset input of that run with a local source, and the leaf it became
    run_datasets: list[tuple[DatasetInput, str]] = field(default_factory=list)
    model_source: str | None = None  # where the model came from, when the run supplied it


def _is_unicode(text: str) -> bool:
    """False for text holding lone surrogates (bytes that were not UTF-8 on the command line)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _recorded_name(location: Path | str) -> str:
    """The name an argument is recorded under (SPEC 4; an object's or prefix's, SPEC 16)."""
    if is_url(location):
        return storage_for(location).argument_name(location)
    return argument_name(Path(location))


def _refuse_same_base_names(paths: Sequence[Path | str]) -> None:
    """Arguments are recorded by base name, so two with the same one would merge silently."""
    seen: dict[str, Path | str] = {}
    for path in paths:
        recorded = _recorded_name(path)
        if recorded in seen:
            raise UsageError(
                f"{seen[recorded]} and {path} would both be recorded as {recorded!r}; "
                "rename one, or pass their common parent folder"
            )
        seen[recorded] = path


def fingerprint(
    *,
    model: Path | str | None = None,
    datasets: Sequence[Path | str] = (),
    configs: Sequence[Path] = (),
    name: str | None = None,
    parent: str | None = None,
    mlflow_run: str | None = None,
    policy: PathPolicy = PathPolicy(),
    progress: Progress | None = None,
    cache: bool = False,
    engine: Engine | None = None,
) -> FingerprintResult:
    """Fingerprints a model, datasets and configs into one lineage manifest.

    With `mlflow_run`, the run's id is recorded, and what the run holds is taken besides
    what is given: its params (as `mlflow-param` leaves), every dataset input (as
    `mlflow-input` leaves), the file of each one whose source is local and whose MLflow
    record no other run shares (a shared one is refused unless `datasets` are given), and,
    when no `model` is given, its one model (from a logged model or an artifact: a model
    file of a format with a semantic fingerprint, or a checkpoint folder). Nothing is
    written anywhere (`record_lineage` writes to the run; `LineageManifest.to_json` gives
    the bytes to store). With `cache`, digests of unchanged dataset files come from the
    opt-in digest cache. `engine` hashes the dataset files (default: this process;
    `fingerprint.engine.open_engine("ray")` for a Ray cluster, which the caller closes); the
    root never depends on it.

    A dataset or the model may be an object storage URL (`s3://bucket/data/`, `gs://`,
    `az://`, `abfs://`, `file://`: `aichain_audit.fingerprint.storage`): a dataset's objects
    are hashed where they are; a model is downloaded, with exactly the files its format
    reads, into a private temporary folder and fingerprinted there, recorded under the
    names the objects have.
    """
    with ExitStack() as stack:
        return _fingerprint(
            stack, model=model, datasets=list(datasets), configs=configs, name=name,
            parent=parent, mlflow_run=mlflow_run, policy=policy, progress=progress, cache=cache,
            engine=engine,
        )  # fmt: skip


def _fingerprint(
    stack: ExitStack,
    *,
    model: Path | str | None,
    datasets: list[Path | str],
    configs: Sequence[Path],
    name: str | None,
    parent: str | None,
    mlflow_run: str | None,
    policy: PathPolicy,
    progress: Progress | None,
    cache: bool,
    engine: Engine | None = None,
) -> FingerprintResult:
    if model is None and not datasets and not configs and mlflow_run is None:
        raise UsageError(
            "nothing to fingerprint: give --model, --dataset, --config or --mlflow-run"
        )
    if name is not None and not _is_unicode(name):
        raise UsageError("--name is not valid UTF-8 text")
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
    run = None
    model_source = None
    fetched: tuple[Path, ModelArtifact] | None = None  # a model downloaded from the run
    run_datasets: list[tuple[DatasetInput, str]] = []
    if mlflow_run is not None:
        if not MLFLOW_RUN_ID.fullmatch(mlflow_run):
            raise UsageError(
                f"--mlflow-run {mlflow_run!r} is not an MLflow run id "
                "(1 to 256 ASCII letters, digits, '-' or '_')"
            )
        leaves.append(mlflow_run_leaf(mlflow_run))
        run, fetched, shared = _read_run(stack, mlflow_run, want_model=model is None)
        if fetched is not None:
            model, model_source = fetched[0], fetched[1].shown
        leaves.extend(_param_leaves(run))
        run_datasets, extra = _run_datasets(run, datasets, shared)
        datasets = [*datasets, *extra]
    datasets = [d if is_url(d) else Path(d) for d in datasets]
    downloaded = None
    if model is not None and is_url(model):
        _refuse_same_base_names([model, *datasets, *configs])
        downloaded = _fetch_model(stack, str(model))
    elif model is not None:
        model = Path(model)
    with _naming(fetched), _naming_url(downloaded):
        _refuse_same_base_names([*([model] if model is not None else []), *datasets, *configs])
        # Cheap inputs first, so a malformed config fails before an hour of hashing.
        leaves.extend(ConfigFingerprinter().fingerprint(configs).leaves)
        fp = None
        if model is not None:
            local_model = downloaded[0] if downloaded is not None else Path(model)
            fingerprinted = ModelFingerprinter().fingerprint([local_model])
            fp = fingerprinted.model
            leaves.extend(fingerprinted.leaves)
    data = DatasetFingerprinter(policy, progress=progress, cache=cache, engine=engine).fingerprint(
        datasets
    )
    data_leaves, total, skipped = data.leaves, data.total_bytes, data.skipped
    leaves.extend(data_leaves)
    recorded = {leaf["path"] for leaf in data_leaves if leaf["kind"] == DATASET}
    for ds, leaf_path in run_datasets:
        if leaf_path not in recorded:
            raise InputError(
                f"the run's dataset {ds.shown} was not fingerprinted as {leaf_path!r} "
                "(skipped by the path policy?)"
            )
    if run is not None:
        leaves.extend(_input_leaves(run, run_datasets))
    if not any(leaf["kind"] in (*PATH_KINDS, CONFIG) for leaf in leaves):
        raise UsageError(
            "nothing to fingerprint: the folders given hold no files"
            + (", and the run holds no model and no local dataset" if run is not None else "")
        )
    manifest = LineageManifest.build(leaves)
    return FingerprintResult(
        manifest,
        fp,
        dataset_files=sum(1 for leaf in data_leaves if leaf["kind"] == DATASET),
        dataset_bytes=total,
        config_values=sum(1 for leaf in leaves if leaf["kind"] == CONFIG),
        skipped=skipped,
        run=run,
        run_datasets=run_datasets,
        model_source=model_source,
    )


def _read_run(
    stack: ExitStack, run_id: str, *, want_model: bool
) -> tuple[RunRecord, tuple[Path, ModelArtifact] | None, dict[tuple[str, str], str]]:
    """The run; (when asked) its one model (a model file or a checkpoint folder) downloaded
    into a private folder that lives as long as `stack`; and which of its local dataset
    inputs are records MLflow shares with another run (`tracking.client.shared_inputs`)."""
    from aichain_audit.fingerprint.model import FOLDER_MARKERS, MODEL_SUFFIXES, split_parts
    from aichain_audit.tracking import client as tracking

    with tracking.session() as s:
        run = tracking.read_run(
            s, run_id, models=MODEL_SUFFIXES if want_model else (), folders=FOLDER_MARKERS,
            parts=split_parts,
        )  # fmt: skip
        shared = tracking.shared_inputs(s, run)
        if not want_model or not run.models:
            return run, None, shared
        if len(run.models) > 1:
            listed = "; ".join(m.shown for m in run.models[:5])
            raise UsageError(
                f"MLflow run {run_id} holds {len(run.models)} models ({listed}); "
                "give the one to fingerprint with --model"
            )
        import tempfile  # only a model taken from a run needs it

        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aichain-model-")))
        got = tracking.download_held(s, run.models[0], folder)
        return run, (got, run.models[0]), shared


def _fetch_model(stack: ExitStack, url: str) -> tuple[Path, str]:
    """The model at `url` downloaded with the files its format reads into a private folder
    that lives as long as `stack`: (its local path, the URL)."""
    import tempfile

    from aichain_audit.fingerprint.storage.fetch import fetch, private_folder

    tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="aichain-model-")))
    return fetch(url, private_folder(tmp, "model"), model=True), url


@contextmanager
def _naming_url(downloaded: tuple[Path, str] | None) -> Iterator[None]:
    """Errors about a model downloaded from a URL name it by its URL, never by the private
    folder it was downloaded into."""
    try:
        yield
    except AichainError as exc:
        if downloaded is not None:
            path, url = downloaded
            text = exc.message.replace(str(path), url)
            text = text.replace(str(path.parent), url.rsplit("/", 1)[0])
            exc.args = (text, *exc.args[1:])
        raise


@contextmanager
def _naming(fetched: tuple[Path, ModelArtifact] | None) -> Iterator[None]:
    """Errors about a model downloaded from a run name it by its MLflow URI (`runs:/…`,
    `models:/…`), never by the private folder it was downloaded into."""
    try:
        yield
    except AichainError as exc:
        if fetched is not None:
            path, artifact = fetched
            text = exc.message.replace(str(path), artifact.named)
            text = text.replace(str(path.parent), artifact.named.rsplit("/", 1)[0])
            exc.args = (text, *exc.args[1:])
        raise


def _param_leaves(run: RunRecord) -> list[Leaf]:
    leaves = []
    for key, value in sorted(run.params.items()):
        if not MLFLOW_PARAM_NAME.fullmatch(key) or not _is_unicode(key + value):
            raise InputError(
                f"MLflow run {run.run_id} has a param MLflow would not accept: {key!r}"
            )
        leaves.append(mlflow_param_leaf(key, value))
    return leaves


def _run_datasets(
    run: RunRecord, given: Sequence[Path | str], shared: dict[tuple[str, str], str]
) -> tuple[list[tuple[DatasetInput, str]], list[Path]]:
    """Which leaf each local dataset input of the run becomes: the file itself, or its place
    inside a dataset folder given on the command line; files of neither are added. An input
    whose MLflow record another run shares may name that run's file: it never becomes a
    leaf, and without `given` datasets it is refused (docs/SPEC.md section 12.1)."""
    # (a URL given is never where a local source lies)
    folders = [(os.path.realpath(p), argument_name(Path(p))) for p in given if not is_url(p)]
    mapped: list[tuple[DatasetInput, str]] = []
    extra: dict[str, Path] = {}  # by real path: two inputs of one file add it once
    for ds in run.datasets:
        if ds.local_path is None:
            continue
        other = shared.get((ds.name, ds.digest))
        if other is not None:
            if not given:
                raise InputError(
                    f"MLflow run {run.run_id}'s dataset {ds.name!r} (MLflow digest "
                    f"{ds.digest}, source {ds.local_path}) is a record MLflow may share with "
                    f"other runs of experiment {run.experiment_id} ({other}): its source need "
                    "not be the file this run read; give the data the run trained on with "
                    "--dataset PATH "
                    "(in a training script: api.log_lineage(datasets=[...]))"
                )
            continue
        real = os.path.realpath(ds.local_path)
        if not os.path.isfile(real):
            raise InputError(
                f"MLflow run {run.run_id} used dataset {ds.name!r} from {ds.local_path}, "
                "which is not a readable file here"
            )
        leaf = None
        for base, recorded in folders:
            if real == base:
                leaf = recorded
            elif real.startswith(base.rstrip("/") + "/"):
                leaf = f"{recorded}/{os.path.relpath(real, base)}"
            if leaf is not None:
                break
        if leaf is None:
            extra.setdefault(real, ds.local_path)
            leaf = argument_name(ds.local_path)
        mapped.append((ds, leaf))
    return mapped, list(extra.values())


def _input_leaves(run: RunRecord, tied: list[tuple[DatasetInput, str]]) -> list[Leaf]:
    """One `mlflow-input` leaf per dataset input of the run (an input MLflow lists twice,
    once), naming the dataset leaf its local source became, when it became one."""
    dataset = {ds: leaf for ds, leaf in tied}
    leaves: dict[tuple[str, str, str, str], Leaf] = {}
    for ds in run.datasets:
        key = (ds.name, ds.digest, ds.source_type, ds.source)
        if key not in leaves or ds in dataset:
            leaves[key] = mlflow_input_leaf(*key, dataset=dataset.get(ds))
    return list(leaves.values())


def record_lineage(result: FingerprintResult) -> None:
    """Records a lineage taken from an MLflow run in that run: the manifest as artifact
    `aichain/lineage.json`, the records tying the run to it as `aichain/records.json`, and
    tags `aichain.root`, `aichain.model` (the model's digest) and `aichain.status`; the run's
    logged models holding the lineage's model, and their registered versions, get the root
    and status too (docs/SPEC.md section 12.1). Finished runs are written without being
    reopened. A run that already records another lineage is refused."""
    from aichain_audit import tracking
    from aichain_audit.tracking import client

    run = result.run
    if run is None:
        raise UsageError("this lineage was not taken from an MLflow run")
    manifest = result.manifest
    data = manifest.to_json()
    before = run.tags.get(tracking.TAG_ROOT)
    if before is not None and before != manifest.root_hex:
        raise UsageError(
            f"MLflow run {run.run_id} already records lineage {before}; a run's lineage is "
            "never replaced: record this one in a new run"
        )
    models = [leaf for leaf in manifest.leaves if leaf["kind"] == "model"]
    model_digest = str(models[0]["digest"]) if models else None
    tags = {tracking.TAG_ROOT: manifest.root_hex, tracking.TAG_STATUS: tracking.STATUS_RECORDED}
    if model_digest is not None:
        tags[tracking.TAG_MODEL] = model_digest
    records = tracking.records_document(
        subject=manifest.subject,
        manifest_sha256="sha256:" + hashlib.sha256(data).hexdigest(),
        model_digest=model_digest,
        model_source=result.model_source,
        datasets=result.run_datasets,
    )
    with client.session() as s:
        client.write_lineage(s, run.run_id, data, records, tags)
        if models:
            held = _models_holding(s, run.run_id, models[0])
            model_tags = {k: tags[k] for k in (tracking.TAG_ROOT, tracking.TAG_STATUS)}
            client.tag_models(s, run.run_id, held, model_tags)


def _models_holding(s: Session, run_id: str, leaf: Leaf) -> list[str]:
    """The run's logged models whose model file is the lineage's model (same size, then same
    digest; a checkpoint folder's file of the model leaf's name): the ones whose MLflow page
    may say which lineage they belong to."""
    import tempfile

    from aichain_audit.fingerprint.hashing import digest_file
    from aichain_audit.fingerprint.model import FOLDER_MARKERS, MODEL_SUFFIXES, split_parts
    from aichain_audit.fingerprint.paths import resolve_inside
    from aichain_audit.tracking import client

    run = client.read_run(
        s, run_id, models=MODEL_SUFFIXES, folders=FOLDER_MARKERS, parts=split_parts
    )
    held: list[str] = []
    with tempfile.TemporaryDirectory(prefix="aichain-model-") as tmp:
        for i, model in enumerate(run.models):
            if model.model_id is None or model.model_id in held:
                continue
            if model.size is not None and model.size != leaf["size"]:
                continue
            folder = Path(tmp) / str(i)
            folder.mkdir()
            got = client.download(s, model.uri, folder)
            if model.folder:  # the model leaf is a file inside the checkpoint
                got = resolve_inside(got, str(leaf["path"]))
                if not got.is_file():
                    continue
            if digest_file(str(got), shown=model.named, follow=False).digest == leaf["digest"]:
                held.append(model.model_id)
    return held


def log_lineage(
    *,
    model: Path | str | None = None,
    datasets: Sequence[Path | str] = (),
    configs: Sequence[Path] = (),
    name: str | None = None,
    parent: str | None = None,
    policy: PathPolicy = PathPolicy(),
    cache: bool = False,
) -> FingerprintResult:
    """From inside `with mlflow.start_run():` in a training script: fingerprints the model,
    datasets and configs together with what the active run holds (as `fingerprint` with
    `mlflow_run`), and records the lineage in the run (`record_lineage`). Returns the result;
    `result.manifest.to_json()` is the manifest, should the script also want a file."""
    from aichain_audit.tracking.client import active_run_id

    result = fingerprint(
        model=model, datasets=datasets, configs=configs, name=name, parent=parent,
        mlflow_run=active_run_id(), policy=policy, cache=cache,
    )  # fmt: skip
    record_lineage(result)
    return result


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


def record_anchor(manifest_paths: Sequence[Path], receipts: Sequence[AnchorReceipt]) -> list[str]:
    """Records each receipt on the MLflow run its lineage was recorded in (artifact
    `aichain/lineage.receipt.json`, tags `aichain.status`, `aichain.anchorer`, `aichain.tx`,
    also on the run's logged models and versions that record the lineage); returns the runs
    written. A
    manifest that names no run, or names one that does not record this lineage, is left
    alone."""
    from aichain_audit import tracking
    from aichain_audit.fingerprint.model import FOLDER_MARKERS, MODEL_SUFFIXES, split_parts
    from aichain_audit.tracking import client

    todo = []
    for path, receipt in zip(manifest_paths, receipts, strict=True):
        named = [leaf["run_id"] for leaf in LineageManifest.read(path).leaves
                 if leaf["kind"] == MLFLOW_RUN]  # fmt: skip
        if named:
            todo.append((str(named[0]), receipt))
    written: list[str] = []
    if not todo:
        return written
    with client.session() as s:
        for run_id, receipt in todo:
            # its logged models too: those that record this lineage get the anchor's tags
            run = client.read_run(
                s, run_id, models=MODEL_SUFFIXES, folders=FOLDER_MARKERS, parts=split_parts
            )
            if run.tags.get(tracking.TAG_ROOT) != receipt.root:
                continue
            tags = tracking.anchor_tags(
                tx=receipt.tx, chain_id=receipt.chain_id, block=receipt.block,
                anchorer=receipt.anchorer, status=receipt.status,
            )  # fmt: skip
            client.write_receipt(s, run_id, receipt.to_json(), tags)
            client.tag_models(s, run_id, client.recorded_models(s, run, receipt.root), tags)
            written.append(run_id)
    return written


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
def diff(
    a: Path | str,
    b: Path | str,
    *,
    policy: PathPolicy = PathPolicy(),
    progress: Progress | None = None,
) -> LeafDiff:
    """`aichain diff A B`: two lineages compared leaf by leaf, each a manifest or a model,
    dataset or config fingerprinted now (rules in `aichain_audit.verify.diff.diff_paths`)."""
    from aichain_audit.verify.diff import diff_paths

    return diff_paths(a, b, policy=policy, progress=progress)


# --- verification ------------------------------------------------------------------------
def verify(request: VerifyRequest) -> Verification:
    """Verifies a deployed model as `request` describes it (a `VerifyRequest`: the model as a
    path or an MLflow model URI `runs:/…`, `models:/…`, its lineage, or None for the one
    recorded in MLflow, datasets, MLflow run, chain settings and trust pins); see
    `aichain_audit.verify.compose.verify_request`. Never raises for a failed check: every
    result is a finding, the request defines which checks are required, and
    `Verification.verified` is the verdict (one rule, `aichain_audit.verify.findings`)."""
    from aichain_audit.verify.compose import verify_request

    return verify_request(request)


def check_inclusion(
    proof: InclusionProof,
    trusted_root: bytes,
    ledger: LedgerCheck | None = None,
    require_pinned: bool = False,
) -> Verification:
    """`check-proof`'s verdict as findings; see `aichain_audit.verify.proof.check_inclusion`."""
    from aichain_audit.verify.proof import check_inclusion as check

    return check(proof, trusted_root, ledger, require_pinned)


# --- reports -----------------------------------------------------------------------------
def report(
    lineage: Path,
    *,
    fmt: str = "html",
    verification: Verification | None = None,
    findings: Path | None = None,
    artifacts: Path | None = None,
    receipt: Path | None = None,
    json_lines: bool = False,
    sign: SigningKey | None = None,
) -> bytes:
    """`aichain report`: the lineage, its receipt, its artifacts' plain SHA-256 digests and
    a verification (a `Verification` run now, or a saved verify document read from
    `findings`, whose verdict is recomputed and must agree with its checks) rendered as one
    of `aichain_audit.report.FORMATS`. With neither, the report says that nothing was
    verified. Artifacts are resolved under `artifacts`, else the lineage's folder; the model
    a verification hashed is the report's subject. Bad input raises an `AichainError`.

    The in-toto statement (`fmt="intoto"`) can be one JSON Lines line (`json_lines`) and
    signed: `sign` (a `report.dsse.SigningKey`, e.g. `signing_key_from_environment()`) gives
    its DSSE envelope instead."""
    from aichain_audit.report import FORMATS, render
    from aichain_audit.report.collect import ReportInputs, build_evidence

    if fmt not in FORMATS:
        raise UsageError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")
    if (json_lines or sign is not None) and fmt != "intoto":
        raise UsageError("only the in-toto statement is written as JSON Lines or signed")
    inputs = ReportInputs(lineage, artifacts, receipt, verification, findings)
    if fmt == "intoto":
        from aichain_audit.report.intoto import document

        return document(build_evidence(inputs), one_line=json_lines, sign=sign)
    return render(build_evidence(inputs), fmt)
