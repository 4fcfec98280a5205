"""An opt-in digest cache (`aichain fingerprint --cache`): skip re-reading unchanged files.

Off by default, because whoever controls a file can also set its timestamps. A
cached digest is reused only when the file's device, inode, size, modification
time and status-change time (ctime, which no ordinary call can set back) are all
unchanged since it was hashed. The cache lives in AICHAIN_HOME/digests.sqlite3.
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


class DigestCache:
    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30.0)
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise InputError(f"digest cache {path}: {exc}") from None

    def lookup(self, files: Sequence[ListedFile]) -> list[FileDigest | None]:
        """The cached digest of each file whose identity has not changed, else None."""
        out: list[FileDigest | None] = []
        query = "SELECT dev, ino, size, mtime_ns, ctime_ns, digest FROM digests WHERE path = ?"
        for f in files:
            row = self._db.execute(query, (f.path,)).fetchone()
            if row is not None and f.identity != (0, 0, 0, 0):
                dev, ino, size, mtime, ctime, digest = row
                if (dev, ino, mtime, ctime) == f.identity and size == f.size:
                    out.append(FileDigest(digest, size))
                    continue
            out.append(None)
        return out

    def store(self, files: Sequence[ListedFile], digests: Sequence[FileDigest]) -> None:
        rows = [
            (f.path, *f.identity[:2], d.size, *f.identity[2:], d.digest)
            for f, d in zip(files, digests, strict=True)
            if d.size == f.size and f.identity != (0, 0, 0, 0)
        ]
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?, ?, ?, ?)", rows
            )

    def close(self) -> None:
        self._db.close()
