"""`aichain fingerprint --mlflow-run` and `api.log_lineage`: a lineage taken from what a run
holds, and recorded back into the run without reopening it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, assert_one_line_error
from tests.ledger.conftest import aichain
from tests.tracking.conftest import (
    LINEAGE_ARTIFACT,
    RECORDS_ARTIFACT,
    SAMPLE_CONFIG,
    Sample,
    Store,
    aichain_tags,
    artifact_bytes,
    artifact_paths,
    log_run,
    record,
    sha256,
    training_params,
    unique_model,
)


def leaves_of(manifest: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [leaf for leaf in manifest["leaves"] if leaf["kind"] == kind]


def assert_recorded(store: Store, run_id: str, manifest: bytes, folder: Path) -> dict[str, Any]:
    """The run holds the manifest byte for byte, a few tags a person tells apart in MLflow's
    run page, and the records tying the run to the lineage (returned) in an artifact."""
    assert artifact_bytes(store, run_id, LINEAGE_ARTIFACT, folder) == manifest
    doc = json.loads(manifest)
    (model,) = leaves_of(doc, "model")
    assert aichain_tags(store, run_id) == {
        "aichain.root": doc["root"],
        "aichain.model": model["digest"],
        "aichain.status": "recorded, not anchored",
    }
    records: dict[str, Any] = json.loads(artifact_bytes(store, run_id, RECORDS_ARTIFACT, folder))
    assert records["subject"] == doc["subject"]
    assert records["model_digest"] == model["digest"]
    assert records["manifest_sha256"] == sha256(manifest)
    return records


def dataset_records(records: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The records' dataset inputs, by the source file each one names."""
    return {doc["source"]["uri"]: doc for doc in records["datasets"]}


@pytest.mark.parametrize(
    ("store", "model_as"),
    [("sqlite", "logged"), ("server", "logged"), ("server", "artifact")],
    indirect=["store"],
)
def test_fingerprint_from_run_takes_its_records_and_writes_lineage_back(
    store: Store, sample: Sample, tmp_path: Path, model_as: str
) -> None:
    model = unique_model(sample, tmp_path / "model.onnx")
    run = log_run(
        store, store.new_experiment("fp"), model=model, model_as=model_as, datasets=sample.datasets
    )
    before = store.client().get_run(run.run_id).info
    out = tmp_path / "lineage.json"

    proc = aichain(
        "fingerprint", "--mlflow-run", run.run_id, "--config", SAMPLE_CONFIG, "-o", out, "--json",
        env=store.env(tmp_path / "home"),
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr
    assert "View run" not in proc.stdout
    summary = json.loads(proc.stdout)  # stdout is ours alone, even over http://
    assert summary["mlflow_run"] == run.run_id
    expected_source = f"({run.model_id})" if model_as == "logged" else "run artifact model.onnx"
    assert expected_source in summary["model"]["source"]
    manifest = json.loads(out.read_bytes())
    assert summary["root"] == manifest["root"]
    assert leaves_of(manifest, "mlflow-run") == [{"kind": "mlflow-run", "run_id": run.run_id}]
    params = {leaf["name"]: leaf["value"] for leaf in leaves_of(manifest, "mlflow-param")}
    assert params == {k: str(v) for k, v in training_params().items()}
    assert params["export"] == "{'opset': 17, 'target_opset_ml': 3}"  # MLflow keeps the repr
    datasets = {leaf["path"]: leaf["digest"] for leaf in leaves_of(manifest, "dataset")}
    assert datasets == {p.name: sha256(p.read_bytes()) for p in sample.datasets}
    (model_leaf,) = leaves_of(manifest, "model")
    assert model_leaf["digest"] == sha256(model.read_bytes())  # the run's model, downloaded
    assert {leaf["pointer"] for leaf in leaves_of(manifest, "config")} >= {
        "/model/C",
        "/export/opset",
    }

    recorded = assert_recorded(store, run.run_id, out.read_bytes(), tmp_path / "download")
    records = dataset_records(recorded)
    assert {uri: doc["leaf"] for uri, doc in records.items()} == {
        str(p): p.name for p in sample.datasets
    }
    after = store.client().get_run(run.run_id).info
    assert after.status == before.status == "FINISHED"
    assert after.end_time == before.end_time  # written to as it was: never reopened


@pytest.fixture
def training_script(tmp_path: Path) -> Path:
    """A training script as the README shows it: train, log to MLflow, then `log_lineage`."""
    script = tmp_path / "train_and_log.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            from pathlib import Path

            import mlflow, mlflow.onnx, onnx, pandas as pd, yaml

            sys.path.insert(0, {str(REPO / "samples")!r})
            import train as sample

            from aichain_audit import api

            out, config, experiment = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
            cfg = yaml.safe_load(config.read_text())
            with mlflow.start_run(experiment_id=experiment) as run:
                mlflow.log_params({{f"{{s}}.{{k}}": v for s, values in cfg.items()
                                   if s != "export" for k, v in values.items()}})
                mlflow.log_param("export", cfg["export"])
                sample.train(sample.load_config(config), out)
                for split in ("train", "test"):
                    path = out / "data" / f"{{split}}.csv"
                    data = mlflow.data.from_pandas(pd.read_csv(path), source=str(path), name=split)
                    mlflow.log_input(data, context=split)
                mlflow.onnx.log_model(onnx.load(out / "model.onnx"), name="model",
                                      save_as_external_data=False, pip_requirements=["onnx"])
                result = api.log_lineage(model=out / "model.onnx", datasets=[out / "data"],
                                         configs=[config])
            (out / "lineage.json").write_bytes(result.manifest.to_json())
            (out / "run.json").write_text(json.dumps({{"run": run.info.run_id}}))
            """
        )
    )
    return script


def test_log_lineage_inside_a_training_script_records_the_lineage(
    server_store: Store, training_script: Path, tmp_path: Path
) -> None:
    store = server_store
    out = tmp_path / "out"
    experiment = store.new_experiment("script")

    proc = subprocess.run(
        [sys.executable, str(training_script), str(out), str(SAMPLE_CONFIG), experiment],
        env=store.env(tmp_path / "home"), cwd=tmp_path, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = json.loads((out / "run.json").read_text())["run"]
    manifest_bytes = (out / "lineage.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    assert leaves_of(manifest, "mlflow-run") == [{"kind": "mlflow-run", "run_id": run_id}]
    params = {leaf["name"]: leaf["value"] for leaf in leaves_of(manifest, "mlflow-param")}
    assert params == {k: str(v) for k, v in training_params().items()}
    (model_leaf,) = leaves_of(manifest, "model")
    assert model_leaf["digest"] == sha256((out / "model.onnx").read_bytes())
    datasets = {leaf["path"] for leaf in leaves_of(manifest, "dataset")}
    assert datasets == {"data/train.csv", "data/test.csv"}

    recorded = assert_recorded(store, run_id, manifest_bytes, tmp_path / "download")
    records = dataset_records(recorded)  # the run's inputs map to their place in the folder
    assert {uri: doc["leaf"] for uri, doc in records.items()} == {
        str(out / "data" / "train.csv"): "data/train.csv",
        str(out / "data" / "test.csv"): "data/test.csv",
    }
    assert store.client().get_run(run_id).info.status == "FINISHED"


def test_run_recording_another_root_is_refused_and_left_untouched(
    sqlite_store: Store, sample: Sample, tmp_path: Path
) -> None:
    store = sqlite_store
    run = log_run(
        store, store.new_experiment("twice"), model=unique_model(sample, tmp_path / "m.onnx")
    )
    first = record(store, run, tmp_path / "first.json", [SAMPLE_CONFIG])
    tags_before = store.client().get_run(run.run_id).data.tags
    out = tmp_path / "second.json"

    # Without the config, the same run makes another lineage (another root).
    proc = aichain(
        "fingerprint", "--mlflow-run", run.run_id, "-o", out, env=store.env(tmp_path / "home")
    )

    line = assert_one_line_error(proc, 2)
    assert json.loads(first.read_bytes())["root"] in line
    assert not out.exists()
    assert store.client().get_run(run.run_id).data.tags == tags_before
    assert artifact_paths(store, run.run_id) == {LINEAGE_ARTIFACT, RECORDS_ARTIFACT}
    assert (
        artifact_bytes(store, run.run_id, LINEAGE_ARTIFACT, tmp_path / "dl") == first.read_bytes()
    )


def test_dataset_input_whose_local_source_is_missing_is_refused_by_name(
    sqlite_store: Store, sample: Sample, tmp_path: Path
) -> None:
    store = sqlite_store
    gone = tmp_path / "data" / "vanished.csv"
    gone.parent.mkdir()
    gone.write_bytes(sample.datasets[1].read_bytes())
    run = log_run(
        store, store.new_experiment("gone"), model=unique_model(sample, tmp_path / "m.onnx"),
        datasets=[sample.datasets[0], gone],
    )  # fmt: skip
    gone.unlink()
    out = tmp_path / "lineage.json"

    proc = aichain(
        "fingerprint", "--mlflow-run", run.run_id, "--config", SAMPLE_CONFIG, "-o", out,
        env=store.env(tmp_path / "home"),
    )  # fmt: skip

    line = assert_one_line_error(proc, 2)
    assert str(gone) in line
    assert not out.exists()
    assert aichain_tags(store, run.run_id) == {}
    assert artifact_paths(store, run.run_id) == set()
