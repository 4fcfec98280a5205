"""Shared fixtures. Tests build real artifacts (files, ONNX models, configs), never stand-ins."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

REPO = Path(__file__).resolve().parent.parent
# The shared `mlflow server` of tests/tracking: its URL and process group, in the session's
# base temporary folder (the one xdist workers' folders live in).
MLFLOW_SERVER_STATE = "mlflow-server.json"
# The shared local Ray cluster of tests/engine: its address, process group and folder.
RAY_CLUSTER_STATE = "ray-cluster.json"


def run_cli(
    *args: str | os.PathLike[str], cwd: Path | None = None, **kw: object
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m aichain_audit` as a separate process, as a user would."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cli


def assert_one_line_error(proc: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The contract for bad input: the exit code, one line on stderr, no traceback."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert lines[0].startswith("aichain: error: ")
    return lines[0]


# --- what `make test-fast` leaves out --------------------------------------------------------
# `server`: the test starts anvil, `mlflow server`, chromium, an object store emulator (moto's
# S3 server, azurite, gcp-storage-emulator) or a Ray cluster. `slow`: it starts another
# process (the CLI, a training script) or waits out a budget. A test whose fixtures start a
# server or a process, directly or through other fixtures, is marked here; a test that starts
# one itself carries the mark. So that no test slips into test-fast by accident, a run without
# them (NO_SUBPROCESSES set, as `make test-fast` does) fails any unmarked test that starts one.
SERVER_FIXTURES = frozenset(
    {"anvil_factory", "server_store", "s3_endpoint", "azurite", "gcs_emulator", "ray_cluster"}
)
SLOW_FIXTURES = frozenset({"cli", "sample", "sqlite_store"})
NO_SUBPROCESSES = "AICHAIN_TEST_NO_SUBPROCESSES"
_running: list[pytest.Item] = []


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        if fixtures & SERVER_FIXTURES or params.get("store") == "server":
            item.add_marker(pytest.mark.server)
        if fixtures & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


def _may_start_processes(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(name) for name in ("server", "slow"))


class _FastRunPopen(subprocess.Popen):  # type: ignore[type-arg]
    """`subprocess.Popen` in a run without subprocesses: refuses unmarked tests."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _running and not _may_start_processes(_running[-1]):
            pytest.fail(
                f"{_running[-1].nodeid} starts a process ({args[0] if args else kwargs}) "
                "in a run without them (make test-fast): mark it `pytest.mark.slow` "
                "(`server` if it is anvil, mlflow server or chromium)",
                pytrace=False,
            )
        super().__init__(*args, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get(NO_SUBPROCESSES) == "1":
        subprocess.Popen = _FastRunPopen  # type: ignore[misc]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _running.append(item)  # session fixtures start with the first test that needs them
    try:
        return (yield)
    finally:
        _running.pop()


# --- the shared mlflow server (tests/tracking/conftest.py starts it) ----------------------
def _group_alive(pgid: int) -> bool:
    """Whether any process of the group is still running (zombies do not count)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_process_group(pgid: int, timeout: float = 10.0) -> None:
    """SIGTERM to a process group we started, then SIGKILL to what is left of it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pgid, os.WNOHANG)  # reaps the leader when it is our child
            if not _group_alive(pgid):
                return
            time.sleep(0.1)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The xdist master (or a run without xdist) stops the shared `mlflow server` that a
    worker started in its own process group: workers share it, so none of them may."""
    if hasattr(session.config, "workerinput"):
        return
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)
    if basetemp is None:  # no test asked for a temporary folder: no server either
        return
    stop_ray_cluster(Path(basetemp) / RAY_CLUSTER_STATE)
    state = Path(basetemp) / MLFLOW_SERVER_STATE
    try:
        pid = int(json.loads(state.read_text())["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        cmdline = b""
    if cmdline and b"mlflow" not in cmdline:
        return  # the server is gone and its pid was reused: not ours to signal
    stop_process_group(pid)
    state.unlink(missing_ok=True)


def stop_ray_cluster(state: Path) -> None:
    """Stops the Ray cluster tests/engine/conftest.py started: the process group of its
    `ray start` (whose daemons stay in it once it exits), when a process of that group is
    still Ray's (a group id is not reused while the group lives); then its folder."""
    import shutil

    try:
        info = json.loads(state.read_text())
        pgid, temp = int(info["pgid"]), str(info["temp"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if any(b"ray" in cmdline for cmdline in _group_cmdlines(pgid)):
        stop_process_group(pgid)
    shutil.rmtree(temp, ignore_errors=True)
    state.unlink(missing_ok=True)


def _group_cmdlines(pgid: int) -> list[bytes]:
    out: list[bytes] = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                out.append((stat.parent / "cmdline").read_bytes())
        except (OSError, IndexError, ValueError):
            continue
    return out
