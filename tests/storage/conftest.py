"""moto's S3 server, once per test session (per xdist worker), on 127.0.0.1: the product talks
to it through unmodified s3fs and botocore, told only the endpoint (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aichain_audit.fingerprint import storage
from tests.conftest import stop_process_group
from tests.ledger.conftest import free_port

# A credential every test's environment holds: no output or error may ever show it.
SECRET = "aichainTESTsecret0123456789abcdefSECRET"
ACCESS_KEY = "AKIAAICHAINTESTKEY42"


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`moto_server` in its own process session, stopped by its process id."""
    binary = Path(sys.executable).with_name("moto_server")
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    for _attempt in range(3):
        port = free_port()
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [str(binary), "-H", "127.0.0.1", "-p", str(port)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline and not _answers(port):
            time.sleep(0.1)
        if proc.poll() is None and _answers(port):
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                stop_process_group(proc.pid)
            return
        stop_process_group(proc.pid)
    pytest.fail(f"moto_server did not start: {log.read_text(errors='replace')[-2000:]}")


@dataclass
class S3:
    """The test's buckets and a plain s3fs filesystem to put objects with (not the product's)."""

    endpoint: str
    fs: Any
    versioned: str
    unversioned: str

    def put(self, url: str, data: bytes) -> None:
        self.fs.pipe(url.removeprefix("s3://"), data)

    def put_key(self, bucket: str, key: str, data: bytes) -> None:
        """An object by its raw key (keys s3fs's paths would normalise: `a//b`, `x/`)."""
        self.fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data)

    def upload(self, folder: Path, url: str) -> None:
        """Every file under `folder` as an object under the prefix `url`."""
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                rel = path.relative_to(folder).as_posix()
                self.put(f"{url.rstrip('/')}/{rel}", path.read_bytes())


def s3_environment(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


@pytest.fixture
def s3(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3]:
    """Two fresh buckets (one versioned), the AWS environment pointing at moto, and the
    product's storages reset so that they read this environment."""
    import s3fs

    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in s3_environment(s3_endpoint).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setattr(storage, "_storages", {})
    fs = s3fs.S3FileSystem(skip_instance_cache=True)
    tag = uuid.uuid4().hex[:10]
    versioned, unversioned = f"v-{tag}", f"u-{tag}"
    fs.call_s3("create_bucket", Bucket=versioned)
    fs.call_s3(
        "put_bucket_versioning", Bucket=versioned,
        VersioningConfiguration={"Status": "Enabled"},
    )  # fmt: skip
    fs.call_s3("create_bucket", Bucket=unversioned)
    yield S3(s3_endpoint, fs, versioned, unversioned)
