"""The hashing engine: digests by the SPEC rule, parallel equals serial, bounded reads."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit import merkle
from aichain_audit.errors import InputError
from aichain_audit.fingerprint.hashing import (
    SHARD_SIZE,
    HashJob,
    digest_bytes,
    digest_file,
    digest_files,
)


def expected_digest(data: bytes) -> str:
    """SPEC section 3, written out independently."""
    if len(data) <= SHARD_SIZE:
        return "sha256:" + hashlib.sha256(data).hexdigest()
    shards = [data[i : i + SHARD_SIZE] for i in range(0, len(data), SHARD_SIZE)]
    return "sha256-shards:" + merkle.root([merkle.leaf_hash(s) for s in shards]).hex()


@pytest.mark.parametrize(
    "size", [0, 1, SHARD_SIZE - 1, SHARD_SIZE, SHARD_SIZE + 1, 3 * SHARD_SIZE + 5]
)
def test_file_digest_follows_the_spec_at_every_shard_boundary(tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    d = digest_file(str(p))
    assert d.digest == expected_digest(data) == digest_bytes(data)
    assert d.size == size


def test_parallel_and_serial_hashing_agree_and_keep_order(tmp_path: Path) -> None:
    jobs = []
    for i in range(300):
        p = tmp_path / f"f{i}"
        p.write_bytes(os.urandom(i * 37))
        jobs.append(HashJob(str(p), p.name, i * 37))
    big = tmp_path / "big"
    big.write_bytes(os.urandom(2 * SHARD_SIZE + 3))
    jobs.insert(150, HashJob(str(big), "big", 2 * SHARD_SIZE + 3))
    serial = digest_files(jobs, workers=1)
    parallel = digest_files(jobs, workers=4)
    assert serial == parallel
    for job, result in zip(jobs, parallel, strict=True):
        assert not isinstance(result, InputError)
        assert result.digest == expected_digest(Path(job.path).read_bytes())


def test_progress_reports_every_byte(tmp_path: Path) -> None:
    seen: list[int] = []
    p = tmp_path / "big"
    p.write_bytes(b"x" * (SHARD_SIZE + 10))
    q = tmp_path / "small"
    q.write_bytes(b"y" * 10)
    digest_files(
        [HashJob(str(p), "big", SHARD_SIZE + 10), HashJob(str(q), "small", 10)],
        progress=seen.append,
    )
    assert sum(seen) == SHARD_SIZE + 20


def test_a_file_swapped_for_a_symlink_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("secret")
    link = tmp_path / "link"
    link.symlink_to(target)
    [result] = digest_files([HashJob(str(link), "data/link", 6)])
    assert isinstance(result, InputError)
    assert "symbolic link" in result.message


def test_a_vanished_file_is_an_error_value(tmp_path: Path) -> None:
    [result] = digest_files([HashJob(str(tmp_path / "gone"), "data/gone", 0)])
    assert isinstance(result, InputError)


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=4096), st.integers(min_value=0, max_value=4095), st.integers(1, 255))
def test_any_changed_byte_changes_the_digest(data: bytes, pos: int, flip: int) -> None:
    if not data:
        return
    i = pos % len(data)
    changed = data[:i] + bytes([data[i] ^ flip]) + data[i + 1 :]
    assert digest_bytes(changed) != digest_bytes(data)


def test_many_small_files_hashed_in_processes_match_serial_hashing(tmp_path: Path) -> None:
    jobs = []
    for i in range(4500):  # above the threshold where worker processes take over
        p = tmp_path / f"f{i}"
        p.write_bytes(i.to_bytes(4, "big") * (i % 7))
        jobs.append(HashJob(str(p), p.name, (i % 7) * 4))
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "f1")
    jobs.insert(2000, HashJob(str(link), "data/link", 4))
    seen: list[int] = []
    parallel = digest_files(jobs, workers=2, progress=seen.append)
    serial = digest_files(jobs, workers=1)
    assert [str(r) if isinstance(r, InputError) else r for r in parallel] == [
        str(r) if isinstance(r, InputError) else r for r in serial
    ]
    assert isinstance(parallel[2000], InputError)
    assert "symbolic link" in parallel[2000].message
    assert sum(seen) == sum(job.size for job in jobs)
