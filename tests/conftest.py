"""Shared fixtures. Tests build real artifacts (files, ONNX models, configs), never stand-ins."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

REPO = Path(__file__).resolve().parent.parent


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
