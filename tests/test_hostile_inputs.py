"""The hostile corpus: inputs a careless or malicious user hands the tool.

Each case was found by trying the tool (issue 6) and is a test before it is a fix: special
files where a file is expected, output paths that are not regular files, the umask, text that
could rewrite the terminal, manifests that are valid JSON but not valid lineages, proofs whose
bytes were changed without changing their meaning.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aichain_audit.canonical import canonical_json
from tests.conftest import REPO, assert_one_line_error

pytestmark = pytest.mark.slow  # runs the CLI (or waits out a budget) in processes

FAST = 60  # seconds: a hang would otherwise wait for the suite's own timeout


def run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, with a timeout that turns a hang into a failure."""
    import sys

    full_env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(REPO)}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=FAST,
        check=False,
    )


@pytest.fixture
def lineage(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n")
    (tmp_path / "train.yaml").write_text("model:\n  C: 0.5\nseed: 7\n")
    out = tmp_path / "lineage.json"
    proc = run("fingerprint", "--dataset", data, "--config", tmp_path / "train.yaml", "-o", out)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    yield path


def _proof(tmp_path: Path, lineage: Path, item: str = "data/train.csv") -> Path:
    proof = tmp_path / "proof.json"
    proc = run("prove", lineage, item, "-o", proof)
    assert proc.returncode == 0, proc.stderr
    return proof


def _root(lineage: Path) -> str:
    return str(json.loads(lineage.read_text())["root"])


# --- 1. special files where a file is expected -------------------------------------------
@pytest.mark.parametrize("special", ["fifo", "/dev/zero"])
@pytest.mark.parametrize("command", ["prove", "check-proof", "anchor"])
def test_a_fifo_or_device_as_manifest_or_proof_is_refused_without_reading(
    tmp_path: Path, fifo: Path, special: str, command: str
) -> None:
    target = fifo if special == "fifo" else Path(special)
    args: list[str | Path] = {
        "prove": ["prove", target, "#subject"],
        "check-proof": ["check-proof", target, "--root", "ab" * 32],
        "anchor": ["anchor", target],
    }[command]
    line = assert_one_line_error(run(*args, env={"AICHAIN_HOME": str(tmp_path / "home")}))
    assert "not a regular file" in line
    assert not (tmp_path / "home").exists()


# --- 2. -o onto something that is not a regular file --------------------------------------
def test_output_onto_a_device_node_is_refused_and_the_node_survives(tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"a": 1}')
    device = tmp_path / "null"
    os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a node like /dev/null
    line = assert_one_line_error(run("fingerprint", "--config", cfg, "-o", device))
    assert "not a regular file" in line
    assert stat.S_ISCHR(os.lstat(device).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".null")] == []


def test_output_onto_a_symlink_is_refused_and_neither_link_nor_target_changes(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"a": 1}')
    target = tmp_path / "target.json"
    target.write_text("keep")
    link = tmp_path / "out.json"
    link.symlink_to(target)
    line = assert_one_line_error(run("fingerprint", "--config", cfg, "-o", link))
    assert "symbolic link" in line
    assert link.is_symlink() and target.read_text() == "keep"


def test_output_onto_a_fifo_is_refused_without_blocking(tmp_path: Path, fifo: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"a": 1}')
    assert_one_line_error(run("fingerprint", "--config", cfg, "-o", fifo))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


# --- 3. umask and an existing file's mode -------------------------------------------------
def _umask_run(umask: int, *args: str | Path) -> subprocess.CompletedProcess[str]:
    import sys

    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=FAST,
        check=False,
        preexec_fn=lambda: os.umask(umask) and None,
    )


@pytest.mark.parametrize(("umask", "mode"), [(0o077, 0o600), (0o022, 0o644), (0o027, 0o640)])
def test_a_new_manifest_respects_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"secret": "value"}')
    out = tmp_path / "lineage.json"
    proc = _umask_run(umask, "fingerprint", "--config", cfg, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == mode


def test_replacing_a_manifest_keeps_its_mode(tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"secret": "value"}')
    out = tmp_path / "lineage.json"
    out.write_text("old")
    os.chmod(out, 0o640)
    proc = _umask_run(0o000, "fingerprint", "--config", cfg, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o640
    assert json.loads(out.read_text())["schema"] == "aichain.lineage/v1"


# --- 7. lone surrogates in a manifest or proof --------------------------------------------
def _rewrite_leaf_path(manifest: Path, old: str, new_json: str) -> None:
    text = manifest.read_text()
    assert f'"{old}"' in text
    manifest.write_text(text.replace(f'"{old}"', new_json))


@pytest.mark.parametrize("bad", [r'"data/\ud800.csv"', r'"data/x\udfff"'])
def test_a_lone_surrogate_in_a_manifest_path_is_an_input_error(lineage: Path, bad: str) -> None:
    _rewrite_leaf_path(lineage, "data/train.csv", bad)
    line = assert_one_line_error(run("prove", lineage, "#subject"))
    assert "internal error" not in line
    assert "surrogate" in line or "not valid Unicode" in line


def test_a_lone_surrogate_in_a_name_or_proof_is_an_input_error(
    tmp_path: Path, lineage: Path
) -> None:
    doc = json.loads(lineage.read_text())
    doc["leaves"].append({"kind": "name", "value": "x"})
    text = json.dumps(doc).replace('"value": "x"', r'"value": "\ud83d"')
    lineage.write_text(text)
    line = assert_one_line_error(run("prove", lineage, "#subject"))
    assert "internal error" not in line
    proof_path = tmp_path / "p.json"
    proof_path.write_text(
        r'{"index":0,"leaf":{"kind":"name","value":"\udc00"},"path":[],"root":"'
        + "ab" * 32
        + r'","schema":"aichain.proof/v1","size":1,"size_proof":{"index":0,"leaf":'
        + r'{"digest":"sha256:'
        + "0" * 64
        + r'","kind":"subject","leaves":1},"path":[]}}'
        + "\n"
    )
    line = assert_one_line_error(run("check-proof", proof_path, "--root", "ab" * 32))
    assert "internal error" not in line


# --- 8. text that could rewrite the terminal or a JSON consumer ---------------------------
EVIL = "a\u202eb\u200bc\u2066d\x85e\x9bf\ufeffg"


def test_bidi_overrides_and_format_characters_are_escaped_on_the_terminal(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "ok.csv").write_text("1")
    (data / f"{EVIL}.csv").symlink_to("ok.csv")  # its name is shown on stderr when skipped
    proc = run("fingerprint", "--dataset", data, "--skip-symlinks", "-o", tmp_path / f"{EVIL}.json")
    assert proc.returncode == 0, proc.stderr
    assert "skipped" in proc.stderr
    missing = run("prove", tmp_path / f"{EVIL}-missing.json", "x")
    assert missing.returncode == 2
    for text in (proc.stdout, proc.stderr, missing.stderr):
        for ch in "\u202e\u200b\u2066\x85\x9b\ufeff":
            assert ch not in text, (ch, text)
    assert "\\u202e" in proc.stderr  # shown escaped, not dropped


def test_c1_controls_and_format_characters_are_escaped_in_json_output(tmp_path: Path) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"a": 1}')
    out = tmp_path / f"o{EVIL}.json"
    proc = run("fingerprint", "--config", cfg, "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    for ch in "\u202e\u200b\u2066\x85\x9b\ufeff":
        assert ch not in proc.stdout
    assert json.loads(proc.stdout)["manifest"] == str(out)  # escaped, not altered


# --- 9. a leaf's kind is shown, and an item names one kind -------------------------------
def test_check_proof_shows_the_kind_of_the_proven_leaf(tmp_path: Path, lineage: Path) -> None:
    proof = _proof(tmp_path, lineage, "train.yaml#/model/C")
    proc = run("check-proof", proof, "--root", _root(lineage))
    assert proc.returncode == 0, proc.stderr
    assert "config" in proc.stdout.split("valid:")[1]
    proc = run("check-proof", proof, "--root", _root(lineage), "--json")
    assert json.loads(proc.stdout)["kind"] == "config"


@pytest.mark.parametrize("name", ["#name", "model.onnx#semantic", "x#tensor", "y#"])
def test_a_file_whose_name_reads_as_another_kind_of_item_is_refused(
    tmp_path: Path, name: str
) -> None:
    if name == "x#tensor":
        name = "x#tensor"  # a folder holding a file makes 'x#tensor/…'
        folder = tmp_path / "d" / name
        folder.mkdir(parents=True)
        (folder / "v0").write_text("1")
        arg = tmp_path / "d"
    elif name == "y#":
        folder = tmp_path / "d" / name
        folder.mkdir(parents=True)
        (folder / "k").write_text("1")  # d/y#/k reads as config 'd/y' pointer '/k'
        arg = tmp_path / "d"
    else:
        arg = tmp_path / name
        arg.write_text("1")
    line = assert_one_line_error(run("fingerprint", "--dataset", arg))
    assert "#" in line and "rename" in line


def test_prove_takes_an_optional_kind_that_must_match(tmp_path: Path, lineage: Path) -> None:
    ok = run("prove", lineage, "data/train.csv", "--kind", "dataset")
    assert ok.returncode == 0, ok.stderr
    line = assert_one_line_error(run("prove", lineage, "data/train.csv", "--kind", "name"))
    assert "dataset" in line


# --- 10. a lineage with model parts but no model -----------------------------------------
@pytest.mark.parametrize(
    "extra",
    [
        {"kind": "model-data", "path": "w.bin", "digest": "sha256:" + "1" * 64, "size": 3},
        {
            "kind": "model-semantic",
            "path": "m.onnx",
            "scheme": "onnx-semantic/v1",
            "graph": "sha256:" + "2" * 64,
            "weights": "sha256:" + "3" * 64,
            "metadata": "sha256:" + "4" * 64,
        },
        {
            "kind": "tensor",
            "path": "m.onnx",
            "tensor": "v0",
            "name": "w",
            "digest": "sha256:" + "5" * 64,
        },
    ],
)
def test_model_parts_without_a_model_leaf_are_refused(extra: dict[str, object]) -> None:
    from aichain_audit.errors import ManifestError
    from aichain_audit.lineage import LineageManifest, name_leaf

    with pytest.raises(ManifestError, match="model"):
        LineageManifest.build([name_leaf("x"), extra])


def test_a_manifest_with_a_model_data_leaf_and_no_model_is_refused_on_read(
    tmp_path: Path,
) -> None:
    from aichain_audit import merkle
    from aichain_audit.lineage import subject_leaf

    data_leaf = {"kind": "model-data", "path": "w.bin", "digest": "sha256:" + "1" * 64, "size": 3}
    subj = subject_leaf("sha256:" + "1" * 64, 2)  # what the old rule derived
    leaves = sorted([data_leaf, subj], key=canonical_json)
    root = merkle.root([merkle.leaf_hash(canonical_json(x)) for x in leaves])
    doc = {"schema": "aichain.lineage/v1", "root": root.hex(), "subject": subj["digest"],
           "leaves": leaves}  # fmt: skip
    path = tmp_path / "l.json"
    path.write_text(json.dumps(doc))
    line = assert_one_line_error(run("prove", path, "#subject"))
    assert "model" in line


# --- 16. proofs are canonical bytes; run ids; nothing to fingerprint ----------------------
@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: json.dumps(json.loads(d), indent=2).encode(),
        lambda d: json.dumps(dict(reversed(list(json.loads(d).items())))).encode() + b"\n",
        lambda d: d.replace(b'"index":', b'"\\u0069ndex":'),
        lambda d: d.rstrip(b"\n"),
        lambda d: d.replace(b"\n", b"\r\n"),
    ],
    ids=["reindented", "reordered", "escaped-name", "no-newline", "crlf"],
)
def test_a_proof_that_is_not_byte_for_byte_canonical_is_refused(
    tmp_path: Path, lineage: Path, mutate: object
) -> None:
    proof = _proof(tmp_path, lineage)
    proof.write_bytes(mutate(proof.read_bytes()))  # type: ignore[operator]
    line = assert_one_line_error(run("check-proof", proof, "--root", _root(lineage)))
    assert "canonical" in line


def test_a_proof_with_one_written_as_1_0_is_refused(tmp_path: Path, lineage: Path) -> None:
    proof = _proof(tmp_path, lineage)
    doc = proof.read_bytes()
    assert b'"index":' in doc
    idx = json.loads(doc)["index"]
    proof.write_bytes(doc.replace(f'"index":{idx},'.encode(), f'"index":{idx}.0,'.encode()))
    assert_one_line_error(run("check-proof", proof, "--root", _root(lineage)))


@pytest.mark.parametrize("run_id", ["", "has space", "a/b", "x" * 257, "ü"])
def test_malformed_mlflow_run_ids_are_usage_errors(tmp_path: Path, run_id: str) -> None:
    cfg = tmp_path / "c.json"
    cfg.write_text('{"a": 1}')
    line = assert_one_line_error(run("fingerprint", "--config", cfg, "--mlflow-run", run_id))
    assert "--mlflow-run" in line


def test_an_mlflow_run_id_as_mlflow_writes_it_passes_validation_and_reaches_mlflow(
    tmp_path: Path,
) -> None:
    """The id is accepted; the run is then read from MLflow (here a store that does not exist,
    which is refused rather than created). Reading real runs: tests/tracking."""
    cfg = tmp_path / "c.json"
    cfg.write_text('{"a": 1}')
    store = tmp_path / "none" / "mlflow.db"
    proc = run(
        "fingerprint", "--config", cfg, "--mlflow-run", "0123456789abcdef0123456789abcdef",
        "-o", tmp_path / "l.json", env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}"},
    )  # fmt: skip
    line = assert_one_line_error(proc)
    assert "--mlflow-run" not in line and f"no MLflow store at {store}" in line
    assert not store.exists() and not (tmp_path / "l.json").exists()


def test_folders_without_files_are_nothing_to_fingerprint(tmp_path: Path) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    line = assert_one_line_error(run("fingerprint", "--dataset", tmp_path / "empty", "--name", "x"))
    assert "nothing to fingerprint" in line
