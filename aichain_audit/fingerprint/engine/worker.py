"""What a distributed engine's worker runs: one batch of (file, byte range), read from storage
by the worker itself, and digests back. Neither bytes nor credentials travel: a batch holds
the listed files (names, URLs or paths, sizes, version pins) and the ranges to hash; the
worker builds its own `Storage` from the storage's kind and the file's location, with its
own credential chain. It imports no engine (`engine.ray` submits it), so it can be tested
and reused without one.

Results are values, one per range: ("ok", hash, bytes hashed); ("size", n, None) when a file whose
size was not listed (a local folder listed without sizes) turned out larger than one shard,
for the driver to split into shards; or (error class, message, hint) when the range could
not be hashed (an unreadable file, an object that changed), so that the driver reports it
as the file's error like the local engine does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from aichain_audit.errors import InputError, PathPolicyError, Unreadable
from aichain_audit.fingerprint.hashing import SHARD_SIZE
from aichain_audit.fingerprint.paths import ListedFile
from aichain_audit.fingerprint.storage.interface import Storage

# (index of the file in the batch, offset, length, leaf): `leaf`, a shard's leaf hash (SPEC
# 3); else the plain SHA-256 of a whole file of at most one shard. Length -1: the file's size
# was not listed, and the worker reads it (`Result` "size" when it is above one shard).
Item = tuple[int, int, int, bool]
Result = tuple[str, Any, Any]
UNSIZED = -1

_storages: dict[tuple[str, str], Storage] = {}  # per worker process: built once per store


def storage_of(kind: str, location: str) -> Storage:
    """The storage a worker reads `location` (a listed file's path or URL) through, built
    on the worker from the kind's name: local files, or object storage from the URL's scheme
    with the worker's own credential chain (`fingerprint.storage.storage_for`)."""
    key = (kind, "") if kind == "local" else (kind, urlsplit(location).netloc)
    storage = _storages.get(key)
    if storage is None:
        if kind == "local":
            from aichain_audit.fingerprint.storage.local import LocalStorage

            storage = LocalStorage()
        else:
            from aichain_audit.fingerprint.storage import storage_for

            storage = storage_for(location)  # a missing extra: its one-line InputError
        _storages[key] = storage
    return storage


def hash_batch(
    kind: str,
    files: Sequence[ListedFile],
    items: Sequence[Item],
    shard_size: int = SHARD_SIZE,
) -> list[Result]:
    """Hashes every range of a batch; one result per item, in order (errors as values).
    `shard_size` is the driver's (SPEC 3's `SHARD_SIZE`; smaller only in tests)."""
    out: list[Result] = []
    for index, offset, length, leaf in items:
        file = files[index]
        try:
            storage = storage_of(kind, file.path)
            if length == UNSIZED:
                size = _local_size(file)
                if size > shard_size:
                    out.append(("size", size, None))
                    continue
                file = ListedFile(file.name, file.path, size, file.link, file.identity, file.pin)
                length = size
            out.append(("ok", storage.hash_range(file, offset, length, leaf=leaf), length))
        except InputError as exc:
            out.append((type(exc).__name__, exc.message, exc.hint))
    return out


def run_batch(batch: Any, *args: Any) -> tuple[bool, Any]:
    """What a Ray task runs: `batch(*args)`, its failure (an exception the batch did not
    expect) returned as a value, (False, "Class: message"), for the driver to retry: Ray
    prints the failures of the tasks it retries itself on the driver's stdout."""
    try:
        return True, batch(*args)
    except Exception as exc:
        lines = [line for line in str(exc).splitlines() if line.strip()]
        return False, f"{type(exc).__name__}: {lines[0].strip() if lines else ''}"[:300]


def _local_size(file: ListedFile) -> int:
    """The size of a local file listed without it, read from the file opened as the local
    engine opens it (so an unreadable one gives the same error)."""
    from aichain_audit.fingerprint import hashing

    fd = hashing._open(file.path, file.name, file.link is not None)
    try:
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


_ERRORS: dict[str, type[InputError]] = {
    cls.__name__: cls for cls in (InputError, Unreadable, PathPolicyError)
}


def error_of(kind: str, message: str, hint: str | None) -> InputError:
    """The error a worker reported, as the local engine would have raised it: its class when
    the driver knows it by name (an unknown subclass becomes an `InputError`)."""
    if kind not in _ERRORS:
        from aichain_audit.fingerprint.storage.schemes import ObjectChanged

        _ERRORS[ObjectChanged.__name__] = ObjectChanged
    return _ERRORS.get(kind, InputError)(message, hint=hint)
