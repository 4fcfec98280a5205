"""Objects in a store, named by URL: listed like a folder, hashed by pinned ranged reads.

Names (docs/SPEC.md section 16): an object is recorded by its key's last segment; a prefix
(`s3://bucket/data/`, or `s3://bucket/data` when no object has that key) like a folder, by
its last segment plus each object's key relative to it, so an uploaded copy of a folder
fingerprints to the folder's own root. Keys are split on `/` and each segment goes through
the same rule as a local name (valid UTF-8, no backslash, NFC; two keys equal after NFC are
refused); a key that cannot be a path (an empty, `.` or `..` segment) is refused; an empty
"folder" marker object (a key ending in `/`, of size 0) is skipped, as an empty local folder
gives no leaf.

Digests are those of SPEC section 3, identical to a local copy's: an object of at most one
shard is hashed whole, a larger one shard by shard (each shard a task of its own, read in
ranges of `RANGE` bytes), on `CONCURRENCY` threads with at most `2 * CONCURRENCY` tasks in
flight, so memory stays under `2 * CONCURRENCY * RANGE` whatever the size of the listing's
objects. Every read is pinned to the listed version (`Scheme.read`): an object that changes
while it is read is an `ObjectChanged` (exit 2), never a digest of mixed versions.
"""

from __future__ import annotations

import hashlib
import posixpath
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from aichain_audit import merkle
from aichain_audit.errors import InputError
from aichain_audit.fingerprint import hashing
from aichain_audit.fingerprint.hashing import PLAIN, SHARDED, FileDigest
from aichain_audit.fingerprint.paths import (
    ListedFile,
    Listing,
    PathPolicy,
    _refuse_collisions,
    manifest_name,
)
from aichain_audit.fingerprint.storage.interface import Location, Progress, Storage
from aichain_audit.fingerprint.storage.schemes import ObjectEntry, Scheme

RANGE = 8 * 1024 * 1024  # bytes of one ranged read (a shard is read as two)
CONCURRENCY = 16  # reads in flight: object stores reward many connections
_BATCH_BYTES = 8 * 1024 * 1024  # small objects are hashed in tasks of about this many bytes
_BATCH_OBJECTS = 64


class RemoteStorage(Storage):
    """Objects of one `Scheme` (S3, GCS, Azure), named by URL."""

    remote = True

    def __init__(self, scheme: Scheme) -> None:
        self.scheme = scheme
        self.kind = scheme.names[0]
        self._fs: Any = None
        self._lock = threading.Lock()

    # --- naming and listing ---------------------------------------------------------------
    @property
    def fs(self) -> Any:
        with self._lock:
            if self._fs is None:
                self._fs = self.scheme.filesystem()
            return self._fs

    def _split(self, location: Location) -> tuple[str, str, str]:
        """(scheme, bucket, key) of a URL of this storage."""
        url = str(location)
        scheme = url.split("://", 1)[0].lower()
        bucket, key = self.scheme.split(url)
        return scheme, bucket, key

    def argument_name(self, location: Location) -> str:
        _, bucket, key = self._split(location)
        last = key.rstrip("/").rsplit("/", 1)[-1] if key.rstrip("/") else bucket
        return _segment(last, str(location))

    def listing(
        self, location: Location, policy: PathPolicy, *, identity: bool = False,
        sizes: bool = False,
    ) -> Listing:  # fmt: skip
        """An object, or a prefix read as a folder (SPEC section 16). `policy` has nothing
        to apply to: a store has no links, special or unreadable-but-listed files."""
        scheme, bucket, key = self._split(location)
        name = self.argument_name(location)
        fs = self.fs
        listing = Listing()
        base = f"{scheme}://{bucket}/"
        if key and not key.endswith("/"):
            single = self.scheme.entry(fs, bucket, key)
            if single is not None:
                # An object and a "folder" of the same name cannot both be one argument.
                if next(iter(self.scheme.entries(fs, bucket, key + "/")), None) is not None:
                    raise InputError(
                        f"{base}{key} is both an object and a prefix ({base}{key}/); name "
                        "one of them (a prefix ends with /)"
                    )
                listing.files.append(ListedFile(name, base + key, single.size, pin=single.pin))
                return listing
            key += "/"
        seen = False
        for entry in self.scheme.entries(fs, bucket, key):
            seen = True
            rel = entry.key[len(key) :] if entry.key.startswith(key) else None
            if rel is None:  # pragma: no cover - a store listing keys outside the prefix
                raise InputError(f"{base}{entry.key}: listed outside {base}{key}")
            if rel == "" or (rel.endswith("/") and entry.size == 0):
                continue  # an empty "folder" marker object (SPEC 16)
            listing.files.append(
                ListedFile(f"{name}/{relative_name(rel, base + entry.key)}", base + entry.key,
                           entry.size, pin=entry.pin)
            )  # fmt: skip
        if not seen and key:  # (an empty bucket, or only markers: an empty folder)
            raise InputError(f"{base}{key.rstrip('/')}: no such object or prefix")
        _refuse_collisions([f.name for f in listing.files])
        return listing

    # --- hashing --------------------------------------------------------------------------
    def _path(self, file: ListedFile) -> str:
        """bucket/key of a listed object (its URL without the scheme)."""
        return file.path.split("://", 1)[1]

    def read(self, file: ListedFile, start: int, end: int) -> bytes:
        """Bytes [start, end) of the listed version of `file`, pinned."""
        return self.scheme.read(self.fs, self._path(file), file.pin, start, end)

    def hash_range(self, file: ListedFile, offset: int, length: int, *, leaf: bool) -> bytes:
        if file.size is None or offset < 0 or length < 0 or offset + length > file.size:
            raise InputError(f"{file.path} is shorter than the range to hash")
        h = hashlib.sha256(b"\x00") if leaf else hashlib.sha256()
        pos = offset
        while pos < offset + length:
            end = min(pos + RANGE, offset + length)
            h.update(self.read(file, pos, end))
            pos = end
        return h.digest()

    def digest(
        self, files: Sequence[ListedFile], *, progress: Progress | None = None
    ) -> list[FileDigest | Exception]:
        """Digests of every object, in order; an object that cannot be read (or changed)
        gives its `InputError`. Small objects are hashed in batches, a large one's shards
        each as a task, `CONCURRENCY` at a time."""
        shard = hashing.SHARD_SIZE  # read at call time: tests make shards small
        results: list[FileDigest | Exception | None] = [None] * len(files)
        leaves: dict[int, list[bytes | None]] = {}

        def small(indices: list[int]) -> None:
            for i in indices:
                f = files[i]
                try:
                    size = f.size or 0
                    digest = self.hash_range(f, 0, size, leaf=False)
                    results[i] = FileDigest(f"{PLAIN}:{digest.hex()}", size)
                except InputError as exc:
                    results[i] = exc
                if progress:
                    progress(f.size or 0)

        def one_shard(i: int, k: int) -> None:
            f = files[i]
            if isinstance(results[i], Exception):
                return  # another shard of it failed: no more reads of it
            size = f.size or 0
            length = min(shard, size - k * shard)
            try:
                leaves[i][k] = self.hash_range(f, k * shard, length, leaf=True)
            except InputError as exc:
                results[i] = exc
            if progress:
                progress(length)

        # Small objects in batches, but at least 8 per reading thread: a read waits on the
        # network, so fewer tasks than threads would leave connections idle.
        smalls = sum(1 for f in files if (f.size or 0) <= shard)
        per_batch = max(1, min(_BATCH_OBJECTS, smalls // (CONCURRENCY * 8)))

        def tasks() -> Iterator[Callable[[], None]]:
            batch: list[int] = []
            total = 0
            for i, f in enumerate(files):
                size = f.size or 0
                if size > shard:
                    leaves[i] = [None] * -(-size // shard)
                    for k in range(len(leaves[i])):
                        yield lambda i=i, k=k: one_shard(i, k)  # type: ignore[misc]
                    continue
                batch.append(i)
                total += size
                if total >= _BATCH_BYTES or len(batch) >= per_batch:
                    yield lambda b=batch: small(b)  # type: ignore[misc]
                    batch, total = [], 0
            if batch:
                yield lambda b=batch: small(b)  # type: ignore[misc]

        run_bounded(tasks(), CONCURRENCY)
        out: list[FileDigest | Exception] = []
        for i, f in enumerate(files):
            got = results[i]
            if got is None:
                parts = leaves[i]
                assert all(p is not None for p in parts)
                root = merkle.root([p for p in parts if p is not None]).hex()
                got = FileDigest(f"{SHARDED}:{root}", f.size or 0)
            out.append(got)
        return out


def run_bounded(tasks: Iterator[Callable[[], None]], workers: int) -> None:
    """Runs every task on `workers` threads, with at most twice as many submitted at once
    (a listing of millions of objects is never turned into millions of futures)."""
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aichain-remote") as pool:
        pending: set[Future[None]] = set()
        for task in tasks:
            if len(pending) >= 2 * workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for d in done:
                    d.result()
            pending.add(pool.submit(task))
        for d in pending:
            d.result()


def _segment(raw: str, where: str) -> str:
    """One key segment as a recorded name (`paths.manifest_name`'s rule), or refused."""
    if raw in ("", ".", ".."):
        raise InputError(f"{where}: a key with an empty, '.' or '..' segment cannot be a path")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: the key is not valid UTF-8") from None
    try:
        return manifest_name(raw)
    except InputError as exc:
        raise InputError(f"{where}: {exc.message}") from None


def relative_name(rel: str, where: str) -> str:
    """A key relative to its prefix as a recorded path: each `/` segment a name (SPEC 16)."""
    if rel.isascii() and "\\" not in rel and "//" not in rel and not rel.endswith("/"):
        parts = rel.split("/")
        if "." not in parts and ".." not in parts and parts[0]:
            return rel
    return "/".join(_segment(part, where) for part in rel.split("/"))


def object_url(prefix_url: str, name: str) -> str:
    """The URL of `name` (a recorded relative path, checked) under an object's prefix."""
    from aichain_audit.lineage import check_relative

    check_relative(name)
    return posixpath.join(prefix_url.rstrip("/") + "/", name)


def parent_url(url: str) -> str:
    """The prefix an object's URL is in (`s3://b/m/model.onnx` -> `s3://b/m`)."""
    return url.rsplit("/", 1)[0]


__all__ = ["CONCURRENCY", "RANGE", "ObjectEntry", "RemoteStorage", "object_url", "parent_url"]
