"""Keeps the README's example session and pasted `--help` true: checks them, or rewrites them.

    python samples/readme.py           # exit 1, with a diff, when the README drifted
    python samples/readme.py --write   # run everything again and rewrite those blocks

Blocks are marked in README.md:
- `<!-- readme-walkthrough -->`: a ```sh block of commands (one a line) that must all succeed,
  run in a fresh folder as the example below is.
- `<!-- readme-api -->`: every name of `aichain_audit.api.__all__`, in backquotes, and no other.
- `<!-- readme-python -->`: a ```python block that must run, in a fresh folder as above.
- `<!-- readme-example -->` … `<!-- /readme-example -->`: a ```sh block of `$ ` commands (with
  `\\` continuations) and their output. The commands run with bash in a fresh folder holding the
  sample model (`model.onnx`), its `data/` and `train.yaml`, with `aichain` on PATH and a fresh
  embedded chain, so every figure (roots, digests, addresses, gas) is reproducible.
- `<!-- readme-help: ARGS -->` … `<!-- /readme-help -->`: the output of `aichain ARGS`.
With `--write`, a root that a command line spells out is replaced by the root the example's
`fingerprint` prints now, so commands stay runnable when digests change.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
BIN = Path(sys.executable).parent
EXAMPLE = re.compile(
    r"(<!-- readme-example -->\n```sh\n)(.*?)(```\n<!-- /readme-example -->)", re.S
)
HELP = re.compile(
    r"(<!-- readme-help: (.*?) -->\n```text\n)(.*?)(```\n<!-- /readme-help -->)", re.S
)
WALKTHROUGH = re.compile(
    r"<!-- readme-walkthrough -->\n```sh\n(.*?)```\n<!-- /readme-walkthrough -->", re.S
)
API = re.compile(r"<!-- readme-api -->\n(.*?)<!-- /readme-api -->", re.S)
PYTHON = re.compile(r"<!-- readme-python -->\n```python\n(.*?)```\n<!-- /readme-python -->", re.S)
ROOT_LINE = re.compile(r"^lineage root\s+([0-9a-f]{64})$", re.M)
WIDTH = "100"


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHAIN_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        AICHAIN_HOME=str(home),
        COLUMNS=WIDTH,
        TERM="dumb",
        MLFLOW_DISABLE_TELEMETRY="true",
        NO_COLOR="1",
    )
    return env


def _commands(block: str) -> list[str]:
    """The `$ ` command lines of a session block, continuations joined."""
    out: list[str] = []
    lines = block.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.startswith("$ "):
            continue
        parts = [line[2:]]
        while parts[-1].endswith("\\") and i < len(lines):
            parts.append(lines[i])
            i += 1
        out.append("\n".join(parts))
    return out


_SAMPLE: list[Path] = []  # the sample, trained once per run


def _sample_folder(work: Path) -> None:
    """`work` with the sample's `model.onnx`, `data/` and a copy of `samples/train.yaml`."""
    if not _SAMPLE:
        build = Path(tempfile.mkdtemp(prefix="aichain-readme-sample-"))
        subprocess.run(
            [sys.executable, str(REPO / "samples" / "train.py"), "--out", str(build)],
            check=True,
            capture_output=True,
        )
        _SAMPLE.append(build)
    build = _SAMPLE[0]
    shutil.copy(build / "model.onnx", work / "model.onnx")
    shutil.copytree(build / "data", work / "data")
    shutil.copy(REPO / "samples" / "train.yaml", work / "train.yaml")


def walkthrough_commands(text: str) -> list[str]:
    """The README walk-through's commands, one a line."""
    found = WALKTHROUGH.search(text)
    if found is None:
        raise SystemExit("README.md has no readme-walkthrough block")
    return [line for line in found.group(1).splitlines() if line.strip()]


def api_problems(text: str) -> list[str]:
    """How the README's API list differs from `aichain_audit.api.__all__`."""
    from aichain_audit import api

    found = API.search(text)
    if found is None:
        return ["README.md has no readme-api block"]
    listed = re.findall(r"`(\w+)`", found.group(1))
    problems = [f"README lists {n}, not in api.__all__" for n in listed if n not in api.__all__]
    problems += [f"api.__all__ has {n}, not in README" for n in api.__all__ if n not in listed]
    return problems


def python_example(text: str) -> str:
    found = PYTHON.search(text)
    if found is None:
        raise SystemExit("README.md has no readme-python block")
    return found.group(1)


def run_in_fresh_sample(commands: list[list[str]], what: str) -> None:
    """Runs each command in a fresh folder holding the sample; exits naming a failure."""
    with tempfile.TemporaryDirectory(prefix="aichain-readme-") as tmp:
        work = Path(tmp) / "sample"
        work.mkdir()
        _sample_folder(work)
        env = _env(Path(tmp) / "home")
        for command in commands:
            proc = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(
                    f"README {what} failed ({proc.returncode}): {command[-1]}\n{proc.stderr}"
                )


def render_example(block: str, write: bool) -> str:
    """Runs the block's commands; returns the block as it should read."""
    old_root = ROOT_LINE.search(block)
    with tempfile.TemporaryDirectory(prefix="aichain-readme-") as tmp:
        work = Path(tmp) / "sample"
        work.mkdir()
        _sample_folder(work)
        env = _env(Path(tmp) / "home")
        rendered: list[str] = []
        new_root: str | None = None
        for command in _commands(block):
            if write and old_root and new_root:
                command = command.replace(old_root.group(1), new_root)
            proc = subprocess.run(
                ["bash", "-c", command], cwd=work, env=env, capture_output=True, text=True
            )
            if proc.returncode != 0:
                raise SystemExit(
                    f"README example command failed ({proc.returncode}): {command}\n{proc.stderr}"
                )
            found = ROOT_LINE.search(proc.stdout)
            if found:
                new_root = found.group(1)
            rendered.append(f"$ {command}\n{proc.stdout}")
    return "".join(rendered)


def render_help(args: str) -> str:
    with tempfile.TemporaryDirectory(prefix="aichain-readme-") as tmp:
        proc = subprocess.run(
            [str(BIN / "aichain"), *args.split()],
            env=_env(Path(tmp)),
            capture_output=True,
            text=True,
            check=True,
        )
    return proc.stdout


def expected(text: str, write: bool) -> str:
    text = EXAMPLE.sub(lambda m: m.group(1) + render_example(m.group(2), write) + m.group(3), text)
    return HELP.sub(lambda m: m.group(1) + render_help(m.group(2)) + m.group(4), text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the README's blocks")
    args = parser.parse_args()
    current = README.read_text(encoding="utf-8")
    if not EXAMPLE.search(current) or not HELP.search(current):
        print("README.md has no readme-example or readme-help block", file=sys.stderr)
        return 1
    problems = api_problems(current)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    run_in_fresh_sample([["bash", "-c", c] for c in walkthrough_commands(current)], "walk-through")
    run_in_fresh_sample([[sys.executable, "-c", python_example(current)]], "Python example")
    wanted = expected(current, args.write)
    if wanted == current:
        print("README example and help are current")
        return 0
    if args.write:
        README.write_text(wanted, encoding="utf-8")
        print("README.md rewritten")
        return 0
    sys.stdout.writelines(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            wanted.splitlines(keepends=True),
            "README.md",
            "README.md (as the tool runs now)",
        )
    )
    print("README.md drifted from the tool: run `make readme` and commit it", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
