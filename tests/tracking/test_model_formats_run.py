"""Safetensors checkpoints and GGUF models held by an MLflow run (docs/SPEC.md 12.1, 12.3):
`fingerprint --mlflow-run` takes them as `--model` takes the same files on disk, `verify`
downloads them from `runs:/…` and `models:/…` URIs, and `mlflow.model` compares the run's
copy file by file, naming the file that changed."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import assert_one_line_error
from tests.fingerprint.gguf.build import write_with_gguf
from tests.ledger.conftest import aichain, ok_json
from tests.tracking.conftest import Store, failing, sha256, statuses, tracking

pytestmark = pytest.mark.slow  # every test runs the CLI in processes

MLFLOW_CHECKS = ("mlflow.run", "mlflow.root", "mlflow.params", "mlflow.datasets", "mlflow.model")
SHARDS = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
GGUF_TENSORS = [
    ("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4)),
    ("blk.0.ffn_up.weight", np.arange(8, dtype=np.float16).reshape(2, 4)),
    ("output_norm.weight", np.ones(4, dtype=np.float32)),
]


# --- models, as the reference writers make them ---------------------------------------------
def shard(path: Path, tensors: dict[str, np.ndarray[Any, Any]]) -> None:
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata={"format": "np"})


def checkpoint(folder: Path) -> Path:
    """A Hugging Face style checkpoint: config, tokenizer, two shards and their index; its
    config holds a nonce, so no other test's run records the same model."""
    folder.mkdir(parents=True)
    config = {"model_type": "tiny", "architectures": ["TinyForCausalLM"], "nonce": uuid.uuid4().hex}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "BPE"}}')
    shard(folder / SHARDS[0], {"embed.weight": np.arange(6, dtype=np.float32).reshape(2, 3)})
    shard(folder / SHARDS[1], {"lm_head.weight": np.ones((3, 2), dtype=np.float16)})
    index = {
        "metadata": {"total_size": 24 + 12},
        "weight_map": {"embed.weight": SHARDS[0], "lm_head.weight": SHARDS[1]},
    }
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


def gguf_model(path: Path, *, split: int = 0) -> Path:
    """A GGUF model by gguf-py's writer (split into parts of `split` tensors when given):
    the file, or the first part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_with_gguf(path, tensors=GGUF_TENSORS, name=f"tiny-{uuid.uuid4().hex}",
                    split_max_tensors=split)  # fmt: skip
    if not split:
        return path
    count = -(-len(GGUF_TENSORS) // split)
    return path.with_name(f"{path.stem}-00001-of-{count:05d}.gguf")


def dataset(folder: Path) -> Path:
    """A small CSV of its own: no other run shares its MLflow dataset record."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.csv"
    rows = [f"{i},{(i * 7) % 5},{uuid.uuid4().int % 1000}" for i in range(20)]
    path.write_text("a,b,c\n" + "\n".join(rows) + "\n")
    return path


# --- runs ----------------------------------------------------------------------------------
def log_run(
    store: Store, tmp: Path, *, artifacts: dict[str, Path], logged: Path | None = None
) -> tuple[str, str | None]:
    """A finished run with a param, a dataset input and its models: `artifacts` as run
    artifacts (folder or file, by artifact path: "" for the top level), and `logged` (a
    checkpoint folder) inside a LoggedModel, as `mlflow.pyfunc.log_model` ships one (under
    `artifacts/<its folder's name>/`, beside MLmodel and the pickled wrapper). (run id,
    model id)."""
    import mlflow
    import mlflow.pyfunc
    import pandas as pd

    data = dataset(tmp / "data")
    with tracking(store.uri), mlflow.start_run(experiment_id=store.new_experiment("fmt")) as run:
        mlflow.log_params({"lr": 0.001, "epochs": 3})
        source = mlflow.data.from_pandas(pd.read_csv(data), source=str(data), name="train")
        mlflow.log_input(source, context="training")
        for where, path in artifacts.items():
            if path.is_dir():
                mlflow.log_artifacts(str(path), artifact_path=where or None)
            else:
                mlflow.log_artifact(str(path), artifact_path=where or None)
        model_id = None
        if logged is not None:

            class Checkpoint(mlflow.pyfunc.PythonModel):  # never loaded here
                def predict(self, context: Any, model_input: Any) -> Any:
                    return model_input

            info = mlflow.pyfunc.log_model(
                name="model", python_model=Checkpoint(), artifacts={"checkpoint": str(logged)},
                pip_requirements=["mlflow"],  # else MLflow spends seconds inferring them
            )  # fmt: skip
            model_id = str(info.model_id)
    return run.info.run_id, model_id


def fingerprint_run(store: Store, run_id: str, out: Path, home: Path) -> dict[str, Any]:
    proc = aichain("fingerprint", "--mlflow-run", run_id, "-o", out, "--json",
                   env=store.env(home))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(proc.stdout)
    return doc


def root_with_local_model(store: Store, run_id: str, model: Path) -> str:
    """The root `--mlflow-run RUN --model PATH` gives: the run's records, the local copy."""
    from aichain_audit import api

    with tracking(store.uri):
        return api.fingerprint(mlflow_run=run_id, model=model).manifest.root_hex


MODEL_KINDS = ("model", "model-data", "model-semantic")


def model_leaves(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's leaves (files and semantic fingerprint), by kind and path."""
    found = [leaf for leaf in manifest["leaves"] if leaf["kind"] in MODEL_KINDS]
    return sorted(found, key=lambda leaf: (leaf["kind"], leaf["path"]))


def local_model_leaves(model: Path) -> list[dict[str, Any]]:
    """What `aichain fingerprint --model PATH` records of the model."""
    from aichain_audit.fingerprint.interface import ModelFingerprinter

    leaves = ModelFingerprinter().fingerprint([model]).leaves
    return model_leaves({"leaves": [dict(leaf) for leaf in leaves]})


def file_names(manifest: dict[str, Any]) -> list[str]:
    return sorted(x["path"] for x in model_leaves(manifest) if x["kind"] != "model-semantic")


def anchor(store: Store, lineage: Path, home: Path) -> None:
    ok_json(aichain("anchor", lineage, "--json", env=store.env(home)))


def verify(store: Store, home: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return aichain("verify", *args, "--json", env=store.env(home))


def verified(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr)
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["verified"] is True and failing(doc) == {}
    for name in MLFLOW_CHECKS:
        assert statuses(doc, name) == {"pass"}, name
    return doc


def tampered(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-4000:], proc.stderr)
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["verified"] is False
    return doc


def stored(store: Store, run_id: str, path: str) -> Path:
    """The file on disk behind a run artifact (to change it where MLflow keeps it)."""
    return store.local_file(store.client().get_run(run_id).info.artifact_uri) / path


def stored_in_model(store: Store, model_id: str, path: str) -> Path:
    return store.local_file(store.client().get_logged_model(model_id).artifact_location) / path


def one_value_changed(path: Path) -> None:
    """The shard rewritten by the reference writer with one value changed."""
    from safetensors.numpy import load_file

    tensors = load_file(str(path))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].copy()
    tensors[name].flat[0] += 1
    shard(path, tensors)


# --- safetensors checkpoints -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("store", "where"),
    # Run artifacts through the real server, a LoggedModel on SQLite (the suite's time budget:
    # a third case, run artifacts on SQLite, added no path of its own).
    [("server", "artifacts"), ("sqlite", "logged-model")],
    indirect=["store"],
)
def test_a_checkpoint_in_a_run_is_fingerprinted_as_the_folder_and_verifies_from_mlflow(
    store: Store, tmp_path: Path, where: str
) -> None:
    ckpt = checkpoint(tmp_path / "ckpt")
    if where == "artifacts":
        run_id, model_id = log_run(store, tmp_path, artifacts={"model": ckpt})
        uri, source = f"runs:/{run_id}/model", "run artifact model/"
    else:
        run_id, model_id = log_run(store, tmp_path, artifacts={}, logged=ckpt)
        uri, source = f"models:/{model_id}", f"({model_id}): artifacts/ckpt/"
    home, out = tmp_path / "home", tmp_path / "lineage.json"

    summary = fingerprint_run(store, run_id, out, home)

    assert source in summary["model"]["source"]
    manifest = json.loads(out.read_bytes())
    assert model_leaves(manifest) == local_model_leaves(ckpt)  # as `--model DIR` records it
    assert file_names(manifest) == sorted(
        ["config.json", "tokenizer.json", "model.safetensors.index.json", *SHARDS]
    )
    assert manifest["root"] == root_with_local_model(store, run_id, ckpt)
    assert manifest["subject"].startswith("sha256-modelset:")
    if model_id is not None:  # its page says which lineage it belongs to
        assert store.client().get_logged_model(model_id).tags["aichain.root"] == manifest["root"]
    anchor(store, out, home)

    for model in (uri, ckpt):  # the run's copy, downloaded; the deployed copy
        doc = verified(verify(store, home, model, "--lineage", out))
        (found,) = [c for c in doc["checks"] if c["name"] == "mlflow.model"]
        assert found["artifact"].endswith(source) and found["actual"] == manifest["subject"]
    assert verified(verify(store, home, uri))["mlflow"]["run"] == run_id  # lineage of the URI

    if where == "artifacts":
        changed = stored(store, run_id, f"model/{SHARDS[1]}")
    else:
        assert model_id is not None
        changed = stored_in_model(store, model_id, f"artifacts/ckpt/{SHARDS[1]}")
    one_value_changed(changed)

    doc = tampered(verify(store, home, ckpt, "--lineage", out))  # the deployed copy: intact
    assert failing(doc).keys() == {"mlflow.model"}
    (finding,) = [c for c in doc["checks"] if c["status"] == "fail"]
    assert finding["artifact"].endswith(f"{source}{SHARDS[1]}")
    shard_leaf = next(leaf for leaf in manifest["leaves"] if leaf.get("path") == SHARDS[1])
    assert finding["expected"] == shard_leaf["digest"]
    assert finding["actual"] == sha256(changed.read_bytes())


def test_a_run_holding_an_onnx_file_and_a_checkpoint_is_refused_naming_both(
    sqlite_store: Store, tmp_path: Path
) -> None:
    onnx = tmp_path / "export" / "model.onnx"
    onnx.parent.mkdir()
    onnx.write_bytes(b"not read: the run is refused before any model is")
    run_id, _ = log_run(
        sqlite_store, tmp_path, artifacts={"": onnx, "hf": checkpoint(tmp_path / "ckpt")}
    )
    out = tmp_path / "lineage.json"

    proc = aichain("fingerprint", "--mlflow-run", run_id, "-o", out,
                   env=sqlite_store.env(tmp_path / "home"))  # fmt: skip

    line = assert_one_line_error(proc, 2)
    assert "2 models" in line and "run artifact model.onnx" in line and "run artifact hf/" in line
    assert "--model" in line
    assert not out.exists()


def test_a_split_gguf_model_in_a_run_is_one_model_whose_parts_are_fetched_beside_it(
    server_store: Store, tmp_path: Path
) -> None:
    store = server_store
    first = gguf_model(tmp_path / "gguf" / "m.gguf", split=1)
    parts = sorted(p.name for p in first.parent.iterdir())
    assert len(parts) == 3 and parts[0] == first.name
    run_id, _ = log_run(store, tmp_path, artifacts={"q4": first.parent})
    home, out = tmp_path / "home", tmp_path / "lineage.json"

    summary = fingerprint_run(store, run_id, out, home)  # one model, not three

    assert summary["model"]["source"] == f"run artifact q4/{first.name}"
    manifest = json.loads(out.read_bytes())
    assert model_leaves(manifest) == local_model_leaves(first)
    assert file_names(manifest) == parts
    assert manifest["root"] == root_with_local_model(store, run_id, first)
    anchor(store, out, home)
    uri = f"runs:/{run_id}/q4/{first.name}"
    verified(verify(store, home, uri, "--lineage", out))  # the other parts downloaded too
    doc = verified(verify(store, home, first, "--lineage", out))
    (found,) = [c for c in doc["checks"] if c["name"] == "mlflow.model"]
    assert found["actual"] == manifest["subject"]  # every part compared, not the first alone

    later = f"runs:/{run_id}/q4/{parts[1]}"  # a later part is not the model
    refused = verify(store, home, later, "--lineage", out)
    line = assert_one_line_error(refused, 2)
    assert f"{later}: part 2 of 3" in line and f"name its first part, {first.name}" in line
    assert "aichain-verify" not in refused.stdout + line  # named by its URI, not where it lies

    changed = stored(store, run_id, f"q4/{parts[2]}")
    data = bytearray(changed.read_bytes())
    data[-1] ^= 0x01  # the last byte of the last tensor
    changed.write_bytes(bytes(data))
    doc = tampered(verify(store, home, first, "--lineage", out))
    assert failing(doc) == {"mlflow.model": {f"run artifact q4/{parts[2]}"}}


def test_a_split_gguf_model_missing_its_first_part_is_refused_naming_it(
    sqlite_store: Store, tmp_path: Path
) -> None:
    first = gguf_model(tmp_path / "gguf" / "m.gguf", split=1)
    rest = tmp_path / "rest"
    shutil.copytree(first.parent, rest)
    (rest / first.name).unlink()
    run_id, _ = log_run(sqlite_store, tmp_path, artifacts={"q4": rest})

    proc = aichain("fingerprint", "--mlflow-run", run_id, "-o", tmp_path / "lineage.json",
                   env=sqlite_store.env(tmp_path / "home"))  # fmt: skip

    line = assert_one_line_error(proc, 2)  # one model (not 2), and which file it lacks
    assert f"runs:/{run_id}/q4/m-00002-of-00003.gguf: part 2 of 3" in line
    assert f"name its first part, {first.name}" in line and "aichain-model" not in line
