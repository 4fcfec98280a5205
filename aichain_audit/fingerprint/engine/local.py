"""The local engine (the default): this process hashes, with today's threads and processes.

It hands the files to their storage's own `digest` (for local files `hashing.digest_files`,
unchanged), so choosing it costs nothing per file and imports nothing new.
"""

from __future__ import annotations

from collections.abc import Sequence

from aichain_audit.fingerprint.engine.interface import Engine
from aichain_audit.fingerprint.hashing import FileDigest
from aichain_audit.fingerprint.paths import ListedFile
from aichain_audit.fingerprint.storage.interface import Progress, Storage


class LocalEngine(Engine):
    name = "local"

    def digest(
        self,
        storage: Storage,
        files: Sequence[ListedFile],
        *,
        progress: Progress | None = None,
    ) -> list[FileDigest | Exception]:
        return storage.digest(files, progress=progress)

    def close(self) -> None:
        pass
