"""A person following only the README: installs the tool from a wheel built here, and runs the
"On your own model" walk-through and the Python example, as written, on their own files.

The wheel goes into a fresh venv with `--no-deps --no-index`; the venv reuses this project's
installed packages through a `.pth` file (not `--system-site-packages`: they live in the
project's venv, not the system's), so nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO
from tests.verify.test_verify import make_model

pytestmark = pytest.mark.slow  # builds a wheel and runs the installed CLI in processes


def _readme_tools() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme", REPO / "samples" / "readme.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*args: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, check=False,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv's bin folder with aichain-audit installed from a wheel built from this tree."""
    import setuptools

    major = int(setuptools.__version__.split(".")[0])
    assert major >= 77, (
        "the dev extra's setuptools>=77 is not installed: run make (pip install -e '.[dev]')"
    )
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"  # built from a copy: nothing is written into the repository
    shutil.copytree(REPO / "aichain_audit", source / "aichain_audit",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    built = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-index", "-w", base / "dist", source)  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (base / "dist").glob("aichain_audit-*.whl")
    venv = base / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", venv).returncode == 0
    bin_dir = venv / "bin"
    purelib = _run(bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_paths()"
                   "['purelib'])").stdout.strip()  # fmt: skip
    project = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib, "aichain-project-packages.pth").write_text("\n".join(sorted(project)) + "\n")
    done = _run(sys.executable, "-m", "pip", "--python", bin_dir / "python", "install",
                "--no-deps", "--no-index", wheel)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return bin_dir


def _env(bin_dir: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AICHAIN_", "PYTHON"))}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", AICHAIN_HOME=str(home),
               MLFLOW_DISABLE_TELEMETRY="true", COLUMNS="120")  # fmt: skip
    return env


def _own_model(folder: Path) -> Path:
    """Someone's own files: a model, the data it was trained on, its training config."""
    folder.mkdir()
    make_model(folder / "model.onnx")
    (folder / "data").mkdir()
    (folder / "data" / "train.csv").write_text(
        "x,y\n" + "".join(f"{i},{i % 3}\n" for i in range(40))
    )
    (folder / "train.yaml").write_text("model:\n  lr: 0.01\n  epochs: 3\nseed: 1\n")
    return folder


def test_the_wheel_installs_the_tool_with_its_data_files(installed: Path, tmp_path: Path) -> None:
    env = _env(installed, tmp_path / "home")
    where = _run(installed / "python", "-c", "import aichain_audit; print(aichain_audit.__file__)",
                 env=env, cwd=tmp_path)  # fmt: skip
    assert where.stdout.startswith(str(installed.parent)), where  # the wheel's copy, not the tree
    version = _run("aichain", "--version", env=env, cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("aichain ")


def test_the_walkthrough_runs_as_written_on_your_own_model(installed: Path, tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = _readme_tools().walkthrough_commands(readme)
    assert [c.split()[:2] for c in commands] == [
        ["aichain", "fingerprint"], ["aichain", "anchor"], ["aichain", "verify"],
        ["aichain", "report"],
    ]  # fmt: skip
    work = _own_model(tmp_path / "my-model")
    env = _env(installed, tmp_path / "home")
    outputs = []
    for command in commands:
        proc = _run("bash", "-c", command, env=env, cwd=work)
        assert proc.returncode == 0, (command, proc.stdout, proc.stderr)
        outputs.append(proc.stdout)
    assert (work / "lineage.json").is_file() and (work / "lineage.receipt.json").is_file()
    assert outputs[2].startswith("VERIFIED") and outputs[3].startswith("VERIFIED")
    assert (work / "report.html").read_text(encoding="utf-8").lstrip().startswith("<!")


def test_the_python_example_runs_as_written(installed: Path, tmp_path: Path) -> None:
    example = _readme_tools().python_example((REPO / "README.md").read_text(encoding="utf-8"))
    work = _own_model(tmp_path / "my-model")
    proc = _run(installed / "python", "-c", example, env=_env(installed, tmp_path / "home"),
                cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "verified self-attested\n"
    assert (work / "report.html").is_file()
