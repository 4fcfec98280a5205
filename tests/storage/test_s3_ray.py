"""`--engine ray` on objects in S3: the Ray workers read the objects themselves, with the
credential chain of the machines they run on (nothing is shipped in the job), and the root is
the one the default engine gives for the same data, local or in the bucket."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.storage.conftest import S3, s3_environment


@pytest.mark.slow  # the CLI in processes, and a private Ray cluster started by one of them
def test_ray_workers_hash_s3_objects_to_the_root_of_the_local_copy(s3: S3, tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_bytes(b"x,y\n1,2\n")
    (data / "sub" / "big.bin").write_bytes(os.urandom(3 << 20))
    url = f"s3://{s3.unversioned}/data"
    s3.upload(data, url)
    # A short folder for the private cluster's sockets (AF_UNIX paths are short).
    ray_tmp = Path(tempfile.mkdtemp(prefix="ars-", dir="/tmp"))
    env = {**os.environ, **s3_environment(s3.endpoint), "PYTHONPATH": str(REPO),
           "RAY_TMPDIR": str(ray_tmp), "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
    env.pop("RAY_ADDRESS", None)  # a private cluster for the run, started from this env
    env.pop("RAY_AUTH_MODE", None)

    def root(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "aichain_audit", "fingerprint", *args, "--json"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert "AWS_SECRET" not in proc.stdout + proc.stderr
        return str(json.loads(proc.stdout)["root"])

    try:
        local = root("--dataset", str(data))
        assert root("--dataset", url) == local
        assert root("--dataset", url, "--engine", "ray") == local
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
