"""S3 through moto's real server: an uploaded copy fingerprints to its local original's root,
reads are pinned to the listed version, odd keys are refused, no credential is ever shown."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aichain_audit import api
from aichain_audit.errors import InputError
from aichain_audit.fingerprint import hashing
from aichain_audit.fingerprint.paths import PathPolicy
from aichain_audit.fingerprint.storage import remote, storage_for
from aichain_audit.fingerprint.storage.schemes import ObjectChanged, S3Scheme
from tests.conftest import REPO
from tests.storage.conftest import ACCESS_KEY, S3, SECRET, s3_environment
from tests.verify.test_verify import make_model


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def root_of(*datasets: Path | str) -> str:
    return api.fingerprint(datasets=list(datasets)).manifest.root_hex


DATA = {
    "train.csv": b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * i) for i in range(200)),
    "test.csv": b"a,b\n1,1\n",
    "sub/deeper/notes.txt": b"hello",
    "empty.bin": b"",
    ".hidden": b"dot files count",
}


@pytest.mark.parametrize("versioned", [True, False])
def test_an_uploaded_folder_fingerprints_to_the_local_root(
    s3: S3, tmp_path: Path, versioned: bool
) -> None:
    local = write_tree(tmp_path / "data", DATA)
    bucket = s3.versioned if versioned else s3.unversioned
    s3.upload(local, f"s3://{bucket}/team/data")
    want = root_of(local)
    assert root_of(f"s3://{bucket}/team/data/") == want
    assert root_of(f"s3://{bucket}/team/data") == want  # no object has that key: a prefix
    one = api.fingerprint(datasets=[f"s3://{bucket}/team/data/train.csv"]).manifest
    assert one.root_hex == root_of(local / "train.csv")


def test_objects_larger_than_a_shard_get_the_local_digest(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hashing, "SHARD_SIZE", 64)
    monkeypatch.setattr(hashing, "_CHUNK", 16)
    monkeypatch.setattr(remote, "RANGE", 24)  # shards read in ranges that do not divide them
    sizes = [0, 1, 63, 64, 65, 128, 129, 1000, 4097]
    files = {f"f{n}.bin": os.urandom(n) for n in sizes}
    local = write_tree(tmp_path / "big", files)
    s3.upload(local, f"s3://{s3.unversioned}/big")
    url = f"s3://{s3.unversioned}/big/"
    st_ = storage_for(url)
    listed = st_.listing(url, PathPolicy()).files
    got = {f.name: d for f, d in zip(listed, st_.digest(listed), strict=True)}
    for n in sizes:
        want = hashing.digest_file(str(local / f"f{n}.bin"))
        assert got[f"big/f{n}.bin"] == want, n
    assert root_of(url) == root_of(local)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    tree=st.dictionaries(
        st.lists(st.sampled_from(["a", "b", "c.txt", "é", "d e"]), min_size=1, max_size=3).map(
            "/".join
        ),
        st.binary(max_size=300),
        min_size=1,
        max_size=6,
    )
)
def test_any_small_tree_has_the_same_root_locally_and_in_s3(
    s3: S3, tmp_path_factory: pytest.TempPathFactory, tree: dict[str, bytes]
) -> None:
    # A file and a folder of one name cannot both exist locally: keep the first of them.
    kept: dict[str, bytes] = {}
    for rel, data in sorted(tree.items()):
        parts = rel.split("/")
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if prefixes & kept.keys() or any(k.startswith(rel + "/") for k in kept):
            continue
        kept[rel] = data
    old = hashing.SHARD_SIZE
    hashing.SHARD_SIZE = 100  # objects above it are hashed by their shards
    try:
        local = write_tree(tmp_path_factory.mktemp("tree") / "ds", kept)
        url = f"s3://{s3.unversioned}/{local.parent.name}/ds"
        s3.upload(local, url)
        assert root_of(url) == root_of(local)
    finally:
        hashing.SHARD_SIZE = old


def test_empty_folder_markers_are_skipped(s3: S3, tmp_path: Path) -> None:
    local = write_tree(tmp_path / "data", {"a.csv": b"1", "sub/b.csv": b"2"})
    (local / "empty").mkdir()
    s3.upload(local, f"s3://{s3.unversioned}/data")
    for marker in ("data/", "data/sub/", "data/empty/", "data/empty/deeper/"):
        s3.put_key(s3.unversioned, marker, b"")
    assert root_of(f"s3://{s3.unversioned}/data") == root_of(local)


def test_a_prefix_of_markers_only_is_an_empty_folder(s3: S3) -> None:
    s3.put_key(s3.unversioned, "hollow/", b"")
    s3.put_key(s3.unversioned, "hollow/inner/", b"")
    with pytest.raises(Exception, match="nothing to fingerprint"):
        root_of(f"s3://{s3.unversioned}/hollow/")


@pytest.mark.parametrize(
    ("keys", "why"),
    [
        (["d/a//b"], "empty"),
        (["d/./x"], "'.'"),
        (["d/x/../y"], "'..'"),
        (["d/back\\slash"], "backslash"),
        (["d/notempty/"], "empty"),  # a "marker" holding bytes is no marker
        (["d/caf\u00e9", "d/cafe\u0301"], "NFC"),
    ],
)
def test_keys_that_cannot_be_paths_are_refused(s3: S3, keys: list[str], why: str) -> None:
    for key in keys:
        s3.put_key(s3.unversioned, key, b"x")
    with pytest.raises(InputError, match=why):
        root_of(f"s3://{s3.unversioned}/d/")


def test_an_object_and_a_prefix_of_one_name_are_refused(s3: S3) -> None:
    s3.put(f"s3://{s3.unversioned}/both", b"object")
    s3.put(f"s3://{s3.unversioned}/both/inner", b"prefix")
    with pytest.raises(InputError, match="both an object and a prefix"):
        root_of(f"s3://{s3.unversioned}/both")
    assert root_of(f"s3://{s3.unversioned}/both/")  # the prefix, named as one


def test_a_missing_object_bucket_or_prefix_is_an_input_error(s3: S3) -> None:
    with pytest.raises(InputError, match="no such object or prefix"):
        root_of(f"s3://{s3.unversioned}/nothing/here")
    with pytest.raises(InputError, match="no such bucket"):
        root_of("s3://no-such-bucket-aichain/x/")


# --- pinned reads -------------------------------------------------------------------------
def _after_reads(
    monkeypatch: pytest.MonkeyPatch, actions: dict[int, Callable[[], None]]
) -> list[int]:
    """Runs `actions[n]` right after the n-th pinned read (1-based) of the product's S3
    scheme: the store is changed between two real ranged reads of one object."""
    original = S3Scheme.read
    calls: list[int] = []

    def read(self: S3Scheme, fs: Any, path: str, pin: str | None, start: int, end: int) -> bytes:
        calls.append(start)
        try:
            return original(self, fs, path, pin, start, end)
        finally:
            action = actions.get(len(calls))
            if action is not None:
                action()

    monkeypatch.setattr(S3Scheme, "read", read)
    monkeypatch.setattr(remote, "CONCURRENCY", 1)  # reads in order, one at a time
    return calls


@pytest.fixture
def small_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hashing, "SHARD_SIZE", 64)
    monkeypatch.setattr(remote, "RANGE", 32)


def test_an_object_replaced_while_read_fails_on_an_unversioned_bucket(
    s3: S3, monkeypatch: pytest.MonkeyPatch, small_ranges: None
) -> None:
    url = f"s3://{s3.unversioned}/d/obj.bin"
    s3.put(url, b"A" * 200)
    _after_reads(monkeypatch, {1: lambda: s3.put(url, b"B" * 200)})
    with pytest.raises(ObjectChanged, match="changed while being read"):
        root_of(url)


def test_a_to_b_to_a_while_read_fails_on_an_unversioned_bucket(
    s3: S3, monkeypatch: pytest.MonkeyPatch, small_ranges: None
) -> None:
    """Comparing the first and last ranges would see A both times: every read is pinned."""
    url = f"s3://{s3.unversioned}/d/obj.bin"
    a, b = b"A" * 200, b"B" * 200
    _after_reads(monkeypatch, {1: lambda: s3.put(url, b), 2: lambda: s3.put(url, a)})
    s3.put(url, a)
    with pytest.raises(ObjectChanged):
        root_of(url)


def test_a_versioned_object_is_read_at_the_listed_version_whatever_is_written_meanwhile(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_ranges: None
) -> None:
    url = f"s3://{s3.versioned}/d/obj.bin"
    a = bytes(range(200))
    s3.put(url, a)
    want = root_of(write_tree(tmp_path, {"obj.bin": a}) / "obj.bin")
    _after_reads(monkeypatch, {1: lambda: s3.put(url, b"B" * 200)})
    assert root_of(url) == want  # every range of the version listed, none of the new one


def test_a_versioned_object_whose_version_is_deleted_while_read_fails(
    s3: S3, monkeypatch: pytest.MonkeyPatch, small_ranges: None
) -> None:
    url = f"s3://{s3.versioned}/d/obj.bin"
    s3.put(url, b"A" * 200)
    head = s3.fs.call_s3("head_object", Bucket=s3.versioned, Key="d/obj.bin")

    def delete() -> None:
        s3.fs.call_s3("delete_object", Bucket=s3.versioned, Key="d/obj.bin",
                      VersionId=head["VersionId"])  # fmt: skip

    _after_reads(monkeypatch, {1: delete})
    with pytest.raises(ObjectChanged):
        root_of(url)


# --- the command line ---------------------------------------------------------------------
def run(*args: object, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AICHAIN_", "AWS_"))}
    full.update(env, PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true")
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=cwd, env=full, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def no_secret(*procs: subprocess.CompletedProcess[str]) -> None:
    for proc in procs:
        for text in (proc.stdout, proc.stderr):
            assert SECRET not in text and ACCESS_KEY not in text


@pytest.fixture
def world(s3: S3, tmp_path: Path) -> dict[str, Any]:
    """A model with external data and a dataset, fingerprinted and anchored locally, and
    the same files uploaded to the versioned bucket."""
    work = tmp_path / "work"
    write_tree(work / "data", DATA)
    make_model(work / "model.onnx", external=True)
    env = {**s3_environment(s3.endpoint), "AICHAIN_HOME": str(tmp_path / "home")}
    lineage = work / "lineage.json"
    proc = run("fingerprint", "--model", "model.onnx", "--dataset", "data", "-o", lineage,
               env=env, cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert run("anchor", lineage, env=env, cwd=work).returncode == 0
    base = f"s3://{s3.versioned}/runs/7"
    s3.upload(work / "data", f"{base}/data")
    s3.put(f"{base}/model/model.onnx", (work / "model.onnx").read_bytes())
    s3.put(f"{base}/model/w.bin", (work / "w.bin").read_bytes())
    return {"work": work, "env": env, "lineage": lineage, "base": base, "s3": s3}


@pytest.mark.slow
def test_the_cli_fingerprints_a_model_and_dataset_in_s3_to_the_local_root(
    world: dict[str, Any],
) -> None:
    base, work, env = world["base"], world["work"], world["env"]
    proc = run("fingerprint", "--model", f"{base}/model/model.onnx", "--dataset",
               f"{base}/data", "--json", env=env, cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    local = json.loads(world["lineage"].read_text())
    assert json.loads(proc.stdout)["root"] == local["root"]
    no_secret(proc)


@pytest.mark.slow
def test_verify_of_a_model_in_s3_passes_and_fails_naming_a_changed_object(
    world: dict[str, Any],
) -> None:
    base, work, env, s3 = world["base"], world["work"], world["env"], world["s3"]
    args = ("verify", f"{base}/model/model.onnx", "--lineage", world["lineage"], "--dataset",
            f"{base}/data", "--json")  # fmt: skip
    proc = run(*args, env=env, cwd=work)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0 and doc["verified"], proc.stdout + proc.stderr
    semantic = [c for c in doc["checks"] if c["name"] == "model.semantic"]
    assert "not downloaded" in semantic[0]["detail"]
    weights = bytearray((work / "w.bin").read_bytes())
    weights[0] ^= 1
    s3.put(f"{base}/model/w.bin", bytes(weights))
    s3.put(f"{base}/data/test.csv", b"a,b\n1,2\n")
    proc = run(*args, env=env, cwd=work)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1 and not doc["verified"]
    failed = {(c["name"], c["artifact"]) for c in doc["checks"] if c["status"] == "fail"}
    assert ("model.digest", f"{base}/model/w.bin") in failed
    assert ("dataset", "data/test.csv") in failed
    # explained from a private download: the tensor named, no temporary path shown
    semantic = next(c for c in doc["checks"] if c["name"] == "model.semantic")
    assert semantic["status"] == "fail" and "W" in semantic["detail"]
    assert "aichain-verify-" not in proc.stdout
    no_secret(proc)


@pytest.mark.slow
def test_no_credential_appears_in_any_output_or_error(s3: S3, tmp_path: Path) -> None:
    env = {**s3_environment(s3.endpoint), "AICHAIN_HOME": str(tmp_path / "home")}
    s3.put(f"s3://{s3.unversioned}/d/a.csv", b"1")
    procs = [
        run("fingerprint", "--dataset", f"s3://{s3.unversioned}/d", "--json", env=env,
            cwd=tmp_path),
        run("fingerprint", "--dataset", "s3://no-such-bucket-aichain/d", env=env, cwd=tmp_path),
        run("--debug", "fingerprint", "--dataset", f"s3://{s3.unversioned}/missing", env=env,
            cwd=tmp_path),
        run("fingerprint", "--dataset", f"s3://{s3.unversioned}/d",
            env={**env, "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, cwd=tmp_path),
    ]  # fmt: skip
    assert procs[0].returncode == 0, procs[0].stderr
    for proc in procs[1:]:
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr or "--debug" in str(proc.args)
    assert "could not be reached" in procs[3].stderr
    no_secret(*procs)


def test_the_cache_reuses_an_object_digest_only_at_the_same_version(
    s3: S3, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AICHAIN_HOME", str(tmp_path / "home"))
    for bucket in (s3.versioned, s3.unversioned):
        url = f"s3://{bucket}/c/a.csv"
        s3.put(url, b"first")
        first = api.fingerprint(datasets=[url], cache=True).manifest.root_hex
        db = sqlite3.connect(tmp_path / "home" / "digests.sqlite3")
        pin = db.execute("SELECT pin FROM objects WHERE url = ?", (url,)).fetchone()[0]
        assert pin.startswith("VersionId=" if bucket == s3.versioned else "ETag=")
        with db:  # a planted digest shows whether the cache was read
            db.execute("UPDATE objects SET digest = 'sha256:' || printf('%064d', 0)")
        planted = api.fingerprint(datasets=[url], cache=True).manifest.root_hex
        assert planted != first  # same version and size: the cached digest was used
        assert api.fingerprint(datasets=[url]).manifest.root_hex == first  # off by default
        s3.put(url, b"other")  # a new version (a new ETag): hashed again
        again = api.fingerprint(datasets=[url], cache=True).manifest.root_hex
        assert again == api.fingerprint(datasets=[url]).manifest.root_hex != planted
        db.close()


# --- models -------------------------------------------------------------------------------
def test_a_checkpoint_prefix_fingerprints_and_verifies_in_place(s3: S3, tmp_path: Path) -> None:
    from aichain_audit.verify.findings import CheckStatus
    from aichain_audit.verify.lineage_root import read_manifest
    from aichain_audit.verify.remote_model import check_remote_model
    from tests.fingerprint.safetensors.test_safetensors_folder import checkpoint

    ckpt = checkpoint(tmp_path / "ckpt")
    url = f"s3://{s3.versioned}/models/ckpt"
    s3.upload(ckpt, url)
    local = api.fingerprint(model=ckpt)
    assert api.fingerprint(model=url + "/").manifest.root_hex == local.manifest.root_hex
    lineage = tmp_path / "lineage.json"
    lineage.write_bytes(local.manifest.to_json())
    checked = check_remote_model(url, read_manifest(lineage), url)
    assert all(f.status is CheckStatus.PASS for f in checked.findings), checked.findings
    s3.put(f"{url}/added.txt", b"new")
    checked = check_remote_model(url, read_manifest(lineage), url)
    failed = {(f.name, f.artifact) for f in checked.findings if f.status is CheckStatus.FAIL}
    assert failed == {("model.digest", f"{url}/added.txt")}


def test_onnx_external_data_outside_the_model_prefix_is_refused(s3: S3, tmp_path: Path) -> None:
    import onnx

    make_model(tmp_path / "model.onnx", external=True)
    m = onnx.load_model(str(tmp_path / "model.onnx"), load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../elsewhere/w.bin"
    onnx.save_model(m, str(tmp_path / "evil.onnx"))
    s3.put(f"s3://{s3.unversioned}/m/evil.onnx", (tmp_path / "evil.onnx").read_bytes())
    s3.put(f"s3://{s3.unversioned}/elsewhere/w.bin", (tmp_path / "w.bin").read_bytes())
    with pytest.raises(InputError, match="outside its folder"):
        api.fingerprint(model=f"s3://{s3.unversioned}/m/evil.onnx")


def test_diff_takes_urls(s3: S3, tmp_path: Path) -> None:
    local = write_tree(tmp_path / "data", DATA)
    lineage = tmp_path / "lineage.json"
    lineage.write_bytes(api.fingerprint(datasets=[local]).manifest.to_json())
    url = f"s3://{s3.unversioned}/x/data"
    s3.upload(local, url)
    assert api.diff(lineage, url).empty
    s3.put(f"{url}/test.csv", b"changed")
    changed = api.diff(lineage, url + "/")
    assert [c.item for c in changed.changed] == ["data/test.csv"]
    assert not any("aichain-diff-" in n for n in changed.notes)
