"""The Ray engine: a listing's files hashed as tasks on a Ray cluster (PRODUCT.md §6.3).

- Where: the cluster at `address` (`--ray-address`, else `RAY_ADDRESS`), or, when neither is
  set, a private local cluster started for the run (`ray.init(address="local")`: a cluster
  that happens to run on the machine is never joined), without a dashboard, its logs kept
  off stderr, and stopped by `close`.
- What travels: a task is a batch of (file, byte range) worth about `TASK_BYTES` of reading
  (one `SHARD_SIZE` shard is one range; small files are batched); the worker reads storage
  itself (`engine.worker.hash_batch`, `Storage.hash_range` pinned to the listed version) and
  returns digests: leaf hashes of shards, or the plain SHA-256 of a file of at most one shard.
  The driver assembles each file's digest exactly as SPEC 3 says, so the root never depends
  on the engine. Nothing in a task is a credential, and no runtime environment is sent:
  workers read storage with their own credential chain.
- How much: at most `IN_FLIGHT_PER_CPU` tasks per CPU of the cluster are in flight (`ray.wait`);
  a task that fails (a worker that dies, an exception it did not expect) is retried
  `RETRIES` times by Ray, then each of its files gets that failure as its error. A file the
  worker could not read gives its own error, as with the local engine (errors as values:
  `--skip-unreadable` records an unreadable one as skipped).
- Local paths name this machine's files: on a cluster with a node on another machine they are
  refused, before any task runs.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aichain_audit import merkle
from aichain_audit.errors import InputError, UsageError
from aichain_audit.fingerprint.engine import worker
from aichain_audit.fingerprint.engine.interface import Engine
from aichain_audit.fingerprint.hashing import PLAIN, SHARD_SIZE, SHARDED, FileDigest
from aichain_audit.fingerprint.paths import ListedFile
from aichain_audit.fingerprint.storage.interface import Progress, Storage

TASK_BYTES = 32 * 1024 * 1024  # two shards, or many small files: tens of MiB of reading
TASK_FILES = 512  # small files in one task at most (sizes may not be listed)
IN_FLIGHT_PER_CPU = 2
RETRIES = 2  # attempts after the first, for a task that failed (not for an unreadable file)
_PRIVATE_OBJECT_STORE = 128 * 1024 * 1024  # results are digests: the store stays small
# How long the raylet of a private cluster waits for Ray's own agents: on a loaded machine
# they start slower than Ray's default wait (measured here: over 15 s at a load of 10).
_PRIVATE_PATIENCE = {
    "RAY_raylet_start_wait_time_s": "120",
    "RAY_agent_register_timeout_ms": "120000",
}

BatchFunction = Callable[[str, Sequence[ListedFile], Sequence[worker.Item], int], list[Any]]


@dataclass(slots=True)
class _Task:
    files: list[int]  # indices into the listing
    items: list[worker.Item]  # file index into `files`, offset, length, leaf
    shards: list[int]  # per item: the shard's number, or -1 for a whole file
    nbytes: int = 0
    attempts: int = 0


@dataclass(slots=True)
class _File:
    """What the driver knows of one file while its ranges are hashed."""

    size: int | None
    leaves: list[bytes] = field(default_factory=list)
    pending: int = 0
    digest: FileDigest | None = None
    error: Exception | None = None


class RayEngine(Engine):
    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        batch: BatchFunction | None = None,
        task_bytes: int = TASK_BYTES,
        retries: int = RETRIES,
    ) -> None:
        """`address`: the cluster's (None: `RAY_ADDRESS`, else a private local cluster).
        `batch`: what a task runs (tests give a failing one to see retries)."""
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.task_bytes = task_bytes
        self.retries = retries
        self._batch: BatchFunction = batch or worker.hash_batch
        self._ray: Any = None  # the ray module, once connected
        self._remote: Any = None
        self._shutdown = False  # whether `close` disconnects (we connected)
        self._cpus = 1
        self._all_nodes_here: bool | None = None
        self.private = False  # a private local cluster was started for the run
        self.startup_seconds: float | None = None  # connecting, or starting the cluster
        self.tasks = 0  # tasks submitted (retries by Ray not counted)

    # --- the cluster ---------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._ray is not None:
            return self._ray
        try:
            import ray
        except ImportError:
            raise UsageError(
                "--engine ray needs Ray, which is not installed: pip install 'aichain-audit[ray]'"
            ) from None
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no prompt, no report
        started = time.perf_counter()
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
        if ray.is_initialized():
            pass  # the caller's own connection (a script that runs Ray): used, left open
        elif self.address is None:
            for name, value in _PRIVATE_PATIENCE.items():
                os.environ.setdefault(name, value)  # read by the raylet this starts
            try:
                ray.init(
                    address="local",
                    include_dashboard=False,
                    object_store_memory=_PRIVATE_OBJECT_STORE,
                    **quiet,
                )
            except Exception as exc:  # Ray raises plain Exception when a node fails to start
                with contextlib.suppress(Exception):
                    ray.shutdown()
                raise InputError(
                    f"could not start a private Ray cluster: {_first_line(exc)}"
                ) from None
            self.private = self._shutdown = True
        else:
            try:
                ray.init(address=self.address, **quiet)
            except Exception as exc:  # ConnectionError, ValueError, RuntimeError...
                raise InputError(
                    f"cannot connect to the Ray cluster at {_shown(self.address)}: "
                    f"{_first_line(exc)}"
                ) from None
            self._shutdown = True
        self.startup_seconds = time.perf_counter() - started
        resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]
        self._cpus = max(1, int(resources.get("CPU", 1)))
        # A task's own failures come back as values and are retried here (`digest`); Ray
        # retries only a worker that died (`max_retries`), and prints nothing for either.
        self._remote = ray.remote(worker.run_batch).options(
            num_cpus=1, max_retries=self.retries, retry_exceptions=False
        )
        self._ray = ray
        return ray

    def close(self) -> None:
        if self._ray is not None and self._shutdown:
            self._ray.shutdown()  # stops a private cluster; disconnects from another
        self._ray = self._remote = None
        self._shutdown = False

    def _refuse_local_paths(self, files: Sequence[ListedFile]) -> None:
        """Local paths name this machine's files: a cluster with a node elsewhere would read
        another machine's files (or none) under the same names. Checked on the address
        before connecting, then on the nodes of the cluster."""
        if not files:
            return
        here = _this_machine()
        host = None if self.address is None else _host(self.address)
        if host is not None and not _is_here(host, here):
            raise UsageError(
                f"{files[0].name} is a local path, and the Ray cluster at "
                f"{_shown(self.address or '')} is on another machine: give object URLs "
                "(s3://, gs://, az://) for a remote cluster, or use --engine local"
            )
        ray = self._connect()
        if self.private:
            return
        if self._all_nodes_here is None:
            here |= {ray.util.get_node_ip_address()}
            away = [
                str(node.get("NodeManagerAddress"))
                for node in ray.nodes()
                if node.get("Alive") and not _is_here(str(node.get("NodeManagerAddress")), here)
            ]
            self._all_nodes_here = not away
        if not self._all_nodes_here:
            raise UsageError(
                f"{files[0].name} is a local path, and the Ray cluster "
                f"{_shown(self.address or 'auto')} has nodes on other machines: give object "
                "URLs (s3://, gs://, az://), or use --engine local"
            )

    # --- hashing ---------------------------------------------------------------------------
    def digest(
        self,
        storage: Storage,
        files: Sequence[ListedFile],
        *,
        progress: Progress | None = None,
    ) -> list[FileDigest | Exception]:
        if not files:
            return []
        if not storage.remote:
            self._refuse_local_paths(files)
        ray = self._connect()
        state = [_File(f.size) for f in files]
        todo = self._plan(files, state, storage.remote)
        todo.reverse()  # popped from the end: the large files' shards first
        limit = IN_FLIGHT_PER_CPU * self._cpus
        running: dict[Any, _Task] = {}
        while todo or running:
            while todo and len(running) < limit:
                task = todo.pop()
                batch = [files[i] for i in task.files]
                ref = self._remote.remote(self._batch, storage.kind, batch, task.items, SHARD_SIZE)
                running[ref] = task
                task.attempts += 1
                self.tasks += 1
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                task = running.pop(ref)
                try:
                    ok, results = ray.get(ref)
                except ray.exceptions.RayError as exc:  # a worker died, retried by Ray
                    self._failed(task, files, state, _failure(exc))
                    ok, results = True, None
                if not ok and task.attempts <= self.retries:
                    todo.append(task)  # again, on whichever worker is free
                    continue
                if not ok:
                    self._failed(task, files, state, str(results))
                elif results is not None:
                    todo.extend(reversed(self._collect(task, files, state, results)))
                if progress:
                    progress(task.nbytes)
        out: list[FileDigest | Exception] = []
        for f in state:
            if f.error is not None:
                out.append(f.error)
            else:
                assert f.digest is not None
                out.append(f.digest)
        return out

    def _plan(self, files: Sequence[ListedFile], state: list[_File], remote: bool) -> list[_Task]:
        """The tasks: the shards of files above one shard first, two to a task (their
        sizes are known), then the other files in batches of about `task_bytes`."""
        tasks: list[_Task] = []
        small: list[int] = []
        for i, f in enumerate(files):
            if f.size is not None and f.size > SHARD_SIZE:
                self._shards(i, f.size, state, tasks)
            elif f.size is None and remote:
                state[i].error = InputError(f"{f.name}: its size was not listed")
            else:
                small.append(i)
        # Files whose sizes were not listed count as nothing: at least 8 tasks a CPU, so one
        # task never holds most of the bytes (as the local engine batches them).
        per_task = max(1, min(TASK_FILES, len(small) // (self._cpus * 8)))
        task = _Task([], [], [])
        for i in small:
            size = files[i].size
            state[i].pending = 1
            task.items.append((len(task.files), 0, worker.UNSIZED if size is None else size, False))
            task.files.append(i)
            task.shards.append(-1)
            task.nbytes += size or 0
            if task.nbytes >= self.task_bytes or len(task.items) >= per_task:
                tasks.append(task)
                task = _Task([], [], [])
        if task.items:
            tasks.append(task)
        return tasks

    def _shards(self, i: int, size: int, state: list[_File], tasks: list[_Task]) -> list[_Task]:
        count = -(-size // SHARD_SIZE)
        state[i].size = size
        state[i].leaves = [b""] * count
        state[i].pending = count
        per_task = max(1, self.task_bytes // SHARD_SIZE)
        added: list[_Task] = []
        for first in range(0, count, per_task):
            task = _Task([i], [], [])
            for k in range(first, min(first + per_task, count)):
                length = min(SHARD_SIZE, size - k * SHARD_SIZE)
                task.items.append((0, k * SHARD_SIZE, length, True))
                task.shards.append(k)
                task.nbytes += length
            added.append(task)
        tasks.extend(added)
        return added

    def _collect(
        self, task: _Task, files: Sequence[ListedFile], state: list[_File], results: list[Any]
    ) -> list[_Task]:
        """Records a task's results; returns the tasks of the files it found to be larger
        than one shard (their sizes were not listed)."""
        more: list[_Task] = []
        for (index, _, _, _), shard, (kind, value, extra) in zip(
            task.items, task.shards, results, strict=True
        ):
            i = task.files[index]
            f = state[i]
            f.pending -= 1
            if kind == "ok":
                if shard >= 0:
                    f.leaves[shard] = value
                    if f.pending == 0 and f.error is None:
                        assert f.size is not None
                        f.digest = FileDigest(f"{SHARDED}:{merkle.root(f.leaves).hex()}", f.size)
                        f.leaves = []
                else:
                    f.digest = FileDigest(f"{PLAIN}:{value.hex()}", int(extra))
            elif kind == "size":
                more += self._shards(i, int(value), state, [])
            elif f.error is None:
                f.error = worker.error_of(kind, str(value), extra)
        return more

    def _failed(
        self, task: _Task, files: Sequence[ListedFile], state: list[_File], why: str
    ) -> None:
        """A task that failed `retries + 1` times: each of its files gets that as its error
        (not as unreadable: the file may be fine; the cluster failed to hash it)."""
        if "No module named 'aichain_audit" in why:
            raise InputError(
                "the Ray workers cannot import aichain_audit: install the same aichain-audit "
                "version (with the extras of the storage read) on every node of the cluster"
            )
        for i in task.files:
            state[i].pending = 0
            if state[i].error is None:
                state[i].error = InputError(
                    f"{files[i].name}: hashing on the Ray cluster failed "
                    f"{self.retries + 1} times ({why})"
                )


def _failure(exc: BaseException) -> str:
    """What a failed task's Ray error says, in one line: its cause's class and first line
    (a traceback's text stays out of the message)."""
    cause = getattr(exc, "cause", None) or exc
    return f"{type(cause).__name__}: {_first_line(cause)}"


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return (lines[0].strip() if lines else type(exc).__name__)[:200]


def _shown(address: str) -> str:
    """An address as shown in messages: scheme, host and port (never user or password)."""
    parts = urlsplit(address if "://" in address else f"//{address}")
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}" if parts.scheme else f"{host}{port}"


def _host(address: str) -> str | None:
    """The host of a Ray address (`host:port`, `ray://host:port`); None for `auto`/`local`
    (a cluster found on this machine, whose nodes are then checked)."""
    if address in ("auto", "local"):
        return None
    return urlsplit(address if "://" in address else f"//{address}").hostname


def _this_machine() -> set[str]:
    names = {"localhost", socket.gethostname()}
    with contextlib.suppress(OSError):
        names |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    return names


def _is_here(host: str, here: set[str]) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback or host in here
    except ValueError:  # a name: here when it is one of ours or resolves to us
        if host in here:
            return True
        try:
            found = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
        except OSError:
            return False
        return bool(found) and all(_is_here(ip, here) for ip in found)
