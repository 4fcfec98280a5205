"""Reading and writing MLflow runs, bounded and quiet.

`session()` is the one door to mlflow: it imports it (about 1 to 2 s, so only when asked),
resolves the tracking URI the way MLflow does (`MLFLOW_TRACKING_URI`, else MLflow's
default), applies our limits for the duration of the call, and maps every failure to
`TrackingError` / `MissingRun` with the server named by scheme, host and port only.
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aichain_audit.errors import AichainError, InputError, UsageError
from aichain_audit.lineage import MLFLOW_RUN_ID
from aichain_audit.tracking.records import (
    LINEAGE_ARTIFACT,
    RECEIPT_ARTIFACT,
    RECORDS_ARTIFACT,
    TAG_ROOT,
    DatasetInput,
    MissingRun,
    ModelArtifact,
    RunRecord,
    RunRef,
    TrackingError,
    check_tag,
    is_model_uri,
)

# MLflow's HTTP client retries for about 250 s by default. One retry, a 4 s timeout per
# request and a 1 s backoff bound any one request to about 9 s, inside our 10 s budget;
# the first request that fails ends the command (exit 2).
_LIMITS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "4",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    # Refuse, never truncate: a truncated tag would be a different record.
    "MLFLOW_TRUNCATE_LONG_VALUES": "false",
    # stdout is ours (--json): no "View run" URLs on it.
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    # stderr carries our one-line error: no tqdm bars on it (MLflow draws them for every
    # download whenever tqdm is installed, as gguf and many others install it).
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
# Applied only where the user set nothing: telemetry would try to reach the internet.
_DEFAULTS = {"MLFLOW_DISABLE_TELEMETRY": "true"}
# MLflow's loggers (and those of what it drives) print to stderr, which carries our one-line
# error: silenced for the duration of our calls. Our errors are exceptions, never log lines.
_QUIET = ("mlflow", "alembic", "huey", "sqlalchemy", "urllib3")
_SILENT = logging.CRITICAL + 1
_MAX_LISTED = 10_000  # artifact entries walked per run or model, at most
_MAX_MESSAGE = 240


def shown_uri(uri: str) -> str:
    """A tracking URI without credentials, path or query: `https://host:port`, `sqlite`
    URIs with their file (which holds no secret), or just the scheme."""
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "<a tracking URI that does not parse>"
    scheme = parts.scheme.lower()
    if scheme in ("", "file", "sqlite"):
        return uri if "@" not in uri else f"{scheme}:<path>"
    if host:
        return f"{scheme}://{host}" + (f":{port}" if port else "")
    return f"{scheme}:"


def _secrets(uri: str) -> list[str]:
    try:
        parts = urlsplit(uri)
        found = [uri, parts.netloc, parts.username or "", parts.password or "", parts.query]
    except ValueError:
        return [uri]
    found += [unquote(x) for x in found]
    return sorted({x for x in found if len(x) >= 4}, key=len, reverse=True)


def _one_line(text: str, uri: str) -> str:
    for secret in _secrets(uri):
        text = text.replace(secret, shown_uri(uri))
    text = " ".join(text.split())
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def tracking_uri() -> str:
    """The tracking URI MLflow would use; an empty `MLFLOW_TRACKING_URI` is refused, and so
    is a local store (SQLite file or folder) that does not exist: every command here reads or
    writes runs that must already be there, and MLflow would create an empty store instead
    (its default is `./mlflow.db`, wherever the command runs)."""
    if os.environ.get("MLFLOW_TRACKING_URI") == "":
        raise UsageError("MLFLOW_TRACKING_URI is set but empty; unset it or give a tracking URI")
    import mlflow

    uri = str(mlflow.get_tracking_uri())
    local = _local_store(uri)
    if local is not None and not local.exists():
        given = (
            "MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else "MLflow's default"
        )
        raise UsageError(
            f"no MLflow store at {local} ({given}); set MLFLOW_TRACKING_URI to the tracking "
            "server or store that holds the run"
        )
    return uri


def _local_store(uri: str) -> Path | None:
    """The file or folder of a local tracking store (`sqlite:///…`, `file:…`, a path)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :] or ".")
    if uri.startswith("file:"):
        return Path(unquote(urlsplit(uri).path) or ".")
    if "://" not in uri and ":" not in uri.split("/", 1)[0]:
        return Path(uri)
    return None


@contextmanager
def _limits() -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in (*_LIMITS, *_DEFAULTS)}
    os.environ.update(_LIMITS)
    for key, value in _DEFAULTS.items():
        os.environ.setdefault(key, value)
    levels: dict[str, int] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mlflow  # noqa: F401  (first: importing it sets its loggers' levels)

            for name in _QUIET:
                levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(_SILENT)
            yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


_UNREACHABLE = (
    "Max retries exceeded",
    "NewConnectionError",
    "ConnectionError",
    "Connection refused",
    "timed out",
    "Timeout",
    "RemoteDisconnected",
)


def _translate(exc: Exception, uri: str) -> TrackingError:
    where = shown_uri(uri)
    text = str(exc)
    code = getattr(exc, "error_code", None)
    if code == "RESOURCE_DOES_NOT_EXIST":
        return MissingRun(f"MLflow at {where}: {_one_line(text, uri)}")
    if any(marker in text for marker in _UNREACHABLE) or isinstance(exc, ConnectionError):
        return TrackingError(f"cannot reach MLflow at {where} within the 10 s budget")
    return TrackingError(
        f"MLflow at {where} failed: {exc.__class__.__name__}: {_one_line(text, uri)}"
    )


@dataclass
class Session:
    """An MLflow client for one tracking URI, and the URI shown in messages."""

    client: Any
    uri: str

    @property
    def shown(self) -> str:
        return shown_uri(self.uri)


@contextmanager
def session() -> Iterator[Session]:
    """An MLflow client with our limits; MLflow's failures become `TrackingError`."""
    with _limits():
        uri = tracking_uri()
        try:
            from mlflow import MlflowClient

            yield Session(MlflowClient(tracking_uri=uri), uri)
        except AichainError:
            raise
        except Exception as exc:  # MLflow raises many kinds; none may escape as a traceback
            raise _translate(exc, uri) from exc


# --- reading -----------------------------------------------------------------------------
def check_run_id(run_id: str) -> str:
    if not MLFLOW_RUN_ID.fullmatch(run_id):
        raise UsageError(
            f"{run_id!r} is not an MLflow run id (1 to 256 ASCII letters, digits, '-' or '_')"
        )
    return run_id


def _local_path(source_type: str, source: str) -> Path | None:
    """A dataset source as a local file path, when MLflow recorded one."""
    try:
        doc = json.loads(source)
    except (ValueError, RecursionError):  # a hostile source document
        return None
    uri = doc.get("uri") if isinstance(doc, dict) else None
    if not isinstance(uri, str) or not uri or "\x00" in uri:
        return None
    if uri.startswith("file:"):
        path = unquote(urlsplit(uri).path)
        return Path(path) if path else None
    if source_type == "local" or uri.startswith("/"):
        if "://" in uri:
            return None
        return Path(uri)
    return None


def dataset_input(name: str, digest: str, source_type: str, source: str) -> DatasetInput:
    """A dataset input as MLflow records it, with its source as a local path when it is one."""
    return DatasetInput(name, digest, source_type, source, _local_path(source_type, source))


def _walk(list_fn: Any, path: str | None = None) -> Iterator[tuple[str, int | None]]:
    """File paths (and sizes, when listed) under an artifact folder, breadth first, at most
    `_MAX_LISTED` entries."""
    pending: list[str | None] = [path]
    seen = 0
    while pending:
        here = pending.pop(0)
        for entry in list_fn(here):
            seen += 1
            if seen > _MAX_LISTED:
                raise TrackingError(f"more than {_MAX_LISTED:,} artifacts to look through")
            if entry.is_dir:
                pending.append(entry.path)
            else:
                size = getattr(entry, "file_size", None)
                yield str(entry.path), int(size) if isinstance(size, int) else None


# The names of every part of the split model a file named so is a part of, first part first,
# or None (the caller's: `fingerprint.model.split_parts`).
PartsOf = Callable[[str], Sequence[str] | None]


def split_companions(path: str, listed: Collection[str], parts: PartsOf | None) -> list[str]:
    """The other parts of the split model a file at `path` is a part of, as `listed` holds
    them beside it (in part order); [] for a file that is no part of one."""
    folder, _, name = path.rpartition("/")
    names = parts(name) if parts is not None else None
    prefix = f"{folder}/" if folder else ""
    return [prefix + n for n in names or () if n != name and prefix + n in listed]


def model_paths(
    paths: Sequence[str],
    suffixes: Sequence[str],
    folders: Sequence[str],
    parts: PartsOf | None = None,
) -> list[tuple[str, bool]]:
    """The models among artifact `paths` (relative, `/`-separated files): (path, is a folder).

    A file named with one of `folders` (a checkpoint's weights: `.safetensors`, its index)
    makes the folder holding it one model, whatever else that folder holds; at the top level
    (no folder) it is a file model. Any other file named with one of `suffixes` is a file
    model, unless it lies inside such a checkpoint folder (a checkpoint inside another is
    the outer one's). The parts of one split model (`parts`) in one folder are one model,
    named by its first part (by the lowest part there, when the first is missing: reading
    it then says which part is the model). Sorted by path.
    """
    ends, marks = tuple(s.lower() for s in suffixes), tuple(m.lower() for m in folders)
    checkpoints: set[str] = set()
    loose: list[str] = []
    for path in paths:
        low = path.lower()
        if marks and low.endswith(marks) and "/" in path:
            checkpoints.add(path.rsplit("/", 1)[0])
        elif low.endswith(ends + marks):
            loose.append(path)
    inside = tuple(c + "/" for c in checkpoints)
    files = sorted(p for p in loose if not p.startswith(inside))
    listed, taken = set(files), set()
    found: list[tuple[str, bool]] = []
    for path in files:  # a split model's lowest part sorts first: the same name but its number
        if path not in taken:
            found.append((path, False))
            taken.update(split_companions(path, listed, parts))
    # A checkpoint inside another is part of the outer one (its files are the outer's data).
    found.extend((c, True) for c in checkpoints if not c.startswith(inside))
    return sorted(found)


def _models(
    s: Session,
    run: Any,
    suffixes: Sequence[str],
    folders: Sequence[str],
    parts: PartsOf | None,
) -> list[ModelArtifact]:
    """The run's models (`model_paths`), in its logged models and among its own artifacts:
    files named with one of `suffixes` (lower case), checkpoint folders marked by a file
    named with one of `folders`, and split models (`parts`) as one."""
    found: list[ModelArtifact] = []
    outputs = getattr(run, "outputs", None)
    for output in getattr(outputs, "model_outputs", None) or []:
        model = s.client.get_logged_model(output.model_id)
        location = str(model.artifact_location).rstrip("/")
        listed = dict(
            _walk(lambda p, m=output.model_id: s.client.list_logged_model_artifacts(m, p))
        )
        for path, folder in model_paths(list(listed), suffixes, folders, parts):
            shown = f"logged model {model.name} ({model.model_id}): {path}" + "/" * folder
            named = f"models:/{model.model_id}/{path}"
            size = None if folder else listed[path]
            others = tuple(f"{location}/{p}" for p in split_companions(path, listed, parts))
            found.append(
                ModelArtifact(f"{location}/{path}", shown, named, str(model.model_id), size,
                              folder, others)
            )  # fmt: skip
    run_id = run.info.run_id
    listed = dict(_walk(lambda p: s.client.list_artifacts(run_id, p)))
    mine = [p for p in listed if not p.startswith("aichain/")]
    for path, folder in model_paths(mine, suffixes, folders, parts):
        uri = f"runs:/{run_id}/{path}"
        shown = f"run artifact {path}" + "/" * folder
        others = tuple(f"runs:/{run_id}/{p}" for p in split_companions(path, listed, parts))
        size = None if folder else listed[path]
        found.append(ModelArtifact(uri, shown, uri, None, size, folder, others))
    return found


def read_run(
    s: Session,
    run_id: str,
    *,
    models: Sequence[str],
    folders: Sequence[str] = (),
    parts: PartsOf | None = None,
) -> RunRecord:
    """The run's params, tags, dataset inputs and the models it holds, found by the suffixes
    in `models`, the checkpoint markers in `folders` and the split models `parts` names (the
    caller's: `fingerprint.model.MODEL_SUFFIXES`, `FOLDER_MARKERS` and `split_parts`; no
    suffixes: no lookup)."""
    run = s.client.get_run(check_run_id(run_id))
    datasets = []
    for item in run.inputs.dataset_inputs if run.inputs else []:
        ds = item.dataset
        datasets.append(
            dataset_input(str(ds.name), str(ds.digest), str(ds.source_type), str(ds.source))
        )
    return RunRecord(
        run_id=str(run.info.run_id),
        experiment_id=str(run.info.experiment_id),
        status=str(run.info.status),
        lifecycle_stage=str(run.info.lifecycle_stage),
        params={str(k): str(v) for k, v in run.data.params.items()},
        tags={str(k): str(v) for k, v in run.data.tags.items()},
        datasets=tuple(datasets),
        models=tuple(_models(s, run, models, folders, parts)) if models else (),
    )


_SEARCHABLE = re.compile(r"[A-Za-z0-9_.:+=\-]{1,36}")  # a digest safe in a filter string


def shared_inputs(s: Session, run: RunRecord) -> dict[tuple[str, str], str]:
    """The dataset inputs of the run with a local source whose MLflow record another run of
    its experiment also uses, by (name, digest), each with why (one such run). MLflow keeps
    one record per name and digest in an experiment: the source it names is the first run's,
    whatever file a later run read (only the first 10,000 rows reach the digest). A digest
    MLflow cannot be searched for safely counts as shared: nothing tells it is not."""
    from mlflow.entities import ViewType

    found: dict[tuple[str, str], str] = {}
    for ds in run.datasets:
        key = (ds.name, ds.digest)
        if ds.local_path is None or key in found:
            continue
        if not _SEARCHABLE.fullmatch(ds.digest):
            found[key] = "its digest cannot be searched for"
            continue
        token, seen = None, 0
        while key not in found:
            page = s.client.search_runs(
                [run.experiment_id],
                filter_string=f"datasets.digest = '{ds.digest}'",
                run_view_type=ViewType.ALL,
                max_results=500,
                page_token=token,
            )
            for other in page:
                inputs = other.inputs.dataset_inputs if other.inputs else []
                if other.info.run_id != run.run_id and any(
                    (i.dataset.name, i.dataset.digest) == key for i in inputs
                ):
                    found[key] = f"run {other.info.run_id} uses it too"
                    break
            seen += len(page)
            token = page.token
            if not token:
                break
            if seen >= _MAX_LISTED:
                raise TrackingError(
                    f"more than {_MAX_LISTED:,} runs of experiment {run.experiment_id} to look "
                    f"through for dataset {ds.name!r}"
                )
    return found


def download(s: Session, uri: str, folder: Path) -> Path:
    """Downloads an artifact (file or folder) into `folder`, which the caller owns."""
    from mlflow.artifacts import download_artifacts

    return Path(download_artifacts(artifact_uri=uri, dst_path=str(folder), tracking_uri=s.uri))


def download_held(s: Session, model: ModelArtifact, folder: Path) -> Path:
    """A model a run holds, downloaded into `folder` (the caller's): its file or checkpoint
    folder, and a split model's other parts beside its first."""
    got = download(s, model.uri, folder)
    for uri in model.parts:
        download(s, uri, got.parent)
    return got


def download_model(
    s: Session,
    uri: str,
    folder: Path,
    suffixes: Sequence[str],
    folders: Sequence[str] = (),
    parts: PartsOf | None = None,
) -> Path:
    """An MLflow model URI (`runs:/RUN/path`, `models:/NAME/VERSION`, `models:/MODEL_ID`) or
    artifact URI, downloaded into `folder`: the one model it holds (`model_paths`), a file
    named with one of the caller's `suffixes` or a checkpoint folder marked by one of
    `folders` (lower case, with the dot); a URI naming the first part of a split model
    (`parts`) gets the other parts beside it, from the same artifact folder."""
    if not is_model_uri(uri):
        raise UsageError(f"{uri!r} is not an MLflow model URI (runs:/… or models:/…)")
    got = download(s, uri, folder)
    ends = tuple(suffixes) + tuple(m for m in folders if m not in suffixes)
    named = " or ".join(ends)
    if got.is_file():
        if not got.name.lower().endswith(ends):
            raise InputError(f"{uri} is not a model file ({got.name}: no {named} file)")
        names = parts(got.name) if parts is not None else None
        if names and names[0] == got.name and "/" in uri.rstrip("/"):
            beside = uri.rstrip("/").rsplit("/", 1)[0]
            for name in names[1:]:
                download(s, f"{beside}/{name}", got.parent)
        return got
    files = sorted(p.relative_to(got).as_posix() for p in got.rglob("*") if p.is_file())
    if any(f.lower().endswith(tuple(folders)) and "/" not in f for f in files):
        return got  # the URI names a checkpoint folder itself
    found = model_paths(files, suffixes, folders, parts)
    if len(found) != 1:
        what = f"no {named} file" if not found else f"{len(found)} models"
        raise InputError(f"{uri} holds {what}; name the file (runs:/RUN/path/model{ends[0]})")
    return got / found[0][0]


def run_of_model_uri(s: Session, uri: str) -> str | None:
    """The run an MLflow model URI names, when it names one: `runs:/RUN/…` is RUN; a
    registered version (`models:/NAME/VERSION`, `models:/NAME@ALIAS`, a stage or `latest`)
    is the version's run; `models:/MODEL_ID` is the logged model's source run. None when the
    URI names no run (a version registered from outside any run)."""
    if uri.startswith("runs:/"):
        run_id = uri[len("runs:/") :].split("/", 1)[0]
        return check_run_id(run_id) if run_id else None
    from mlflow.store.artifact.utils.models import get_model_name_and_version

    named = get_model_name_and_version(s.client, uri)
    model_id: str | None = None
    if len(named) == 1:
        model_id = str(named[0])
    else:
        version = s.client.get_model_version(*named)
        if getattr(version, "run_id", None):
            return check_run_id(str(version.run_id))
        model_id = getattr(version, "model_id", None)
    if not model_id:
        return None
    source = s.client.get_logged_model(model_id).source_run_id
    return check_run_id(str(source)) if source else None


_MAX_RECORDS = 4 << 20


def read_records(s: Session, run_id: str, folder: Path) -> dict[str, Any] | None:
    """The run's `aichain/records.json` (downloaded into `folder`, which the caller owns), or
    None when the run has none (recorded before it existed) or it is not a JSON object."""
    names = {str(e.path) for e in s.client.list_artifacts(check_run_id(run_id), "aichain")}
    if RECORDS_ARTIFACT not in names:
        return None
    path = download(s, f"runs:/{run_id}/{RECORDS_ARTIFACT}", folder)
    if path.stat().st_size > _MAX_RECORDS:
        return None
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, RecursionError):
        return None
    return doc if isinstance(doc, dict) else None


def download_lineage(s: Session, run_id: str, folder: Path) -> tuple[Path, Path | None]:
    """The run's lineage manifest (and its receipt, when one was recorded), downloaded."""
    names = {str(e.path) for e in s.client.list_artifacts(check_run_id(run_id), "aichain")}
    if LINEAGE_ARTIFACT not in names:
        raise MissingRun(f"MLflow run {run_id} has no {LINEAGE_ARTIFACT} artifact")
    manifest = download(s, f"runs:/{run_id}/{LINEAGE_ARTIFACT}", folder)
    receipt = None
    if RECEIPT_ARTIFACT in names:
        receipt = download(s, f"runs:/{run_id}/{RECEIPT_ARTIFACT}", folder)
    return manifest, receipt


_TAG_VALUE = re.compile(r"[A-Za-z0-9:_.\-]{1,200}")


def runs_tagged(s: Session, key: str, value: str) -> list[RunRef]:
    """Every run (any experiment, deleted ones included) whose tag `key` equals `value`."""
    from mlflow.entities import ViewType

    if not _TAG_VALUE.fullmatch(value) or not re.fullmatch(r"[\w.]+", key):
        raise UsageError(f"cannot search MLflow for tag {key}={value!r}")
    experiments: list[str] = []
    token = None
    while True:
        page = s.client.search_experiments(
            view_type=ViewType.ALL, max_results=1000, page_token=token
        )
        experiments += [str(e.experiment_id) for e in page]
        token = page.token
        if not token:
            break
    found: list[RunRef] = []
    for start in range(0, len(experiments), 100):
        token = None
        while True:
            runs = s.client.search_runs(
                experiments[start : start + 100],
                filter_string=f"tags.`{key}` = '{value}'",
                run_view_type=ViewType.ALL,
                max_results=1000,
                page_token=token,
            )
            found += [
                RunRef(
                    str(r.info.run_id),
                    str(r.info.experiment_id),
                    str(r.info.run_name or ""),
                    str(r.info.lifecycle_stage),
                )
                for r in runs
            ]
            token = runs.token
            if not token:
                break
    return found


def active_run_id() -> str:
    """The run of `with mlflow.start_run():` around the caller."""
    import mlflow

    run = mlflow.active_run()
    if run is None:
        raise UsageError("no active MLflow run: call inside `with mlflow.start_run():`")
    return str(run.info.run_id)


# --- writing -----------------------------------------------------------------------------
def _log_file(s: Session, run_id: str, artifact: str, data: bytes) -> None:
    folder, name = artifact.rsplit("/", 1)
    with tempfile.TemporaryDirectory(prefix="aichain-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        s.client.log_artifact(run_id, str(path), artifact_path=folder)


def _write(s: Session, run_id: str, artifacts: dict[str, bytes], tags: dict[str, str]) -> None:
    """The artifacts, then the tags that point to them (so a run found by its tags always has
    them). Finished runs are written as they are, never reopened; every tag is checked before
    anything is written."""
    from mlflow.entities import RunTag

    for key, value in tags.items():
        check_tag(key, value)
    for artifact, data in artifacts.items():
        _log_file(s, run_id, artifact, data)
    items = [RunTag(k, v) for k, v in tags.items()]
    for start in range(0, len(items), 100):  # MLflow takes at most 100 tags per batch
        s.client.log_batch(run_id, tags=items[start : start + 100])


def write_lineage(
    s: Session, run_id: str, manifest: bytes, records: bytes, tags: dict[str, str]
) -> None:
    """The manifest as artifact `aichain/lineage.json`, the records that tie the run to it as
    `aichain/records.json`, and the tags that point to them."""
    _write(s, run_id, {LINEAGE_ARTIFACT: manifest, RECORDS_ARTIFACT: records}, tags)


def write_receipt(s: Session, run_id: str, receipt: bytes, tags: dict[str, str]) -> None:
    """The anchor receipt as artifact `aichain/lineage.receipt.json`, and its tags."""
    _write(s, run_id, {RECEIPT_ARTIFACT: receipt}, tags)


def recorded_models(s: Session, run: RunRecord, root: str) -> list[str]:
    """The run's logged models that record lineage `root` (tag `aichain.root`)."""
    found = []
    for model in run.models:
        if model.model_id is not None and model.model_id not in found:
            tags = s.client.get_logged_model(model.model_id).tags or {}
            if tags.get(TAG_ROOT) == root:
                found.append(model.model_id)
    return found


def _version_of(version: Any) -> str | None:
    """The logged model a registered version was made from: its `model_id`, which MLflow
    leaves empty for a version registered from `models:/MODEL_ID`, else its source."""
    model_id = getattr(version, "model_id", None)
    if model_id:
        return str(model_id)
    source = str(getattr(version, "source", "") or "")
    if source.startswith("models:/"):
        return source[len("models:/") :].split("/", 1)[0] or None
    return None


def tag_models(s: Session, run_id: str, model_ids: list[str], tags: dict[str, str]) -> list[str]:
    """Tags the logged models `model_ids` of the run and every registered version of them
    (MLflow's model pages are where deployers look); returns what was tagged, by URI."""
    for key, value in tags.items():
        check_tag(key, value)
    tagged: list[str] = []
    if not model_ids:
        return tagged
    for model_id in model_ids:
        s.client.set_logged_model_tags(model_id, tags)
        tagged.append(f"models:/{model_id}")
    for version in s.client.search_model_versions(f"run_id = '{check_run_id(run_id)}'"):
        if _version_of(version) in model_ids:
            for key, value in tags.items():
                s.client.set_model_version_tag(version.name, version.version, key, value)
            tagged.append(f"models:/{version.name}/{version.version}")
    return tagged
