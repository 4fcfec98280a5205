"""Which locations are URLs, which URLs are read, and how keys become recorded names: no
store needed (the S3 tests are in test_s3.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from aichain_audit import api
from aichain_audit.errors import InputError, UsageError
from aichain_audit.fingerprint import storage
from aichain_audit.fingerprint.paths import PathPolicy
from aichain_audit.fingerprint.storage import is_url, scheme_of, storage_for
from aichain_audit.fingerprint.storage.remote import relative_name
from aichain_audit.tracking.client import dataset_input
from tests.test_cli import run_main


@pytest.mark.parametrize(
    ("text", "url"),
    [
        ("s3://bucket/key", True),
        ("gs://b/k", True),
        ("simplecache::s3://b/k", True),
        ("data/train.csv", False),
        ("./s3:/x", False),
        ("runs:/abc/model", False),  # an MLflow model URI, not an object URL
        ("/abs/path", False),
    ],
)
def test_a_location_is_a_url_only_with_a_scheme_and_slashes_or_a_chain(
    text: str, url: bool
) -> None:
    assert is_url(text) is url
    assert is_url(Path(text)) is False  # a Path is always local


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/data.csv",
        "https://example.com/model.onnx",
        "simplecache::s3://bucket/data",
        "s3://bucket/a::b",
        "zip://inner.csv::s3://bucket/archive.zip",
        "github://owner:repo@main/data",
        "s3a://bucket/key",
        "memory://x",
        "ftp://host/file",
    ],
)
def test_urls_fsspec_would_open_but_aichain_does_not_are_refused_in_one_line(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(UsageError):
        scheme_of(url)
    assert run_main("fingerprint", "--dataset", url) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aichain: error: ")
    assert "refused" in err[0]


def test_a_url_with_credentials_or_a_query_is_never_shown_with_them() -> None:
    with pytest.raises(UsageError) as caught:
        scheme_of("https://user:hunter2@host/x?sig=topsecret")
    assert "hunter2" not in caught.value.message and "topsecret" not in caught.value.message


@pytest.mark.parametrize("url", ["s3://bucket/data/", "s3://bucket/data/x.csv"])
def test_a_missing_extra_is_one_line_naming_it(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "s3fs", None)  # `import s3fs` fails as if not installed
    monkeypatch.setattr(storage, "_storages", {})
    with pytest.raises(InputError, match=r"pip install 'aichain-audit\[s3\]'"):
        storage_for(url).listing(url, PathPolicy())
    assert run_main("fingerprint", "--dataset", url) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'aichain-audit[s3]'" in err[0]


def test_a_file_url_fingerprints_as_its_local_path(tmp_path: Path) -> None:
    data = tmp_path / "my data"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("a\n1\n")
    (data / "sub" / "b.csv").write_text("b\n2\n")
    local = api.fingerprint(datasets=[data]).manifest.root_hex
    url = "file://" + str(data).replace(" ", "%20")
    assert api.fingerprint(datasets=[url]).manifest.root_hex == local
    assert storage_for(url).kind == "file" and not storage_for(url).remote


def test_a_file_url_keeps_every_local_rule(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x")
    (data / "link").symlink_to(data / "a.csv")
    with pytest.raises(InputError, match="symbolic link"):
        api.fingerprint(datasets=[f"file://{data}"])


@pytest.mark.parametrize("url", ["file://otherhost/x", "file://relative", "file:///x?y=1"])
def test_a_file_url_must_name_a_local_absolute_path(url: str) -> None:
    with pytest.raises(UsageError):
        api.fingerprint(datasets=[url])


@pytest.mark.parametrize(
    ("rel", "name"),
    [
        ("a.csv", "a.csv"),
        ("sub/b.csv", "sub/b.csv"),
        ("caf\u0065\u0301.csv", "caf\u00e9.csv"),  # NFC, as a local name
    ],
)
def test_a_key_becomes_a_recorded_path_by_the_local_rules(rel: str, name: str) -> None:
    assert relative_name(rel, "s3://b/k") == name


@pytest.mark.parametrize("rel", ["a//b", "./a", "a/../b", "a/.", "back\\slash", "x/", "/lead"])
def test_a_key_that_cannot_be_a_path_is_refused(rel: str) -> None:
    with pytest.raises(InputError):
        relative_name(rel, "s3://b/k")


def test_a_dataset_source_recorded_in_mlflow_is_never_an_object_to_fetch() -> None:
    """verify reads a run's dataset input only at a local path: an object URL recorded by
    the producer is reported as not compared, never fetched with the auditor's credentials."""
    for uri in ("s3://bucket/train.csv", "gs://b/train.csv", "az://c/train.csv",
                "abfs://c/train.csv", "https://host/train.csv"):  # fmt: skip
        source = json.dumps({"uri": uri})
        assert dataset_input("train", "abcd1234", "s3", source).local_path is None
        assert dataset_input("train", "abcd1234", "local", source).local_path is None


def test_help_imports_no_object_storage_package() -> None:
    import subprocess

    code = (
        "import sys\n"
        "from aichain_audit.cli import main\n"
        "try:\n    main(['fingerprint', '--help'])\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('fsspec', 's3fs', 'botocore', 'aiobotocore') if m in sys.modules]\n"
        "print(bad)\n"
    )
    pytest.importorskip("s3fs")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[2])  # fmt: skip
    assert out.stdout.strip().splitlines()[-1] == "[]"


test_help_imports_no_object_storage_package = pytest.mark.slow(
    test_help_imports_no_object_storage_package
)
