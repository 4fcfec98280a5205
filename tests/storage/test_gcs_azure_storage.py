"""GCS and Azure through the product's remote storage, end to end, on the real emulators: an
uploaded copy fingerprints to its local original's root (whole and sharded objects), a blob
changed while hashed fails, and `verify az://…` / `verify gs://…` passes, then fails naming
the one object that changed. No credential ever appears in output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aichain_audit import api
from aichain_audit.fingerprint import hashing, storage
from aichain_audit.fingerprint.storage import remote
from aichain_audit.fingerprint.storage.azure import AzureScheme
from aichain_audit.fingerprint.storage.gcs import GCSScheme
from aichain_audit.fingerprint.storage.schemes import ObjectChanged
from tests.conftest import REPO
from tests.storage import emulators
from tests.storage.emulators import AZURE_VARIABLES, AZURITE_KEY, GCS_VARIABLES
from tests.verify.test_verify import make_model

# Every test here takes an emulator through `cloud` (request.getfixturevalue, which the
# fixture-based marking in tests/conftest.py cannot see): all are server tests.
pytestmark = pytest.mark.server

# the session's emulators (tests/storage/emulators.py)
azurite, gcs_emulator = emulators.azurite, emulators.gcs_emulator

DATA = {
    "train.csv": b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(200)),
    "test.csv": b"a,b\n1,1\n",
    "sub/deeper/notes.txt": b"hello",
    "sub/ünï côdé.txt": b"names in NFC",
    "empty.bin": b"",
    ".hidden": b"dot files count",
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def root_of(*datasets: Path | str) -> str:
    return api.fingerprint(datasets=list(datasets)).manifest.root_hex


@dataclass
class Cloud:
    """One store on its emulator: a fresh bucket or container, its URL, writes through the
    cloud's own SDK, and the environment the product (or the CLI) reads it with."""

    scheme: str  # "gs" or "az"
    bucket: str
    env: dict[str, str]
    put: Callable[[str, bytes], None]  # key, bytes
    secret: str | None  # a credential the environment holds, never to be shown

    def url(self, key: str = "") -> str:
        return f"{self.scheme}://{self.bucket}/{key}"

    def upload(self, folder: Path, prefix: str) -> None:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.put(f"{prefix.rstrip('/')}/{path.relative_to(folder).as_posix()}",
                         path.read_bytes())  # fmt: skip


@pytest.fixture(params=["gs", "az"])
def cloud(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    for name in (*AZURE_VARIABLES, *GCS_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(storage, "_storages", {})  # storages built from this environment
    name = f"t-{uuid.uuid4().hex[:16]}"
    if request.param == "gs":
        emulator = request.getfixturevalue("gcs_emulator")
        bucket = emulator.bucket(name)

        def put_gs(key: str, data: bytes) -> None:
            bucket.blob(key).upload_from_string(data)

        env = {"STORAGE_EMULATOR_HOST": emulator.host}
        cloud = Cloud("gs", name, env, put_gs, None)
    else:
        emulator = request.getfixturevalue("azurite")
        box = emulator.container(name)

        def put_az(key: str, data: bytes) -> None:
            box.upload_blob(key, data, overwrite=True)

        env = {"AZURE_STORAGE_CONNECTION_STRING": emulator.connection_string()}
        cloud = Cloud("az", name, env, put_az, AZURITE_KEY)
    for key, value in cloud.env.items():
        monkeypatch.setenv(key, value)
    yield cloud


def test_an_uploaded_folder_fingerprints_to_the_local_root(cloud: Cloud, tmp_path: Path) -> None:
    local = write_tree(tmp_path / "data", DATA)
    cloud.upload(local, "team/data")
    want = root_of(local)
    assert root_of(cloud.url("team/data/")) == want
    assert root_of(cloud.url("team/data")) == want  # no object has that key: a prefix
    assert root_of(cloud.url("team/data/train.csv")) == root_of(local / "train.csv")


@pytest.mark.parametrize("cloud", ["az"], indirect=True)
def test_abfs_urls_read_the_same_blobs_as_az_urls(cloud: Cloud, tmp_path: Path) -> None:
    local = write_tree(tmp_path / "data", DATA)
    cloud.upload(local, "data")
    assert root_of(f"abfs://{cloud.bucket}/data") == root_of(local)
    assert root_of(f"abfs://{cloud.bucket}@devstoreaccount1.dfs.core.windows.net/data") == (
        root_of(local)
    )


def test_objects_larger_than_a_shard_get_the_local_digest(
    cloud: Cloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing, "SHARD_SIZE", 64)
    monkeypatch.setattr(hashing, "_CHUNK", 16)
    monkeypatch.setattr(remote, "RANGE", 24)  # shards read in ranges that do not divide them
    files = {f"f{n}.bin": os.urandom(n) for n in (0, 1, 63, 64, 65, 129, 1000, 4097)}
    local = write_tree(tmp_path / "big", files)
    cloud.upload(local, "big")
    assert root_of(cloud.url("big/")) == root_of(local)


def test_an_object_replaced_between_two_ranged_reads_fails(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A -> B -> A between the first and second range of one object."""
    monkeypatch.setattr(hashing, "SHARD_SIZE", 64)
    monkeypatch.setattr(remote, "RANGE", 32)
    monkeypatch.setattr(remote, "CONCURRENCY", 1)
    cloud.put("d/obj.bin", b"A" * 200)
    cls: Any = GCSScheme if cloud.scheme == "gs" else AzureScheme
    original = cls.read
    reads: list[int] = []

    def read(self: Any, fs: Any, path: str, pin: str | None, start: int, end: int) -> bytes:
        reads.append(start)
        try:
            return original(self, fs, path, pin, start, end)  # type: ignore[no-any-return]
        finally:
            if len(reads) == 1:
                cloud.put("d/obj.bin", b"B" * 200)
                cloud.put("d/obj.bin", b"A" * 200)

    monkeypatch.setattr(cls, "read", read)
    with pytest.raises(ObjectChanged, match=f"{cloud.scheme}://{cloud.bucket}/d/obj.bin"):
        root_of(cloud.url("d/"))


# --- the command line ---------------------------------------------------------------------
def run(*args: object, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AICHAIN_", "AZURE_", "STORAGE_EMULATOR", "GOOGLE_"))
    }  # fmt: skip
    full.update(env, PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true")
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=cwd, env=full, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.slow
def test_verify_passes_then_fails_naming_the_changed_object(cloud: Cloud, tmp_path: Path) -> None:
    work = tmp_path / "work"
    write_tree(work / "data", DATA)
    make_model(work / "model.onnx", external=True)
    env = {**cloud.env, "AICHAIN_HOME": str(tmp_path / "home")}
    lineage = work / "lineage.json"
    made = run("fingerprint", "--model", "model.onnx", "--dataset", "data", "-o", lineage,
               env=env, cwd=work)  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert run("anchor", lineage, env=env, cwd=work).returncode == 0
    cloud.upload(work / "data", "runs/7/data")
    cloud.put("runs/7/model/model.onnx", (work / "model.onnx").read_bytes())
    cloud.put("runs/7/model/w.bin", (work / "w.bin").read_bytes())
    args = ("verify", cloud.url("runs/7/model/model.onnx"), "--lineage", lineage,
            "--dataset", cloud.url("runs/7/data"), "--json")  # fmt: skip
    passed = run(*args, env=env, cwd=work)
    assert passed.returncode == 0 and json.loads(passed.stdout)["verified"], passed.stderr
    cloud.put("runs/7/data/test.csv", b"a,b\n1,2\n")
    failed = run(*args, env=env, cwd=work)
    doc = json.loads(failed.stdout)
    assert failed.returncode == 1 and not doc["verified"]
    bad = {(c["name"], c["artifact"]) for c in doc["checks"] if c["status"] == "fail"}
    assert bad == {("dataset", "data/test.csv")}, doc["checks"]
    for proc in (made, passed, failed):
        assert cloud.secret is None or cloud.secret not in proc.stdout + proc.stderr
