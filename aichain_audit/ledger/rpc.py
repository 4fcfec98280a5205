"""Any JSON-RPC node (anvil in tests; geth, Besu, public L1/L2 in production).

Every request goes through `Retrying`: transient failures (connection refused,
reset, timeouts, HTTP 5xx and 429) are retried with backoff, and the whole
budget is bounded (10 s by default), after which the command fails with exit 2.

A node URL often holds credentials (`https://user:password@host/v3/APIKEY?key=...`), so
nothing derived from it reaches a message but `display_url` (scheme, host, port). Every
other failure of the node (an HTTP error, an answer that is not JSON-RPC, a JSON-RPC error
to a request whose errors mean nothing to the registry client) becomes a `ChainError`
naming the endpoint that way; the text a node puts in a JSON-RPC error is passed on with
every part of the URL that could be secret taken out.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from aichain_audit.errors import UsageError
from aichain_audit.ledger.registry import ChainError

T = TypeVar("T")
DEFAULT_RETRY_BUDGET = 10.0
TRANSIENT_HTTP = frozenset({429, 500, 502, 503, 504})
SCHEMES = ("http", "https")
# JSON-RPC errors of these requests carry meaning the registry client reads (a revert's
# custom error, a nonce taken by another process, a log range too wide), so they reach it
# as web3 raises them; eth_call only when it is a revert.
_CALLER_READS_ERRORS = frozenset({"eth_sendRawTransaction", "eth_estimateGas", "eth_getLogs"})
_MAX_NODE_TEXT = 200


def _host_and_port(url: str) -> tuple[str, str, str] | None:
    """(scheme, host, port digits or "") of an http(s) URL, or None if it has none."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme.lower() not in (*SCHEMES, "ws", "wss") or not host:
        return None
    # `parts.port` raises ValueError for a port out of range: read the digits ourselves.
    hostport = parts.netloc.rpartition("@")[2]
    raw_port = hostport.rpartition("]")[2] if hostport.startswith("[") else hostport
    port = raw_port.partition(":")[2] if ":" in raw_port else ""
    return parts.scheme.lower(), host, port


def display_url(url: str) -> str:
    """The URL without credentials, path or query (which often hold API keys). Never fails."""
    found = _host_and_port(url)
    if found is None:
        return "<a URL that is not http(s)://host[:port]>"
    scheme, host, port = found
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port.isdigit() and len(port) <= 6:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}" + (":<not a port number>" if port else "")


def check_url(url: str, source: str = "--chain") -> None:
    """Refuses a chain URL this client cannot use, naming `source` (a flag or variable)
    and showing only `display_url` of it."""
    what = f"{source} must be 'embedded' or an http(s) JSON-RPC URL"
    found = _host_and_port(url)
    if found is None:
        raise UsageError(f"{what}; the value given is not one (it is not shown: it may hold a key)")
    scheme, host, port = found
    shown = display_url(url)
    if scheme not in SCHEMES:
        raise UsageError(f"{what}, not {scheme}:// ({shown})")
    if re.search(r"[\s\x00-\x1f\x7f]", host) or any(c in host for c in "/\\?#@"):
        raise UsageError(f"{what}; the host in {shown} is not a host name or address")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise UsageError(f"{what}; the port in {shown} is not a number from 1 to 65535")


def _secrets(url: str) -> list[str]:
    """Every part of the URL that may be secret, longest first (for `redact`)."""
    try:
        parts = urlsplit(url.strip())
        found = [parts.username or "", parts.password or ""]
    except ValueError:
        return [url]
    found += [parts.path, parts.query, parts.fragment]
    found += parts.path.split("/")
    found += [v for pair in parse_qsl(parts.query, keep_blank_values=True) for v in pair]
    found += [unquote(x) for x in found]
    return sorted({x for x in found if len(x) >= 4}, key=len, reverse=True)


def redact(text: str, url: str) -> str:
    """`text` (from a node) on one line, short, with the secret parts of `url` taken out."""
    text = " ".join(str(text).split())
    for secret in _secrets(url):
        text = text.replace(secret, "[redacted]")
    if len(text) > _MAX_NODE_TEXT:
        text = text[: _MAX_NODE_TEXT - 1] + "…"
    return text


class NodeUnreachable(ChainError):
    """A transient failure (connection refused or reset, timeout, HTTP 5xx or 429):
    `Retrying` tries again until its budget is spent."""

    def __init__(self, label: str, reason: str) -> None:
        super().__init__(f"cannot reach the chain at {label}: {reason}")
        self.reason = reason


def _status_text(code: int) -> str:
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def _transient(exc: BaseException) -> bool:
    import requests

    if isinstance(exc, NodeUnreachable):
        return True
    if isinstance(exc, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return True
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return exc.response.status_code in TRANSIENT_HTTP
    return False


def _reason(exc: BaseException) -> str:
    """A short cause, never str(exc): requests puts the whole URL in its messages."""
    if isinstance(exc, NodeUnreachable):
        return exc.reason
    import requests

    if isinstance(exc, requests.Timeout):
        return "timed out"
    # The operating system's words (connection refused, name not known) from the OSError
    # that requests and urllib3 wrap; they hold no part of the URL.
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, OSError) and item.strerror:
            return f"{type(exc).__name__} ({' '.join(str(item.strerror).split())[:80]})"
        todo += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
    return type(exc).__name__


class Retrying:
    """Runs a request, retrying transient failures until the time budget is spent."""

    def __init__(self, url: str, budget: float = DEFAULT_RETRY_BUDGET) -> None:
        self.url = url
        self.budget = budget

    def __call__(self, fn: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.budget
        delay = 0.1
        attempts = 0
        while True:
            try:
                attempts += 1
                return fn()
            except Exception as exc:
                if not _transient(exc):
                    raise
                left = deadline - time.monotonic()
                if left <= 0:
                    # Only here, with the deadline passed: the count tells a slow machine
                    # (few attempts) from a budget that does not hold (tests read it).
                    raise ChainError(
                        f"cannot reach the chain at {display_url(self.url)} "
                        f"(gave up after {self.budget:.0f} s and {attempts} attempts): "
                        f"{_reason(exc)}"
                    ) from None
                time.sleep(min(delay, left))
                delay = min(delay * 2, 1.0)


def _caller_reads(method: str, error: dict[str, Any]) -> bool:
    """Whether a JSON-RPC error to `method` goes to the caller as web3 raises it."""
    if method in _CALLER_READS_ERRORS:
        return True
    message = str(error.get("message", "")).lower()
    if message == "transaction not found":  # web3 makes it TransactionNotFound, which is read
        return True
    revert = error.get("code") == 3 or "revert" in message or error.get("data") not in (None, "")
    return method == "eth_call" and revert


def _not_json_rpc(doc: Any) -> str | None:
    """Why `doc` is not a JSON-RPC 2.0 response (web3 would raise on it), or None."""
    if doc is None:
        return "something that is not JSON"
    if not isinstance(doc, dict) or doc.get("jsonrpc") != "2.0":
        return "JSON that is not a JSON-RPC 2.0 response"
    if ("result" in doc) == ("error" in doc):
        return "a JSON-RPC response with neither a result nor an error (or both)"
    ident = doc.get("id", "missing")
    if ident is None and "error" in doc:
        return None
    if isinstance(ident, bool) or not isinstance(ident, (int, str)):
        return "a JSON-RPC response without a valid id"
    if isinstance(ident, str) and not re.fullmatch(r"-?[0-9]+", ident.strip()):
        return "a JSON-RPC response without a valid id"
    return None


def _make_provider(url: str, timeout: float) -> Any:
    """An HTTPProvider whose every failure is a ChainError naming only `display_url`."""
    import requests
    from web3 import HTTPProvider

    label = display_url(url)

    class NodeProvider(HTTPProvider):
        def __str__(self) -> str:
            return f"RPC connection {label}"

        def make_request(self, method: Any, params: Any) -> Any:
            request = self.encode_rpc_request(method, params)
            raw: Any = None
            http_error: requests.HTTPError | None = None
            try:
                raw = self._make_request(method, request)
            except requests.HTTPError as exc:
                http_error = exc  # handled below, so that no traceback chains it
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                raise NodeUnreachable(label, _reason(exc)) from None
            except requests.RequestException as exc:
                raise ChainError(
                    f"cannot send {method} to the chain at {label}: {type(exc).__name__}"
                ) from None
            if http_error is not None:
                return self._http_error(str(method), http_error.response)
            return self._checked(str(method), raw, None)

        def _http_error(self, method: str, response: Any) -> Any:
            code = response.status_code if response is not None else 0
            if code in TRANSIENT_HTTP:
                raise NodeUnreachable(label, _status_text(code)) from None
            body = response.content if response is not None else b""
            # Some nodes answer a JSON-RPC error with an HTTP error status.
            return self._checked(method, body, code)

        def _checked(self, method: str, raw: bytes, http: int | None) -> Any:
            status = f"{_status_text(http)} and " if http else ""
            hint = " (check the credentials or API key in the URL)" if http in (401, 403) else ""
            try:
                doc = json.loads(raw)
            except ValueError:  # not JSON, or not UTF-8
                doc = None
            has_error = isinstance(doc, dict) and "error" in doc
            if http and not has_error:
                raise ChainError(
                    f"the chain at {label} answered {method} with {_status_text(http)}{hint}"
                )
            problem = _not_json_rpc(doc)
            if problem:
                raise ChainError(
                    f"the chain at {label} answered {method} with {status}{problem}; "
                    "is this the URL of a JSON-RPC node?"
                )
            assert isinstance(doc, dict)
            if not has_error:
                return doc
            error = doc["error"]
            if isinstance(error, dict):
                message = redact(str(error.get("message", "")), url)
                code = error.get("code")
                well_formed = isinstance(code, int) and isinstance(error.get("message"), str)
                if well_formed and _caller_reads(method, error):
                    return {**doc, "error": {**error, "message": message}}
            else:
                message, code = redact(str(error), url), None
            number = f" {code}" if isinstance(code, int) and not isinstance(code, bool) else ""
            raise ChainError(
                f"the chain at {label} refused {method} ({status}JSON-RPC error{number}): "
                f"{message or 'no message'}{hint}"
            )

    return NodeProvider(
        url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
    )


def connect(url: str, budget: float = DEFAULT_RETRY_BUDGET) -> tuple[Any, Retrying]:
    """A Web3 for `url` (http or https) and the retry wrapper its requests go through."""
    from web3 import Web3

    check_url(url)
    return Web3(_make_provider(url.strip(), min(5.0, budget))), Retrying(url, budget)


def read_chain_id(w3: Any, call: Retrying) -> int:
    """The node's chain id; an answer that is no chain id is a ChainError, not a crash."""
    from aichain_audit.errors import AichainError

    try:
        value = call(lambda: w3.eth.chain_id)
        chain_id = int(value)
    except AichainError:
        raise
    except Exception as exc:
        raise ChainError(
            f"the chain at {display_url(call.url)} did not answer eth_chainId with a chain id "
            f"({type(exc).__name__})"
        ) from None
    if chain_id <= 0:
        raise ChainError(
            f"the chain at {display_url(call.url)} answered eth_chainId with {chain_id}"
        )
    return chain_id
