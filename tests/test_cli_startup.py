"""Start-up: a fingerprint run imports neither pydantic (typer's coercion, replaced for plain
parameters) nor onnx without a model, and plain parameters are coerced as typer would."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

PROBE = """
import json, sys
from aichain_audit.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = {"pydantic", "onnx", "rich", "mlflow", "web3", "securesystemslib", "cryptography"}
print(json.dumps({"code": code, "loaded": sorted({m.split(".")[0] for m in sys.modules} & heavy)}))
"""


def _run(*args: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.slow  # runs the CLI in a process
def test_fingerprint_of_a_dataset_loads_neither_pydantic_nor_onnx_nor_rich(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("x\n")
    data = str(tmp_path / "data")
    result = _run("fingerprint", "--dataset", data, "--config-less", "--json")
    assert result["code"] == 2  # an unknown option is refused before anything runs
    result = _run("fingerprint", "--dataset", data, "--name", "n", "--json")
    assert result == {"code": 0, "loaded": []}


@pytest.mark.slow  # runs the CLI in a process
def test_help_and_a_model_fingerprint_import_neither_mlflow_nor_web3(tmp_path: Path) -> None:
    # Only aichain_audit.tracking imports mlflow, and only when a run is read (PRODUCT P5).
    assert _run("--help")["loaded"] == []
    model = Path(__file__).parent / "fingerprint"  # any folder: a dataset is enough here
    loaded = _run("fingerprint", "--dataset", str(model), "--json")["loaded"]
    assert "mlflow" not in loaded and "web3" not in loaded


@pytest.mark.slow  # runs the CLI in a process
def test_an_int_option_still_goes_through_typer(tmp_path: Path) -> None:
    # `--confirmations` is an int: typer's own coercion (pydantic) takes it, and refuses a word.
    result = _run("check-proof", str(tmp_path / "p.json"), "--confirmations", "many")
    assert result["code"] == 2
    assert "pydantic" in result["loaded"]  # type: ignore[operator]


def _shape(command: Any) -> dict[str, object]:
    """What a user sees of a click command: its help, options and arguments, and its
    subcommands (each the same way), in order."""
    ctx = command.make_context("aichain", [], resilient_parsing=True)
    params = [
        (
            *(p.name, p.opts, p.secondary_opts, repr(p.type_descriptor.annotation), p.required),
            *(repr(p.default), p.nargs, p.multiple, getattr(p, "is_flag", None), p.is_eager),
        )
        for p in command.params
    ]
    subs = getattr(command, "commands", None)
    return {
        "class": type(command).__name__,
        "help": command.get_help(ctx),
        "params": params,
        "commands": {n: _shape(subs[n]) for n in subs} if subs is not None else None,
    }


def test_the_app_run_has_the_same_commands_as_typers_own_build() -> None:
    from typer.main import get_command

    from aichain_audit.cli.app import _command, _readable, app

    lazy, eager = _command(), _readable(get_command(app))
    assert list(lazy.commands) == list(eager.commands)  # type: ignore[attr-defined]
    assert len(lazy.commands) >= 9  # type: ignore[attr-defined]
    assert _shape(lazy) == _shape(eager)


def test_running_one_command_builds_only_that_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer import main as typer_main

    from aichain_audit.cli import main

    built: list[str] = []
    real = typer_main.get_command_from_info

    def counting(info: Any, **kwargs: Any) -> Any:
        command = real(info, **kwargs)
        built.append(command.name)
        return command

    monkeypatch.setattr(typer_main, "get_command_from_info", counting)
    (tmp_path / "a.csv").write_text("x\n")
    with pytest.raises(SystemExit) as exit_:
        main(["fingerprint", "--dataset", str(tmp_path / "a.csv"), "--json"])
    assert exit_.value.code == 0
    assert built == ["fingerprint"]
    built.clear()
    with pytest.raises(SystemExit):
        main(["--help"])
    assert len(built) >= 8  # the help lists every command, so it builds them all
