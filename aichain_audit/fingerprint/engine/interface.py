"""The hashing engine: who hashes a listing's files (PRODUCT.md §6.3).

- `local` (default): this process, with today's threads and processes (`Storage.digest`).
- `ray`: tasks on a Ray cluster (`RAY_ADDRESS`, `--ray-address`, or a private local cluster
  started for the run and stopped after); each task is a batch of (file, byte range) that a
  worker reads from storage itself (`Storage.hash_range`) and returns digests for; the driver
  assembles file digests (SPEC 3) from them. The root never depends on the engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.paths import ListedFile
from aichain_audit.fingerprint.storage.interface import Progress, Storage


class Engine(ABC):
    name: str  # "local", "ray"

    @abstractmethod
    def digest(
        self,
        storage: Storage,
        files: Sequence[ListedFile],
        *,
        progress: Progress | None = None,
    ) -> list[FileDigest | Exception]:
        """The digest of each file of one storage, in order; errors as values (an
        unreadable file gives its `InputError`), as `Storage.digest` gives them."""

    @abstractmethod
    def close(self) -> None:
        """Releases what the engine started (a private cluster); idempotent."""
