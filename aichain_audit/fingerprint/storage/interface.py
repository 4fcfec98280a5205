"""Where an argument's bytes live: one small interface, two kinds (PRODUCT.md §6.3).

- `local` (`fingerprint/storage/local.py`): POSIX files, with every safety rule the tool has always
  applied (no-follow opens, regular files only, `/proc/self/fd` re-checks, bounded reads);
  it lists with `fingerprint.paths.list_argument` and hashes with
  `fingerprint.hashing.digest_files`, unchanged.
- `remote` (`fingerprint/storage/remote.py`): object storage through fsspec, allow-listed (`s3://`,
  `gs://`, `az://`/`abfs://`, `file://`), each scheme's package an optional extra.

A `Location` is what the person running the command named: a local path, or a URL. A
listing is the same `fingerprint.paths.Listing` of `ListedFile`s for both kinds (for an
object: `path` is its URL, `pin` the version every read of it is pinned to), so names are
recorded the same way (SPEC section 4: a prefix is named like a folder), and an uploaded copy
fingerprints to its local original's root. An engine (`aichain_audit.fingerprint.engine`) hashes a
listing's files; `hash_range` is what its workers call, on the machine that reads the bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.paths import ListedFile, Listing, PathPolicy

Location = Path | str  # a local path, or a URL (`fingerprint.storage.is_url`)
Progress = Callable[[int], None]  # bytes just hashed


class Storage(ABC):
    """One kind of storage: how an argument is named, listed, and its files' bytes hashed."""

    kind: str  # "local", "s3", "gs", "az", "file"
    remote: bool  # whether its files are objects named by URL (never opened as local paths)

    @abstractmethod
    def argument_name(self, location: Location) -> str:
        """The name the argument is recorded under (SPEC 4): a file's or object's base name,
        a folder's or prefix's last segment."""

    @abstractmethod
    def listing(
        self, location: Location, policy: PathPolicy, *, identity: bool = False,
        sizes: bool = False,
    ) -> Listing:  # fmt: skip
        """The files the argument stands for (a file or object; a folder or prefix read as a
        folder), named as SPEC section 4 says, each pinned to what was listed."""

    @abstractmethod
    def digest(
        self, files: Sequence[ListedFile], *, progress: Progress | None = None
    ) -> list[FileDigest | Exception]:
        """The digest (SPEC 3) of each listed file, in order, on this machine; a file that
        cannot be read (or changed while read) gives its `InputError` instead."""

    @abstractmethod
    def hash_range(self, file: ListedFile, offset: int, length: int, *, leaf: bool) -> bytes:
        """SHA-256 of `length` bytes of `file` from `offset` (with `leaf`, of 0x00 and them:
        a shard's leaf hash, SPEC 3), read pinned to the listed version: what a worker of a
        distributed engine computes. `InputError` when the file changed or cannot be read."""
