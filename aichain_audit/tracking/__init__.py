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
    MODEL_DIGEST_TAGS,
    OLD_TAG_MODEL_DIGEST,
    OLD_TAG_MODEL_SOURCE,
    RECEIPT_ARTIFACT,
    RECORDS_ARTIFACT,
    STATUS_ANCHORED,
    STATUS_RECORDED,
    TAG_ANCHORER,
    TAG_MODEL,
    TAG_ROOT,
    TAG_STATUS,
    TAG_TX,
    DatasetInput,
    MissingRun,
    ModelArtifact,
    RunRecord,
    RunRef,
    TrackingError,
    anchor_tags,
    records_document,
)

__all__ = [
    "LINEAGE_ARTIFACT",
    "MODEL_DIGEST_TAGS",
    "OLD_TAG_MODEL_DIGEST",
    "OLD_TAG_MODEL_SOURCE",
    "RECEIPT_ARTIFACT",
    "RECORDS_ARTIFACT",
    "STATUS_ANCHORED",
    "STATUS_RECORDED",
    "TAG_ANCHORER",
    "TAG_MODEL",
    "TAG_ROOT",
    "TAG_STATUS",
    "TAG_TX",
    "DatasetInput",
    "MissingRun",
    "ModelArtifact",
    "RunRecord",
    "RunRef",
    "TrackingError",
    "anchor_tags",
    "records_document",
]
