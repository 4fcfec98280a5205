"""Shared fixtures. Tests build real artifacts (files, ONNX models, configs), never stand-ins."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

REPO = Path(__file__).resolve().parent.parent
# The shared `mlflow server` of tests/tracking: its URL and process group, in the session's
# base temporary folder (the one xdist workers' folders live in).
MLFLOW_SERVER_STATE = "mlflow-server.json"


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
