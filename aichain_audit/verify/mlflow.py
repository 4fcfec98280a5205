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
- `mlflow.model`: a model the run holds is the lineage's: a model file has its model
  digest; a checkpoint folder or split model has its subject (every file), and a file
  that differs is named.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from aichain_audit.errors import AichainError
from aichain_audit.fingerprint.hashing import digest_file
from aichain_audit.fingerprint.model import FOLDER_MARKERS, MODEL_SUFFIXES, split_parts
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
    download_held,
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
        run = read_run(s, run_id, models=MODEL_SUFFIXES, folders=FOLDER_MARKERS, parts=split_parts)
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
        findings += _model(s, run, model_leaf, manifest)
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


def _files_held(got: Path, shown: str) -> list[tuple[str, str, int]] | None:
    """The files of a model the run holds, downloaded at `got`, as (recorded name, digest,
    size), the model leaf's file first, as its format lists them: a checkpoint folder's files
    (SPEC section 13.2), a split model's parts (14.5). None for a model file read alone (its
    digest is what is compared: ONNX names its data files inside the model)."""
    from aichain_audit.fingerprint.model import format_of

    fmt = format_of(got)
    name, main = fmt.main_file(got)
    data = fmt.data_files(got)
    if not fmt.folders and not data:
        return None
    first = digest_file(str(main), shown=f"{shown}/{name}" if fmt.folders else shown,
                        follow=False)  # fmt: skip
    files = [(name, first.digest, first.size)]
    where = fmt.data_folder(got)
    beside = shown if fmt.folders else shown.rsplit("/", 1)[0]
    for item in data or ():
        got_item = fmt.digest_data_file(where, item, f"{beside}/{item}")
        files.append((item, got_item.digest, got_item.size))
    return files


def _first_change(
    files: list[tuple[str, str, int]], manifest: ReadManifest
) -> tuple[str, str | None, str | None, str] | None:
    """The first file (by name) where the run's copy and the lineage's model differ:
    (name, expected digest, actual digest, why), with how many others differ too; None when
    none does."""
    want = {str(leaf["path"]): str(leaf["digest"])
            for kind in ("model", "model-data") for leaf in manifest.of_kind(kind)}  # fmt: skip
    have = {name: digest for name, digest, _ in files}
    changed = sorted(n for n in want.keys() | have.keys() if want.get(n) != have.get(n))
    if not changed:
        return None
    more = f" (and {len(changed) - 1} other files)" if len(changed) > 1 else ""
    name = changed[0]
    if name not in have:
        why = "the lineage's model has this file, and the run's copy does not"
    elif name not in want:
        why = "the run's copy has this file, and the lineage's model does not"
    else:
        why = "this file of the run's model differs from the lineage's"
    return name, want.get(name), have.get(name), why + more


def _model(
    s: Session, run: RunRecord, model_leaf: Leaf | None, manifest: ReadManifest
) -> list[Finding]:
    if model_leaf is None:
        return []
    want, subject = model_leaf["digest"], manifest.subject
    if not run.models:
        taken = _model_source(s, run)
        if taken is not None:  # the lineage took its model from this run
            return [Finding("mlflow.model", CheckStatus.FAIL, taken, want, None,
                            "the lineage's model was taken from this run, which no longer "
                            "holds it")]  # fmt: skip
        return [Finding("mlflow.model", CheckStatus.WARN, None, want, None,
                        "the run holds no model to compare")]  # fmt: skip
    seen: list[tuple[str, str | None, str | None, str]] = []  # (shown, expected, actual, why)
    differs = "the run's logged model differs from the lineage's model"
    with tempfile.TemporaryDirectory(prefix="aichain-verify-") as tmp:
        for i, model in enumerate(run.models):
            folder = Path(tmp) / str(i)
            folder.mkdir()
            got = download_held(s, model, folder)
            files = _files_held(got, model.named)
            if files is None:  # one file: its digest is the model leaf's
                actual = digest_file(str(got), shown=model.shown, follow=False).digest
                if actual == want:
                    return [Finding("mlflow.model", CheckStatus.PASS, model.shown, want, actual,
                                    "")]  # fmt: skip
                seen.append((model.shown, want, actual, differs))
                continue
            # A checkpoint or a split model: all its files, as the lineage's subject.
            actual = derive_subject([file_leaf("model", files[0][0], files[0][1], files[0][2])]
                                    + [file_leaf("model-data", *f) for f in files[1:]])  # fmt: skip
            if actual == subject:
                why = "the model's files are the lineage's"
                return [Finding("mlflow.model", CheckStatus.PASS, model.shown, subject, actual,
                                why)]  # fmt: skip
            change = _first_change(files, manifest)
            if change is None:  # the same files under another subject label
                seen.append((model.shown, subject, actual, differs))
                continue
            name, expected, found, why = change
            # named as the run names the file: the folder's shown name, or the part's
            base = model.shown if model.folder else model.shown[: -len(got.name)]
            seen.append((base + name, expected, found, why))
    shown, expected, held, why = seen[0]
    more = f"; and {len(seen) - 1} other models, none matching" if len(seen) > 1 else ""
    return [Finding("mlflow.model", CheckStatus.FAIL, shown, expected, held, why + more)]
