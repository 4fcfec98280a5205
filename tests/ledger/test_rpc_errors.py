"""A node that answers badly: every failure is one line naming only scheme, host and port.

A real HTTP server on 127.0.0.1 plays the node (no mocks); the real CLI runs in a
subprocess against a URL that carries a password, an API key in the path and a secret in
the query, none of which may reach stdout or stderr. Every command below fails at its
first requests to the node, so none of them depends on the registry contract.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aichain_audit.ledger.rpc import DEFAULT_RETRY_BUDGET, display_url
from tests.conftest import assert_one_line_error
from tests.ledger.conftest import (
    GENEROUS,
    MAX_ATTEMPTS,
    aichain,
    aichain_bg,
    cli_env,
    finish,
    free_port,
    make_lineage,
    new_key,
    retry_attempts,
)

SECRETS = ("s3cret", "APIKEY123", "QUERYSECRET", "user:")
REGISTRY = "0x" + "11" * 20
Answer = tuple[int, str, bytes]  # HTTP status, Content-Type, body


def secret_url(port: int | str, host: str = "127.0.0.1", scheme: str = "http://") -> str:
    return f"{scheme}user:s3cret@{host}:{port}/v3/APIKEY123?key=QUERYSECRET"


# --- the node ------------------------------------------------------------------------------
@dataclass
class FakeNode:
    port: int
    methods: list[str] = field(default_factory=list)
    authorization: list[str | None] = field(default_factory=list)

    @property
    def url(self) -> str:
        return secret_url(self.port)


@contextmanager
def fake_node(answer: Callable[[str], Answer]) -> Iterator[FakeNode]:
    """An HTTP server on 127.0.0.1 that answers each JSON-RPC request with `answer(method)`."""
    node: FakeNode

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                method = str(json.loads(body).get("method"))
            except (ValueError, AttributeError):
                method = "?"
            node.methods.append(method)
            node.authorization.append(self.headers.get("Authorization"))
            status, content_type, payload = answer(method)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    node = FakeNode(int(server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def rpc_result(result: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()


def rpc_error(code: int, message: str) -> bytes:
    doc = {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": message}}
    return json.dumps(doc).encode()


ECHOING = "denied for APIKEY123 (key=QUERYSECRET, password s3cret, user:s3cret)"


def status(
    code: int, body: bytes = b"nope: APIKEY123 QUERYSECRET s3cret"
) -> Callable[[str], Answer]:
    return lambda method: (code, "text/plain", body)


def chain_id_then(answer: Callable[[str], Answer]) -> Callable[[str], Answer]:
    """A node that tells its chain id (1) and answers everything else with `answer`."""

    def respond(method: str) -> Answer:
        if method == "eth_chainId":
            return 200, "application/json", rpc_result("0x1")
        return answer(method)

    return respond


JSON = "application/json"
ANSWERS: dict[str, Callable[[str], Answer]] = {
    "HTTP 400": status(400),
    "HTTP 401": status(401),
    "HTTP 403": status(403),
    "HTTP 404": status(404),
    "HTTP 405": status(405),
    "HTTP 413": status(413),
    "HTTP 418": status(418),
    "HTTP 501": status(501),
    "HTTP 505": status(505),
    "HTTP 401 with a JSON-RPC error": status(401, rpc_error(-32600, ECHOING)),
    "HTTP 302 without a Location": status(302),
    "HTML": lambda m: (200, "text/html", b"<html>APIKEY123 s3cret</html>"),
    "empty body": lambda m: (200, JSON, b""),
    "JSON array": lambda m: (200, JSON, b"[1, 2]"),
    "JSON string": lambda m: (200, JSON, b'"APIKEY123"'),
    "JSON object, not JSON-RPC": lambda m: (200, JSON, b'{"hello": "APIKEY123"}'),
    "not UTF-8": lambda m: (200, JSON, b"\xff\xfe\x00garbage"),
    "JSON-RPC error": lambda m: (200, JSON, rpc_error(-32601, ECHOING)),
    "JSON-RPC error as a string": lambda m: (
        200,
        JSON,
        json.dumps({"jsonrpc": "2.0", "id": 1, "error": ECHOING}).encode(),
    ),
    "chain id not a number": lambda m: (200, JSON, rpc_result("0xAPIKEY123")),
    "chain id null": lambda m: (200, JSON, rpc_result(None)),
    "eth_getCode: JSON-RPC error": chain_id_then(lambda m: (200, JSON, rpc_error(-32000, ECHOING))),
    "eth_getCode: HTTP 403": chain_id_then(status(403)),
    "eth_getCode: HTML": chain_id_then(lambda m: (200, "text/html", b"<p>s3cret</p>")),
}


def assert_clean_failure(proc: Any, label: str) -> str:
    """Exit 2, one line `aichain: error: ...`, no traceback, no internal error, no secret."""
    line = assert_one_line_error(proc)
    assert "internal error" not in line, (label, line)
    for secret in SECRETS:
        assert secret not in proc.stdout + proc.stderr, (label, secret, proc.stderr)
    return line


@pytest.fixture(scope="module")
def proof(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real proof from `aichain prove` (no chain involved)."""
    folder = tmp_path_factory.mktemp("proof")
    env = cli_env(folder / "home")
    lineage = make_lineage(folder, "rpc-errors", env)
    out = folder / "proof.json"
    proc = aichain("prove", lineage, "rpc-errors.yaml#/model/C", "-o", out, env=env)
    assert proc.returncode == 0, proc.stderr
    return out


def commands(url: str, proof: Path) -> list[tuple[object, ...]]:
    """Three commands that each start with a request to the node: a read, a proof check
    against the registry, and a write (the lineage need not exist: the node is asked first)."""
    on = ("--chain", url, "--registry", REGISTRY)
    return [
        ("registry", "status", *on),
        ("check-proof", proof, *on),
        ("registry", "grant", "0x" + "22" * 20, *on),
    ]


def run_all(url: str, proof: Path, home: Path) -> list[Any]:
    env = cli_env(home, new_key())
    procs = [aichain_bg(*args, env=env) for args in commands(url, proof)]
    return [finish(p) for p in procs]


@pytest.mark.parametrize("case", list(ANSWERS))
@pytest.mark.slow  # runs the CLI in a process
def test_a_node_answering_badly_is_a_one_line_chain_error_without_credentials(
    case: str, proof: Path, home: Path
) -> None:
    with fake_node(ANSWERS[case]) as node:
        results = run_all(node.url, proof, home)
    assert node.methods, "the node was never asked"
    # Not retried: no request reached the node more often than once per command.
    assert max(Counter(node.methods).values()) <= len(results), (case, node.methods)
    assert node.methods[0] == "eth_chainId"
    assert all(a is not None and a.startswith("Basic ") for a in node.authorization)
    for proc in results:
        line = assert_clean_failure(proc, case)
        assert f"http://127.0.0.1:{node.port}" in line, (case, line)
    assert not (home / "chain").exists()  # never fell back to the embedded chain


@pytest.mark.slow  # runs the CLI in a process
def test_http_errors_name_the_status_and_json_rpc_errors_the_method(home: Path) -> None:
    def status_line(case: str) -> str:
        with fake_node(ANSWERS[case]) as node:
            on = ("--chain", node.url, "--registry", REGISTRY)
            return assert_clean_failure(aichain("registry", "status", *on, env=cli_env(home)), case)

    line = status_line("HTTP 401")
    assert "401" in line and "Unauthorized" in line and "eth_chainId" in line
    line = status_line("JSON-RPC error")
    assert "eth_chainId" in line and "-32601" in line and "denied" in line
    assert "JSON" in status_line("HTML")
    assert "eth_getCode" in status_line("eth_getCode: JSON-RPC error")


@pytest.mark.slow  # runs the CLI in a process
def test_debug_tracebacks_hold_no_credentials_either(proof: Path, home: Path) -> None:
    for case in ("HTTP 401", "JSON-RPC error", "HTML"):
        with fake_node(ANSWERS[case]) as node:
            proc = aichain(
                "--debug", "registry", "status", "--chain", node.url, "--registry", REGISTRY,
                env=cli_env(home),
            )  # fmt: skip
        assert proc.returncode != 0
        assert "internal error" not in proc.stderr
        for secret in SECRETS:
            assert secret not in proc.stdout + proc.stderr, (case, secret, proc.stderr)


BAD_URLS = {
    "port out of range": secret_url(99999),
    "port not a number": secret_url("80a"),
    "unparsable": "http://user:s3cret@[::1/v3/APIKEY123?key=QUERYSECRET",
    "no scheme": "user:s3cret@127.0.0.1:8545/v3/APIKEY123?key=QUERYSECRET",
    "other scheme": secret_url(8545, scheme="ftp://"),
    "ws scheme": secret_url(8545, scheme="ws://"),
    "no host": "http://user:s3cret@:8545/v3/APIKEY123?key=QUERYSECRET",
    "space in the host": secret_url(8545, host="127.0.0 .1"),
}


@pytest.mark.parametrize("case", list(BAD_URLS))
@pytest.mark.slow  # runs the CLI in a process
def test_a_malformed_chain_url_is_refused_in_one_line_without_echoing_it(
    case: str, proof: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = BAD_URLS[case]
    for proc in run_all(url, proof, home):
        assert_clean_failure(proc, case)
    # the same from the environment
    env = cli_env(home, AICHAIN_CHAIN=url, AICHAIN_REGISTRY=REGISTRY)
    proc = aichain("registry", "status", env=env)
    line = assert_clean_failure(proc, case)
    assert "AICHAIN_CHAIN" in line, line
    assert not (home / "chain").exists()


@pytest.mark.parametrize("url", list(BAD_URLS.values()), ids=list(BAD_URLS))
def test_display_url_never_fails_and_shows_no_credentials(url: str) -> None:
    shown = display_url(url)
    for secret in SECRETS:
        assert secret not in shown


def test_display_url_keeps_scheme_host_and_port_only() -> None:
    assert display_url(secret_url(8545)) == "http://127.0.0.1:8545"
    assert display_url("https://rpc.example.org/v3/APIKEY123") == "https://rpc.example.org"
    assert display_url("http://[::1]:8545/x") == "http://[::1]:8545"
    assert display_url(secret_url(99999)) == "http://127.0.0.1:99999"


TRANSIENT = [429, 500, 502, 503, 504]


@pytest.mark.slow  # runs the CLI in a process
def test_transient_http_errors_and_a_refused_connection_are_retried_then_fail_cleanly(
    home: Path,
) -> None:
    """5xx and 429 are retried for the 10 s budget, then fail like any chain error. All
    cases run at once (each CLI mostly sleeps between retries), so this costs ~10 s. Each
    CLI says how many attempts it made before its own deadline passed; each node saw them."""
    with ExitStack() as stack:
        nodes = [stack.enter_context(fake_node(status(code))) for code in TRANSIENT]
        urls = [n.url for n in nodes]
        urls.append(secret_url(free_port()))  # nothing listens there
        env = cli_env(home)
        started = time.monotonic()
        procs = [
            aichain_bg("registry", "status", "--chain", u, "--registry", REGISTRY, env=env)
            for u in urls
        ]
        results = [finish(p) for p in procs]
        elapsed = time.monotonic() - started
    labels = [f"HTTP {c}" for c in TRANSIENT] + ["connection refused"]
    for label, node_or_none, proc in zip(labels, [*nodes, None], results, strict=True):
        line = assert_clean_failure(proc, label)
        attempts = retry_attempts(line, DEFAULT_RETRY_BUDGET)
        assert 2 <= attempts <= MAX_ATTEMPTS, (label, line)
        if node_or_none is not None:
            assert label in line, (label, line)
            assert node_or_none.methods == ["eth_chainId"] * attempts, (label, line)
    # Slowness cannot make a process give up sooner; six CLIs on a loaded machine, later.
    assert DEFAULT_RETRY_BUDGET <= elapsed < GENEROUS * DEFAULT_RETRY_BUDGET, elapsed


# --- errors the registry client reads reach it as web3 raises them ----------------------------
def scripted(errors: dict[str, dict[str, Any]]) -> Callable[[str], Answer]:
    def respond(method: str) -> Answer:
        if method in errors:
            doc = {"jsonrpc": "2.0", "id": 1, "error": errors[method]}
            return 200, JSON, json.dumps(doc).encode()
        return 200, JSON, rpc_result("0x1092")  # chain id 4242, and a number for the rest

    return respond


def test_errors_that_carry_meaning_reach_the_registry_client_redacted() -> None:
    """Reverts, nonce races and refused log ranges are read by the registry client, so they
    pass through (as web3 raises them) with the URL's secrets taken out; the same kind of
    error to any other request is a ChainError."""
    from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

    from aichain_audit.ledger.registry import ChainError
    from aichain_audit.ledger.rpc import connect

    errors = {
        "eth_sendRawTransaction": {"code": -32000, "message": f"nonce too low {ECHOING}"},
        "eth_estimateGas": {"code": 3, "message": "execution reverted", "data": "0x1425ea42"},
        "eth_getLogs": {"code": -32005, "message": f"range too wide {ECHOING}"},
        "eth_call": {"code": -32000, "message": "execution reverted", "data": "0x1425ea42"},
        "eth_getTransactionReceipt": {"code": -32000, "message": "transaction not found"},
        "eth_getCode": {"code": -32000, "message": f"nonce too low {ECHOING}"},
    }
    to = "0x" + "33" * 20
    with fake_node(scripted(errors)) as node:
        w3, call = connect(node.url)
        assert call(lambda: w3.eth.chain_id) == 4242
        with pytest.raises(Web3RPCError) as sent:
            call(lambda: w3.eth.send_raw_transaction(b"\x01\x02"))
        assert "nonce too low" in str(sent.value)
        with pytest.raises(ContractLogicError):
            call(lambda: w3.eth.estimate_gas({"to": to, "data": "0x"}))
        with pytest.raises(ContractLogicError):
            call(lambda: w3.eth.call({"to": to, "data": "0x"}))
        with pytest.raises(Web3RPCError) as logs:
            call(lambda: w3.eth.get_logs({"fromBlock": 0, "toBlock": 1}))
        assert "range too wide" in str(logs.value)
        with pytest.raises(TransactionNotFound):
            call(lambda: w3.eth.get_transaction_receipt("0x" + "44" * 32))
        with pytest.raises(ChainError) as other:
            call(lambda: w3.eth.get_code(to))
        assert "eth_getCode" in str(other.value)
        for exc in (sent.value, logs.value, other.value):
            for secret in SECRETS:
                assert secret not in str(exc) + repr(exc), (secret, exc)
