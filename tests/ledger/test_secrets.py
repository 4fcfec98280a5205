"""The anchoring key never leaves the process: not on stdout, stderr, in files or in argv."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import assert_one_line_error
from tests.ledger.conftest import (
    AnvilFactory,
    Key,
    aichain,
    aichain_bg,
    cli_env,
    finish,
    funded_key,
    make_lineage,
    new_key,
    receipt_file,
)

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes


def key_traces(key_hex: str) -> list[bytes]:
    """What a leak of the key looks like: its hex (any case, with or without 0x; also partly)
    or its raw bytes."""
    text = key_hex.lower()
    pieces = [text] + [text[i : i + 16] for i in range(0, 49, 8)]
    return [p.encode() for p in pieces] + [bytes.fromhex(key_hex)]


def leaked(key_hex: str, blob: bytes) -> bool:
    lowered = blob.lower()
    return any(t in lowered or t in blob for t in key_traces(key_hex))


def files_under(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


def test_the_leak_detector_finds_the_key_in_every_spelling() -> None:
    key = new_key()
    for spelling in (key.hex, key.hex.upper(), "0x" + key.hex, "0X" + key.hex.upper()):
        assert leaked(key.hex, f"error: {spelling} !".encode())
    assert leaked(key.hex, b"\x00" + bytes.fromhex(key.hex) + b"\x00")
    assert leaked(key.hex, f"truncated ...{key.hex[20:40]}".encode())
    assert not leaked(key.hex, key.address.encode())


class Transcript:
    """Runs CLI commands with the secret key in the environment, keeping every output."""

    def __init__(self, home: Path, key: Key) -> None:
        self.env = cli_env(home, key)
        self.runs: list[subprocess.CompletedProcess[str]] = []

    def __call__(self, *args: object, code: int | None = 0) -> subprocess.CompletedProcess[str]:
        """Runs one command; `code` is its expected exit code (None: any failure)."""
        proc = aichain(*args, env=self.env)
        self.runs.append(proc)
        if code is None:
            assert proc.returncode != 0, (args, proc.stdout, proc.stderr)
        else:
            assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        return proc

    def json(self, *args: object) -> dict[str, object]:
        doc = json.loads(self(*args, "--json").stdout)
        assert isinstance(doc, dict)
        return doc


@pytest.mark.parametrize("chain", ["anvil", "embedded"])
def test_private_key_appears_in_no_output_and_no_file(
    anvil_factory: AnvilFactory, tmp_path: Path, home: Path, chain: str
) -> None:
    other = new_key()
    if chain == "anvil":
        node = anvil_factory()
        key = funded_key(node)
        where: tuple[str, ...] = ("--chain", node.url)
    else:
        key = new_key()  # the embedded chain funds it from its development account
        where = ()
    run = Transcript(home, key)
    work = tmp_path / "work"
    lineages = [make_lineage(work, f"secret-{i}", run.env) for i in range(4)]
    single, batch = lineages[0], lineages[1:]

    deployed = run.json("registry", "deploy", *where)
    assert deployed["owner"] == key.address
    registry = ("--registry", str(deployed["registry"])) if chain == "anvil" else ()
    on = (*where, *registry)
    run("registry", "status", *on)
    run("registry", "status", key.address, *on, "--json")
    run("registry", "grant", other.address, *on)
    run("registry", "withdraw", other.address, *on, "--json")
    run("anchor", single, *on)
    run("--debug", "anchor", single, *on, "--json")  # already anchored
    run("anchor", *batch, *on, "--json")
    run("revoke", single, "--reason", "test", *on)
    run("revoke", single, "--reason", "again", *on, code=2)  # AlreadyRevoked
    run("registry", "transfer-owner", other.address, *on, "--json")
    # failures, with and without tracebacks
    assert "chain id" in assert_one_line_error(
        run("anchor", single, *on, "--chain-id", "1", code=2)
    )
    # (with --debug the exit code is Python's 1 for an uncaught exception, not 2)
    debug = run("--debug", "registry", "status", *on, "--chain-id", "1", code=None)
    assert "Traceback" in debug.stderr
    late = make_lineage(work, "secret-late", run.env)
    run("registry", "withdraw", key.address, *on)
    refused = run("--debug", "anchor", late, *on, code=None)
    assert "NotAnchorer" in refused.stderr
    # the commands that never touch a chain, with the key still in the environment
    proof = work / "proof.json"
    run("fingerprint", "--config", work / "secret-0.yaml", "--json")
    run("prove", single, "secret-0.yaml#/model/C", "-o", proof)
    run("check-proof", proof, "--root", json.loads(single.read_text())["root"])
    run("--debug", "check-proof", proof, "--root", "00" * 32, code=None)

    assert receipt_file(single).is_file()  # files were written, and are scanned below
    assert any(key.address in p.stdout for p in run.runs)
    for proc in run.runs:
        for stream in (proc.stdout, proc.stderr):
            assert not leaked(key.hex, stream.encode()), (proc.args, stream)
    scanned = files_under(tmp_path, home, anvil_factory.folder)
    assert home.is_dir() and len(scanned) > 5
    for path in scanned:
        assert not leaked(key.hex, path.read_bytes()), path


MALFORMED = {
    "too short": "0x" + "12" * 20,
    "not hex": "zz" * 32,
    "one typo": "0x" + "ab" * 31 + "ag",
    "zero": "00" * 32,
    "above the curve order": "ff" * 32,
    "too long": "0x" + "cd" * 33,
}


def test_malformed_private_key_fails_in_one_line_without_echoing_it(tmp_path: Path) -> None:
    lineage = make_lineage(tmp_path / "work", "malformed", cli_env(tmp_path / "home"))
    cases = [(label, value, False) for label, value in MALFORMED.items()]
    cases += [("debug: one typo", MALFORMED["one typo"], True)]
    cases += [("debug: zero", MALFORMED["zero"], True)]
    # in parallel: each is a separate process with its own home
    procs = [
        aichain_bg(*debug * ["--debug"], "anchor", lineage, env=cli_env(tmp_path / f"h{i}", value))
        for i, (_, value, debug) in enumerate(cases)
    ]
    for (label, value, debug), running in zip(cases, procs, strict=True):
        proc = finish(running)
        if debug:
            assert proc.returncode != 0 and "Traceback" in proc.stderr, (label, proc.stderr)
            assert "AICHAIN_PRIVATE_KEY" in proc.stderr.strip().splitlines()[-1]
        else:
            line = assert_one_line_error(proc)
            assert "AICHAIN_PRIVATE_KEY" in line, (label, line)
        out = (proc.stdout + proc.stderr).lower()
        bare = value.lower().removeprefix("0x")
        assert bare not in out, (label, out)
        assert bare[8:24] not in out, (label, out)
        assert proc.stdout == ""
    assert not receipt_file(lineage).exists()


CHAIN_COMMANDS = [
    (),
    ("anchor",),
    ("revoke",),
    ("registry",),
    ("registry", "deploy"),
    ("registry", "status"),
    ("registry", "grant"),
    ("registry", "withdraw"),
    ("registry", "transfer-owner"),
    ("registry", "accept-owner"),
]
KEY_OPTION = re.compile(r"--(private[-_]?key|priv[-_]?key|key|pk|secret|mnemonic|seed)\b", re.I)


@pytest.mark.parametrize("command", CHAIN_COMMANDS, ids=lambda c: " ".join(c) or "aichain")
def test_no_command_takes_a_private_key_on_the_command_line(
    home: Path, command: tuple[str]
) -> None:
    proc = aichain(*command, "--help", env=cli_env(home))
    assert proc.returncode == 0, proc.stderr
    assert "Usage:" in proc.stdout
    assert not KEY_OPTION.search(proc.stdout), proc.stdout
    if command not in ((), ("registry",)):
        assert "--keystore" in proc.stdout  # keys come from a keystore or the environment


def test_a_private_key_option_is_rejected_without_echoing_the_value(
    tmp_path: Path, home: Path
) -> None:
    lineage = make_lineage(tmp_path / "work", "argv", cli_env(home))
    key = new_key()
    for option in ("--private-key", "--key", "--pk"):
        proc = aichain("anchor", lineage, option, key.env, env=cli_env(home))
        line = assert_one_line_error(proc)
        assert "No such option" in line
        assert not leaked(key.hex, (proc.stdout + proc.stderr).encode())
    assert not receipt_file(lineage).exists()


# --- reads never load a signer ---------------------------------------------------------------
def _reader_envs(home: Path, tmp_path: Path) -> dict[str, dict[str, str]]:
    """Signer settings a read must ignore: a garbage key, a keystore that needs a password
    nobody can give (no AICHAIN_KEYSTORE_PASSWORD, no terminal), a dev key, and both."""
    from eth_account import Account

    store = tmp_path / "reader-key.json"
    store.write_text(json.dumps(Account.encrypt(Account.create().key, "pw", iterations=2)))
    anvil_key_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
    return {
        "garbage key": cli_env(home, "garbage"),
        "keystore": cli_env(home, AICHAIN_KEYSTORE=str(store)),
        "dev key": cli_env(home, anvil_key_0),
        "both": cli_env(home, "garbage", AICHAIN_KEYSTORE=str(store)),
    }


def _run_readers(
    envs: dict[str, dict[str, str]], *args: object
) -> dict[str, subprocess.CompletedProcess[str]]:
    # aichain_bg: stdin is /dev/null, so a keystore prompt fails instead of hanging
    procs = {label: aichain_bg(*args, env=env) for label, env in envs.items()}
    return {label: finish(p) for label, p in procs.items()}


def test_reads_on_the_embedded_chain_never_load_the_key_or_keystore(
    tmp_path: Path, home: Path
) -> None:
    """Needs a working anchor on the embedded chain (the registry contract)."""
    work = tmp_path / "work"
    lineage = make_lineage(work, "reader", cli_env(home))
    anchored = aichain("anchor", lineage, env=cli_env(home))
    assert anchored.returncode == 0, anchored.stderr
    proof = work / "proof.json"
    assert aichain("prove", lineage, "reader.yaml#/model/C", "-o", proof, env=cli_env(home))
    envs = _reader_envs(home, tmp_path)
    for label, proc in _run_readers(envs, "check-proof", proof, "--chain", "embedded").items():
        assert proc.returncode == 0, (label, proc.stderr)
        assert proc.stdout.startswith("valid: "), (label, proc.stdout)
    for label, proc in _run_readers(envs, "registry", "status", "--json").items():
        assert proc.returncode == 0, (label, proc.stderr)
        assert "signer" not in json.loads(proc.stdout), label


def test_reads_on_a_node_never_load_the_key_or_keystore(
    anvil_factory: AnvilFactory, tmp_path: Path, home: Path
) -> None:
    """The registry's runtime code is placed with anvil_setCode (no deployment, no anchor);
    on chain id 4242 a dev key would be refused for a write, but a read never looks at it."""
    from aichain_audit.ledger.registry import artifact

    node = anvil_factory(chain_id=4242)
    registry = "0x" + "42" * 20
    node.rpc("anvil_setCode", registry, artifact()["deployedBytecode"])
    work = tmp_path / "work"
    lineage = make_lineage(work, "node-reader", cli_env(home))
    proof = work / "proof.json"
    made = aichain("prove", lineage, "node-reader.yaml#/model/C", "-o", proof, env=cli_env(home))
    assert made.returncode == 0, made.stderr
    on = ("--chain", node.url, "--registry", registry)
    envs = _reader_envs(home, tmp_path)
    for label, proc in _run_readers(envs, "check-proof", proof, *on).items():
        # a definite answer from the registry: the root is not anchored (exit 1)
        line = assert_one_line_error(proc, code=1)
        assert "not anchored" in line, (label, line)
    # a write with the same settings still loads (and refuses) them
    refused = _run_readers(envs, "registry", "grant", "0x" + "22" * 20, *on)
    assert "AICHAIN_PRIVATE_KEY" in assert_one_line_error(refused["garbage key"])
    assert "password" in assert_one_line_error(refused["keystore"])
    assert "well-known development key" in assert_one_line_error(refused["dev key"])
    assert node.nonce("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266") == 0
