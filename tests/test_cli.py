"""The command line contract: outputs, exit codes, one-line errors, no partial files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from aichain_audit import __version__
from aichain_audit.cli import main as cli_main
from tests.conftest import REPO, assert_one_line_error, run_cli

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes


@pytest.fixture
def lineage(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n3,4\n")
    (data / "test.csv").write_text("a,b\n5,6\n")
    (tmp_path / "train.yaml").write_text("model:\n  C: 0.5\n  solver: lbfgs\nseed: 7\n")
    out = tmp_path / "lineage.json"
    proc = run_cli("fingerprint", "--dataset", data, "--config", tmp_path / "train.yaml", "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


def root_of(manifest: Path) -> str:
    return str(json.loads(manifest.read_text())["root"])


def run_main(*args: str | Path) -> int:
    """Runs the CLI entry point in-process (fast, for many small cases)."""
    try:
        cli_main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_version_is_printed() -> None:
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"aichain {__version__}"


def test_python_dash_m_behaves_like_the_console_script(lineage: Path) -> None:
    script = shutil.which("aichain", path=str(REPO / ".venv" / "bin"))
    assert script is not None, "the console script is installed by `make test`"
    args = ["prove", str(lineage), "data/train.csv"]
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    a = subprocess.run([script, *args], capture_output=True, text=True, env=env, check=False)
    b = run_cli(*args)
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr)
    assert a.returncode == 0


@pytest.mark.parametrize("command", ["fingerprint", "prove", "check-proof"])
def test_every_command_help_shows_an_example(command: str) -> None:
    proc = run_cli(command, "--help")
    assert proc.returncode == 0
    assert "Example" in proc.stdout


def test_json_output_has_the_documented_shape(tmp_path: Path, lineage: Path) -> None:
    proc = run_cli("fingerprint", "--config", tmp_path / "train.yaml", "--json")
    doc = json.loads(proc.stdout)
    assert set(doc) >= {"root", "leaves", "subject"}
    assert len(doc["root"]) == 64
    assert doc["leaves"] == 4  # three config values and the subject
    assert proc.stderr.startswith("aichain: note: the manifest was not saved")  # no -o


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_a_fingerprint_without_output_says_that_nothing_was_saved(
    tmp_path: Path, as_json: list[str]
) -> None:
    (tmp_path / "train.yaml").write_text("seed: 7\n")
    proc = run_cli("fingerprint", "--config", "train.yaml", *as_json, cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stderr == (
        "aichain: note: the manifest was not saved (give -o lineage.json to keep it: "
        "prove, anchor, verify and report read it)\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.yaml"]  # nothing written
    saved = run_cli("fingerprint", "--config", "train.yaml", "-o", "l.json", *as_json,
                    cwd=tmp_path)  # fmt: skip
    assert saved.returncode == 0 and saved.stderr == ""
    assert (tmp_path / "l.json").is_file()


@pytest.mark.parametrize("item", ["data/train.csv", "train.yaml#/model/C", "#subject"])
def test_prove_then_check_proof_accepts_the_trusted_root(
    tmp_path: Path, lineage: Path, item: str
) -> None:
    proof = tmp_path / "proof.json"
    assert run_cli("prove", lineage, item, "-o", proof).returncode == 0
    proc = run_cli("check-proof", proof, "--root", root_of(lineage))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("valid: ")


def test_check_proof_refuses_to_trust_the_root_inside_the_proof(
    tmp_path: Path, lineage: Path
) -> None:
    proof = tmp_path / "proof.json"
    assert run_cli("prove", lineage, "data/train.csv", "-o", proof).returncode == 0
    line = assert_one_line_error(run_cli("check-proof", proof))
    assert "--root" in line


def test_check_proof_against_another_root_exits_1(tmp_path: Path, lineage: Path) -> None:
    proof = tmp_path / "proof.json"
    assert run_cli("prove", lineage, "data/train.csv", "-o", proof).returncode == 0
    other = "ab" * 32
    proc = run_cli("check-proof", proof, "--root", other, "--json")
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["valid"] is False
    assert "invalid proof" in proc.stderr


def test_any_changed_byte_of_a_proof_or_the_root_is_rejected(tmp_path: Path, lineage: Path) -> None:
    proof = tmp_path / "proof.json"
    assert run_main("prove", lineage, "train.yaml#/model/C", "-o", proof) == 0
    root = root_of(lineage)
    assert run_main("check-proof", proof, "--root", root) == 0
    original = proof.read_bytes()
    bad = tmp_path / "bad.json"
    accepted = []
    for i in range(len(original)):
        mutated = bytearray(original)
        mutated[i] ^= 0x01
        bad.write_bytes(bytes(mutated))
        if run_main("check-proof", bad, "--root", root) == 0:
            accepted.append((i, chr(original[i])))
    assert accepted == []
    for i in range(len(root)):
        changed = root[:i] + ("0" if root[i] != "0" else "1") + root[i + 1 :]
        assert run_main("check-proof", proof, "--root", changed) == 1


def test_prove_of_an_unknown_item_is_an_input_error(lineage: Path) -> None:
    line = assert_one_line_error(run_cli("prove", lineage, "data/missing.csv"))
    assert "no leaf named" in line


def test_a_tampered_manifest_is_refused_before_use(tmp_path: Path, lineage: Path) -> None:
    doc = json.loads(lineage.read_text())
    first = next(leaf for leaf in doc["leaves"] if "size" in leaf)
    first["size"] += 1
    lineage.write_text(json.dumps(doc))
    line = assert_one_line_error(run_cli("prove", lineage, "data/train.csv"))
    assert "does not match" in line or "not in canonical order" in line


def test_a_manifest_with_a_dot_dot_path_is_refused(tmp_path: Path, lineage: Path) -> None:
    doc = json.loads(lineage.read_text())
    next(leaf for leaf in doc["leaves"] if "path" in leaf)["path"] = "../../etc/passwd"
    lineage.write_text(json.dumps(doc))
    line = assert_one_line_error(run_cli("prove", lineage, "../../etc/passwd"))
    assert "'..'" in line


def test_output_replaces_an_existing_file_and_a_failure_leaves_it_untouched(
    tmp_path: Path, lineage: Path
) -> None:
    out = tmp_path / "out.json"
    out.write_text("previous")
    cfg = tmp_path / "train.yaml"
    assert run_cli("fingerprint", "--config", cfg, "-o", out).returncode == 0
    good = out.read_bytes()
    assert json.loads(good)["schema"] == "aichain.lineage/v1"
    (tmp_path / "broken.json").write_text("{")
    assert_one_line_error(
        run_cli("fingerprint", "--config", cfg, "--config", tmp_path / "broken.json", "-o", out)
    )
    assert out.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.json")] == []


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ([], "nothing to fingerprint"),
        (["--bogus"], "No such option"),
        (["--parent", "xyz", "--config", "CFG"], "--parent"),
        (["--follow-symlinks", "--skip-symlinks", "--config", "CFG"], "exclude each other"),
        (["--name", " ", "--config", "CFG"], "--name"),
        (["--config", "MISSING.yaml"], "no such file"),
    ],
)
def test_usage_errors_are_one_line_with_exit_2(
    tmp_path: Path, lineage: Path, args: list[str], fragment: str
) -> None:
    cfg = str(tmp_path / "train.yaml")
    args = [a.replace("CFG", cfg).replace("MISSING", str(tmp_path / "nope")) for a in args]
    line = assert_one_line_error(run_cli("fingerprint", *args))
    assert fragment in line


def test_alias_bomb_and_malformed_config_exit_2_and_write_nothing(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(
        "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        )
    )
    out = tmp_path / "l.json"
    assert "alias" in assert_one_line_error(run_cli("fingerprint", "--config", bomb, "-o", out))
    assert not out.exists()


def test_untrusted_names_are_escaped_in_terminal_output(tmp_path: Path) -> None:
    evil = tmp_path / "data"
    evil.mkdir()
    (evil / "x\x1b[31mred.csv").write_text("1")
    (evil / "link").symlink_to("nowhere")
    proc = run_cli("fingerprint", "--dataset", evil, "--skip-symlinks")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout + proc.stderr
    line = assert_one_line_error(run_cli("prove", tmp_path / "nope.json", "x\x1b[2Jy"))
    assert "\x1b" not in line


def test_debug_shows_a_traceback_for_errors(tmp_path: Path) -> None:
    proc = run_cli("--debug", "fingerprint", "--dataset", tmp_path / "nope")
    assert proc.returncode == 2  # the exit code keeps its meaning under --debug
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("aichain: error: ")


def test_two_arguments_with_the_same_base_name_are_refused(tmp_path: Path) -> None:
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "c.json").write_text(f'{{"{sub}": 1}}')
    line = assert_one_line_error(
        run_cli("fingerprint", "--config", tmp_path / "a/c.json", "--config", tmp_path / "b/c.json")
    )
    assert "would both be recorded as 'c.json'" in line


def test_every_error_hint_has_a_flag() -> None:
    """Errors below the CLI name a setting, never a flag; the CLI's one handler names it."""
    from aichain_audit.cli.app import HINT_FLAGS
    from aichain_audit.errors import HINTS, UsageError

    assert set(HINT_FLAGS) == set(HINTS)
    assert all(flag.startswith("--") for flag in HINT_FLAGS.values())
    with pytest.raises(ValueError, match="unknown hint"):
        UsageError("x", hint="no-such-setting")
