"""`VerifyRequest`: everything one verification needs, as one frozen value, and the rule that
says which checks it requires (docs/verify.md, "Required checks").

The CLI (or a policy, or a model server) builds the request; `api.verify(request)` runs it.
The checks a verification must pass are defined by the request and the lineage it reads,
never by the caller:
- always `lineage.root`, `ledger.record`, and `model.digest` of the model file and of each
  external data file the lineage names;
- one `dataset` per dataset given (every file under its recorded name);
- `mlflow.run` and `mlflow.root` when a run is involved (named by the request or the lineage);
- `ledger.trust` when the result must rest on pinned anchorers (`require_pinned`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aichain_audit.errors import InputError, UsageError
from aichain_audit.fingerprint.paths import PathPolicy, argument_name
from aichain_audit.fingerprint.storage import is_url, scheme_of
from aichain_audit.lineage import MLFLOW_RUN, MLFLOW_RUN_ID, MODEL_DATA, MODEL_SEMANTIC
from aichain_audit.verify.findings import NEVER_SKIP, Requirement

if TYPE_CHECKING:
    from aichain_audit.fingerprint.engine import Engine
    from aichain_audit.ledger import ChainSettings
    from aichain_audit.verify.lineage_root import ReadManifest


@dataclass(frozen=True)
class RequestRecord:
    """A request as a verification document records it: plain values, no secrets (a chain is
    named by its kind, never by its URL, which may hold credentials)."""

    model: str
    lineage: str | None = None
    receipt: str | None = None
    datasets: tuple[str, ...] = ()
    mlflow_run: str | None = None
    chain: str = "embedded"  # embedded | json-rpc
    chain_id: int | None = None  # the chain id the auditor pinned, if any
    registry: str | None = None  # the registry the auditor pinned (None: the embedded one)
    trust: tuple[str, ...] = ()  # the anchorers the auditor pinned
    require_pinned: bool = False
    confirmations: int = 1


@dataclass(frozen=True)
class VerifyRequest:
    """One verification, fully described: the model (a path or an MLflow model URI), its
    lineage (None: the one recorded in MLflow), the receipt (a pointer, never trusted), the
    datasets to re-fingerprint, the MLflow run, the chain settings (chain, registry, pinned
    chain id), the pinned anchorers and whether the result must rest on them. `engine`
    hashes the datasets (None: this process); it is how, not what, so it is not recorded."""

    model: str | Path
    settings: ChainSettings
    lineage: Path | None = None
    receipt: Path | None = None
    datasets: tuple[Path | str, ...] = ()  # a path, or an object storage URL
    mlflow_run: str | None = None
    pins: tuple[str, ...] = ()
    require_pinned: bool = False
    policy: PathPolicy = field(default_factory=PathPolicy)
    engine: Engine | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        # Lists are accepted for convenience and frozen, so the request cannot change later.
        datasets = tuple(d if is_url(d) else Path(d) for d in self.datasets)
        object.__setattr__(self, "datasets", datasets)
        for d in datasets:  # a URL fsspec would open but aichain does not: refused here
            if isinstance(d, str):
                scheme_of(d)
        if isinstance(self.model, str) and is_url(self.model):
            scheme_of(self.model)
        object.__setattr__(self, "pins", tuple(self.pins))
        if self.mlflow_run is not None and not MLFLOW_RUN_ID.fullmatch(self.mlflow_run):
            raise UsageError(
                f"{self.mlflow_run!r} is not an MLflow run id "
                "(1 to 256 ASCII letters, digits, '-' or '_')"
            )
        if not self.settings.embedded and self.settings.registry is None:
            raise UsageError("--chain needs --registry (or AICHAIN_REGISTRY)")

    def record(self) -> RequestRecord:
        s = self.settings
        return RequestRecord(
            model=str(self.model),
            lineage=None if self.lineage is None else str(self.lineage),
            receipt=None if self.receipt is None else str(self.receipt),
            datasets=tuple(str(d) for d in self.datasets),
            mlflow_run=self.mlflow_run,
            chain="embedded" if s.embedded else "json-rpc",
            chain_id=s.expected_chain_id,
            registry=s.registry,
            trust=self.pins,
            require_pinned=self.require_pinned,
            confirmations=s.confirmations,
        )


def data_file_shown(model_shown: str, recorded: str, *, folder: bool = False) -> str:
    """How a finding names a model-data file: inside a folder model (a checkpoint) as it was
    given, else beside the model file as it was given."""
    if folder:
        return posixpath.join(model_shown, recorded)
    beside = posixpath.dirname(model_shown)
    return posixpath.join(beside, recorded) if beside else recorded


def folder_model(manifest: ReadManifest) -> bool:
    """Whether the lineage's model is a folder (its model-data names are inside it): its
    semantic scheme is one a folder format reads. A single file of such a scheme has no
    model-data leaves, so this never misnames one."""
    from aichain_audit.fingerprint.model import FOLDER_SCHEMES

    return any(leaf.get("scheme") in FOLDER_SCHEMES for leaf in manifest.of_kind(MODEL_SEMANTIC))


def dataset_name(given: str | Path) -> str:
    """The name a dataset argument is recorded under (its base name; an object's or
    prefix's last segment)."""
    try:
        if is_url(given):
            from aichain_audit.fingerprint.storage import storage_for

            return storage_for(given).argument_name(given)
        return argument_name(Path(given))
    except InputError:
        return str(given)


def required_checks(
    record: RequestRecord,
    manifest: ReadManifest | None,
    *,
    model_shown: str | None = None,
    run_involved: bool = False,
) -> tuple[Requirement, ...]:
    """The checks a verification of `record` must have passed, given the lineage it read
    (None when no lineage could be read: only the never-skip checks by name)."""
    shown = record.model if model_shown is None else model_shown
    required = [Requirement("lineage.root"), Requirement("model.digest", shown)]
    if manifest is None:
        required = [Requirement(n) for n in NEVER_SKIP]
    else:
        folder = folder_model(manifest)
        required.extend(
            Requirement("model.digest", data_file_shown(shown, str(leaf["path"]), folder=folder))
            for leaf in manifest.of_kind(MODEL_DATA)
        )
        required.append(Requirement("ledger.record"))
    required.extend(
        Requirement("dataset", name, under=True)
        for name in dict.fromkeys(dataset_name(d) for d in record.datasets)
    )
    named = manifest is not None and bool(manifest.of_kind(MLFLOW_RUN))
    if run_involved or record.mlflow_run is not None or named:
        required += [Requirement("mlflow.run"), Requirement("mlflow.root")]
    if record.require_pinned:
        required.append(Requirement("ledger.trust"))
    return tuple(required)


def missing_requirements(
    stated: Sequence[Requirement], minimum: Sequence[Requirement]
) -> list[Requirement]:
    """The requirements of `minimum` that `stated` leaves out (a document that drops one
    would let a verification pass without the check its request asked for)."""
    return [m for m in minimum if m not in stated]
