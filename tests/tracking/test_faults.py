"""Fail closed: MLflow unreachable, or reachable and silent, is exit 2 within our 10 s
budget, never 0; the verification document is still printed."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from aichain_audit.tracking.client import _LIMITS
from tests.conftest import assert_one_line_error
from tests.ledger.conftest import GENEROUS, aichain, cli_env, free_port
from tests.tracking.conftest import SAMPLE_CONFIG, World, checks, failing

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes
BUDGET = 10.0  # seconds: "within the 10 s budget" of tracking/client.py


@dataclass
class BlackHole:
    url: str
    held: list[socket.socket]  # every connection accepted, never answered


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    """An HTTP address that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield BlackHole(f"http://127.0.0.1:{server.getsockname()[1]}", held)
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def assert_mlflow_error(world: World, uri: str) -> float:
    """verify of a run-recorded lineage with MLflow at `uri`: exit 2, --json printed, and
    `mlflow.run` the one error (everything else passes). Returns the seconds it took."""
    base = world.runs["base"]
    env = cli_env(world.home, MLFLOW_TRACKING_URI=uri)
    started = time.monotonic()
    proc = aichain("verify", base.model, "--lineage", base.lineage, "--json", env=env)
    elapsed = time.monotonic() - started
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-3000:], proc.stderr)
    doc = json.loads(proc.stdout)
    assert doc["verified"] is False
    assert failing(doc) == {"mlflow.run": {base.run_id}}
    (finding,) = checks(doc, "mlflow.run")
    assert finding["status"] == "error"
    assert "cannot reach MLflow" in finding["detail"]
    assert "Traceback" not in proc.stderr
    return elapsed


def test_verify_against_a_closed_port_exits_2_with_the_json_still_printed(
    sqlite_world: World,
) -> None:
    assert_mlflow_error(sqlite_world, f"http://127.0.0.1:{free_port()}")


def test_verify_against_a_black_hole_gives_up_within_the_budget(
    sqlite_world: World, black_hole: BlackHole
) -> None:
    elapsed = assert_mlflow_error(sqlite_world, black_hole.url)
    # The budget, as the CLI applies it: one request, retried once, each waiting at most
    # the request timeout (MLflow's defaults would make 8 attempts over about 250 s).
    attempts = int(_LIMITS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) + 1
    timeout = float(_LIMITS["MLFLOW_HTTP_REQUEST_TIMEOUT"])
    backoff = float(_LIMITS["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"])
    assert attempts * timeout + backoff <= BUDGET
    assert len(black_hole.held) == attempts, black_hole.held
    # Slowness cannot make a process give up sooner; a loaded machine can make it later.
    assert (attempts * timeout) <= elapsed < GENEROUS * BUDGET, elapsed


def test_fingerprint_against_a_closed_port_exits_2_in_one_line_and_writes_nothing(
    tmp_path: Path,
) -> None:
    out = tmp_path / "lineage.json"
    env = cli_env(tmp_path / "home", MLFLOW_TRACKING_URI=f"http://127.0.0.1:{free_port()}")

    proc = aichain(
        "fingerprint", "--mlflow-run", "0123456789abcdef0123456789abcdef",
        "--config", SAMPLE_CONFIG, "-o", out, "--json", env=env,
    )  # fmt: skip

    line = assert_one_line_error(proc, 2)
    assert "cannot reach MLflow" in line
    assert proc.stdout == ""
    assert not out.exists()
