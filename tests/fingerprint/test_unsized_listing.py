"""A folder's files are listed without a stat call each: the directory entry gives the type,
and hashing reads the size of the file it opens. The files, digests and errors are those of
a listing that reads every size (PRODUCT.md P2)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aichain_audit.errors import InputError
from aichain_audit.fingerprint import hashing
from aichain_audit.fingerprint.hashing import FileDigest, HashJob, digest_file, digest_files
from aichain_audit.fingerprint.interface import DatasetFingerprinter
from aichain_audit.fingerprint.paths import LinkPolicy, PathPolicy, list_argument


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    (d / "sub" / "deeper").mkdir(parents=True)
    (d / "a.csv").write_text("x,y\n1,2\n")
    (d / "sub" / "b.bin").write_bytes(bytes(range(256)) * 3)
    (d / "sub" / "deeper" / "c.txt").write_text("")
    (d / "link-to-a").symlink_to(d / "a.csv")
    (d / "link-to-sub").symlink_to(d / "sub")
    os.mkfifo(d / "pipe")
    return d


@pytest.mark.parametrize(
    "policy",
    [
        PathPolicy(LinkPolicy.FOLLOW, skip_special=True),
        PathPolicy(LinkPolicy.SKIP, skip_special=True),
    ],
)
def test_a_listing_without_sizes_finds_the_same_files_links_and_special_files(
    tree: Path, policy: PathPolicy
) -> None:
    sized = list_argument(tree, policy, sizes=True)
    unsized = list_argument(tree, policy)
    assert unsized.skipped == sized.skipped
    assert [(f.name, f.path, f.link) for f in unsized.files] == [
        (f.name, f.path, f.link) for f in sized.files
    ]
    assert all(f.size == os.path.getsize(f.path) for f in sized.files)
    # A size is read only for a file that is itself a link (its target is stat'ed).
    assert all(f.size is None for f in unsized.files if f.link is None)
    assert all(f.size in (None, os.path.getsize(f.path)) for f in unsized.files)
    assert "data/pipe" in {name for name, _ in unsized.skipped}


def test_a_listing_without_sizes_still_refuses_links_and_special_files(tree: Path) -> None:
    with pytest.raises(Exception, match="symbolic link"):
        list_argument(tree, PathPolicy())
    (tree / "link-to-a").unlink()
    (tree / "link-to-sub").unlink()
    with pytest.raises(Exception, match="not a regular file"):
        list_argument(tree, PathPolicy())


def _write_sizes(folder: Path, sizes: list[int]) -> list[Path]:
    paths = []
    for i, n in enumerate(sizes):
        p = folder / f"f{i:03d}"
        p.write_bytes(bytes((i + k) % 251 for k in range(n)))
        paths.append(p)
    return paths


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=40),
    workers=st.sampled_from([1, 2]),
    processes=st.booleans(),
)
@example(sizes=[0, 10, 65, 300, 64, 1, 200], workers=2, processes=True)
@example(sizes=[0, 10, 65, 300, 64, 1, 200], workers=2, processes=False)
@example(sizes=[0, 10, 65, 300, 64, 1, 200], workers=1, processes=False)
def test_files_of_unknown_size_get_the_digests_of_files_of_known_size(
    small_shards: None,
    monkeypatch: pytest.MonkeyPatch,
    sizes: list[int],
    workers: int,
    processes: bool,
) -> None:
    # Shards of 64 bytes: files above that are hashed by their shards, found so when opened.
    monkeypatch.setattr(hashing, "_PROCESS_THRESHOLD", 4 if processes else 10**9)
    with tempfile.TemporaryDirectory() as d:
        paths = _write_sizes(Path(d), sizes)
        known = [HashJob(str(p), p.name, p.stat().st_size) for p in paths]
        unknown = [HashJob(str(p), p.name, None) for p in paths]
        seen: list[int] = []
        got = digest_files(unknown, workers=workers, progress=seen.append)
        assert got == digest_files(known, workers=workers)
        assert got == [digest_file(str(p)) for p in paths]
        assert sum(seen) == sum(sizes)  # each byte counted once, whichever way it was hashed
        for r, n in zip(got, sizes, strict=True):
            assert isinstance(r, FileDigest)
            assert r.digest.startswith("sha256-shards:" if n > 64 else "sha256:")


class _Bar:
    """A progress receiver that can be shown: its total must come before hashing."""

    def __init__(self) -> None:
        self.total = -1
        self.advanced = 0

    def shown(self) -> bool:
        return True

    def start(self, description: str, total: int) -> None:
        self.total = total

    def advance(self, amount: int) -> None:
        self.advanced += amount

    def stop(self) -> None:
        pass


class _PlainBar(_Bar):
    """A receiver without `shown` (it is optional): taken as one that can be shown."""

    shown = None  # type: ignore[assignment]


@pytest.mark.parametrize("bar_type", [_Bar, _PlainBar])
def test_a_progress_bar_that_can_be_shown_gets_every_size_before_hashing(
    tree: Path, bar_type: type[_Bar]
) -> None:
    bar = bar_type()
    policy = PathPolicy(LinkPolicy.SKIP, skip_special=True)
    done = DatasetFingerprinter(policy, progress=bar).fingerprint([tree])
    sizes = [os.path.getsize(tree / p) for p in ("a.csv", "sub/b.bin", "sub/deeper/c.txt")]
    assert bar.total == sum(sizes) == bar.advanced == done.total_bytes
    assert DatasetFingerprinter(policy).fingerprint([tree]) == done


def test_a_large_file_in_a_folder_is_hashed_by_its_shards_on_every_core(
    small_shards: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data").mkdir()
    _write_sizes(tmp_path / "data", [10, 1000, 20])
    pooled: list[bool] = []
    real = hashing._digest_large

    def watched(job: HashJob, pool: object, progress: object) -> object:
        pooled.append(pool is not None)
        return real(job, pool, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(hashing, "_digest_large", watched)
    leaves = DatasetFingerprinter(PathPolicy()).fingerprint([tmp_path / "data"]).leaves
    assert pooled == [hashing.default_workers() > 1]
    big = next(leaf for leaf in leaves if leaf["path"] == "data/f001")
    assert big["digest"] == digest_file(str(tmp_path / "data" / "f001")).digest
    assert str(big["digest"]).startswith("sha256-shards:")


def test_a_path_that_is_not_absolute_and_normal_is_hashed_as_the_file_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small files are opened relative to their folder, cut at the last "/". Jobs carry
    # absolute normal paths; any other path is refused (the opened file's path is read back
    # and differs), never read as another file.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ab").write_bytes(b"outer")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ab").write_bytes(b"inner")
    (tmp_path / "a" / "b").write_bytes(b"b")
    paths = ["ab", f"{tmp_path}//ab", f"{tmp_path}/./a/ab", f"{tmp_path}/a/b", "a/ab"]
    want = [hashlib.sha256(b) for b in (b"outer", b"outer", b"inner", b"b", b"inner")]
    for workers in (1, 2):
        jobs = [HashJob(p, p, None) for p in paths * 40]  # batches of several files each
        got = digest_files(jobs, workers=workers)
        for r, h, p in zip(got, want * 40, paths * 40, strict=True):
            if isinstance(r, FileDigest):
                assert r.digest == "sha256:" + h.hexdigest()
            else:
                assert isinstance(r, InputError), r
                assert p != f"{tmp_path}/a/b", r  # the absolute normal path is hashed
