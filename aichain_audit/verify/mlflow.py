"""`mlflow.*`: the run's records against the lineage.

MLflow is the producer's record store: what it holds is evidence to compare, never a trust
root. Its own dataset digest (8 hex digits of MD5 over the first 10,000 rows, numeric and
all-string columns only) is never evidence: it is no finding, only one note in the facts.

- `mlflow.run`: the run exists (and is the one the lineage names, when it names one);
- `mlflow.root`: its tag `aichain.root` equals the lineage's root;
- `mlflow.params`: its params against config values and recorded params (`verify.params`);
- `mlflow.datasets`: the run's dataset inputs are the lineage's `mlflow-input` leaves, none
  added and none removed; the file of one the lineage took as a dataset leaf, at the source
  the lineage names, when readable here, still has the leaf's digest. A source only the run
  names is never opened;
- `mlflow.model`: an ONNX file the run holds has the lineage's model digest.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from aichain_audit.errors import AichainError
from aichain_audit.fingerprint.hashing import digest_file
from aichain_audit.fingerprint.model import FOLDER_MARKERS, MODEL_SUFFIXES
from aichain_audit.lineage import (
    DATASET,
    MLFLOW_INPUT,
    MLFLOW_RUN,
    Leaf,
    derive_subject,
    file_leaf,
)
from aichain_audit.tracking import (
    OLD_TAG_MODEL_SOURCE,
    TAG_ROOT,
    DatasetInput,
    MissingRun,
    RunRecord,
)
from aichain_audit.tracking.client import (
    Session,
    dataset_input,
    download,
    read_records,
    read_run,
)
from aichain_audit.verify.findings import CheckStatus, Finding
from aichain_audit.verify.lineage_root import ReadManifest
from aichain_audit.verify.params import check_params

REQUIRED = ("mlflow.run", "mlflow.root")
DATASET_DIGEST_NOTE = (
    "MLflow's own dataset digests read the first 10,000 rows only: not evidence, not compared"
)


def check_mlflow(
    s: Session, run_id: str, manifest: ReadManifest, model_leaf: Leaf | None
) -> tuple[list[Finding], dict[str, Any]]:
    """Every `mlflow.*` finding for one run; MLflow failures become `error` findings."""
    facts: dict[str, Any] = {"tracking_uri": s.shown, "run": run_id}
    named = [leaf["run_id"] for leaf in manifest.of_kind(MLFLOW_RUN)]
    try:
        run = read_run(s, run_id, models=MODEL_SUFFIXES, folders=FOLDER_MARKERS)
    except MissingRun as exc:
        return [Finding("mlflow.run", CheckStatus.FAIL, run_id, "a run", None, exc.message)], facts
    except AichainError as exc:
        return [Finding.error("mlflow.run", run_id, exc)], facts
    facts.update(experiment=run.experiment_id, status=run.status, stage=run.lifecycle_stage)
    findings: list[Finding] = []
    if named and run_id not in named:
        findings.append(Finding("mlflow.run", CheckStatus.FAIL, run_id, named[0], run_id,
                                "the lineage names another run"))  # fmt: skip
    else:
        stage = "" if run.lifecycle_stage == "active" else f" ({run.lifecycle_stage})"
        about = f"experiment {run.experiment_id}, {run.status}{stage}"
        findings.append(Finding("mlflow.run", CheckStatus.PASS, run_id, run_id, run_id, about))
    findings.append(_root(run, manifest))
    findings += check_params(run.params, manifest.leaves)
    findings += _datasets(run, manifest)
    if run.datasets:
        facts["notes"] = [DATASET_DIGEST_NOTE]
    try:
        findings += _model(s, run, model_leaf, manifest.subject)
    except AichainError as exc:
        findings.append(Finding.error("mlflow.model", None, exc))
    return findings, facts


def _root(run: RunRecord, manifest: ReadManifest) -> Finding:
    tag = run.tags.get(TAG_ROOT)
    want = manifest.root.hex()
    if tag is None:
        return Finding("mlflow.root", CheckStatus.FAIL, TAG_ROOT, want, None,
                       "the run records no lineage")  # fmt: skip
    if tag != want:
        return Finding("mlflow.root", CheckStatus.FAIL, TAG_ROOT, want, tag,
                       "the run records another lineage root")  # fmt: skip
    return Finding("mlflow.root", CheckStatus.PASS, TAG_ROOT, want, tag, "")


def _datasets(run: RunRecord, manifest: ReadManifest) -> list[Finding]:
    """The run's dataset inputs against the lineage's `mlflow-input` leaves (by name, MLflow
    digest, source type and source). Files are hashed only at sources the lineage names."""
    files = {leaf["path"]: leaf for leaf in manifest.of_kind(DATASET)}
    recorded = {
        (leaf["name"], leaf["digest"], leaf["source_type"], leaf["source"]): leaf
        for leaf in manifest.of_kind(MLFLOW_INPUT)
    }
    held: dict[tuple[str, str, str, str], DatasetInput] = {}
    for ds in run.datasets:
        held.setdefault((ds.name, ds.digest, ds.source_type, ds.source), ds)
    findings: list[Finding] = []
    for key, ds in held.items():
        leaf = recorded.get(key)
        if leaf is None:
            findings.append(Finding("mlflow.datasets", CheckStatus.FAIL, ds.shown, None,
                                    ds.digest, "the run has this dataset input, and the lineage "
                                    "does not record it"))  # fmt: skip
        elif "dataset" not in leaf or ds.local_path is None:
            findings.append(Finding("mlflow.datasets", CheckStatus.WARN, ds.shown, ds.digest,
                                    ds.digest, "recorded with the lineage; not a file the "
                                    "lineage took: contents not compared"))  # fmt: skip
        else:
            findings.append(_compare_file(ds.local_path, files[leaf["dataset"]]))
    for key, leaf in recorded.items():
        if key not in held:  # named by the dataset leaf it became, else by its source
            item = leaf.get("dataset") or dataset_input(*key).shown
            findings.append(Finding("mlflow.datasets", CheckStatus.FAIL, item, key[1],
                                    None, "recorded with the lineage, and the run no longer has "
                                    "this dataset input"))  # fmt: skip
    return findings


def _compare_file(path: Path, leaf: Leaf) -> Finding:
    item = str(leaf["path"])
    if not path.is_file():
        return Finding("mlflow.datasets", CheckStatus.WARN, item, leaf["digest"], None,
                       f"its source {path} is not readable here: not re-hashed")  # fmt: skip
    try:
        actual = digest_file(str(path), shown=str(path), follow=False)
    except AichainError as exc:
        return Finding("mlflow.datasets", CheckStatus.ERROR, item, leaf["digest"], None,
                       exc.message)  # fmt: skip
    if actual.digest != leaf["digest"]:
        return Finding("mlflow.datasets", CheckStatus.FAIL, item, leaf["digest"], actual.digest,
                       f"the run's dataset {path} differs from the lineage's")  # fmt: skip
    return Finding("mlflow.datasets", CheckStatus.PASS, item, leaf["digest"], actual.digest,
                   f"source {path}")  # fmt: skip


def _model_source(s: Session, run: RunRecord) -> str | None:
    """Where the lineage's model was taken from, when this run supplied it: its records
    artifact's `model_source`, else (runs recorded before it existed) the old tag."""
    with tempfile.TemporaryDirectory(prefix="aichain-verify-") as tmp:
        records = read_records(s, run.run_id, Path(tmp))
    if records is not None:
        taken = records.get("model_source")
        return taken if isinstance(taken, str) else None
    return run.tags.get(OLD_TAG_MODEL_SOURCE)


def _folder_subject(folder: Path, shown: str) -> str:
    """The subject of the checkpoint folder a run holds, from its files' digests (the folder
    format's listing: SPEC section 6), so any of its files changed shows."""
    from aichain_audit.fingerprint.model import format_of

    fmt = format_of(folder)
    name, main = fmt.main_file(folder)
    first = digest_file(str(main), shown=f"{shown}/{name}", follow=False)
    leaves = [file_leaf("model", name, first.digest, first.size)]
    for data in fmt.data_files(folder) or ():
        got = fmt.digest_data_file(folder, data, f"{shown}/{data}")
        leaves.append(file_leaf("model-data", data, got.digest, got.size))
    return derive_subject(leaves)


def _model(s: Session, run: RunRecord, model_leaf: Leaf | None, subject: str) -> list[Finding]:
    if model_leaf is None:
        return []
    want = model_leaf["digest"]
    if not run.models:
        taken = _model_source(s, run)
        if taken is not None:  # the lineage took its model from this run
            return [Finding("mlflow.model", CheckStatus.FAIL, taken, want, None,
                            "the lineage's model was taken from this run, which no longer "
                            "holds it")]  # fmt: skip
        return [Finding("mlflow.model", CheckStatus.WARN, None, want, None,
                        "the run holds no model to compare")]  # fmt: skip
    seen: list[tuple[str, str, str]] = []  # (shown, actual, expected)
    with tempfile.TemporaryDirectory(prefix="aichain-verify-") as tmp:
        for i, model in enumerate(run.models):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            got = download(s, model.uri, folder)
            if model.folder:  # a checkpoint: all its files, as the lineage's subject
                actual = _folder_subject(got, model.named)
                if actual == subject:
                    why = "the checkpoint's files are the lineage's"
                    return [Finding("mlflow.model", CheckStatus.PASS, model.shown, subject,
                                    actual, why)]  # fmt: skip
                seen.append((model.shown, actual, subject))
                continue
            actual = digest_file(str(got), shown=model.shown, follow=False).digest
            if actual == want:
                return [Finding("mlflow.model", CheckStatus.PASS, model.shown, want, actual, "")]
            seen.append((model.shown, actual, want))
    shown, actual, expected = seen[0]
    more = f" (and {len(seen) - 1} other models, none matching)" if len(seen) > 1 else ""
    return [Finding("mlflow.model", CheckStatus.FAIL, shown, expected, actual,
                    f"the run's logged model differs from the lineage's model{more}")]  # fmt: skip
