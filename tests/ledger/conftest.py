"""Ledger tests: a real anvil node, the real CLI in a subprocess, real keys. No mocks.

anvil ships in the npm package pinned by contracts/package-lock.json; when it is missing
the tests FAIL (they never skip) and say how to install it.
"""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak

REPO = Path(__file__).resolve().parents[2]
ANVIL_GLOB = "contracts/node_modules/@foundry-rs/anvil-*/bin/anvil"
DEV_CHAIN_ID = 31337
# anvil's (and Hardhat's) account 0: public knowledge, used only by the dev-key policy test.
ANVIL_DEV_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
BATCH_SUBJECT = bytes.fromhex("60b0ce92ffc8c48594017e134acfd57c59b264bb801933dca516ff8970c1aaa2")
ANCHORED_TOPIC = "0x" + keccak(text="Anchored(bytes32,bytes32,address)").hex()
BATCH_ANCHORED_TOPIC = "0x" + keccak(text="BatchAnchored(bytes32,uint32,address)").hex()
CLI_TIMEOUT = 120.0
# A wall-clock bound on a command is this many times its budget: on a shared two-core machine
# a CLI's start-up alone can take several seconds; the budget itself is read from the CLI.
GENEROUS = 6
# The retry backoff (0.1 s doubling to 1 s) fits at most 14 attempts in the 10 s budget.
MAX_ATTEMPTS = 15


# --- anvil -------------------------------------------------------------------------------
def anvil_binary() -> Path:
    """The anvil binary from contracts/node_modules, or a test failure saying how to get it."""
    found = [p for p in sorted(REPO.glob(ANVIL_GLOB)) if os.access(p, os.X_OK)]
    # Prefer this platform's package if several are installed.
    here = f"{sys.platform}-"
    found.sort(key=lambda p: here not in p.parent.parent.name)
    if not found:
        pytest.fail(
            f"anvil is not installed ({ANVIL_GLOB} matches nothing): run `make test`, "
            "or `cd contracts && npm ci`, to install the pinned @foundry-rs/anvil "
            f"(platform {sys.platform}/{platform.machine()})",
            pytrace=False,
        )
    return found[0]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def json_rpc(url: str, method: str, params: Sequence[Any] = (), timeout: float = 5.0) -> Any:
    """One raw JSON-RPC request (urllib; independent of the product's web3 stack)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    request = urllib.request.Request(
        url, body.encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        doc = json.load(response)
    if "error" in doc:
        raise RuntimeError(f"{method} failed: {doc['error']}")
    return doc["result"]


@dataclass
class Anvil:
    """One anvil process on 127.0.0.1; restartable on the same port (with the same --state)."""

    binary: Path
    port: int
    chain_id: int
    log: Path
    state: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:  # returns as soon as it answers
        assert self.proc is None or self.proc.poll() is not None, "anvil is already running"
        args = [str(self.binary), "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--chain-id", str(self.chain_id), "--silent"]
        if self.state is not None:
            args += ["--state", str(self.state)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"anvil exited with {self.proc.returncode} at start: "
                    f"{self.log.read_text(errors='replace')[-2000:]}",
                    pytrace=False,
                )
            try:
                answered = int(json_rpc(self.url, "eth_chainId", timeout=1.0), 16)
            except (OSError, urllib.error.URLError, RuntimeError):
                answered = None
            if answered is not None:
                assert answered == self.chain_id
                return
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"anvil did not answer eth_chainId within {timeout} s", pytrace=False)
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        """Stops our anvil by its PID: the signal (SIGTERM lets it dump --state), then kill."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)

    def rpc(self, method: str, *params: Any) -> Any:
        return json_rpc(self.url, method, params)

    def w3(self) -> Any:
        from web3 import HTTPProvider, Web3

        return Web3(HTTPProvider(self.url, request_kwargs={"timeout": 10}))

    def fund(self, address: str, ether: int = 100) -> None:
        self.rpc("anvil_setBalance", address, hex(ether * 10**18))

    def nonce(self, address: str) -> int:
        return int(self.rpc("eth_getTransactionCount", address, "latest"), 16)

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def logs(self, address: str, topics: list[str | None]) -> list[dict[str, Any]]:
        query = {"fromBlock": "0x0", "toBlock": "latest", "address": address, "topics": topics}
        return list(self.rpc("eth_getLogs", query))


class AnvilFactory:
    """Starts anvils for one test and stops every one of them (by PID) afterwards."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[Anvil] = []

    def __call__(self, chain_id: int = DEV_CHAIN_ID, state: Path | None = None) -> Anvil:
        self.folder.mkdir(parents=True, exist_ok=True)
        node = Anvil(
            anvil_binary(),
            free_port(),
            chain_id,
            self.folder / f"anvil-{len(self.started)}.log",
            state,
        )
        self.started.append(node)
        node.start()
        return node

    def stop_all(self) -> None:
        for node in self.started:
            node.stop()


@pytest.fixture
def anvil_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilFactory]:
    factory = AnvilFactory(tmp_path_factory.mktemp("anvil"))
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def anvil(anvil_factory: AnvilFactory) -> Anvil:
    """A fresh anvil, chain id 31337, for this test alone."""
    return anvil_factory()


# --- a slow network ------------------------------------------------------------------------
@contextmanager
def slow_link(target: str, delays: Mapping[str, float]) -> Iterator[str]:
    """A JSON-RPC relay on 127.0.0.1 to the real node at `target` that holds each request
    for the named methods (e.g. eth_sendRawTransaction) `delays[method]` seconds before
    forwarding it: a slow network, which widens the races real deployments meet."""

    class Relay(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                method = json.loads(body).get("method")
            except (ValueError, AttributeError):
                method = None
            time.sleep(delays.get(str(method), 0.0))
            request = urllib.request.Request(
                target, body, {"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, answer = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, answer = exc.code, exc.read()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Relay)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- keys --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    address: str
    hex: str  # 64 lowercase hex digits, no 0x

    @property
    def env(self) -> str:
        return "0x" + self.hex


def new_key() -> Key:
    """A fresh random key (never one of anvil's well-known accounts)."""
    account = Account.create()
    return Key(account.address, bytes(account.key).hex())


def funded_key(node: Anvil, ether: int = 100) -> Key:
    key = new_key()
    node.fund(key.address, ether)
    return key


# --- the CLI -----------------------------------------------------------------------------
def cli_env(home: Path, key: Key | str | None = None, **extra: str) -> dict[str, str]:
    """The environment of one CLI run: nothing AICHAIN_* inherited, a per-test home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHAIN_")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true", AICHAIN_HOME=str(home))
    if key is not None:
        env["AICHAIN_PRIVATE_KEY"] = key.env if isinstance(key, Key) else key
    env.update(extra)
    return env


def _argv(args: Sequence[object]) -> list[str]:
    return [sys.executable, "-m", "aichain_audit", *map(str, args)]


def aichain(
    *args: object, env: dict[str, str], cwd: Path | None = None, timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Runs `python -m aichain_audit ARGS` as a separate process with exactly `env`."""
    return subprocess.run(
        _argv(args),
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def aichain_bg(
    *args: object, env: dict[str, str], cwd: Path | None = None
) -> subprocess.Popen[str]:
    """Starts the CLI in the background; finish it with `finish`."""
    return subprocess.Popen(
        _argv(args),
        cwd=cwd or REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(
    proc: subprocess.Popen[str], timeout: float = CLI_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"CLI did not finish within {timeout} s: {out} {err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def retry_attempts(line: str, budget: float) -> int:
    """The attempts a CLI reports making before its retry `budget` ran out: it says so only
    once its own deadline has passed."""
    found = re.search(rf"gave up after {budget:.0f} s and (\d+) attempts", line)
    assert found is not None, f"not a spent retry budget of {budget:.0f} s: {line}"
    return int(found.group(1))


def ok_json(proc: subprocess.CompletedProcess[str]) -> Any:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    return json.loads(proc.stdout)


# --- lineages ----------------------------------------------------------------------------
def make_lineage(folder: Path, name: str, env: dict[str, str]) -> Path:
    """A real manifest from `aichain fingerprint`, with a config unique to this call."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"{name}.yaml"
    config.write_text(f"name: {name}\nnonce: {uuid.uuid4().hex}\nmodel:\n  C: 0.5\n")
    out = folder / f"{name}.json"
    proc = aichain("fingerprint", "--config", config, "-o", out, env=env)
    assert proc.returncode == 0, proc.stderr
    return out


def manifest_root(manifest: Path) -> bytes:
    return bytes.fromhex(json.loads(manifest.read_text())["root"])


def manifest_subject(manifest: Path) -> bytes:
    return bytes.fromhex(json.loads(manifest.read_text())["subject"].split(":", 1)[-1])


def receipt_file(manifest: Path) -> Path:
    return manifest.with_name(manifest.name.removesuffix(".json") + ".receipt.json")


# --- reading the registry (the product's reader class on a plain web3, nothing faked) ------
def registry_reader(node: Anvil, address: str) -> Any:
    from aichain_audit.ledger.registry import Registry

    return Registry(node.w3(), address, signer=None, describe=node.url)


def deploy_registry(node: Anvil, home: Path, owner: Key) -> str:
    doc = ok_json(
        aichain("registry", "deploy", "--chain", node.url, "--json", env=cli_env(home, owner))
    )
    assert doc["owner"] == owner.address
    return str(doc["registry"])


def anchored_logs(node: Anvil, registry: str, root: bytes) -> list[dict[str, Any]]:
    return node.logs(registry, [ANCHORED_TOPIC, "0x" + root.hex()])


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def lineage_factory(tmp_path: Path, home: Path) -> Callable[[str], Path]:
    def make(name: str) -> Path:
        return make_lineage(tmp_path / "lineages", name, cli_env(home))

    return make
