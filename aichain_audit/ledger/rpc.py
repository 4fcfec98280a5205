"""Any JSON-RPC node (anvil in tests; geth, Besu, public L1/L2 in production).

Every request goes through `Retrying`: transient failures (connection refused,
reset, timeouts, HTTP 5xx and 429) are retried with backoff, and the whole
budget is bounded (10 s by default), after which the command fails with exit 2.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aichain_audit.errors import UsageError
from aichain_audit.ledger.registry import ChainError

T = TypeVar("T")
DEFAULT_RETRY_BUDGET = 10.0


def display_url(url: str) -> str:
    """The URL without credentials, path or query (which often hold API keys)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _transient(exc: BaseException) -> bool:
    import requests

    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code in (429, 500, 502, 503, 504)
    return False


class Retrying:
    """Runs a request, retrying transient failures until the time budget is spent."""

    def __init__(self, url: str, budget: float = DEFAULT_RETRY_BUDGET) -> None:
        self.url = url
        self.budget = budget

    def __call__(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.budget
        delay = 0.1
        while True:
            try:
                return fn()
            except Exception as exc:
                if not _transient(exc):
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ChainError(
                        f"cannot reach the chain at {display_url(self.url)} "
                        f"(gave up after {self.budget:.0f} s): {type(exc).__name__}"
                    ) from None
                time.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)


def connect(url: str, budget: float = DEFAULT_RETRY_BUDGET) -> tuple[Any, Retrying]:
    """A Web3 for `url` (http or https) and the retry wrapper its requests go through."""
    from web3 import HTTPProvider, Web3

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--chain must be an http(s) JSON-RPC URL, got {display_url(url)!r}")
    provider = HTTPProvider(
        url, request_kwargs={"timeout": min(5.0, budget)}, exception_retry_configuration=None
    )
    return Web3(provider), Retrying(url, budget)
