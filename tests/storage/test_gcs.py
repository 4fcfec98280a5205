"""The GCS scheme against gcp-storage-emulator: generation pins, pinned ranged reads, the
credential chain, no secrets.

Objects are written and replaced with google-cloud-storage (the SDK), read through the
scheme (gcsfs's JSON-API filesystem), on the emulator started once per session.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aichain_audit.errors import InputError
from aichain_audit.fingerprint.storage.gcs import GCSScheme, head_object, list_objects
from aichain_audit.fingerprint.storage.schemes import ObjectChanged
from tests.conftest import REPO
from tests.storage import emulators
from tests.storage.emulators import GcsEmulator

# the session's emulator and this test's credential chain (tests/storage/emulators.py)
gcs_emulator, gcs_env = emulators.gcs_emulator, emulators.gcs_env

SCHEME = GCSScheme()
DATA = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes


def new_bucket(emulator: GcsEmulator) -> Any:
    return emulator.bucket(f"t-{uuid.uuid4().hex[:20]}")


def put(bucket: Any, name: str, data: bytes) -> int:
    blob = bucket.blob(name)
    blob.upload_from_string(data, content_type="application/octet-stream")
    return int(blob.generation)


@pytest.fixture
def fs(gcs_env: GcsEmulator) -> Any:
    return SCHEME.filesystem()


# --- the filesystem ------------------------------------------------------------------------
def test_the_filesystem_is_gcsfs_json_api_one_without_the_grpc_bucket_probe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gcsfs exports ExtendedGcsFileSystem, which asks the Storage Control API over gRPC for
    each bucket's type and waits out a timeout on every operation against an emulator."""
    from gcsfs.core import GCSFileSystem

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    monkeypatch.delenv("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", raising=False)
    fs = SCHEME.filesystem()
    assert type(fs) is GCSFileSystem
    assert not hasattr(fs, "_lookup_bucket_type")


# --- listing and reading -------------------------------------------------------------------
def test_a_listing_pins_every_object_to_its_generation(gcs_env: GcsEmulator, fs: Any) -> None:
    bucket = new_bucket(gcs_env)
    generations = {
        f"{bucket.name}/ds/a.bin": put(bucket, "ds/a.bin", b"a"),
        f"{bucket.name}/ds/sub/b.bin": put(bucket, "ds/sub/b.bin", b"bb"),
    }
    found = fs.find(f"{bucket.name}/ds", detail=True)
    assert {name: SCHEME.pin(info) for name, info in found.items()} == {
        name: str(generation) for name, generation in generations.items()
    }


@pytest.mark.parametrize("name", ["plain.bin", "d/with space.bin", "d/ünïcödé.bin", "d/#1?.bin"])
def test_a_pinned_ranged_read_gives_exactly_those_bytes(
    gcs_env: GcsEmulator, fs: Any, name: str
) -> None:
    bucket = new_bucket(gcs_env)
    pin = str(put(bucket, name, DATA))
    path = f"{bucket.name}/{name}"
    assert SCHEME.pin(fs.info(path)) == pin
    assert SCHEME.read(fs, path, pin, 0, len(DATA)) == DATA
    assert SCHEME.read(fs, path, pin, 100, 4100) == DATA[100:4100]
    assert SCHEME.read(fs, path, pin, 7, 7) == b""


FIXTURES_ONCE = [HealthCheck.function_scoped_fixture]  # the environment, set once per test


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES_ONCE)
@given(cuts=st.lists(st.integers(0, len(DATA)), max_size=6))
def test_ranges_read_one_after_another_reassemble_the_object(
    gcs_env: GcsEmulator, fs: Any, cuts: list[int]
) -> None:
    pin = str(put(gcs_env.bucket("ranges"), "blob.bin", DATA))
    bounds = [0, *sorted(cuts), len(DATA)]
    parts = [SCHEME.read(fs, "ranges/blob.bin", pin, a, b) for a, b in itertools.pairwise(bounds)]
    assert b"".join(parts) == DATA


# --- an object that changes ----------------------------------------------------------------
def test_an_object_replaced_after_listing_is_refused(gcs_env: GcsEmulator, fs: Any) -> None:
    bucket = new_bucket(gcs_env)
    pin = str(put(bucket, "m.bin", DATA))
    path = f"{bucket.name}/m.bin"
    assert SCHEME.read(fs, path, pin, 0, 10) == DATA[:10]  # the first range, then a write
    put(bucket, "m.bin", DATA[:10] + b"X" + DATA[11:])
    with pytest.raises(ObjectChanged, match=rf"gs://{bucket.name}/m\.bin changed"):
        SCHEME.read(fs, path, pin, 10, 20)
    with pytest.raises(ObjectChanged):  # the range that did not change is refused too
        SCHEME.read(fs, path, pin, 0, 10)


def test_an_object_written_back_to_its_listed_bytes_is_still_refused(
    gcs_env: GcsEmulator, fs: Any
) -> None:
    """A -> B -> A: the bytes are the listed ones again, but not the listed generation."""
    bucket = new_bucket(gcs_env)
    pin = str(put(bucket, "m.bin", DATA))
    put(bucket, "m.bin", b"B" * len(DATA))
    put(bucket, "m.bin", DATA)
    with pytest.raises(ObjectChanged):
        SCHEME.read(fs, f"{bucket.name}/m.bin", pin, 0, len(DATA))


def test_an_object_deleted_after_listing_is_a_change(gcs_env: GcsEmulator, fs: Any) -> None:
    bucket = new_bucket(gcs_env)
    pin = str(put(bucket, "gone.bin", DATA))
    bucket.blob("gone.bin").delete()
    with pytest.raises(ObjectChanged, match="gone"):
        SCHEME.read(fs, f"{bucket.name}/gone.bin", pin, 0, 10)


def test_an_object_that_never_existed_is_missing_not_changed(gcs_env: GcsEmulator, fs: Any) -> None:
    bucket = new_bucket(gcs_env)
    with pytest.raises(InputError, match=rf"gs://{bucket.name}/nope\.bin does not exist") as e:
        SCHEME.read(fs, f"{bucket.name}/nope.bin", None, 0, 10)
    assert not isinstance(e.value, ObjectChanged)


def test_a_range_past_the_listed_size_is_refused(gcs_env: GcsEmulator, fs: Any) -> None:
    bucket = new_bucket(gcs_env)
    pin = str(put(bucket, "short.bin", b"0123456789"))
    with pytest.raises(ObjectChanged, match="size"):
        SCHEME.read(fs, f"{bucket.name}/short.bin", pin, 5, 20)


# --- the credential chain ------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_google_cloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No emulator, no gcloud login, and a metadata server that refuses at once."""
    for name in ("STORAGE_EMULATOR_HOST", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("GCE_METADATA_IP", f"127.0.0.1:{_closed_port()}")


@pytest.mark.slow  # a fresh interpreter: google.auth reads the metadata server's address once
def test_without_credentials_or_an_emulator_nothing_is_read_anonymously(
    no_google_cloud: None,
) -> None:
    probe = (
        "from aichain_audit.errors import InputError\n"
        "from aichain_audit.fingerprint.storage.gcs import GCSScheme\n"
        "try:\n    GCSScheme().filesystem()\nexcept InputError as e:\n    print(e)\n"
        "else:\n    print('connected')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "GCE_METADATA_DETECT_RETRIES": "1"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.stdout.startswith("gs://: no usable Google Cloud credentials"), done
    assert "GOOGLE_APPLICATION_CREDENTIALS" in done.stdout


def test_a_broken_service_account_key_is_one_line_without_the_secret(
    no_google_cloud: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-TOP-SECRET"
    key = {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "k",
        "private_key": f"-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n",
        "client_email": "sa@p.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    (tmp_path / "key.json").write_text(json.dumps(key))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "key.json"))
    with pytest.raises(InputError) as e:
        SCHEME.filesystem()
    assert secret not in str(e.value) and "\n" not in str(e.value)


# --- URL forms (no server) -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("gs://b/data/train.csv", ("b", "data/train.csv")),
        ("gcs://b/d/", ("b", "d/")),
        ("gs://b", ("b", "")),
        ("gs://b/50%25.bin", ("b", "50%.bin")),
    ],
)
def test_gs_urls_name_bucket_and_key(url: str, path: tuple[str, str]) -> None:
    assert SCHEME.split(url) == path


@pytest.mark.parametrize(
    "url", ["gs:///key", "s3://b/k", "gs:/b/k", "gs://b/k?generation=1", "gs://u@b/k"]
)
def test_urls_that_name_no_bucket_are_refused(url: str) -> None:
    with pytest.raises(InputError):
        SCHEME.split(url)


# --- raw listings (what the remote storage lists a prefix with) ---------------------------
def test_a_raw_listing_gives_every_key_as_stored_with_its_generation(
    gcs_env: GcsEmulator, fs: Any
) -> None:
    bucket = new_bucket(gcs_env)
    gens = {k: put(bucket, k, d) for k, d in {"ds/a.bin": b"a", "ds/": b"", "dsx/z": b"z"}.items()}
    listed = list(list_objects(fs, bucket.name, "ds/"))
    assert listed == [("ds/", 0, str(gens["ds/"])), ("ds/a.bin", 1, str(gens["ds/a.bin"]))]
    assert head_object(fs, bucket.name, "ds/a.bin") == (1, str(gens["ds/a.bin"]))
    assert head_object(fs, bucket.name, "ds") is None  # a prefix, not an object
    assert head_object(fs, bucket.name, "nope") is None


def test_listing_a_bucket_that_does_not_exist_is_an_input_error(
    gcs_env: GcsEmulator, fs: Any
) -> None:
    with pytest.raises(InputError, match="gs://no-such-bucket: no such bucket"):
        list(list_objects(fs, "no-such-bucket", ""))
