"""The parallel hashing engine: many files across threads, a large file across its shards.

Digests name their algorithm (docs/SPEC.md, "Digests"):
- `sha256:<hex>`: SHA-256 of the file's bytes, for files of at most `SHARD_SIZE` bytes;
- `sha256-shards:<hex>`: for larger files, the RFC 9162 Merkle tree hash whose
  leaves are the file's consecutive `SHARD_SIZE`-byte shards (the last one shorter).

`SHARD_SIZE` is a v1 constant: changing it changes digests, so it never changes.
hashlib releases the GIL while hashing large buffers and the kernel reads release
it too, so threads give real parallelism here without the cost of processes.
Memory stays bounded: each worker holds one read buffer of `_CHUNK` bytes.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aichain_audit import merkle
from aichain_audit.errors import InputError, PathPolicyError, Unreadable

SHARD_SIZE = 16 * 1024 * 1024
PLAIN = "sha256"
SHARDED = "sha256-shards"
_CHUNK = 4 * 1024 * 1024
_SMALL_BATCH_BYTES = 8 * 1024 * 1024  # group small files into tasks of about this size
_SMALL_BATCH_FILES = 256
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS |= getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


@dataclass(frozen=True, slots=True)
class FileDigest:
    """The digest of one file's bytes, with the number of bytes hashed."""

    digest: str
    size: int


class _Large(Exception):
    """A file whose size was not read when listed turned out, once opened, to be larger than
    one shard: `digest_files` hashes it by its shards on every core instead."""


_local = threading.local()


def _buffer() -> memoryview:
    buf = getattr(_local, "buf", None)
    if buf is None:
        buf = memoryview(bytearray(_CHUNK))
        _local.buf = buf
    return buf


def _open(path: str, shown: str, follow: bool) -> int:
    """Opens a regular file without following a final symlink (unless `follow`).

    `path` is the file's real path as listed; the opened file must still be there. O_NOFOLLOW
    guards only the last component, so a parent folder swapped for a link after listing is
    caught by comparing the path the kernel reports for the descriptor with `path`.
    """
    fd = _open_raw(path, shown, follow)
    fd, _ = _open_sized(fd, path, shown)
    return fd


def _open_raw(
    path: str, shown: str, follow: bool, *, dir_fd: int | None = None, full: str = ""
) -> int:
    """Opens `path` (relative to `dir_fd` when given; `full` is then the whole path)."""
    flags = _OPEN_FLAGS & ~getattr(os, "O_NOFOLLOW", 0) if follow else _OPEN_FLAGS
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except PermissionError as exc:
        raise Unreadable(f"{shown}: cannot read ({exc.strerror})") from exc
    except OSError as exc:
        if exc.errno == getattr(os, "ELOOP", -1) or os.path.islink(full or path):
            raise PathPolicyError(f"{shown} became a symbolic link while being read") from exc
        raise Unreadable(f"{shown}: cannot open ({exc.strerror})") from exc
    return fd


def _open_sized(fd: int, path: str, shown: str, *, placed: bool = False) -> tuple[int, int]:
    """Checks an open descriptor (a regular file, at `path`); returns it with its size.
    `placed`: opened relative to a checked folder (`_Folder`), so it is where it was listed
    and its path is not read back."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise PathPolicyError(f"{shown} is not a regular file")
    if not placed and _opened_path(fd, path) != path:
        os.close(fd)
        raise PathPolicyError(
            f"{shown}: a folder on its path was replaced by a symbolic link while being read"
        )
    return fd, st.st_size


def _opened_path(fd: int, expected: str) -> str:
    """Where the open file really is: /proc/self/fd on Linux, else the path resolved again."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # pragma: no cover - no /proc (macOS, BSD): resolve again, a narrower race
        return os.path.realpath(expected)


class _Folder:
    """The folder of the files being hashed, open: a file in it is opened relative to it (no
    path walk), and the check that no folder on its path was swapped for a link is made
    once per folder, on the folder, instead of once per file."""

    def __init__(self) -> None:
        self.path = ""
        self.fd = -1

    def of(self, folder: str) -> int | None:
        """An open descriptor of `folder` (that of a file being hashed), checked to be that
        folder; None when it cannot be opened or checked (the file is then opened by its
        whole path, which reports why)."""
        if folder != self.path:
            self.close()
            try:
                fd = os.open(folder, _DIR_FLAGS)
            except OSError:
                return None
            if _opened_path(fd, folder) != folder:
                os.close(fd)
                return None
            self.path, self.fd = folder, fd
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.path, self.fd = "", -1


_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS |= getattr(os, "O_NOFOLLOW", 0)


def _read_small(
    path: str, shown: str, follow: bool, folders: _Folder | None = None, *, sized: bool = True
) -> FileDigest:
    """The plain digest of a file of at most one shard. Unless its size was known (`sized`),
    a larger one raises `_Large` before any byte is read."""
    # A listed path is absolute and normal: its folder is all before the last "/" (cheaper
    # than os.path.dirname and basename, per file). Any other path fails `_Folder.of`'s
    # check (the kernel reports a normal absolute path) and is opened whole.
    cut = path.rfind("/")
    folder = folders.of(path[:cut] or "/") if folders is not None and not follow else None
    if folder is None:
        fd, expected = _open_sized(_open_raw(path, shown, follow), path, shown)
    else:
        # Relative to the checked folder and without following a link: nothing on the way
        # can have been swapped for a link, so the opened path need not be read back.
        fd = _open_raw(path[cut + 1 :], shown, False, dir_fd=folder, full=path)
        fd, expected = _open_sized(fd, path, shown, placed=True)
    if expected > SHARD_SIZE and not sized:
        os.close(fd)
        raise _Large
    try:
        h = hashlib.sha256()
        size = 0
        # Ask for one byte more than fstat reports: a file that has not changed is read by one
        # call sized to it (a 4 MiB request for a 4 KiB file costs an allocation that
        # dominates), and the loop goes on only when the file grew. A read that returns the
        # size fstat gave, and not the byte more it asked for, ended at the end of the file.
        want = min(expected + 1, _CHUNK)
        while True:
            try:
                block = os.read(fd, want)
            except OSError as exc:
                raise Unreadable(f"{shown}: read failed ({exc.strerror})") from exc
            if not block:
                break
            h.update(block)
            size += len(block)
            if size == expected and len(block) < want:
                break  # short of what was asked, at the size fstat gave: the end
            want = min(expected + 1 - size, _CHUNK) if size <= expected else _CHUNK
    finally:
        os.close(fd)
    if size > SHARD_SIZE:
        raise InputError(f"{shown} grew while being hashed; hash it again once it is stable")
    return FileDigest(f"{PLAIN}:{h.hexdigest()}", size)


@dataclass(slots=True)  # not frozen: its __init__ took 3 times as long (20,000 files: 7 ms)
class HashJob:
    """One file to hash: its real path on disk (as listed: no link on the way, the last
    component aside when `follow`), the name shown in messages, its size when listed (None
    when it was not read: the file is then hashed as its size is when opened)."""

    path: str
    shown: str
    size: int | None
    follow: bool = False


Progress = Callable[[int], None]


def _shard_count(size: int) -> int:
    return max(1, -(-size // SHARD_SIZE))


def digest_files(
    jobs: Sequence[HashJob],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[FileDigest | InputError]:
    """Digests of every job, in order; a file that cannot be read gives its error instead.

    The caller decides what an unreadable file means (refuse or skip); policy
    violations found while opening (a file swapped for a link) are errors too.
    `progress` is called with the number of bytes just hashed.
    """
    workers = workers or default_workers()
    results: list[FileDigest | InputError | None] = [None] * len(jobs)
    small: list[int] = []  # at most one shard, or of a size not read when listed
    large: list[int] = []
    for i, job in enumerate(jobs):
        (large if job.size is not None and job.size > SHARD_SIZE else small).append(i)
    late: list[int] = []  # of those, the ones larger than a shard when opened (`_Large`)

    def hash_small_batch(indices: list[int]) -> None:
        folders = _Folder()
        try:
            for i in indices:
                job = jobs[i]
                try:
                    got = results[i] = _read_small(
                        job.path, job.shown, job.follow, folders, sized=job.size is not None
                    )
                except _Large:
                    late.append(i)  # list.append is atomic: batches run on several threads
                    continue
                except InputError as exc:
                    results[i] = exc
                    if progress:  # as if read: a bar's total counts every file listed
                        progress(job.size or 0)
                    continue
                if progress:
                    progress(got.size)
        finally:
            folders.close()

    # Batches of files of about _SMALL_BATCH_BYTES, and at least 8 a thread when there are
    # few files: their sizes may not be known, and one batch must not hold most of the bytes.
    per_batch = max(1, min(_SMALL_BATCH_FILES, len(small) // (workers * 8)))

    def small_batches() -> Iterator[list[int]]:
        batch: list[int] = []
        total = 0
        for i in small:
            batch.append(i)
            total += jobs[i].size or 0
            if total >= _SMALL_BATCH_BYTES or len(batch) >= per_batch:
                yield batch
                batch, total = [], 0
        if batch:
            yield batch

    if workers > 1 and len(small) >= _PROCESS_THRESHOLD and _can_fork():
        # Many small files: per-file Python overhead holds the GIL, so threads do not
        # scale; forked processes do. Large files still go to threads below.
        _hash_small_in_processes(jobs, small, workers, results, progress, late)
        small = []
    if workers == 1 or (len(small) < 64 and not large):
        for batch in small_batches():
            hash_small_batch(batch)
        small = []
    large += late
    late.clear()
    if workers == 1 or not (large or small):
        for i in large:
            results[i] = _digest_large(jobs[i], None, progress)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aichain-hash") as pool:
            futures = [pool.submit(hash_small_batch, b) for b in small_batches()]
            for i in large:
                results[i] = _digest_large(jobs[i], pool, progress)
            for f in futures:
                f.result()
            for i in late:
                results[i] = _digest_large(jobs[i], pool, progress)
    out: list[FileDigest | InputError] = []
    for r in results:
        assert r is not None
        out.append(r)
    return out


_PROCESS_THRESHOLD = 4096


def _can_fork() -> bool:
    # Forking a process that runs other threads (a progress bar) is unsafe; fall back to threads.
    return hasattr(os, "fork") and threading.active_count() == 1


# The jobs of the running `_hash_small_in_processes`, set before its workers fork so that they
# inherit them: sending 20,000 paths to the workers and back cost more than hashing them.
_forked_jobs: Sequence[HashJob] = ()


def _hash_chunk(indices: list[int]) -> list[tuple[str, str, int]]:
    """Runs in a worker process: ("ok", digest, size), ("large", "", 0) for a file to hash
    by its shards (`_Large`) or (error class, message, 0) per file."""
    out: list[tuple[str, str, int]] = []
    folders = _Folder()
    try:
        for i in indices:
            job = _forked_jobs[i]
            try:
                d = _read_small(
                    job.path, job.shown, job.follow, folders, sized=job.size is not None
                )
                out.append(("ok", d.digest, d.size))
            except _Large:
                out.append(("large", "", 0))
            except InputError as exc:
                out.append((type(exc).__name__, exc.message, 0))
    finally:
        folders.close()
    return out


def _hash_small_in_processes(
    jobs: Sequence[HashJob],
    indices: list[int],
    workers: int,
    results: list[FileDigest | InputError | None],
    progress: Progress | None,
    late: list[int],
) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _forked_jobs
    errors = {cls.__name__: cls for cls in (InputError, Unreadable, PathPolicyError)}
    count = max(workers * 8, len(indices) // 2048)
    step = -(-len(indices) // count)
    chunks = [indices[k : k + step] for k in range(0, len(indices), step)]
    ctx = multiprocessing.get_context("fork")
    _forked_jobs = jobs
    try:
        # With "fork", the pool starts its workers at the first submit, after `_forked_jobs`
        # is set; only chunks of indices travel to them.
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            futures = [pool.submit(_hash_chunk, chunk) for chunk in chunks]
            for chunk, future in zip(chunks, futures, strict=True):
                hashed = 0
                for i, (kind, value, size) in zip(chunk, future.result(), strict=True):
                    if kind == "ok":
                        results[i] = FileDigest(value, size)
                        hashed += size
                    elif kind == "large":
                        late.append(i)
                    else:
                        results[i] = errors[kind](value)
                        hashed += jobs[i].size or 0  # as if read (see hash_small_batch)
                if progress:
                    progress(hashed)
    finally:
        _forked_jobs = ()


def _digest_large(
    job: HashJob, pool: ThreadPoolExecutor | None, progress: Progress | None
) -> FileDigest | InputError:
    try:
        fd = _open(job.path, job.shown, job.follow)
    except InputError as exc:
        return exc
    try:
        size = os.fstat(fd).st_size
        if size <= SHARD_SIZE:  # shrank since it was listed
            os.close(fd)
            fd = -1
            return _read_small(job.path, job.shown, job.follow)
        count = _shard_count(size)

        def shard(k: int) -> bytes:
            offset = k * SHARD_SIZE
            length = min(SHARD_SIZE, size - offset)
            # leaf hash of the shard: SHA-256(0x00 || shard bytes)
            h = hashlib.sha256(b"\x00")
            buf = _buffer()
            done = 0
            while done < length:
                want = min(_CHUNK, length - done)
                try:
                    n = os.preadv(fd, [buf[:want]], offset + done)
                except OSError as exc:
                    raise Unreadable(f"{job.shown}: read failed ({exc.strerror})") from exc
                if n == 0:
                    raise InputError(f"{job.shown} shrank while being hashed")
                h.update(buf[:n])
                done += n
            if progress:
                progress(length)
            return h.digest()

        try:
            leaves = (
                list(pool.map(shard, range(count))) if pool else [shard(k) for k in range(count)]
            )
        except InputError as exc:
            return exc
        if os.fstat(fd).st_size != size:
            return InputError(f"{job.shown} changed size while being hashed")
        return FileDigest(f"{SHARDED}:{merkle.root(leaves).hex()}", size)
    finally:
        if fd >= 0:
            os.close(fd)


def digest_file(path: str, *, shown: str | None = None, follow: bool = True) -> FileDigest:
    """The digest of one file (raises on any error)."""
    if follow:
        path = os.path.realpath(path)
    else:
        path = os.path.join(os.path.realpath(os.path.dirname(path) or "."), os.path.basename(path))
    size = os.stat(path).st_size if follow else os.lstat(path).st_size
    [result] = digest_files([HashJob(path, shown or path, size, follow)])
    if isinstance(result, InputError):
        raise result
    return result


def digest_bytes(data: bytes, *, workers: int | None = None) -> str:
    """The digest of in-memory bytes by the same rule as files (shards hashed in parallel)."""
    if len(data) <= SHARD_SIZE:
        return f"{PLAIN}:{hashlib.sha256(data).hexdigest()}"
    mv = memoryview(data)

    def shard(offset: int) -> bytes:
        h = hashlib.sha256(b"\x00")
        h.update(mv[offset : offset + SHARD_SIZE])
        return h.digest()

    offsets = range(0, len(data), SHARD_SIZE)
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        leaves = list(pool.map(shard, offsets))
    return f"{SHARDED}:{merkle.root(leaves).hex()}"


@dataclass(eq=False, slots=True)
class Segment:
    """`count` bytes of a file from `offset` on, fed in order to `hasher` by `digest_fd`."""

    offset: int
    count: int
    hasher: Any


class Stopped(Exception):
    """`digest_parallel` was told to stop before it was done."""


def digest_fd(
    fd: int,
    size: int,
    shown: str,
    segments: Sequence[Segment] = (),
) -> FileDigest:
    """The digest of the first `size` bytes of an open file, and every segment's bytes fed to
    its hasher, from ONE read of the file, on two threads.

    This thread reads the file block by block (each block once, into a reused buffer) and
    feeds the segments that cover it; a second thread hashes the same block into the file
    digest (a plain SHA-256, or the shard leaf hashes) and hands the buffer back. hashlib
    releases the GIL, so the two SHA-256 streams run side by side on two cores; the
    digests are exactly those of `digest_files` and of hashing each segment on its own.
    A file that ends early is an `InputError`, and so is one whose size changes meanwhile.
    """
    import queue

    plain = size <= SHARD_SIZE
    pending = sorted((s for s in segments if s.count > 0), key=lambda s: s.offset)
    for s in pending:
        if s.offset < 0 or s.offset + s.count > size:
            raise ValueError(f"segment at {s.offset} (+{s.count}) lies outside {size} bytes")
    free: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
    full: queue.SimpleQueue[tuple[memoryview, int, int] | None] = queue.SimpleQueue()
    for _ in range(4):
        free.put(memoryview(bytearray(_CHUNK)))
    leaves: list[bytes] = []
    whole = hashlib.sha256()
    failed: list[BaseException] = []

    def file_digest_side() -> None:
        shard = whole
        while (item := full.get()) is not None:
            buf, pos, n = item
            try:
                if plain:
                    whole.update(buf[:n])
                else:
                    if pos % SHARD_SIZE == 0:
                        shard = hashlib.sha256(b"\x00")  # leaf hash of a shard (SPEC 3)
                    shard.update(buf[:n])
                    if (pos + n) % SHARD_SIZE == 0 or pos + n == size:
                        leaves.append(shard.digest())
            except BaseException as exc:  # pragma: no cover - reported by the reading side
                failed.append(exc)
            free.put(buf)

    worker = threading.Thread(target=file_digest_side, name="aichain-hash-file", daemon=True)
    worker.start()
    try:
        active: list[Segment] = []
        nxt = 0
        pos = 0
        while pos < size:
            if failed:  # pragma: no cover - hashlib does not fail
                raise failed[0]
            buf = free.get()
            want = min(_CHUNK, size - pos)
            n = 0
            while n < want:  # whole blocks keep every block inside one shard
                try:
                    got = os.preadv(fd, [buf[n:want]], pos + n)
                except OSError as exc:
                    raise Unreadable(f"{shown}: read failed ({exc.strerror})") from exc
                if got == 0:
                    raise InputError(f"{shown} shrank while being hashed")
                n += got
            end = pos + n
            while nxt < len(pending) and pending[nxt].offset < end:
                active.append(pending[nxt])
                nxt += 1
            for s in active:
                a, b = max(s.offset, pos), min(s.offset + s.count, end)
                if a < b:
                    s.hasher.update(buf[a - pos : b - pos])
            active = [s for s in active if s.offset + s.count > end]
            full.put((buf, pos, n))
            pos = end
    finally:
        full.put(None)
        worker.join()
    if failed:  # pragma: no cover
        raise failed[0]
    if os.fstat(fd).st_size != size:
        raise InputError(f"{shown} changed size while being hashed")
    if plain:
        return FileDigest(f"{PLAIN}:{whole.hexdigest()}", size)
    return FileDigest(f"{SHARDED}:{merkle.root(leaves).hex()}", size)


# Blocks that stay in a core's cache between read and hash (4 MiB ones took 4 % longer here).
_PARALLEL_BLOCK = 1024 * 1024


def _stamp(fd: int, shown: str) -> tuple[int, int, int]:
    try:
        st = os.fstat(fd)
    except OSError as exc:  # pragma: no cover - fstat of an open descriptor
        raise Unreadable(f"{shown}: {exc.strerror}") from exc
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns


def digest_parallel(
    fd: int,
    size: int,
    shown: str,
    segments: Sequence[Segment] = (),
    stop: threading.Event | None = None,
    *,
    workers: int | None = None,
) -> FileDigest:
    """`digest_fd`'s digests, from reads on every core instead of one read.

    Each segment is a job, and so is each piece of the file digest (a 16 MiB shard, or the
    whole file when it has one) that no segment holds whole; a piece a segment holds whole is
    hashed by that segment's job from the same blocks. The jobs, the longest first, are taken
    by `workers` threads (this one among them), each reading its own bytes into its own
    buffer, so no thread waits for another's block: a model's external data file (its digest
    and its tensors') takes less time than openssl's one digest of it (`docs/benchmarks.md`,
    P7). Bytes no segment holds are read twice, so a file whose size, mtime or ctime changes
    while it is read is refused, as one that ends early is.
    """
    import queue

    for s in segments:
        if s.offset < 0 or s.count < 0 or s.offset + s.count > size:
            raise ValueError(f"segment at {s.offset} (+{s.count}) lies outside {size} bytes")
    before = _stamp(fd, shown)
    if before[0] != size:
        raise InputError(f"{shown} changed size while being hashed")
    halt = stop or threading.Event()
    plain = size <= SHARD_SIZE
    shards = 1 if plain else _shard_count(size)
    leaves: list[bytes] = [b""] * shards
    whole = hashlib.sha256()

    def piece(k: int) -> tuple[int, int]:
        return (0, size) if plain else (k * SHARD_SIZE, min((k + 1) * SHARD_SIZE, size))

    def feed(hasher: Any, offset: int, count: int, held: list[int], buf: memoryview) -> None:
        """Feeds `count` bytes from `offset` to `hasher`, and the file digest's pieces `held`
        (all inside that range) to theirs."""
        inner = [(k, *piece(k), whole if plain else hashlib.sha256(b"\x00")) for k in held]
        done = 0
        while done < count:
            if halt.is_set():
                raise Stopped
            pos = offset + done
            try:
                n = os.preadv(fd, [buf[: min(len(buf), count - done)]], pos)
            except OSError as exc:
                raise Unreadable(f"{shown}: read failed ({exc.strerror})") from exc
            if n == 0:
                raise InputError(f"{shown} shrank while being hashed")
            hasher.update(buf[:n])
            for _, a, b, h in inner:
                if a < pos + n and pos < b:
                    h.update(buf[max(a, pos) - pos : min(b, pos + n) - pos])
            done += n
        for k, _, _, h in inner:
            if not plain:
                leaves[k] = h.digest()

    def shard(k: int, buf: memoryview) -> None:
        a, b = piece(k)
        # The leaf hash of a shard (SPEC 3): SHA-256(0x00 || its bytes).
        h = whole if plain else hashlib.sha256(b"\x00")
        feed(h, a, b - a, [], buf)
        if not plain:
            leaves[k] = h.digest()

    held: set[int] = set()
    jobs: list[tuple[int, Callable[[memoryview], None]]] = []
    for seg in segments:
        if not seg.count:
            continue
        end = seg.offset + seg.count
        if plain:
            inside = [0] if seg.offset == 0 and end == size and 0 not in held else []
        else:  # the shards from the first that starts in it to the last that ends in it
            last = shards if end == size else end // SHARD_SIZE
            inside = [k for k in range(-(-seg.offset // SHARD_SIZE), last) if k not in held]
        held.update(inside)
        jobs.append((seg.count, functools.partial(feed, seg.hasher, seg.offset, seg.count, inside)))
    for k in range(shards):
        if k not in held:
            jobs.append((min(SHARD_SIZE, size), functools.partial(shard, k)))
    jobs.sort(key=lambda job: -job[0])  # the longest first: the threads finish together
    todo: queue.SimpleQueue[Callable[[memoryview], None]] = queue.SimpleQueue()
    for _, each in jobs:
        todo.put(each)
    failed: list[BaseException] = []

    def work() -> None:
        buf = memoryview(bytearray(_PARALLEL_BLOCK))
        while not halt.is_set():
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                job(buf)
            except BaseException as exc:
                failed.append(exc)
                halt.set()

    helpers = [
        threading.Thread(target=work, name="aichain-hash", daemon=True)
        for _ in range(max(1, (workers or default_workers())) - 1)
    ]
    for t in helpers:
        t.start()
    try:
        work()
    finally:
        if failed:
            halt.set()
        for t in helpers:
            t.join()
    real = [e for e in failed if not isinstance(e, Stopped)]
    if real:
        raise real[0]
    if failed or (stop is not None and stop.is_set()):
        raise Stopped
    if _stamp(fd, shown) != before:
        raise InputError(f"{shown} changed while being hashed")
    if plain:
        return FileDigest(f"{PLAIN}:{whole.hexdigest()}", size)
    return FileDigest(f"{SHARDED}:{merkle.root(leaves).hex()}", size)
