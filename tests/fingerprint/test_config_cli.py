"""Hostile configs through the CLI, as a user runs it: exit 2, one line, quickly.

Each case once ended in a hang, an "internal error" (an exception the tool did not expect) or
could have crashed the interpreter (deep recursion). A subprocess is the only place where a
hang, a RecursionError or a segfault shows as what it is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aichain_audit.fingerprint.config import MAX_CONFIG_DEPTH
from tests.conftest import REPO, assert_one_line_error

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes

# Each case takes well under 2 s on a quiet machine; this bound only turns a hang into a
# failure, so it leaves room for a shared two-core machine that is busy with something else.
HANG = 120  # seconds
DEEP = 200_000


def fingerprint_config(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", "fingerprint", "--config", str(config)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG,
        check=False,
    )


def refused(config: Path) -> str:
    """The one error line for a refused config; fails on a traceback or an internal error."""
    proc = fingerprint_config(config)
    line = assert_one_line_error(proc)
    assert "internal error" not in proc.stderr
    return line


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- special files -------------------------------------------------------------------------
def test_a_fifo_as_config_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "train.yaml"
    os.mkfifo(fifo)
    assert "FIFO" in refused(fifo)


def test_dev_zero_as_config_is_refused_without_reading_it(tmp_path: Path) -> None:
    link = tmp_path / "zero.json"  # the extension picks the format; the link is followed
    link.symlink_to("/dev/zero")
    assert "character device" in refused(link)


def test_a_folder_named_like_a_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "conf.toml").mkdir()
    assert "folder" in refused(tmp_path / "conf.toml")


def test_a_missing_config_is_refused(tmp_path: Path) -> None:
    assert "no such file" in refused(tmp_path / "absent.json")


# --- nesting -------------------------------------------------------------------------------
def _block_mapping(depth: int) -> str:
    return "".join(" " * i + "a:\n" for i in range(depth)) + " " * depth + "1\n"


DEEP_CONFIGS = {
    "flow-sequence.yaml": "[" * DEEP + "]" * DEEP,
    "flow-sequence-unclosed.yaml": "[" * DEEP,
    "flow-mapping.yaml": "{a: " * DEEP + "1" + "}" * DEEP,
    "block-sequence.yaml": "- " * DEEP + "x\n",
    "block-mapping.yaml": _block_mapping(3000),
    "mixed.yaml": "[{a: " * (DEEP // 2),
    "array.json": "[" * DEEP + "]" * DEEP,
    "object.json": '{"a":' * DEEP + "1" + "}" * DEEP,
    "array.toml": "a = " + "[" * DEEP + "]" * DEEP + "\n",
    "inline-table.toml": "a = " + "{b = " * DEEP + "1" + "}" * DEEP + "\n",
    "table-header.toml": "[" + ".".join(["a"] * DEEP) + "]\n",
    "dotted-key.toml": ".".join(["a"] * DEEP) + " = 1\n",
}


@pytest.mark.parametrize("name", sorted(DEEP_CONFIGS))
def test_deeply_nested_configs_are_refused_quickly_with_one_line(tmp_path: Path, name: str) -> None:
    line = refused(write(tmp_path, name, DEEP_CONFIGS[name]))
    assert f"more than {MAX_CONFIG_DEPTH} levels" in line, line


# --- integers too long for Python's int-from-string limit ----------------------------------
HUGE = "7" * 5000

HUGE_INTEGERS = {
    "decimal.yaml": f"seed: {HUGE}\n",
    "negative.yaml": f"seed: -{HUGE}\n",
    "tagged.yaml": f"seed: !!int {HUGE}\n",
    "hex.yaml": f"seed: 0x{'f' * 5000}\n",
    "octal.yaml": f"seed: 0o{HUGE}\n",
    "key.yaml": f"!!int {HUGE}: x\n",
    "decimal.json": f'{{"seed": {HUGE}}}',
    "negative.json": f'{{"seed": -{HUGE}}}',
    "decimal.toml": f"seed = {HUGE}\n",
    "hex.toml": f"seed = 0x{'f' * 5000}\n",
    "octal.toml": f"seed = 0o{HUGE}\n",
}


@pytest.mark.parametrize("name", sorted(HUGE_INTEGERS))
def test_integers_of_thousands_of_digits_are_refused_as_beyond_2_53(
    tmp_path: Path, name: str
) -> None:
    line = refused(write(tmp_path, name, HUGE_INTEGERS[name]))
    assert "2**53" in line, line
    assert len(line) < 400, line  # the literal is not echoed whole


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("float.yaml", f"x: {HUGE}.5\n"),
        ("tagged-float.yaml", f"x: !!float {HUGE}\n"),
        ("float.json", f'{{"x": {HUGE}.5}}'),
        ("exponent.json", '{"x": 1e400}'),
        ("float.toml", f"x = {HUGE}.5\n"),
    ],
)
def test_floats_beyond_the_double_range_are_refused(tmp_path: Path, name: str, text: str) -> None:
    assert "no canonical JSON form" in refused(write(tmp_path, name, text))


# --- odd YAML ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('a: "\\U00110000"\n', "invalid YAML"),
        ("? [a]\n: 1\n", "not a scalar"),
        ("? {a: 1}\n: 1\n", "not a scalar"),
        ("k: &k [1]\n*k : 2\n", "not a scalar"),
        ("&k a: 1\n*k : 2\n", "duplicate key"),
        ("!!int 1: a\n", "not a string"),
        ("a: &a 1\nb: &a 2\n", "invalid YAML"),
        ("a: *nowhere\n", "invalid YAML"),
        ("a: &a [*a]\n", "refers to itself"),
        ("%TAG !p! ?\n---\nv: !p!plain '0o17'\n", "not supported"),
        ("a: 1\n---\nb: 2\n", "one document"),
    ],
)
def test_odd_yaml_is_refused_with_one_line(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in refused(write(tmp_path, "odd.yaml", text))
