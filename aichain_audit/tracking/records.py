"""What is read from and written to MLflow, as plain objects (no mlflow import here).

Names of what we write (docs/SPEC.md section 12.1): few tags, short enough to be told apart
in MLflow's run and model pages, and the structured records in artifacts:
- artifact `aichain/lineage.json`: the manifest, byte for byte as `-o` writes it;
- artifact `aichain/records.json`: what ties the run to the lineage (subject, manifest
  SHA-256, model digest and source, each dataset input and the leaf it became);
- artifact `aichain/lineage.receipt.json`: the anchor receipt, once anchored;
- tags `aichain.root`, `aichain.model` (the model file's digest, what an auditor holding
  only the model searches for), `aichain.status`, and once anchored `aichain.anchorer` and
  `aichain.tx`; the root and anchor tags also on the run's logged models and registered
  versions that hold the lineage's model.
Runs recorded before read the same: `aichain.model_digest` is still searched, and
`aichain.model_source` still read (`OLD_TAG_*`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aichain_audit.errors import AichainError, InputError
from aichain_audit.lineage import MLFLOW_PARAM_NAME as MLFLOW_KEY  # params and tags alike

LINEAGE_ARTIFACT = "aichain/lineage.json"
RECORDS_ARTIFACT = "aichain/records.json"
RECEIPT_ARTIFACT = "aichain/lineage.receipt.json"
RECORDS_SCHEMA = "aichain.mlflow-records/v1"
TAG_ROOT = "aichain.root"
TAG_MODEL = "aichain.model"  # the model file's digest: what discovery searches for
TAG_STATUS = "aichain.status"
TAG_ANCHORER = "aichain.anchorer"
TAG_TX = "aichain.tx"
STATUS_RECORDED = "recorded, not anchored"
STATUS_ANCHORED = "anchored"
# Written before aichain/records.json existed; still read, never written.
OLD_TAG_MODEL_DIGEST = "aichain.model_digest"
OLD_TAG_MODEL_SOURCE = "aichain.model_source"
MODEL_DIGEST_TAGS = (TAG_MODEL, OLD_TAG_MODEL_DIGEST)

# MLflow's limits (mlflow/utils/validation.py, 3.17.2): we refuse what it would truncate.
MAX_TAG_VALUE = 8000
MODEL_URI_SCHEMES = ("runs:/", "models:/")


class TrackingError(AichainError):
    """MLflow cannot be reached, refused a request, or answered with something unusable."""


class MissingRun(TrackingError):
    """MLflow answered, and has no such run (or logged model, or artifact)."""


@dataclass(frozen=True)
class DatasetInput:
    """One dataset input of a run, as MLflow records it."""

    name: str
    digest: str  # MLflow's own digest: 8 hex digits of MD5 over the first 10,000 rows
    source_type: str
    source: str  # MLflow's source document, a JSON string such as {"uri": "/data/train.csv"}
    local_path: Path | None  # the source as a local file path, when it is one

    @property
    def shown(self) -> str:
        """How messages and findings name the input: its local path, else the `uri` of its
        source (`s3://…`; `url` for `https://…`) with its name, else its name."""
        if self.local_path is not None:
            return str(self.local_path)
        try:
            doc = json.loads(self.source)
        except (ValueError, RecursionError):  # a hostile source document
            return self.name
        for member in ("uri", "url") if isinstance(doc, dict) else ():  # url: HTTP sources
            where = doc.get(member)
            if isinstance(where, str) and where:
                return f"{where} ({self.name})"
        return self.name


@dataclass(frozen=True)
class ModelArtifact:
    """A model a run holds (a model file, or a checkpoint folder): in one of its logged
    models, or among its own artifacts."""

    uri: str  # downloadable: the logged model's artifact location/path, or runs:/RUN/path
    shown: str
    named: str  # how messages name it: models:/MODEL_ID/path or runs:/RUN/path
    model_id: str | None = None  # its logged model, when in one
    size: int | None = None  # as MLflow lists it, when it does (a file's)
    folder: bool = False  # a checkpoint folder (its model file is inside)
    # a split model's other parts (downloadable, as `uri`), fetched beside its first part
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    experiment_id: str
    status: str
    lifecycle_stage: str
    params: dict[str, str]
    tags: dict[str, str]
    datasets: tuple[DatasetInput, ...]
    models: tuple[ModelArtifact, ...]


@dataclass(frozen=True)
class RunRef:
    """A run found by a tag: enough to name it in a message."""

    run_id: str
    experiment_id: str
    run_name: str
    lifecycle_stage: str


def check_tag(key: str, value: str) -> None:
    """Refuses a tag MLflow would reject or silently truncate."""
    if not MLFLOW_KEY.fullmatch(key):
        raise InputError(f"MLflow tag key {key!r} is not one MLflow accepts")
    if len(value) > MAX_TAG_VALUE:
        raise InputError(
            f"MLflow tag {key} would be {len(value):,} characters; MLflow keeps at most "
            f"{MAX_TAG_VALUE:,} (nothing was written)"
        )


def is_model_uri(model: str) -> bool:
    """An MLflow model URI (`runs:/…`, `models:/…`) rather than a path."""
    return model.startswith(MODEL_URI_SCHEMES)


def records_document(
    *,
    subject: str,
    manifest_sha256: str,
    model_digest: str | None,
    model_source: str | None,
    datasets: list[tuple[DatasetInput, str]],
) -> bytes:
    """The `aichain/records.json` artifact: indented JSON a person reads in MLflow's artifact
    view. Each dataset input's MLflow source document is shown parsed when it is JSON."""
    doc = {
        "schema": RECORDS_SCHEMA,
        "subject": subject,
        "manifest_sha256": manifest_sha256,
        "model_digest": model_digest,
        "model_source": model_source,
        "datasets": [
            {
                "name": ds.name,
                "mlflow_digest": ds.digest,
                "source_type": ds.source_type,
                "source": _parsed(ds.source),
                "leaf": leaf,
            }
            for ds, leaf in datasets
        ],
    }
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def _parsed(source: str) -> object:
    try:
        return json.loads(source)
    except (ValueError, RecursionError):
        return source


def anchor_tags(
    *, tx: str, chain_id: int, block: int, anchorer: str, status: str
) -> dict[str, str]:
    """The tags `aichain anchor` writes on the run, its logged models and versions."""
    shown = STATUS_ANCHORED if status == "trusted" else f"{STATUS_ANCHORED} ({status})"
    return {
        TAG_STATUS: shown,
        TAG_ANCHORER: anchorer,
        TAG_TX: f"{tx} (chain {chain_id}, block {block})",
    }
