"""Checkpoint folders (docs/SPEC.md 13.2): which files are the model, which one carries the
fingerprint, and a Hugging Face cache snapshot read as a plain copy."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from aichain_audit.errors import InputError, PathPolicyError
from aichain_audit.fingerprint.interface import ModelFingerprinter
from aichain_audit.lineage import LineageManifest
from tests.fingerprint.safetensors.st import write

FILES = {
    "config.json": '{"model_type": "tiny", "architectures": ["TinyForCausalLM"]}',
    "tokenizer.json": '{"version": "1.0"}',
    "tokenizer_config.json": '{"chat_template": "{{ messages }}"}',
    "generation_config.json": '{"do_sample": false}',
    "modeling_tiny.py": "print('custom code')\n",
    "training_args.bin": "opaque pickle bytes",
    "sub/extra.txt": "nested",
}


def checkpoint(root: Path, *, sharded: bool = True) -> Path:
    root.mkdir(parents=True)
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    if sharded:
        write(root / "model-00001-of-00002.safetensors", [("a", "F32", [1], b"\0\0\x80\x3f")])
        write(root / "model-00002-of-00002.safetensors", [("b", "U8", [2], b"\1\2")])
        (root / "model.safetensors.index.json").write_text(json.dumps({
            "metadata": {"total_size": 6},
            "weight_map": {"a": "model-00001-of-00002.safetensors",
                           "b": "model-00002-of-00002.safetensors"},
        }))  # fmt: skip
    else:
        write(root / "model.safetensors", [("a", "F32", [1], b"\0\0\x80\x3f")])
    return root


def leaves(path: Path) -> list[dict[str, object]]:
    return ModelFingerprinter().fingerprint([path]).leaves


def root_of(path: Path) -> str:
    return LineageManifest.build(leaves(path)).root_hex


def test_every_file_is_a_leaf_named_inside_the_folder_and_the_index_is_the_model(
    tmp_path: Path,
) -> None:
    ckpt = checkpoint(tmp_path / "my-model")
    got = leaves(ckpt)
    model = [x for x in got if x["kind"] == "model"]
    data = sorted(str(x["path"]) for x in got if x["kind"] == "model-data")
    assert [m["path"] for m in model] == ["model.safetensors.index.json"]
    assert data == sorted([*FILES, "model-00001-of-00002.safetensors",
                           "model-00002-of-00002.safetensors"])  # fmt: skip
    semantic = [x for x in got if x["kind"] == "model-semantic"]
    assert semantic[0]["path"] == "model.safetensors.index.json"
    assert semantic[0]["scheme"] == "safetensors-semantic/v1"
    manifest = LineageManifest.build(got)
    assert manifest.subject.startswith("sha256-modelset:")  # covers every file
    assert ModelFingerprinter().fingerprint([ckpt]).total_bytes == sum(
        f.stat().st_size for f in ckpt.rglob("*") if f.is_file()
    )


def test_the_folder_name_is_not_recorded(tmp_path: Path) -> None:
    a = checkpoint(tmp_path / "a")
    b = tmp_path / "deployed" / "other-name"
    b.parent.mkdir()
    shutil.copytree(a, b)
    assert root_of(a) == root_of(b)


def test_a_changed_tokenizer_changes_the_lineage_but_not_the_semantics(tmp_path: Path) -> None:
    a = checkpoint(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / "tokenizer.json").write_text('{"version": "2.0"}')
    assert root_of(a) != root_of(b)
    sa = [x for x in leaves(a) if x["kind"] == "model-semantic"]
    sb = [x for x in leaves(b) if x["kind"] == "model-semantic"]
    assert sa == sb


def test_without_an_index_the_weights_file_is_the_model_and_other_safetensors_are_opaque(
    tmp_path: Path,
) -> None:
    ckpt = checkpoint(tmp_path / "c", sharded=False)
    write(ckpt / "consolidated.safetensors", [("zz", "U8", [1], b"\1")])
    got = leaves(ckpt)
    assert [x["path"] for x in got if x["kind"] == "model"] == ["model.safetensors"]
    assert "consolidated.safetensors" in {x["path"] for x in got if x["kind"] == "model-data"}
    assert {x["tensor"] for x in got if x["kind"] == "tensor"} == {"a"}


def test_one_weights_file_of_any_name_is_the_model(tmp_path: Path) -> None:
    root = tmp_path / "x"
    root.mkdir()
    write(root / "adapter_model.safetensors", [("a", "U8", [1], b"\1")])
    assert [x["path"] for x in leaves(root) if x["kind"] == "model"] == [
        "adapter_model.safetensors"
    ]


def test_a_folder_with_only_the_weights_file_records_what_the_file_alone_does(
    tmp_path: Path,
) -> None:
    root = tmp_path / "x"
    root.mkdir()
    write(root / "model.safetensors", [("a", "U8", [1], b"\1")], {"format": "pt"})
    assert leaves(root) == leaves(root / "model.safetensors")


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["a.safetensors", "b.safetensors"], "which ones are the model is ambiguous"),
        (["a.safetensors.index.json", "b.safetensors.index.json"], "which one is the model"),
    ],
)
def test_an_ambiguous_folder_is_refused(tmp_path: Path, names: list[str], message: str) -> None:
    root = tmp_path / "x"
    root.mkdir()
    for n in names:
        if n.endswith(".json"):
            (root / n).write_text('{"weight_map": {}}')
        else:
            write(root / n, [("a", "U8", [1], b"\1")])
    with pytest.raises(InputError, match=message):
        leaves(root)


def test_download_metadata_and_git_are_not_part_of_the_model(tmp_path: Path) -> None:
    a = checkpoint(tmp_path / "a")
    b = tmp_path / "b"
    shutil.copytree(a, b)
    (b / ".cache" / "huggingface" / "download").mkdir(parents=True)
    (b / ".cache" / "huggingface" / "download" / "config.json.metadata").write_text("etag")
    (b / ".git" / "lfs").mkdir(parents=True)
    (b / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    assert root_of(a) == root_of(b)
    (b / ".cache" / "other.txt").write_text("x")  # only .cache/huggingface is left out
    assert ".cache/other.txt" in {x["path"] for x in leaves(b)}


def test_a_symbolic_link_in_a_plain_folder_is_refused(tmp_path: Path) -> None:
    ckpt = checkpoint(tmp_path / "a")
    os.symlink("config.json", ckpt / "linked.json")
    with pytest.raises(PathPolicyError, match=r"linked\.json is a symbolic link"):
        leaves(ckpt)


def test_a_fifo_in_the_folder_is_refused(tmp_path: Path) -> None:
    ckpt = checkpoint(tmp_path / "a")
    os.mkfifo(ckpt / "pipe")
    with pytest.raises(PathPolicyError, match="not a regular file"):
        leaves(ckpt)


def cache_snapshot(cache: Path, source: Path, rev: str = "0123abcd") -> Path:
    """`models--org--tiny/snapshots/REV/` whose files are relative links into `blobs/`, as
    huggingface_hub lays out its cache."""
    repo = cache / "models--org--tiny"
    snapshot = repo / "snapshots" / rev
    (repo / "blobs").mkdir(parents=True)
    for path in sorted(source.rglob("*")):
        if path.is_dir():
            continue
        rel = path.relative_to(source)
        blob = repo / "blobs" / f"blob{len(list((repo / 'blobs').iterdir()))}"
        shutil.copyfile(path, blob)
        link = snapshot / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(rev)
    return snapshot


def test_a_cache_snapshot_fingerprints_as_a_plain_copy(tmp_path: Path) -> None:
    plain = checkpoint(tmp_path / "plain")
    snapshot = cache_snapshot(tmp_path / "hub", plain)
    assert os.path.islink(snapshot / "config.json")
    assert leaves(snapshot) == leaves(plain)


def test_a_cache_link_leaving_the_repository_folder_is_refused(tmp_path: Path) -> None:
    plain = checkpoint(tmp_path / "plain")
    snapshot = cache_snapshot(tmp_path / "hub", plain)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("not from the hub")
    os.symlink(outside, snapshot / "tokenizer.model")
    with pytest.raises(PathPolicyError, match="leaves the cache's repository folder"):
        leaves(snapshot)


def test_a_cache_link_to_another_repository_is_refused(tmp_path: Path) -> None:
    plain = checkpoint(tmp_path / "plain")
    snapshot = cache_snapshot(tmp_path / "hub", plain)
    other = tmp_path / "hub" / "models--org--other" / "blobs"
    other.mkdir(parents=True)
    (other / "x").write_text("other model")
    os.symlink(os.path.relpath(other / "x", snapshot), snapshot / "vocab.txt")
    with pytest.raises(PathPolicyError, match="leaves the cache's repository folder"):
        leaves(snapshot)
