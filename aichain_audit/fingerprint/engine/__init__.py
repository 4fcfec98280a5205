"""Hashing engines behind one interface (`engine.interface`): `local` (the default) and
`ray` (`engine.ray`, imported only when asked for: the default path never loads Ray)."""

from __future__ import annotations

import importlib.util

from aichain_audit.errors import UsageError
from aichain_audit.fingerprint.engine.interface import Engine
from aichain_audit.fingerprint.engine.local import LocalEngine

ENGINES = ("local", "ray")

__all__ = ["ENGINES", "Engine", "LocalEngine", "open_engine"]


def open_engine(name: str = "local", *, ray_address: str | None = None) -> Engine:
    """The engine a command line names (`--engine`, `--ray-address`). Nothing is started
    here: a Ray engine connects (or starts its private cluster) when it first hashes, and
    `close` releases it. Without the `[ray]` extra, `ray` is a one-line error naming it."""
    if name == "local":
        if ray_address is not None:
            raise UsageError("--ray-address is for --engine ray")
        return LocalEngine()
    if name != "ray":
        raise UsageError(f"unknown engine {name!r}; one of {', '.join(ENGINES)}")
    if importlib.util.find_spec("ray") is None:
        raise UsageError(
            "--engine ray needs Ray, which is not installed: pip install 'aichain-audit[ray]'"
        )
    from aichain_audit.fingerprint.engine.ray import RayEngine

    return RayEngine(address=ray_address)
