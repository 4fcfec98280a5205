"""The Azure scheme against azurite: ETag pins, pinned ranged reads, URL forms, no secrets.

Blobs are written and replaced with azure-storage-blob (the SDK), read through the scheme
(adlfs and the SDK's conditional download), on the emulator started once per session.
"""

from __future__ import annotations

import itertools
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aichain_audit.errors import InputError, Unreadable
from aichain_audit.fingerprint.storage.azure import (
    AzureScheme,
    configured_account,
    head_blob,
    list_blobs,
)
from aichain_audit.fingerprint.storage.schemes import ObjectChanged
from tests.storage import emulators
from tests.storage.emulators import AZURITE_KEY, Azurite

# the session's emulator and this test's credential chain (tests/storage/emulators.py)
azurite, azure_env = emulators.azurite, emulators.azure_env

SCHEME = AzureScheme()
DATA = bytes(range(256)) * 40 + b"tail"  # 10,244 bytes


def new_container(emulator: Azurite) -> Any:
    return emulator.container(f"t-{uuid.uuid4().hex[:20]}")


def put(container: Any, name: str, data: bytes) -> None:
    container.upload_blob(name, data, overwrite=True)


def listed(fs: Any, prefix: str) -> dict[str, str | None]:
    return {name: SCHEME.pin(info) for name, info in fs.find(prefix, detail=True).items()}


@pytest.fixture
def fs(azure_env: Azurite) -> Any:
    return SCHEME.filesystem()


# --- listing and reading -------------------------------------------------------------------
def test_a_listing_pins_every_blob_to_the_etag_azure_reports(azure_env: Azurite, fs: Any) -> None:
    box = new_container(azure_env)
    put(box, "ds/a.bin", b"a")
    put(box, "ds/sub/b.bin", b"bb")
    pins = listed(fs, f"{box.container_name}/ds")
    assert set(pins) == {f"{box.container_name}/ds/a.bin", f"{box.container_name}/ds/sub/b.bin"}
    for path, pin in pins.items():
        etag = box.get_blob_client(path.split("/", 1)[1]).get_blob_properties().etag
        assert pin is not None and pin.strip('"') == etag.strip('"')


@pytest.mark.parametrize("name", ["plain.bin", "d/with space.bin", "d/ünïcödé.bin", "d/50%.bin"])
def test_a_pinned_ranged_read_gives_exactly_those_bytes(
    azure_env: Azurite, fs: Any, name: str
) -> None:
    box = new_container(azure_env)
    put(box, name, DATA)
    path = f"{box.container_name}/{name}"
    pin = SCHEME.pin(fs.info(path))
    assert SCHEME.read(fs, path, pin, 0, len(DATA)) == DATA
    assert SCHEME.read(fs, path, pin, 100, 4100) == DATA[100:4100]
    assert SCHEME.read(fs, path, pin, 7, 7) == b""


FIXTURES_ONCE = [HealthCheck.function_scoped_fixture]  # the environment, set once per test


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURES_ONCE)
@given(cuts=st.lists(st.integers(0, len(DATA)), max_size=6))
def test_ranges_read_one_after_another_reassemble_the_blob(
    azure_env: Azurite, fs: Any, cuts: list[int]
) -> None:
    box = azure_env.container("ranges")
    put(box, "blob.bin", DATA)
    path = "ranges/blob.bin"
    pin = SCHEME.pin(fs.info(path))
    bounds = [0, *sorted(cuts), len(DATA)]
    parts = [SCHEME.read(fs, path, pin, a, b) for a, b in itertools.pairwise(bounds)]
    assert b"".join(parts) == DATA


# --- a blob that changes -------------------------------------------------------------------
def test_a_blob_replaced_after_listing_is_refused(azure_env: Azurite, fs: Any) -> None:
    box = new_container(azure_env)
    put(box, "m.bin", DATA)
    path = f"{box.container_name}/m.bin"
    pin = SCHEME.pin(fs.info(path))
    assert SCHEME.read(fs, path, pin, 0, 10) == DATA[:10]  # the first range, then a write
    put(box, "m.bin", DATA[:10] + b"X" + DATA[11:])
    with pytest.raises(ObjectChanged, match=rf"az://{box.container_name}/m\.bin changed"):
        SCHEME.read(fs, path, pin, 10, 20)
    with pytest.raises(ObjectChanged):  # the range that did not change is refused too
        SCHEME.read(fs, path, pin, 0, 10)


def test_a_blob_written_back_to_its_listed_bytes_is_still_refused(
    azure_env: Azurite, fs: Any
) -> None:
    """A -> B -> A: the bytes are the listed ones again, but not the listed version."""
    box = new_container(azure_env)
    put(box, "m.bin", DATA)
    path = f"{box.container_name}/m.bin"
    pin = SCHEME.pin(fs.info(path))
    put(box, "m.bin", b"B" * len(DATA))
    put(box, "m.bin", DATA)
    with pytest.raises(ObjectChanged):
        SCHEME.read(fs, path, pin, 0, len(DATA))


def test_a_blob_deleted_after_listing_is_a_change(azure_env: Azurite, fs: Any) -> None:
    box = new_container(azure_env)
    put(box, "gone.bin", DATA)
    path = f"{box.container_name}/gone.bin"
    pin = SCHEME.pin(fs.info(path))
    box.delete_blob("gone.bin")
    with pytest.raises(ObjectChanged, match="gone"):
        SCHEME.read(fs, path, pin, 0, 10)


def test_a_blob_that_never_existed_is_missing_not_changed(azure_env: Azurite, fs: Any) -> None:
    box = new_container(azure_env)
    missing = rf"az://{box.container_name}/nope\.bin does not exist"
    with pytest.raises(InputError, match=missing) as e:
        SCHEME.read(fs, f"{box.container_name}/nope.bin", None, 0, 10)
    assert not isinstance(e.value, ObjectChanged)


def test_a_range_past_the_listed_size_is_refused(azure_env: Azurite, fs: Any) -> None:
    box = new_container(azure_env)
    put(box, "short.bin", b"0123456789")
    path = f"{box.container_name}/short.bin"
    pin = SCHEME.pin(fs.info(path))
    with pytest.raises(ObjectChanged, match="size"):
        SCHEME.read(fs, path, pin, 5, 20)
    with pytest.raises(ObjectChanged, match="size"):
        SCHEME.read(fs, path, pin, 10, 20)


# --- credentials never show ----------------------------------------------------------------
def test_a_wrong_account_key_is_permission_denied_and_never_quoted(
    azure_env: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = new_container(azure_env)
    put(box, "m.bin", DATA)
    secret = "S3cr3tK3y" + "A" * 79 + "=="
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azure_env.connection_string(secret))
    fs = SCHEME.filesystem()
    with pytest.raises(Unreadable) as e:
        SCHEME.read(fs, f"{box.container_name}/m.bin", None, 0, 10)
    assert str(e.value) == f"az://{box.container_name}/m.bin: permission denied"
    assert secret not in str(e.value) and AZURITE_KEY not in str(e.value)


def test_a_bad_sas_token_is_permission_denied_and_never_quoted(
    azure_env: Azurite, monkeypatch: pytest.MonkeyPatch
) -> None:
    box = new_container(azure_env)
    put(box, "m.bin", DATA)
    sig = "sig=Zm9yZ2VkLXNpZ25hdHVyZS1zZWNyZXQ%3D"
    sas = f"sv=2021-08-06&ss=b&srt=sco&sp=rl&se=2099-01-01T00:00:00Z&{sig}"
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        f"BlobEndpoint={azure_env.blob_endpoint};SharedAccessSignature={sas}",
    )
    fs = SCHEME.filesystem()
    with pytest.raises(Unreadable) as e:
        SCHEME.read(fs, f"{box.container_name}/m.bin", None, 0, 10)
    assert str(e.value) == f"az://{box.container_name}/m.bin: permission denied"
    assert "sig=" not in str(e.value) and "Zm9yZ2Vk" not in str(e.value)


def test_an_unusable_connection_string_is_one_line_without_the_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "AccountKey=TopSecretValue;garbage")
    with pytest.raises(InputError) as e:
        SCHEME.filesystem()
    assert "TopSecretValue" not in str(e.value) and "\n" not in str(e.value)
    assert "AZURE_STORAGE_CONNECTION_STRING" in str(e.value)


def test_no_azure_account_at_all_says_which_variables_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InputError, match="AZURE_STORAGE_ACCOUNT_NAME"):
        SCHEME.filesystem()


# --- URL forms (no server) -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("az://box/data/train.csv", ("box", "data/train.csv")),
        ("abfs://box/data/", ("box", "data/")),
        ("az://box", ("box", "")),
        ("az://box/with%20space.bin", ("box", "with space.bin")),
    ],
)
def test_az_and_abfs_urls_name_container_and_blob(url: str, path: tuple[str, str]) -> None:
    assert SCHEME.split(url) == path


def test_the_account_form_is_read_when_it_names_the_configured_account(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "prodacct")
    url = "abfs://box@prodacct.dfs.core.windows.net/data/x.bin"
    assert SCHEME.split(url) == ("box", "data/x.bin")


def test_the_account_form_naming_another_account_is_refused(
    monkeypatch: pytest.MonkeyPatch, azurite: Azurite
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string())
    assert configured_account() == "devstoreaccount1"
    with pytest.raises(InputError, match=r"names account other.*account devstoreaccount1"):
        SCHEME.split("abfs://box@other.dfs.core.windows.net/x.bin")


def test_the_account_form_without_a_configured_account_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT_NAME"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(InputError, match="AZURE_STORAGE_ACCOUNT_NAME=acct"):
        SCHEME.split("abfs://box@acct.dfs.core.windows.net/x.bin")


@pytest.mark.parametrize(
    "url",
    [
        "az:///blob",
        "az://box/x.bin?versionid=1",
        "az://box/x.bin#frag",
        "abfs://box@acct.example.com/x.bin",
        "s3://box/x.bin",
    ],
)
def test_urls_that_are_not_one_blob_or_prefix_are_refused(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT_NAME", "acct")
    with pytest.raises(InputError):
        SCHEME.split(url)


# --- raw listings (what the remote storage lists a prefix with) ---------------------------
def test_a_raw_listing_gives_every_blob_name_as_stored_with_its_pin(
    azure_env: Azurite, fs: Any
) -> None:
    box = new_container(azure_env)
    for name, data in {"ds/a.bin": b"a", "ds/": b"", "ds/x//y.bin": b"yy", "dsx/z": b"z"}.items():
        put(box, name, data)
    listed = list_blobs(fs, box.container_name, "ds/")
    assert [(name, size) for name, size, _ in listed] == [
        ("ds/", 0), ("ds/a.bin", 1), ("ds/x//y.bin", 2)
    ]  # fmt: skip
    pin = listed[1][2]
    assert SCHEME.read(fs, f"{box.container_name}/ds/a.bin", pin, 0, 1) == b"a"
    assert head_blob(fs, box.container_name, "ds/a.bin") == (1, pin)
    assert head_blob(fs, box.container_name, "ds") is None  # a prefix, not a blob
    assert head_blob(fs, box.container_name, "nope") is None


def test_hierarchical_namespace_directories_are_not_listed_as_blobs(
    azure_env: Azurite, fs: Any
) -> None:
    box = new_container(azure_env)
    box.upload_blob("ds/sub", b"", metadata={"hdi_isfolder": "true"})
    put(box, "ds/sub/a.bin", b"a")
    assert [name for name, _, _ in list_blobs(fs, box.container_name, "ds/")] == ["ds/sub/a.bin"]
    assert head_blob(fs, box.container_name, "ds/sub") is None


def test_listing_a_container_that_does_not_exist_is_an_input_error(
    azure_env: Azurite, fs: Any
) -> None:
    with pytest.raises(InputError, match="az://no-such-box: no such container"):
        list_blobs(fs, "no-such-box", "")
