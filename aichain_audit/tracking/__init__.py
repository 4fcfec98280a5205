"""MLflow: the only package that imports mlflow, and only when a function here is called.

It reads and writes MLflow (runs, their params, dataset inputs, logged models and
artifacts) and knows nothing of fingerprints, chains or findings: `api` composes it with
fingerprinting, and `verify.mlflow` compares what it reads with a lineage. MLflow is the
producer's record store: what is read here is evidence to compare, never a trust root.

Every call runs inside `client.session()`, which bounds MLflow's retries to our 10 s
budget, keeps its "View run" URLs off stdout, refuses to let it truncate long values, and
turns its failures into `TrackingError` (exit 2) naming the tracking server without
credentials.
"""

from __future__ import annotations

from aichain_audit.tracking.records import (
    LINEAGE_ARTIFACT,
    RECEIPT_ARTIFACT,
    TAG_ANCHOR_PREFIX,
    TAG_DATASET_PREFIX,
    TAG_MANIFEST_SHA256,
    TAG_MODEL_DIGEST,
    TAG_MODEL_SOURCE,
    TAG_ROOT,
    TAG_SUBJECT,
    DatasetInput,
    MissingRun,
    ModelArtifact,
    RunRecord,
    RunRef,
    TrackingError,
    dataset_record,
)

__all__ = [
    "LINEAGE_ARTIFACT",
    "RECEIPT_ARTIFACT",
    "TAG_ANCHOR_PREFIX",
    "TAG_DATASET_PREFIX",
    "TAG_MANIFEST_SHA256",
    "TAG_MODEL_DIGEST",
    "TAG_MODEL_SOURCE",
    "TAG_ROOT",
    "TAG_SUBJECT",
    "DatasetInput",
    "MissingRun",
    "ModelArtifact",
    "RunRecord",
    "RunRef",
    "TrackingError",
    "dataset_record",
]
