"""Fail closed: MLflow unreachable, or reachable and silent, is exit 2 within our 10 s
budget, never 0; the verification document is still printed."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.ledger.conftest import aichain, cli_env, free_port
from tests.tracking.conftest import SAMPLE_CONFIG, World, checks, failing


@pytest.fixture
def black_hole() -> Iterator[str]:
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
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
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
    sqlite_world: World, black_hole: str
) -> None:
    elapsed = assert_mlflow_error(sqlite_world, black_hole)
    # MLflow's own defaults retry for about 250 s; ours give up after about 9 s. 30 s leaves
    # room for a slow start-up on a loaded machine and still tells the two apart.
    assert elapsed < 30, elapsed


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
