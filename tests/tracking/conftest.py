"""MLflow tests: real runs in a real local SQLite store and in a real `mlflow server`.

Runs are logged here, in the test process, the way a training script logs them (params,
`mlflow.data.from_pandas` dataset inputs, `mlflow.onnx.log_model` or a plain `*.onnx`
artifact); `aichain` itself always runs as a separate process. Nothing of MLflow, web3 or
the chain is mocked.

The server is started once per test session and shared by the xdist workers: the first
worker that needs it starts it (under a file lock in the session's base temporary folder)
in its own process group and writes its URL and pid there; `pytest_sessionfinish` in
tests/conftest.py stops the group. Each store gets one `World` per worker: the runs most
tests read, recorded and anchored once (in one batch) under one AICHAIN_HOME.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from filelock import FileLock

from tests.conftest import MLFLOW_SERVER_STATE, REPO, stop_process_group
from tests.ledger.conftest import aichain, cli_env, free_port, ok_json

SAMPLE_CONFIG = REPO / "samples" / "train.yaml"
SERVER_START_TIMEOUT = 60.0
LINEAGE_ARTIFACT = "aichain/lineage.json"
RECEIPT_ARTIFACT = "aichain/lineage.receipt.json"
RECORDS_ARTIFACT = "aichain/records.json"
STORES = ("sqlite", "server")


# --- where things live ---------------------------------------------------------------------
def shared_root(request: pytest.FixtureRequest, factory: pytest.TempPathFactory) -> Path:
    """The folder every xdist worker of this session shares (tests/conftest.py's hook looks
    for the server's state there): the parent of a worker's base folder, else the base."""
    base = factory.getbasetemp()
    return base.parent if hasattr(request.config, "workerinput") else base


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Store:
    """An MLflow tracking store and where its records and artifacts lie on disk."""

    kind: str  # "sqlite" or "server"
    uri: str
    db: Path  # the backend SQLite file (the server's own, for the server)
    artifacts: Path  # experiments' artifact folders (the server's --artifacts-destination)

    def client(self) -> Any:
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    def new_experiment(self, hint: str) -> str:
        name = f"{hint}-{uuid.uuid4().hex[:12]}"
        if self.kind == "sqlite":  # MLflow's default would be ./mlruns of the working folder
            return str(self.client().create_experiment(name, str(self.artifacts / name)))
        return str(self.client().create_experiment(name))  # proxied: --artifacts-destination

    def local_file(self, artifact_uri: str) -> Path:
        """The file on disk behind an artifact URI of this store (to tamper with it)."""
        if artifact_uri.startswith("mlflow-artifacts:"):
            return self.artifacts / artifact_uri.removeprefix("mlflow-artifacts:").lstrip("/")
        return Path(artifact_uri.removeprefix("file://"))

    def env(self, home: Path, **extra: str) -> dict[str, str]:
        """A CLI environment with this store as MLflow's tracking URI."""
        return cli_env(home, MLFLOW_TRACKING_URI=self.uri, **extra)


@contextmanager
def tracking(uri: str) -> Iterator[None]:
    """MLflow's fluent API (and the product's in-process API) on `uri` for a while;
    `mlflow.set_tracking_uri` also sets MLFLOW_TRACKING_URI, which is put back after."""
    import mlflow

    saved = {
        k: os.environ.get(k)
        for k in ("MLFLOW_TRACKING_URI", "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT")
    }
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    mlflow.set_tracking_uri(uri)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's own chatter about sources and signatures
            yield
    finally:
        mlflow.set_tracking_uri(None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --- the sample ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Sample:
    """samples/train.py's output: model.onnx and data/{train,test}.csv."""

    folder: Path

    @property
    def model(self) -> Path:
        return self.folder / "model.onnx"

    @property
    def datasets(self) -> list[Path]:
        return [self.folder / "data" / "train.csv", self.folder / "data" / "test.csv"]


def build_once(root: Path, name: str, build: Any) -> Path:
    """`build(folder)` once per session, whichever worker asks first."""
    folder = root / name
    done = root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock"), timeout=300):
        if not done.exists():
            folder.mkdir(exist_ok=True)
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def sample(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Sample:
    def train(folder: Path) -> None:
        subprocess.run(
            [sys.executable, str(REPO / "samples" / "train.py"), "--out", str(folder)],
            check=True,
            capture_output=True,
            timeout=300,
        )

    return Sample(build_once(shared_root(request, tmp_path_factory), "sample", train))


def training_params() -> dict[str, Any]:
    """samples/train.yaml as a training script logs it: its leaves flattened (`model.C`), and
    its `export` section as one dict param (MLflow stores the dict's Python repr)."""
    config = yaml.safe_load(SAMPLE_CONFIG.read_text())
    params: dict[str, Any] = {
        f"{section}.{key}": value
        for section, values in config.items()
        if section != "export"
        for key, value in values.items()
    }
    params["export"] = config["export"]
    return params


def unique_model(sample: Sample, dest: Path) -> Path:
    """The sample model with a fresh metadata prop: a model digest no other run records, so
    finding runs by the model's digest finds exactly the runs a test means."""
    import onnx

    model = onnx.load(str(sample.model))
    props = {p.key: p.value for p in model.metadata_props}
    props["aichain.test.nonce"] = uuid.uuid4().hex
    onnx.helper.set_model_props(model, props)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(model.SerializeToString())
    return dest


def write_big_csv(path: Path, rows: int = 16_000) -> Path:
    """A numeric CSV longer than the 10,000 rows MLflow's dataset digest looks at."""
    import numpy as np

    values = np.random.default_rng(7).random((rows, 3))
    lines = ["a,b,c,label"]
    lines += [f"{a:.6f},{b:.6f},{c:.6f},{i % 2}" for i, (a, b, c) in enumerate(values.tolist())]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


# --- runs ----------------------------------------------------------------------------------
@dataclass
class LoggedRun:
    run_id: str
    experiment_id: str
    model: Path | None  # a local copy of the model the run holds (byte-identical)
    model_id: str | None = None  # its LoggedModel, when logged with mlflow.onnx.log_model
    datasets: list[Path] = field(default_factory=list)
    lineage: Path | None = None  # the manifest recorded in the run, once recorded


def log_run(
    store: Store,
    experiment: str,
    *,
    model: Path | None,
    model_as: str = "logged",
    datasets: Sequence[Path] = (),
    params: dict[str, Any] | None = None,
) -> LoggedRun:
    """A finished run, logged as a training script logs it."""
    import mlflow
    import mlflow.onnx
    import onnx
    import pandas as pd

    with tracking(store.uri), mlflow.start_run(experiment_id=experiment) as active:
        mlflow.log_params(training_params() if params is None else params)
        for path in datasets:
            data = mlflow.data.from_pandas(pd.read_csv(path), source=str(path), name=path.stem)
            mlflow.log_input(data, context="training")
        model_id = None
        if model is not None and model_as == "logged":
            info = mlflow.onnx.log_model(
                onnx.load(str(model)),
                name="model",
                save_as_external_data=False,  # else a fresh <uuid>.data file, a new digest
                pip_requirements=["onnx"],  # else MLflow spends ~2 s inferring them
            )
            model_id = str(info.model_id)
        elif model is not None:
            mlflow.log_artifact(str(model))
    return LoggedRun(active.info.run_id, experiment, model, model_id, list(datasets))


def record(store: Store, run: LoggedRun, out: Path, configs: Sequence[Path] = ()) -> Path:
    """The run's lineage, fingerprinted from the run and recorded in it by the product's
    Python API (what `aichain fingerprint --mlflow-run` does), and written to `out`."""
    from aichain_audit import api

    with tracking(store.uri):
        result = api.fingerprint(mlflow_run=run.run_id, configs=list(configs))
        api.record_lineage(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(result.manifest.to_json())
    run.lineage = out
    return out


def artifact_bytes(store: Store, run_id: str, path: str, folder: Path) -> bytes:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(store.client().download_artifacts(run_id, path, str(folder))).read_bytes()


def artifact_paths(store: Store, run_id: str, folder: str = "aichain") -> set[str]:
    return {str(entry.path) for entry in store.client().list_artifacts(run_id, folder)}


def aichain_tags(store: Store, run_id: str) -> dict[str, str]:
    tags = store.client().get_run(run_id).data.tags
    return {k: v for k, v in tags.items() if k.startswith("aichain.")}


def checks(doc: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [c for c in doc["checks"] if c["name"] == name]


def statuses(doc: dict[str, Any], name: str) -> set[str]:
    return {c["status"] for c in checks(doc, name)}


def failing(doc: dict[str, Any]) -> dict[str, set[str | None]]:
    """{check name: artifacts} of every finding that failed or errored."""
    found: dict[str, set[str | None]] = {}
    for c in doc["checks"]:
        if c["status"] in ("fail", "error"):
            found.setdefault(c["name"], set()).add(c["artifact"])
    return found


# --- the stores ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def sqlite_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """A local SQLite store of this worker's own (two processes writing one SQLite file can
    meet "database is locked"), copied from a session-wide empty one: MLflow's migrations
    that create a store take seconds."""

    def migrate(folder: Path) -> None:
        from mlflow import MlflowClient

        MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}").search_experiments()

    empty = build_once(shared_root(request, tmp_path_factory), "sqlite-empty", migrate)
    folder = tmp_path_factory.mktemp("sqlite-store")
    db = folder / "mlflow.db"
    shutil.copyfile(empty / "mlflow.db", db)
    return Store("sqlite", f"sqlite:///{db}", db, folder / "artifacts")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _start_server(folder: Path, state: Path) -> None:
    """Starts `mlflow server` on a free port and waits for /health; a port taken between
    choosing and binding it (the server then exits) is retried on another."""
    folder.mkdir(exist_ok=True)
    db, artifacts, log = folder / "mlflow.db", folder / "artifacts", folder / "server.log"
    binary = Path(sys.executable).with_name("mlflow")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false", MLFLOW_DISABLE_TELEMETRY="true")
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    for _attempt in range(3):
        port = free_port()
        argv = [str(binary)] if binary.exists() else [sys.executable, "-m", "mlflow"]
        argv += ["server", "--backend-store-uri", f"sqlite:///{db}"]
        argv += ["--artifacts-destination", str(artifacts), "--host", "127.0.0.1"]
        argv += ["--port", str(port), "--workers", "1"]
        with log.open("ab") as out:
            # Its own session: a signal to its process group reaches its uvicorn worker too.
            proc = subprocess.Popen(
                argv, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        doc = {"url": url, "pid": proc.pid, "db": str(db), "artifacts": str(artifacts)}
        state.write_text(json.dumps(doc))  # first: the session hook stops it whatever happens
        while proc.poll() is None and time.monotonic() < deadline:
            if _healthy(url) and proc.poll() is None:  # ours answered, not another listener
                return
            time.sleep(0.25)
        stop_process_group(proc.pid)
        state.unlink(missing_ok=True)
        if time.monotonic() >= deadline:
            break
    pytest.fail(
        f"mlflow server did not answer /health within {SERVER_START_TIMEOUT:.0f} s: "
        f"{log.read_text(errors='replace')[-2000:]}",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def server_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The session's one `mlflow server`, started by whichever worker needs it first."""
    root = shared_root(request, tmp_path_factory)
    state = root / MLFLOW_SERVER_STATE
    with FileLock(str(root / "mlflow-server.lock"), timeout=SERVER_START_TIMEOUT * 3):
        if not state.exists():
            _start_server(root / "mlflow-server", state)
        doc = json.loads(state.read_text())
    assert _healthy(doc["url"]), f"the shared mlflow server at {doc['url']} does not answer"
    return Store("server", doc["url"], Path(doc["db"]), Path(doc["artifacts"]))


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Store:
    """Each store in turn: a local SQLite file, then the real server over HTTP."""
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]


# --- one world per store and worker ----------------------------------------------------------
@dataclass
class World:
    """Runs most tests read, each with its lineage recorded in it, all anchored in one batch
    under `home`: verify them with `store.env(home)`. A test that changes a run owns it."""

    store: Store
    home: Path
    folder: Path
    runs: dict[str, LoggedRun]
    receipts: list[dict[str, Any]]  # what `aichain anchor --json` printed, in the runs' order


def build_world(store: Store, sample: Sample, folder: Path) -> World:
    runs: dict[str, LoggedRun] = {}

    def add(name: str, **kw: Any) -> None:
        # An experiment each: runs of one experiment logging the same data share MLflow's
        # dataset records, which fingerprinting refuses to take as evidence (docs/mlflow.md).
        kw.setdefault("experiment", store.new_experiment(f"world-{name}"))
        kw.setdefault("model", unique_model(sample, folder / name / "model.onnx"))
        kw.setdefault("datasets", sample.datasets)
        runs[name] = log_run(store, kw.pop("experiment"), **kw)

    add("base")  # a LoggedModel, the sample's params and its two CSV splits
    add("artifact", model_as="artifact")  # the model as a plain run artifact
    add("discover", experiment=store.new_experiment("discover"))  # a test deletes it
    twin = unique_model(sample, folder / "twin" / "model.onnx")
    add("twin_a", model=twin)
    add("twin_b", model=twin)
    add("param")
    add("root")
    add("rows", datasets=[write_big_csv(folder / "rows" / "big.csv")])
    add("bytes")
    add("inputs")  # a test deletes its dataset inputs from the store
    add("newparam")  # a test logs a param after the lineage was recorded
    lineages = [
        record(store, run, folder / f"{name}.json", [SAMPLE_CONFIG]) for name, run in runs.items()
    ]
    home = folder / "home"
    receipts = ok_json(aichain("anchor", *lineages, "--json", env=store.env(home)))
    return World(store, home, folder, runs, receipts)


@pytest.fixture(scope="session")
def worlds() -> dict[str, World]:
    return {}


def _world(
    worlds: dict[str, World], store: Store, sample: Sample, factory: pytest.TempPathFactory
) -> World:
    if store.kind not in worlds:
        worlds[store.kind] = build_world(store, sample, factory.mktemp(f"world-{store.kind}"))
    return worlds[store.kind]


@pytest.fixture
def world(
    store: Store, worlds: dict[str, World], sample: Sample, tmp_path_factory: pytest.TempPathFactory
) -> World:
    """The world of each store in turn."""
    return _world(worlds, store, sample, tmp_path_factory)


@pytest.fixture
def sqlite_world(
    sqlite_store: Store,
    worlds: dict[str, World],
    sample: Sample,
    tmp_path_factory: pytest.TempPathFactory,
) -> World:
    """The SQLite store's world, for tests that need one store only."""
    return _world(worlds, sqlite_store, sample, tmp_path_factory)


@pytest.fixture
def server_world(
    server_store: Store,
    worlds: dict[str, World],
    sample: Sample,
    tmp_path_factory: pytest.TempPathFactory,
) -> World:
    """The server's world, for tests that need one store only."""
    return _world(worlds, server_store, sample, tmp_path_factory)
