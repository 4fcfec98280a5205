"""P12's measuring side (run by benchmarks/run.py in its own process): the Ray engine against
an already running cluster at argv[1], and the local engine, on the dataset folder argv[2].

Prints one JSON object: the connection's start-up (s), the medians of `runs` timed digests of
the whole listing by each engine (s), whether every digest agreed, the tasks of one Ray run,
and the per-task overhead (ms): the wall time of 200 empty tasks, in flight as the engine
runs them, per task.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path


def main() -> None:
    address, folder, runs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    from aichain_audit.fingerprint.engine import LocalEngine
    from aichain_audit.fingerprint.engine.ray import IN_FLIGHT_PER_CPU, RayEngine
    from aichain_audit.fingerprint.engine.worker import hash_batch
    from aichain_audit.fingerprint.paths import PathPolicy
    from aichain_audit.fingerprint.storage.local import LocalStorage

    storage = LocalStorage()
    files = storage.listing(folder, PathPolicy()).files
    t = time.perf_counter()
    import ray  # part of the start-up a `--engine ray` run pays

    engine = RayEngine(address=address)
    engine._connect()
    startup = time.perf_counter() - t
    local_t: list[float] = []
    ray_t: list[float] = []
    same = True
    tasks = 0
    for _ in range(runs):
        now = time.time_ns()
        for f in files:
            os.utime(f.path, ns=(now, now))
        t = time.perf_counter()
        a = LocalEngine().digest(storage, files)
        local_t.append(time.perf_counter() - t)
        before = engine.tasks
        t = time.perf_counter()
        b = engine.digest(storage, files)
        ray_t.append(time.perf_counter() - t)
        tasks = engine.tasks - before
        same = same and a == b
    # Per-task overhead: empty batches through the same remote function, bounded in flight.
    remote = engine._remote
    cpus = engine._cpus
    n = 200
    t = time.perf_counter()
    running = []
    for _ in range(n):
        if len(running) >= IN_FLIGHT_PER_CPU * cpus:
            _, running = ray.wait(running, num_returns=1)
        running.append(remote.remote(hash_batch, "local", [], [], 0))
    ray.get(running)
    per_task = (time.perf_counter() - t) / n
    engine.close()
    print(json.dumps({
        "startup": startup, "local": statistics.median(local_t), "ray": statistics.median(ray_t),
        "same": same, "tasks": tasks, "per_task_ms": per_task * 1000, "cpus": cpus,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
