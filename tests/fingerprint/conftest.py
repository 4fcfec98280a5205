"""Fixtures shared by the fingerprint tests."""

from __future__ import annotations

import pytest

from aichain_audit.fingerprint import hashing


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shards of 64 bytes read in blocks of 16: digests follow the constants, so shrinking
    them exercises shard and block edges cheaply (`digest_fd`'s blocks must not cross a
    shard, so its block size shrinks with the shards)."""
    monkeypatch.setattr(hashing, "SHARD_SIZE", 64)
    monkeypatch.setattr(hashing, "_CHUNK", 16)
    monkeypatch.setattr(hashing, "_PARALLEL_BLOCK", 16)
