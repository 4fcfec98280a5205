"""The Ray engine against a real local Ray cluster (tests/engine/conftest.py): the same
digests, errors and root as the local engine on the same files, retries, and refusals."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aichain_audit.errors import InputError, PathPolicyError, Unreadable, UsageError
from aichain_audit.fingerprint import hashing
from aichain_audit.fingerprint.engine import LocalEngine, open_engine
from aichain_audit.fingerprint.engine import ray as ray_engine_module
from aichain_audit.fingerprint.engine.ray import RayEngine
from aichain_audit.fingerprint.engine.worker import Item, hash_batch
from aichain_audit.fingerprint.interface import DatasetFingerprinter
from aichain_audit.fingerprint.paths import ListedFile, PathPolicy
from aichain_audit.fingerprint.storage.local import LocalStorage
from aichain_audit.lineage import LineageManifest
from tests.conftest import REPO, assert_one_line_error, run_cli
from tests.storage.conftest import S3

pytestmark = pytest.mark.server  # a Ray cluster: not in `make test-fast`

SMALL_SHARD = 1024


def _write_tree(root: Path, files: dict[str, bytes]) -> Path:
    data = root / "data"
    for name, content in files.items():
        path = data / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return data


def _root_and_leaves(
    data: Path, engine: Any, policy: PathPolicy = PathPolicy()
) -> tuple[str, list[Any]]:
    leaves = DatasetFingerprinter(policy, engine=engine).fingerprint([data]).leaves
    return LineageManifest.build(leaves).root_hex, leaves


names = st.lists(
    st.sampled_from(["a", "b", "c/d", "c/e", "f/g/h", "é", "z.bin"]), unique=True, min_size=1
)
sizes = st.sampled_from(
    [0, 1, SMALL_SHARD - 1, SMALL_SHARD, SMALL_SHARD + 1, 3000, 5 * SMALL_SHARD]
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=names.flatmap(lambda ns: st.fixed_dictionaries({n: sizes for n in ns})))
def test_the_root_is_the_same_for_the_local_and_the_ray_engine(
    ray_engine: RayEngine, tree: dict[str, int]
) -> None:
    # Shards of 1 KiB (in the driver and, through the task, in the workers) so small trees
    # hold files of several shards; every file's digest, and so the root, must agree.
    with tempfile.TemporaryDirectory() as tmp, pytest.MonkeyPatch.context() as mp:
        mp.setattr(hashing, "SHARD_SIZE", SMALL_SHARD)
        mp.setattr(ray_engine_module, "SHARD_SIZE", SMALL_SHARD)
        data = _write_tree(Path(tmp), {n: os.urandom(s) for n, s in tree.items()})
        local = _root_and_leaves(data, LocalEngine())
        assert _root_and_leaves(data, ray_engine) == local
        # Sizes listed (as with a progress bar) or read by the workers: the same digests.
        storage = LocalStorage()
        listed = storage.listing(data, PathPolicy(), sizes=True).files
        assert ray_engine.digest(storage, listed) == LocalEngine().digest(storage, listed)


def test_files_above_the_shard_size_get_the_same_digest_on_ray(
    ray_engine: RayEngine, tmp_path: Path
) -> None:
    size = 2 * hashing.SHARD_SIZE + 12345  # three real 16 MiB shards, the last one short
    data = _write_tree(tmp_path, {"big.bin": os.urandom(size), "small": b"x"})
    root, leaves = _root_and_leaves(data, ray_engine)
    assert (root, leaves) == _root_and_leaves(data, LocalEngine())
    assert leaves[0]["digest"].startswith("sha256-shards:")


class _RemoveOnStart:
    """A progress receiver that removes a file once the listing is done and before hashing
    starts: a file that cannot be opened when read, whichever engine reads it."""

    def __init__(self, victim: Path) -> None:
        self.victim = victim

    def start(self, description: str, total: int) -> None:
        self.victim.unlink()

    def advance(self, amount: int) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.mark.parametrize("make_engine", ["local", "ray"])
def test_an_unreadable_file_is_the_same_error_or_skip_on_both_engines(
    ray_engine: RayEngine, tmp_path: Path, make_engine: str
) -> None:
    engine = LocalEngine() if make_engine == "local" else ray_engine
    data = _write_tree(tmp_path, {"ok.csv": b"1", "gone.csv": b"2"})
    with pytest.raises(Unreadable) as refused:
        DatasetFingerprinter(progress=_RemoveOnStart(data / "gone.csv"), engine=engine).fingerprint(
            [data]
        )
    assert "data/gone.csv" in refused.value.message
    assert refused.value.hint == "skip_unreadable"
    (data / "gone.csv").write_bytes(b"2")
    skipping = PathPolicy(skip_unreadable=True)
    got = DatasetFingerprinter(
        skipping, progress=_RemoveOnStart(data / "gone.csv"), engine=engine
    ).fingerprint([data])
    assert {"kind": "skipped", "path": "data/gone.csv", "reason": "unreadable"} in got.leaves
    assert [leaf["path"] for leaf in got.leaves if leaf["kind"] == "dataset"] == ["data/ok.csv"]


def test_errors_from_ray_workers_keep_their_class_and_message(
    ray_engine: RayEngine, tmp_path: Path
) -> None:
    data = _write_tree(tmp_path, {"a": b"1", "b": b"22", "link": b""})
    storage = LocalStorage()
    listed = storage.listing(data, PathPolicy(), sizes=True).files
    (data / "a").unlink()  # gone: Unreadable
    (data / "link").unlink()
    (data / "link").symlink_to(data / "b")  # swapped for a link: PathPolicyError
    local = LocalEngine().digest(storage, listed)
    remote = ray_engine.digest(storage, listed)
    assert [type(r) for r in remote] == [type(r) for r in local]
    assert [type(r) for r in remote] == [Unreadable, hashing.FileDigest, PathPolicyError]
    assert [str(r) for r in remote[::2]] == [str(r) for r in local[::2]]


def _fail_first(marker: Path, *, always: bool = False) -> Callable[..., list[Any]]:
    """A batch function that raises on its first call (each call after it too, with
    `always`): a task failure in a real worker, seen by the driver through Ray."""

    def batch(kind: str, files: Sequence[ListedFile], items: Sequence[Item], shard: int) -> Any:
        if always or not marker.exists():
            marker.touch()
            raise RuntimeError("injected failure of this task")
        return hash_batch(kind, files, items, shard)

    return batch


def test_a_task_that_fails_once_is_retried(
    ray_engine: RayEngine, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = _write_tree(tmp_path, {"a": b"1", "b": os.urandom(5000)})
    before = ray_engine.tasks
    expected = _root_and_leaves(data, ray_engine)
    tasks = ray_engine.tasks - before
    engine = RayEngine(batch=_fail_first(tmp_path / "failed-once"))  # the session's connection
    try:
        assert _root_and_leaves(data, engine) == expected == _root_and_leaves(data, LocalEngine())
    finally:
        engine.close()
    assert (tmp_path / "failed-once").exists()
    assert engine.tasks == tasks + 1  # the task that failed, once more
    time.sleep(1)  # Ray prints a retried task's failure from a thread: none may come
    assert "injected" not in capfd.readouterr().out


def test_a_task_that_keeps_failing_is_each_files_error_not_a_skip(
    ray_engine: RayEngine, tmp_path: Path
) -> None:
    data = _write_tree(tmp_path, {"a": b"1"})
    engine = RayEngine(batch=_fail_first(tmp_path / "failed", always=True), retries=1)
    storage = LocalStorage()
    listed = storage.listing(data, PathPolicy()).files
    try:
        [result] = engine.digest(storage, listed)
        with pytest.raises(InputError) as refused:
            DatasetFingerprinter(PathPolicy(skip_unreadable=True), engine=engine).fingerprint(
                [data]
            )
    finally:
        engine.close()
    assert type(result) is InputError
    assert "data/a: hashing on the Ray cluster failed 2 times" in str(result)
    assert "injected failure of this task" in str(result)
    assert "injected" in refused.value.message


def test_local_paths_are_refused_on_a_cluster_on_another_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _write_tree(tmp_path, {"a": b"1"})
    storage = LocalStorage()
    listed = storage.listing(data, PathPolicy()).files
    engine = RayEngine(address="ray://user:secret@192.0.2.1:10001")  # TEST-NET-1: nobody

    def connect() -> None:
        raise AssertionError("a connection was tried before the local path was refused")

    monkeypatch.setattr(engine, "_connect", connect)  # refused before any connection is tried
    with pytest.raises(UsageError) as refused:
        engine.digest(storage, listed)
    assert "local path" in refused.value.message
    assert "ray://192.0.2.1:10001" in refused.value.message
    assert "secret" not in refused.value.message and "user" not in refused.value.message


def test_local_paths_are_accepted_on_a_cluster_whose_nodes_are_all_here(
    ray_engine: RayEngine, tmp_path: Path
) -> None:
    data = _write_tree(tmp_path, {"a": b"1"})
    storage = LocalStorage()
    ray_engine._all_nodes_here = None  # checked again, on the session cluster's nodes
    assert ray_engine.digest(storage, storage.listing(data, PathPolicy()).files)
    assert ray_engine._all_nodes_here is True


def test_the_engine_options_are_checked_before_anything_runs() -> None:
    with pytest.raises(UsageError, match="--ray-address is for --engine ray"):
        open_engine("local", ray_address="127.0.0.1:6379")
    with pytest.raises(UsageError, match="unknown engine 'spark'"):
        open_engine("spark")
    assert isinstance(open_engine("local"), LocalEngine)


@pytest.mark.slow  # the CLI in a process that starts (and must stop) its own cluster
def test_without_an_address_a_private_cluster_is_started_and_stopped(
    ray_cluster: str, short_tmp: Path, s3: S3
) -> None:
    # One private cluster (the costly part) checks three things: it is started and stopped
    # for the run without joining the session's, its stderr stays ours, and its workers read
    # S3 objects themselves, with the credential chain of the machine (the environment the
    # cluster was started with: nothing is shipped in the job), to the local copy's root.
    data = _write_tree(short_tmp, {"a": b"1", "b/c": os.urandom(3000)})
    url = f"s3://{s3.unversioned}/{data.name}"
    s3.upload(data, url)
    env = {**os.environ, "RAY_TMPDIR": str(short_tmp / "ray")}
    env.pop("RAY_ADDRESS", None)  # a cluster runs on this machine (the session's): not joined
    env.pop("RAY_AUTH_MODE", None)  # Ray's defaults, as a user has them
    out = short_tmp / "ray.json"
    proc = subprocess.run(
        [sys.executable, "-m", "aichain_audit", "fingerprint", "--dataset", url,
         "--engine", "ray", "-o", str(out)],
        env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=600,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # Ray's logs stay off stderr
    assert (short_tmp / "ray").is_dir()  # it started its own cluster there...
    assert not _processes_mentioning(str(short_tmp / "ray"))  # ...and stopped it
    local = run_cli("fingerprint", "--dataset", data, "-o", short_tmp / "local.json")
    assert local.returncode == 0, local.stderr
    assert out.read_text() == (short_tmp / "local.json").read_text()


def _processes_mentioning(text: str, wait: float = 15.0) -> list[int]:
    """Processes whose command line holds `text`, after up to `wait` s for them to end."""
    deadline = time.monotonic() + wait
    while True:
        found = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if text.encode() in cmdline.read_bytes():
                    found.append(int(cmdline.parent.name))
            except OSError:
                continue
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@pytest.mark.slow  # the CLI in a process
def test_a_broken_ray_install_is_a_one_line_error_naming_the_extra(tmp_path: Path) -> None:
    fake = tmp_path / "site" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('no ray here')\n")
    data = _write_tree(tmp_path, {"a": b"1"})
    proc = subprocess.run(
        [sys.executable, "-m", "aichain_audit", "fingerprint", "--dataset", str(data),
         "--engine", "ray"],
        env={**os.environ, "PYTHONPATH": f"{tmp_path / 'site'}:{REPO}"}, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    line = assert_one_line_error(proc)
    assert "aichain-audit[ray]" in line
