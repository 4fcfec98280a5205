"""Chain settings: flag > environment > default, and an empty value is refused, never unset.

An empty AICHAIN_CHAIN is what a CI job sees when a secret is missing (a fork's pull
request): read as unset, it silently anchored on the embedded, self-attested chain.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aichain_audit.errors import UsageError
from aichain_audit.ledger import EMBEDDED, ENV_CHAIN, ENV_REGISTRY, ChainSettings
from aichain_audit.ledger.keys import ENV_KEY, ENV_KEYSTORE, ENV_KEYSTORE_PASSWORD, load_signer
from tests.conftest import assert_one_line_error
from tests.ledger.conftest import aichain, aichain_bg, cli_env, finish, make_lineage, new_key

EMPTY = ["", " ", "\t", " \n "]
REGISTRY = "0x" + "11" * 20
ENV_HOME = "AICHAIN_HOME"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (ENV_CHAIN, ENV_REGISTRY, ENV_KEY, ENV_KEYSTORE, ENV_KEYSTORE_PASSWORD):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_HOME, str(tmp_path / "home"))


def test_flag_beats_environment_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ChainSettings.resolve().chain == EMBEDDED
    assert ChainSettings.resolve().registry is None
    monkeypatch.setenv(ENV_CHAIN, "http://127.0.0.1:8545")
    monkeypatch.setenv(ENV_REGISTRY, REGISTRY)
    settings = ChainSettings.resolve()
    assert (settings.chain, settings.registry) == ("http://127.0.0.1:8545", REGISTRY)
    settings = ChainSettings.resolve("embedded", "0x" + "22" * 20)
    assert (settings.chain, settings.registry) == (EMBEDDED, "0x" + "22" * 20)


@pytest.mark.parametrize("value", EMPTY, ids=repr)
@pytest.mark.parametrize(("option", "flag"), [("chain", "--chain"), ("registry", "--registry")])
def test_an_empty_flag_is_refused(option: str, flag: str, value: str) -> None:
    with pytest.raises(UsageError, match=flag) as info:
        ChainSettings.resolve(**{option: value})
    assert "empty" in str(info.value)


@pytest.mark.parametrize("value", EMPTY, ids=repr)
@pytest.mark.parametrize("variable", [ENV_CHAIN, ENV_REGISTRY, ENV_HOME])
def test_an_empty_environment_variable_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError, match=variable) as info:
        ChainSettings.resolve()
    assert "empty" in str(info.value)


def test_an_empty_variable_that_a_flag_overrides_is_not_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV_CHAIN, "")
    monkeypatch.setenv(ENV_REGISTRY, " ")
    settings = ChainSettings.resolve("embedded", REGISTRY)
    assert (settings.chain, settings.registry) == (EMBEDDED, REGISTRY)


@pytest.mark.parametrize("value", ["", " "], ids=repr)
def test_an_empty_keystore_flag_is_refused(value: str) -> None:
    # typer turns `--keystore ""` into Path("") == Path(".")
    with pytest.raises(UsageError, match="--keystore"):
        ChainSettings.resolve(keystore=Path(value))


@pytest.mark.parametrize("value", EMPTY, ids=repr)
@pytest.mark.parametrize("variable", [ENV_KEY, ENV_KEYSTORE])
def test_an_empty_key_or_keystore_variable_is_refused_where_a_signer_is_loaded(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(UsageError, match=variable) as info:
        load_signer()
    assert "empty" in str(info.value)


# --- the CLI ---------------------------------------------------------------------------------
@pytest.mark.slow  # runs the CLI in a process
def test_empty_settings_on_the_command_line_never_fall_back_to_the_embedded_chain(
    tmp_path: Path,
) -> None:
    home = tmp_path / "cli-home"
    xdg = tmp_path / "xdg"  # where an empty AICHAIN_HOME fell back to (platformdirs)
    work_env = cli_env(tmp_path / "other-home")
    lineage = make_lineage(tmp_path / "work", "empty", work_env)
    proof = tmp_path / "proof.json"
    made = aichain("prove", lineage, "empty.yaml#/model/C", "-o", proof, env=work_env)
    assert made.returncode == 0, made.stderr
    key = new_key()
    cases: list[tuple[str, tuple[object, ...], dict[str, str]]] = [
        ("--chain", ("anchor", lineage, "--chain", ""), {}),
        ("--chain", ("anchor", lineage, "--chain", "  "), {}),
        ("--registry", ("anchor", lineage, "--registry", ""), {}),
        ("--chain", ("registry", "deploy", "--chain", ""), {}),
        ("--chain", ("registry", "status", "--chain", " ", "--registry", REGISTRY), {}),
        ("--chain", ("check-proof", proof, "--chain", "", "--registry", REGISTRY), {}),
        ("--registry", ("check-proof", proof, "--chain", "embedded", "--registry", ""), {}),
        ("--keystore", ("anchor", lineage, "--keystore", ""), {}),
        (ENV_CHAIN, ("anchor", lineage), {ENV_CHAIN: ""}),
        (ENV_CHAIN, ("registry", "deploy"), {ENV_CHAIN: " "}),
        (ENV_REGISTRY, ("anchor", lineage), {ENV_REGISTRY: ""}),
        (ENV_REGISTRY, ("registry", "status"), {ENV_REGISTRY: "\t"}),
        (ENV_KEY, ("anchor", lineage), {ENV_KEY: ""}),
        (ENV_KEY, ("registry", "deploy"), {ENV_KEY: " "}),
        (ENV_KEYSTORE, ("anchor", lineage), {ENV_KEYSTORE: ""}),
        (ENV_HOME, ("anchor", lineage), {ENV_HOME: ""}),
    ]
    procs = []
    for _, args, extra in cases:
        env = cli_env(home, key if ENV_KEY not in extra else None, XDG_DATA_HOME=str(xdg))
        env.update(extra)
        procs.append(aichain_bg(*args, env=env))
    for (name, args, extra), running in zip(cases, procs, strict=True):
        proc = finish(running)
        line = assert_one_line_error(proc)
        assert name in line and "empty" in line, (args, extra, line)
        assert proc.stdout == ""
    assert not home.exists(), "a refused command created the embedded chain"
    assert not xdg.exists(), "an empty AICHAIN_HOME was read as unset"
    assert not (lineage.parent / "empty.receipt.json").exists()
