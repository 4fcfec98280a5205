"""A real local Ray cluster for the engine tests, started once per test session.

`ray start --head` on 127.0.0.1 with 2 CPUs, no dashboard, no usage stats, every port it
listens on chosen free, its files in a private temporary folder. `ray start` daemonises: its
processes stay in the process group of the `ray start` we launched in a new session, so the
cluster is stopped by that group's id (never `ray stop`, which stops every cluster of the
user). The first xdist worker that needs it starts it under a file lock in the folder every
worker shares; tests/conftest.py's `pytest_sessionfinish` (on the master) stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from tests.conftest import RAY_CLUSTER_STATE, REPO, stop_ray_cluster
from tests.ledger.conftest import free_port
from tests.storage.conftest import s3, s3_endpoint  # noqa: F401  (for tests/engine: Ray workers reading S3)

START_TIMEOUT = 180.0
START_ATTEMPTS = 3
# Ray 2.60 turns token authentication on when ~/.ray/auth_token exists (a private cluster
# of `ray.init` writes it), and a driver connects only with RAY_AUTH_MODE=token: off for the
# session's cluster on 127.0.0.1, on both sides, whatever the home folder holds.
AUTH_MODE = "disabled"


def _shared_root(request: pytest.FixtureRequest, factory: pytest.TempPathFactory) -> Path:
    base = factory.getbasetemp()
    return base.parent if hasattr(request.config, "workerinput") else base


def _start(state: Path) -> dict[str, Any]:
    temp = tempfile.mkdtemp(prefix="aichain-ray-", dir="/tmp")  # short: socket paths
    port = free_port()
    ports = {
        flag: str(free_port())
        for flag in (
            "--ray-client-server-port",
            "--dashboard-agent-listen-port",
            "--dashboard-agent-grpc-port",
            "--runtime-env-agent-port",
            "--metrics-export-port",
            "--node-manager-port",
            "--object-manager-port",
        )
    }
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),  # the workers import the code under test
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": AUTH_MODE,
        # On a loaded machine Ray's agents can start slower than the raylet waits for them.
        "RAY_raylet_start_wait_time_s": "120",
        "RAY_agent_register_timeout_ms": "120000",
    }
    env.pop("RAY_ADDRESS", None)
    ray = Path(sys.executable).with_name("ray")
    command = [
        str(ray), "start", "--head", "--port", str(port), "--num-cpus", "2",
        "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
        "--disable-usage-stats", "--temp-dir", temp, "--object-store-memory", str(100 * 2**20),
        *[x for flag, value in ports.items() for x in (flag, value)],
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        env=env,
        cwd=temp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: every daemon it starts stays in it
    )
    info = {"pgid": proc.pid, "address": f"127.0.0.1:{port}", "temp": temp}
    state.write_text(json.dumps(info))  # before waiting: a failed start is stopped too
    try:
        _, err = proc.communicate(timeout=START_TIMEOUT)
    except subprocess.TimeoutExpired:
        stop_ray_cluster(state)
        raise
    if proc.returncode != 0:
        stop_ray_cluster(state)
        raise RuntimeError(f"ray start failed ({proc.returncode}): {err[-2000:]}")
    return info


@pytest.fixture(scope="session")
def ray_cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The address of the session's local Ray cluster (2 CPUs, on 127.0.0.1)."""
    os.environ["RAY_AUTH_MODE"] = AUTH_MODE  # this worker's drivers
    root = _shared_root(request, tmp_path_factory)
    state = root / RAY_CLUSTER_STATE
    with FileLock(str(root / "ray-cluster.lock"), timeout=START_TIMEOUT + 30):
        if state.exists():
            return str(json.loads(state.read_text())["address"])
        # A loaded machine can miss Ray's fixed 30 s wait for the raylet: start again.
        for attempt in range(START_ATTEMPTS):
            try:
                return str(_start(state)["address"])
            except RuntimeError as exc:
                if attempt == START_ATTEMPTS - 1:
                    pytest.fail(str(exc))
        raise AssertionError("unreachable")


@pytest.fixture(scope="session")
def ray_engine(ray_cluster: str) -> Iterator[Any]:
    """This worker's connection to the session cluster, as a `RayEngine` (closed at the end:
    a disconnection; the cluster lives on for the other workers)."""
    from aichain_audit.fingerprint.engine.ray import RayEngine

    engine = RayEngine(address=ray_cluster)
    engine._connect()
    yield engine
    engine.close()


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary folder with a short path (for a private cluster's socket paths)."""
    d = Path(tempfile.mkdtemp(prefix="air-", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
