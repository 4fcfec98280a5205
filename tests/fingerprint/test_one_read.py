"""One read of an external data file gives its file digest and its tensors' digests: both equal
what two separate passes give (`digest_file`, and hashing each tensor's bytes on its own)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit.errors import InputError
from aichain_audit.fingerprint import hashing
from aichain_audit.fingerprint.hashing import Segment, digest_fd, digest_file


def _two_pass(path: Path, spans: list[tuple[int, int]]) -> tuple[str, list[bytes]]:
    data = path.read_bytes()
    tensors = [hashlib.sha256(b"H" + data[o : o + c]).digest() for o, c in spans]
    return digest_file(str(path)).digest, tensors


def _one_read(path: Path, spans: list[tuple[int, int]]) -> tuple[str, list[bytes]]:
    segments = [Segment(o, c, hashlib.sha256(b"H")) for o, c in spans]
    fd = os.open(path, os.O_RDONLY)
    try:
        d = digest_fd(fd, os.fstat(fd).st_size, str(path), segments)
    finally:
        os.close(fd)
    return d.digest, [s.hasher.digest() for s in segments]


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(0, 300),
    raw_spans=st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), max_size=6),
)
def test_one_read_equals_two_passes(
    tmp_path_factory: pytest.TempPathFactory, size: int, raw_spans: list[tuple[int, int]]
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(hashing, "SHARD_SIZE", 64)
        mp.setattr(hashing, "_CHUNK", 16)
        path = tmp_path_factory.mktemp("one") / "weights.bin"
        path.write_bytes(os.urandom(size))
        # any spans inside the file: overlapping, empty, unordered, crossing shards and blocks
        spans = [(min(o, size), min(c, size - min(o, size))) for o, c in raw_spans]
        assert _one_read(path, spans) == _two_pass(path, spans)


def test_one_read_of_a_real_sized_file(tmp_path: Path) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(os.urandom(hashing.SHARD_SIZE + 3 * hashing._CHUNK + 5))  # sharded
    spans = [(0, 10), (7, hashing.SHARD_SIZE), (hashing.SHARD_SIZE - 1, 2 * hashing._CHUNK)]
    assert _one_read(path, spans) == _two_pass(path, spans)
    assert _one_read(path, [])[0].startswith("sha256-shards:")


def test_a_file_shorter_than_said_is_refused(tmp_path: Path, small_shards: None) -> None:
    path = tmp_path / "weights.bin"
    path.write_bytes(b"x" * 100)
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(InputError, match="shrank"):
            digest_fd(fd, 150, "weights.bin")
        with pytest.raises(ValueError, match="outside"):
            digest_fd(fd, 100, "weights.bin", [Segment(90, 20, hashlib.sha256())])
    finally:
        os.close(fd)


def test_many_small_files_hashed_in_processes_match_one_by_one(tmp_path: Path) -> None:
    jobs = []
    for i in range(hashing._PROCESS_THRESHOLD + 10):
        p = tmp_path / f"f{i}"
        p.write_bytes(os.urandom(i % 97))
        jobs.append(hashing.HashJob(str(p), p.name, i % 97))
    many = hashing.digest_files(jobs, workers=2)
    one = hashing.digest_files(jobs, workers=1)
    assert many == one
    assert all(isinstance(d, hashing.FileDigest) for d in many)
