"""What is read from and written to MLflow, as plain objects (no mlflow import here).

Names of what we write (docs/SPEC.md §12 "MLflow"):
- artifact `aichain/lineage.json`: the manifest, byte for byte as `-o` writes it;
- artifact `aichain/lineage.receipt.json`: the anchor receipt, once anchored;
- tags `aichain.root`, `aichain.subject`, `aichain.model_digest` (the model file's digest,
  what an auditor holding only the model searches for), `aichain.manifest_sha256`, and one
  `aichain.dataset.N` per dataset input of the run: which lineage leaf it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aichain_audit.errors import AichainError, InputError
from aichain_audit.lineage import MLFLOW_PARAM_NAME as MLFLOW_KEY  # params and tags alike

LINEAGE_ARTIFACT = "aichain/lineage.json"
RECEIPT_ARTIFACT = "aichain/lineage.receipt.json"
TAG_ROOT = "aichain.root"
TAG_SUBJECT = "aichain.subject"
TAG_MODEL_DIGEST = "aichain.model_digest"
TAG_MODEL_SOURCE = "aichain.model_source"  # set when the model was taken from the run
TAG_MANIFEST_SHA256 = "aichain.manifest_sha256"
TAG_DATASET_PREFIX = "aichain.dataset."
TAG_ANCHOR_PREFIX = "aichain.anchor."

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
    """An ONNX file a run holds: in one of its logged models, or among its own artifacts."""

    uri: str  # downloadable: the logged model's artifact location/path, or runs:/RUN/path
    shown: str
    named: str  # how messages name it: models:/MODEL_ID/path or runs:/RUN/path


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


def dataset_record(ds: DatasetInput, leaf: str) -> str:
    """The `aichain.dataset.N` tag value that ties a dataset input of a run to the lineage
    leaf it became: compact JSON of its name, MLflow digest, source and leaf path."""
    doc = {"name": ds.name, "digest": ds.digest, "source": ds.source, "leaf": leaf}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
