"""Local POSIX files: every safety rule the tool has always applied, behind `Storage`.

Listing is `fingerprint.paths.list_argument` and hashing `fingerprint.hashing.digest_files`,
unchanged (no-follow opens, regular files only, `/proc/self/fd` re-checks, bounded reads);
`hash_range` opens a listed file the same way for an engine's worker.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from aichain_audit.errors import InputError, Unreadable
from aichain_audit.fingerprint import hashing
from aichain_audit.fingerprint.hashing import FileDigest, HashJob, digest_files
from aichain_audit.fingerprint.paths import (
    ListedFile,
    Listing,
    PathPolicy,
    argument_name,
    list_argument,
)
from aichain_audit.fingerprint.storage.interface import Location, Progress, Storage

_BLOCK = 1 << 20


class LocalStorage(Storage):
    kind = "local"
    remote = False

    def argument_name(self, location: Location) -> str:
        return argument_name(Path(location))

    def listing(
        self, location: Location, policy: PathPolicy, *, identity: bool = False,
        sizes: bool = False,
    ) -> Listing:  # fmt: skip
        return list_argument(Path(location), policy, identity=identity, sizes=sizes)

    def digest(
        self, files: Sequence[ListedFile], *, progress: Progress | None = None
    ) -> list[FileDigest | Exception]:
        jobs = [HashJob(f.path, f.name, f.size, f.link is not None) for f in files]
        return list(digest_files(jobs, progress=progress))

    def hash_range(self, file: ListedFile, offset: int, length: int, *, leaf: bool) -> bytes:
        fd = hashing._open(file.path, file.name, file.link is not None)
        try:
            size = os.fstat(fd).st_size
            if file.size is not None and size != file.size:
                raise InputError(f"{file.name} changed size since it was listed")
            if offset < 0 or length < 0 or offset + length > size:
                raise InputError(f"{file.name} is shorter than the range to hash")
            h = hashlib.sha256(b"\x00") if leaf else hashlib.sha256()
            buf = memoryview(bytearray(min(_BLOCK, max(1, length))))
            done = 0
            while done < length:
                want = min(len(buf), length - done)
                try:
                    n = os.preadv(fd, [buf[:want]], offset + done)
                except OSError as exc:
                    raise Unreadable(f"{file.name}: read failed ({exc.strerror})") from exc
                if n == 0:
                    raise InputError(f"{file.name} shrank while being hashed")
                h.update(buf[:n])
                done += n
            return h.digest()
        finally:
            os.close(fd)


class FileUrlStorage(LocalStorage):
    """A `file://` URL: the local path it names, read by `LocalStorage` with every local
    rule (no-follow opens, regular files only, the path policy), recorded as that path
    would be (SPEC section 16)."""

    kind = "file"

    def argument_name(self, location: Location) -> str:
        return super().argument_name(self.path(location))

    def listing(
        self, location: Location, policy: PathPolicy, *, identity: bool = False,
        sizes: bool = False,
    ) -> Listing:  # fmt: skip
        return super().listing(self.path(location), policy, identity=identity, sizes=sizes)

    @staticmethod
    def path(location: Location) -> Path:
        from aichain_audit.fingerprint.storage import url_path

        return url_path(str(location)) if isinstance(location, str) else Path(location)
