"""The real Azure and Google Cloud Storage emulators, once per test session (per xdist worker).

- `azurite`: Microsoft's Azure Storage emulator, its blob service from contracts/node_modules
  (pinned by contracts/package-lock.json; `make test` runs `npm ci` there), on 127.0.0.1 on a
  free port, a temporary folder as its location, telemetry off.
- `gcs_emulator`: gcp-storage-emulator (PyPI), in memory, on 127.0.0.1 on a free port.

Both are started in their own process group and stopped by that id. The product reaches them
through its ordinary credential chains: `AZURE_STORAGE_CONNECTION_STRING` (the emulator's
well-known development account) and `STORAGE_EMULATOR_HOST`; the `azure_env` and `gcs_env`
fixtures set them (and clear the rest of each chain) for one test. Test data is written with
each cloud's own SDK (azure-storage-blob, google-cloud-storage), never through the product.

A test module imports the fixtures it uses: `from tests.storage.emulators import azurite, ...`
(tests/conftest.py marks tests that use `azurite` or `gcs_emulator` as `server`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, stop_process_group

START_TIMEOUT = 60.0
AZURITE_BIN = REPO / "contracts" / "node_modules" / ".bin" / "azurite-blob"
# Azurite's well-known development account (public, in Microsoft's documentation).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
AZURE_VARIABLES = (
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_ACCOUNT_NAME",
    "AZURE_STORAGE_ACCOUNT_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CLIENT_ID",
    "AZURE_STORAGE_CLIENT_SECRET",
    "AZURE_STORAGE_TENANT_ID",
    "AZURE_STORAGE_ANON",
)
GCS_VARIABLES = ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(proc: subprocess.Popen[bytes], port: int, name: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited ({proc.returncode}): {log.read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop_process_group(proc.pid)
            pytest.fail(f"{name} did not listen on 127.0.0.1:{port} within {START_TIMEOUT} s")
        time.sleep(0.05)


def _start(argv: list[str], port: int, name: str, folder: Path) -> subprocess.Popen[bytes]:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=folder, start_new_session=True,
        )  # fmt: skip
    _wait_listening(proc, port, name, log)
    return proc


# --- Azure ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Azurite:
    port: int

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    def connection_string(self, key: str = AZURITE_KEY) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={key};"
            f"BlobEndpoint={self.blob_endpoint};"
        )

    def service(self) -> Any:
        """azure-storage-blob's own client for the emulator (to write and replace blobs)."""
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(self.connection_string())

    def container(self, name: str) -> Any:
        client = self.service().get_container_client(name)
        if not client.exists():
            client.create_container()
        return client


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    if not os.access(AZURITE_BIN, os.X_OK):
        pytest.fail(
            f"azurite is not installed ({AZURITE_BIN.relative_to(REPO)}): run `make test`, "
            "or `npm ci` in contracts/",
            pytrace=False,
        )
    folder = tmp_path_factory.mktemp("azurite")
    port = free_port()
    proc = _start(
        [
            str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port),
            "--location", str(folder), "--skipApiVersionCheck", "--loose",
            "--disableTelemetry", "--silent",
        ],
        port, "azurite", folder,
    )  # fmt: skip
    try:
        yield Azurite(port)
    finally:
        stop_process_group(proc.pid)


@pytest.fixture
def azure_env(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Azurite:
    """The Azure credential chain for this test: azurite's connection string alone."""
    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())
    return azurite


# --- Google Cloud Storage ------------------------------------------------------------------
@dataclass(frozen=True)
class GcsEmulator:
    port: int

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> Any:
        """google-cloud-storage's own client for the emulator (to write and replace objects)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="aichain-test",
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.host},
        )

    def bucket(self, name: str) -> Any:
        client = self.client()
        bucket = client.bucket(name)
        if not bucket.exists():
            bucket = client.create_bucket(name)
        return bucket


@pytest.fixture(scope="session")
def gcs_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcsEmulator]:
    folder = tmp_path_factory.mktemp("gcs-emulator")
    port = free_port()
    proc = _start(
        [
            sys.executable, "-m", "gcp_storage_emulator", "start", "--host", "127.0.0.1",
            "--port", str(port), "--in-memory", "--quiet",
        ],
        port, "gcp-storage-emulator", folder,
    )  # fmt: skip
    try:
        yield GcsEmulator(port)
    finally:
        stop_process_group(proc.pid)


@pytest.fixture
def gcs_env(gcs_emulator: GcsEmulator, monkeypatch: pytest.MonkeyPatch) -> GcsEmulator:
    """The Google credential chain for this test: the emulator (anonymous) alone."""
    for name in GCS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator.host)
    return gcs_emulator
