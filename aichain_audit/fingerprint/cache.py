"""An opt-in digest cache (`aichain fingerprint --cache`): skip re-reading unchanged files.

Off by default, because whoever controls a file can also set its timestamps. A
cached digest is reused only when the file's device, inode, size, modification
time and status-change time (ctime, which no ordinary call can set back) are all
unchanged since it was hashed. The cache lives in AICHAIN_HOME/digests.sqlite3.

An object in a store (a URL) is keyed by its URL, the version it was listed at and its
size: the store's version id where it keeps versions, else its ETag (which, for an S3
object uploaded in one part, is an MD5 of its bytes: whoever may write the bucket could
make two objects of one ETag, so on a store without versions the cache trusts its writers).
`verify` never reads the cache.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from aichain_audit.errors import InputError
from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.paths import ListedFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS digests (
    path TEXT NOT NULL, dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (path)
) WITHOUT ROWID
"""
_OBJECTS = """
CREATE TABLE IF NOT EXISTS objects (
    url TEXT NOT NULL, pin TEXT NOT NULL, size INTEGER NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (url)
) WITHOUT ROWID
"""


def _is_object(f: ListedFile) -> bool:
    return f.pin is not None and "://" in f.path


class DigestCache:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0)
            self._db.execute(_SCHEMA)
            self._db.execute(_OBJECTS)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(f"digest cache {path}: {exc}") from None

    def lookup(self, files: Sequence[ListedFile]) -> list[FileDigest | None]:
        """The cached digest of each file whose identity has not changed (of each object
        listed at the same version and size), else None."""
        out: list[FileDigest | None] = []
        query = "SELECT dev, ino, size, mtime_ns, ctime_ns, digest FROM digests WHERE path = ?"
        objects = "SELECT pin, size, digest FROM objects WHERE url = ?"
        for f in files:
            if _is_object(f):
                row = self._db.execute(objects, (f.path,)).fetchone()
                if row is not None and row[0] == f.pin and row[1] == f.size:
                    out.append(FileDigest(row[2], row[1]))
                else:
                    out.append(None)
                continue
            row = self._db.execute(query, (f.path,)).fetchone()
            if row is not None and f.identity != (0, 0, 0, 0):
                dev, ino, size, mtime, ctime, digest = row
                if (dev, ino, mtime, ctime) == f.identity and size == f.size:
                    out.append(FileDigest(digest, size))
                    continue
            out.append(None)
        return out

    def store(self, files: Sequence[ListedFile], digests: Sequence[FileDigest]) -> None:
        pairs = list(zip(files, digests, strict=True))
        rows = [
            (f.path, *f.identity[:2], d.size, *f.identity[2:], d.digest)
            for f, d in pairs
            if not _is_object(f) and d.size == f.size and f.identity != (0, 0, 0, 0)
        ]
        objects = [(f.path, f.pin, d.size, d.digest) for f, d in pairs
                   if _is_object(f) and d.size == f.size]  # fmt: skip
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )
            self._db.executemany("INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?)", objects)

    def close(self) -> None:
        self._db.close()
