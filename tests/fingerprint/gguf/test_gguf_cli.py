"""A GGUF model end to end through the CLI, as a user runs it: fingerprint, anchor on the
embedded chain, verify (pass; fail naming the tensor after one byte of it changes), diff."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import REPO
from tests.fingerprint.gguf.build import Q8_0, write_with_gguf

pytestmark = pytest.mark.slow  # runs the CLI in processes

TENSORS = [
    ("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4)),
    ("output_norm.weight", np.ones(4, dtype=np.float32)),
]
RAW = [("blk.0.attn_q.weight", np.arange(136, dtype=np.uint8), (2, 68), Q8_0)]


def run(*args: object, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHAIN_")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true", AICHAIN_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def anchored(tmp_path: Path, model: str, split: int = 0) -> dict[str, Any]:
    work = tmp_path / "work"
    work.mkdir()
    write_with_gguf(work / "m.gguf", tensors=TENSORS, raw=RAW, split_max_tensors=split)
    home = tmp_path / "home"
    proc = run("fingerprint", "--model", model, "-o", "lineage.json", "--json", home=home, cwd=work)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert set(doc["model"]["semantic"]) == {"graph", "weights", "metadata"}
    assert run("anchor", "lineage.json", home=home, cwd=work).returncode == 0
    return {"work": work, "home": home, "model": model}


def verify(s: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    proc = run("verify", s["model"], "--lineage", "lineage.json", "--json",
               home=s["home"], cwd=s["work"])  # fmt: skip
    assert proc.stdout, proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def flip(path: Path, name: str, at: int) -> None:
    import gguf

    tensor = next(t for t in gguf.GGUFReader(path).tensors if t.name == name)
    data = bytearray(path.read_bytes())
    data[tensor.data_offset + at] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_gguf_model_fingerprints_anchors_verifies_and_names_a_changed_tensor(
    tmp_path: Path,
) -> None:
    s = anchored(tmp_path, "m.gguf")
    manifest = json.loads((s["work"] / "lineage.json").read_text())
    semantic = next(leaf for leaf in manifest["leaves"] if leaf["kind"] == "model-semantic")
    assert semantic["scheme"] == "gguf-semantic/v1"
    assert {leaf["tensor"] for leaf in manifest["leaves"] if leaf["kind"] == "tensor"} == {
        "token_embd.weight", "output_norm.weight", "blk.0.attn_q.weight"
    }  # fmt: skip
    code, doc = verify(s)
    assert code == 0 and doc["verified"] is True, doc

    flip(s["work"] / "m.gguf", "blk.0.attn_q.weight", 5)
    code, doc = verify(s)
    assert code == 1 and doc["verified"] is False
    semantic_check = next(c for c in doc["checks"] if c["name"] == "model.semantic")
    assert semantic_check["status"] == "fail"
    assert "changed: weights" in semantic_check["detail"]
    assert "blk.0.attn_q.weight" in semantic_check["detail"]
    assert "token_embd.weight" not in semantic_check["detail"]

    diff = run("diff", "lineage.json", "m.gguf", "--json", home=s["home"], cwd=s["work"])
    changed = {(c["kind"], c["item"]) for c in json.loads(diff.stdout)["changed"]}
    assert ("tensor", "m.gguf#tensor/blk.0.attn_q.weight") in changed
    assert ("model-semantic", "m.gguf#semantic") in changed


def test_a_split_gguf_model_verifies_and_a_changed_part_is_named(tmp_path: Path) -> None:
    s = anchored(tmp_path, "m-00001-of-00003.gguf", split=1)
    code, doc = verify(s)
    assert code == 0 and doc["verified"] is True, doc

    flip(s["work"] / "m-00003-of-00003.gguf", "blk.0.attn_q.weight", 0)
    code, doc = verify(s)
    assert code == 1
    failed = {c["artifact"] for c in doc["checks"] if c["status"] == "fail"}
    assert any(str(a).endswith("m-00003-of-00003.gguf") for a in failed), failed
    semantic_check = next(c for c in doc["checks"] if c["name"] == "model.semantic")
    assert "blk.0.attn_q.weight" in semantic_check["detail"]
