"""`verify` and `diff` of safetensors models: a checkpoint folder and a single file, each
hashed as it streams; a changed value names its tensor; a file added to or removed from a
folder fails, named; an opaque lineage is compared by its bytes only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aichain_audit import api
from aichain_audit.fingerprint.interface import ModelFingerprinter
from aichain_audit.lineage import LineageManifest, file_leaf
from aichain_audit.verify.findings import CheckStatus, Finding
from aichain_audit.verify.lineage_root import read_manifest
from aichain_audit.verify.model import check_model
from tests.fingerprint.safetensors.st import write
from tests.verify.test_verify import run

TENSORS = [
    ("model.embed.weight", "F32", [2, 2], bytes(range(16))),
    ("model.norm.weight", "BF16", [2], b"\x80\x3f\x00\x40"),
    ("lm_head.weight", "F16", [3], bytes(range(6))),
]


def checkpoint(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "config.json").write_text('{"model_type": "tiny", "hidden_size": 2}')
    (root / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0}}}')
    write(root / "model-00001-of-00002.safetensors", TENSORS[:2], {"format": "pt"})
    write(root / "model-00002-of-00002.safetensors", TENSORS[2:], {"format": "pt"})
    (root / "model.safetensors.index.json").write_text(json.dumps({
        "metadata": {"total_size": 26},
        "weight_map": {"model.embed.weight": "model-00001-of-00002.safetensors",
                       "model.norm.weight": "model-00001-of-00002.safetensors",
                       "lm_head.weight": "model-00002-of-00002.safetensors"},
    }))  # fmt: skip
    return root


def lineage_of(model: Path, out: Path) -> Path:
    leaves = ModelFingerprinter().fingerprint([model]).leaves
    out.write_bytes(LineageManifest.build(leaves).to_json())
    return out


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def by_status(findings: list[Finding]) -> dict[str, list[tuple[str, str | None, str]]]:
    out: dict[str, list[tuple[str, str | None, str]]] = {}
    for f in findings:
        out.setdefault(f.status.value, []).append((f.name, f.artifact, f.detail))
    return out


@pytest.fixture
def folder(tmp_path: Path) -> tuple[Path, Path]:
    ckpt = checkpoint(tmp_path / "ckpt")
    return ckpt, lineage_of(ckpt, tmp_path / "lineage.json")


def test_an_unchanged_checkpoint_under_another_name_verifies(
    folder: tuple[Path, Path], tmp_path: Path
) -> None:
    ckpt, lineage = folder
    deployed = tmp_path / "srv" / "models" / "v3"
    shutil.copytree(ckpt, deployed)
    checked = check_model(deployed, read_manifest(lineage))
    assert all(f.status is CheckStatus.PASS for f in checked.findings), checked.findings
    names = {f.artifact for f in checked.findings if f.name == "model.digest"}
    assert names == {str(deployed), f"{deployed}/config.json", f"{deployed}/tokenizer.json",
                     f"{deployed}/model-00001-of-00002.safetensors",
                     f"{deployed}/model-00002-of-00002.safetensors"}  # fmt: skip
    assert checked.digest is not None and checked.digest == checked.sha256


def test_a_changed_value_fails_naming_its_tensor_and_file(folder: tuple[Path, Path]) -> None:
    ckpt, lineage = folder
    flip_last_byte(ckpt / "model-00002-of-00002.safetensors")
    checked = check_model(ckpt, read_manifest(lineage))
    failed = by_status(checked.findings)["fail"]
    assert ("model.digest", f"{ckpt}/model-00002-of-00002.safetensors") in {
        (n, a) for n, a, _ in failed
    }
    [semantic] = [d for n, _, d in failed if n == "model.semantic"]
    assert semantic.startswith("changed: weights; tensors: lm_head.weight (lm_head.weight)")


def test_a_file_added_to_the_folder_fails_naming_it(folder: tuple[Path, Path]) -> None:
    ckpt, lineage = folder
    (ckpt / "special_tokens_map.json").write_text("{}")
    failed = by_status(check_model(ckpt, read_manifest(lineage)).findings)["fail"]
    assert [(n, a) for n, a, _ in failed] == [("model.digest", f"{ckpt}/special_tokens_map.json")]


def test_a_file_removed_from_the_folder_fails_naming_it(folder: tuple[Path, Path]) -> None:
    ckpt, lineage = folder
    (ckpt / "tokenizer.json").unlink()
    failed = by_status(check_model(ckpt, read_manifest(lineage)).findings)["fail"]
    assert ("model.digest", f"{ckpt}/tokenizer.json") in {(n, a) for n, a, _ in failed}


def _verdict_statuses(ckpt: Path, lineage: Path) -> set[str]:
    return {f.status.value for f in check_model(ckpt, read_manifest(lineage)).findings}


def test_a_checkpoint_whose_index_is_gone_fails_rather_than_being_refused(
    folder: tuple[Path, Path],
) -> None:
    ckpt, lineage = folder
    (ckpt / "model.safetensors.index.json").unlink()  # now ambiguous: two shards, no index
    failed = by_status(check_model(ckpt, read_manifest(lineage)).findings)["fail"]
    assert ("model.digest", str(ckpt)) in {(n, a) for n, a, _ in failed}
    assert any("no longer holds its model file" in d for _, _, d in failed)


def test_a_checkpoint_without_any_weights_fails_naming_each_missing_file(
    folder: tuple[Path, Path],
) -> None:
    ckpt, lineage = folder
    for p in ckpt.glob("*.safetensors*"):
        p.unlink()
    failed = {
        (n, a) for n, a, _ in by_status(check_model(ckpt, read_manifest(lineage)).findings)["fail"]
    }
    assert {("model.digest", str(ckpt)),
            ("model.digest", f"{ckpt}/model-00001-of-00002.safetensors"),
            ("model.digest", f"{ckpt}/model-00002-of-00002.safetensors")} <= failed  # fmt: skip


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_link_or_fifo_added_to_a_checkpoint_fails_rather_than_being_refused(
    folder: tuple[Path, Path], kind: str
) -> None:
    import os

    ckpt, lineage = folder
    if kind == "symlink":
        (ckpt / "evil.json").symlink_to("/etc/hostname")
    else:
        os.mkfifo(ckpt / "evil.json")
    statuses = _verdict_statuses(ckpt, lineage)
    assert "fail" in statuses and "error" not in statuses


def test_a_config_change_is_explained_as_a_graph_change(folder: tuple[Path, Path]) -> None:
    ckpt, lineage = folder
    (ckpt / "config.json").write_text('{"model_type": "tiny", "hidden_size": 3}')
    failed = by_status(check_model(ckpt, read_manifest(lineage)).findings)["fail"]
    assert [d for n, _, d in failed if n == "model.semantic"] == ["changed: graph"]


def test_a_large_model_file_is_hashed_streaming_with_its_plain_sha256(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    from aichain_audit.fingerprint import hashing
    from aichain_audit.verify import model as verify_model

    for where in (hashing, verify_model):  # 64-byte shards: a small file is a large one
        monkeypatch.setattr(where, "SHARD_SIZE", 64)
    monkeypatch.setattr(hashing, "_CHUNK", 16)
    monkeypatch.setattr(hashing, "_PARALLEL_BLOCK", 16)

    path = write(tmp_path / "m.safetensors", [("t", "U8", [300], bytes(range(256)) + bytes(44))])
    lineage = lineage_of(path, tmp_path / "lineage.json")
    checked = check_model(path, read_manifest(lineage))
    assert checked.digest is not None and checked.digest.startswith("sha256-shards:")
    assert checked.sha256 == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert all(f.status is CheckStatus.PASS for f in checked.findings)


def test_an_opaque_lineage_is_compared_by_its_bytes_only(tmp_path: Path) -> None:
    model = tmp_path / "model.safetensors"
    write(model, TENSORS)
    digest = ModelFingerprinter().fingerprint([model]).model
    assert digest is not None
    lineage = tmp_path / "lineage.json"  # as the opaque format records a model: no semantics
    lineage.write_bytes(LineageManifest.build(
        [file_leaf("model", "model.safetensors", digest.file.digest, digest.file.size)]
    ).to_json())  # fmt: skip
    [*_, semantic] = check_model(model, read_manifest(lineage)).findings
    assert (semantic.status, "opaque model" in semantic.detail) == (CheckStatus.PASS, True)
    flip_last_byte(model)
    [*_, semantic] = check_model(model, read_manifest(lineage)).findings
    assert semantic.status is CheckStatus.FAIL
    assert "compared by its bytes only" in semantic.detail


def test_diff_of_a_lineage_and_a_checkpoint_names_parts_and_tensors(
    folder: tuple[Path, Path],
) -> None:
    ckpt, lineage = folder
    assert api.diff(lineage, ckpt).empty
    flip_last_byte(ckpt / "model-00001-of-00002.safetensors")
    result = api.diff(lineage, ckpt)
    [semantic] = result.of_kind("model-semantic")
    assert semantic.before and semantic.after
    assert [p for p in ("graph", "weights", "metadata")
            if semantic.before[p] != semantic.after[p]] == ["weights"]  # fmt: skip
    assert [c.item for c in result.of_kind("tensor")] == [
        "model.safetensors.index.json#tensor/model.norm.weight"
    ]


def test_diff_of_two_checkpoints_and_of_a_folder_and_a_file(tmp_path: Path) -> None:
    a = checkpoint(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / "tokenizer.json").write_text("{}")
    assert [c.item for c in api.diff(a, b).changed] == ["tokenizer.json"]
    single = tmp_path / "single"
    single.mkdir()
    write(single / "model.safetensors", TENSORS)
    one = single / "model.safetensors"
    result = api.diff(one, single)  # a file and a folder holding only it: the same model
    assert result.empty


def test_diff_of_two_single_files_names_the_changed_tensor(tmp_path: Path) -> None:
    a = write(tmp_path / "a.safetensors", TENSORS)
    b = write(tmp_path / "b.safetensors", [*TENSORS[:2], (*TENSORS[2][:3], b"\0" * 6)])
    result = api.diff(a, b)
    assert [c.item for c in result.of_kind("tensor")] == ["a.safetensors#tensor/lm_head.weight"]


# --- the command line, end to end, on an embedded chain -----------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["folder", "file"])
def test_fingerprint_anchor_verify_diff_end_to_end(tmp_path: Path, kind: str) -> None:
    work = tmp_path / "work"
    work.mkdir()
    home = tmp_path / "home"
    if kind == "folder":
        model = checkpoint(work / "ckpt")
        changed_file = model / "model-00001-of-00002.safetensors"
    else:
        model = write(work / "model.safetensors", TENSORS, {"format": "pt"})
        changed_file = model
    tensor = "model.norm.weight" if kind == "folder" else "lm_head.weight"  # its file's last
    name = model.name
    proc = run("fingerprint", "--model", name, "-o", "lineage.json", home=home, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert run("anchor", "lineage.json", home=home, cwd=work).returncode == 0
    proc = run("verify", name, "--lineage", "lineage.json", "--json", home=home, cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["verified"] is True
    flip_last_byte(changed_file)
    proc = run("verify", name, "--lineage", "lineage.json", "--json", home=home, cwd=work)
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    [semantic] = [c for c in doc["checks"] if c["name"] == "model.semantic"]
    assert f"tensors: {tensor} ({tensor})" in semantic["detail"]
    proc = run("diff", "lineage.json", name, home=home, cwd=work)
    assert proc.returncode == 1
    assert "weights changed (graph and metadata unchanged)" in proc.stdout
    assert tensor in proc.stdout
    if kind == "folder":
        flip_last_byte(changed_file)  # restored
        (model / "notes.md").write_text("added after the lineage")
        proc = run("verify", name, "--lineage", "lineage.json", home=home, cwd=work)
        assert proc.returncode == 1
        assert "notes.md" in proc.stdout
