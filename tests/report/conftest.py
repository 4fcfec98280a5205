"""Report tests: the real sample (trained, fingerprinted, anchored on a fresh embedded chain)
built once per worker, and real `aichain verify --json` documents about it. No mocks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aichain_audit.verify.document import read
from aichain_audit.verify.findings import Verification
from tests.conftest import REPO

TIMEOUT = 300


def cli_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHAIN_")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true", AICHAIN_HOME=str(home))
    return env


def aichain(*args: object, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`python -m aichain_audit ARGS` in a separate process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=cwd, env=cli_env(home), capture_output=True, text=True, timeout=TIMEOUT,
        check=False,
    )  # fmt: skip


@dataclass(frozen=True)
class Sample:
    work: Path  # model.onnx, data/, train.yaml, lineage.json, lineage.receipt.json
    home: Path  # AICHAIN_HOME of its embedded chain
    lineage: Path
    passed: Verification  # `aichain verify --json` of the model as trained, read back
    failed: Verification  # ... of a copy with one weight changed (tampered/model.onnx)
    passed_doc: dict[str, Any]  # the aichain.verify/v2 documents themselves
    failed_doc: dict[str, Any]

    def run(self, *args: object) -> subprocess.CompletedProcess[str]:
        return aichain(*args, home=self.home, cwd=self.work)


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    root = tmp_path_factory.mktemp("report-sample")
    work, home = root / "work", root / "home"
    train = subprocess.run(
        [sys.executable, str(REPO / "samples" / "train.py"), "--out", str(work)],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr
    shutil.copy(REPO / "samples" / "train.yaml", work / "train.yaml")
    lineage = work / "lineage.json"
    made = aichain("fingerprint", "--model", "model.onnx", "--dataset", "data", "--config",
                   "train.yaml", "--name", "breast-cancer-logreg", "-o", lineage,
                   home=home, cwd=work)  # fmt: skip
    assert made.returncode == 0, made.stderr
    anchored = aichain("anchor", lineage, home=home, cwd=work)
    assert anchored.returncode == 0, anchored.stderr
    (work / "tampered").mkdir()
    tamper = subprocess.run(
        [sys.executable, str(REPO / "samples" / "tamper.py"), "weight", str(work / "model.onnx"),
         str(work / "tampered" / "model.onnx")],
        capture_output=True, text=True, timeout=TIMEOUT, check=False,
    )  # fmt: skip
    assert tamper.returncode == 0, tamper.stderr
    docs = []
    for model, code in (("model.onnx", 0), ("tampered/model.onnx", 1)):
        proc = aichain("verify", model, "--lineage", lineage, "--dataset", "data", "--json",
                       home=home, cwd=work)  # fmt: skip
        assert proc.returncode == code, proc.stderr
        docs.append(proc.stdout)
    passed, failed = (read(d.encode(), "verify.json") for d in docs)
    return Sample(work, home, lineage, passed, failed, *(json.loads(d) for d in docs))
