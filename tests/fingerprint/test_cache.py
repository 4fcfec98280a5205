"""The opt-in digest cache: used only with --cache, and never for a file that changed."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import run_cli

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes


@pytest.fixture
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    for i in range(5):
        (d / f"f{i}.csv").write_text(f"row,{i}\n" * 100)
    return d


def fingerprint(data: Path, home: Path, *flags: str) -> str:
    env_home = {"AICHAIN_HOME": str(home)}
    old = {k: os.environ.get(k) for k in env_home}
    os.environ.update(env_home)
    try:
        proc = run_cli("fingerprint", "--dataset", data, "--json", *flags)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert proc.returncode == 0, proc.stderr
    return str(json.loads(proc.stdout)["root"])


def test_no_cache_is_written_or_read_without_the_flag(data: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    fingerprint(data, home)
    assert not (home / "digests.sqlite3").exists()


def test_cached_digests_are_used_only_with_the_flag(data: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    honest = fingerprint(data, home, "--cache")
    assert fingerprint(data, home, "--cache") == honest
    # Plant a wrong digest for an unchanged file: a run with --cache believes it (which shows
    # the cache is really consulted), a run without it does not.
    with sqlite3.connect(home / "digests.sqlite3") as db:
        db.execute(
            "UPDATE digests SET digest = ? WHERE path LIKE '%f3.csv'", ("sha256:" + "0" * 64,)
        )
    assert fingerprint(data, home, "--cache") != honest
    assert fingerprint(data, home) == honest


def test_a_changed_file_is_rehashed_even_with_its_timestamps_restored(
    data: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    before = fingerprint(data, home, "--cache")
    target = data / "f2.csv"
    st = target.stat()
    raw = bytearray(target.read_bytes())
    raw[0] ^= 1
    target.write_bytes(bytes(raw))  # same size
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back; ctime cannot be
    after = fingerprint(data, home, "--cache")
    assert after != before
    assert after == fingerprint(data, tmp_path / "fresh-home")
