"""A run's dataset inputs as evidence, and the one-line error contract around MLflow.

MLflow re-uses a dataset record (same name and MLflow digest) across the runs of an
experiment, so an input's source may name another run's file; inputs added to or removed
from a run after its lineage was recorded change what the lineage describes; and a source
the run alone names is never hashed by verification. Errors name MLflow URIs, never our
private download folders, and MLflow's own log lines never reach stderr.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_one_line_error
from tests.ledger.conftest import aichain, ok_json
from tests.tracking.conftest import (
    RECORDS_ARTIFACT,
    SAMPLE_CONFIG,
    LoggedRun,
    Sample,
    Store,
    aichain_tags,
    failing,
    log_run,
    record,
    sha256,
    tracking,
    unique_model,
    write_big_csv,
)

# MLflow stores and the CLI in separate processes (git probes included): not for make test-fast.
pytestmark = pytest.mark.slow


def leaves_of(manifest: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [leaf for leaf in manifest["leaves"] if leaf["kind"] == kind]


def changed_at_row(source: Path, dest: Path, row: int = 11_000) -> Path:
    """A copy of a CSV that differs in one value of data row `row`: past the 10,000 rows
    MLflow's digest reads, so MLflow gives both files one digest."""
    lines = source.read_text().splitlines(keepends=True)
    lines[row] = "123.456789" + lines[row][lines[row].index(",") :]
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("".join(lines))
    return dest


def add_input(store: Store, run_id: str, source: str, name: str) -> None:
    """A dataset input added to a (finished) run the way MLflow records one."""
    import mlflow.data
    import pandas as pd
    from mlflow.entities import DatasetInput, InputTag

    with tracking(store.uri):
        data = mlflow.data.from_pandas(pd.DataFrame({"x": [1, 2, 3]}), source=source, name=name)
        entity = data._to_mlflow_entity()
    tag = InputTag("mlflow.data.context", "training")
    store.client().log_inputs(run_id, datasets=[DatasetInput(entity, tags=[tag])])


def anchored_run(
    store: Store, sample: Sample, folder: Path, remote: str | None = None
) -> tuple[LoggedRun, dict[str, str]]:
    """A run of its own experiment (the sample's data, and `remote` as an input too when
    given), its lineage recorded in it and anchored; and the CLI environment to verify it."""
    run = log_run(
        store, store.new_experiment("inputs"), model=unique_model(sample, folder / "model.onnx"),
        datasets=sample.datasets,
    )  # fmt: skip
    if remote is not None:
        add_input(store, run.run_id, remote, "remote")
    record(store, run, folder / "lineage.json", [SAMPLE_CONFIG])
    env = store.env(folder / "home")
    ok_json(aichain("anchor", run.lineage, "--json", env=env))
    return run, env


def verify(run: LoggedRun, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return aichain("verify", run.model, "--lineage", run.lineage, "--json", env=env)


def test_dataset_record_shared_with_another_run_is_refused_until_the_data_is_given(
    store: Store, tmp_path: Path
) -> None:
    experiment = store.new_experiment("shared")
    first = write_big_csv(tmp_path / "r1" / "big.csv")
    second = changed_at_row(first, tmp_path / "r2" / "big.csv")
    r1 = log_run(store, experiment, model=None, datasets=[first])
    r2 = log_run(store, experiment, model=None, datasets=[second])
    (shared,) = store.client().get_run(r2.run_id).inputs.dataset_inputs
    assert json.loads(shared.dataset.source)["uri"] == str(first)  # MLflow names r1's file
    env = store.env(tmp_path / "home")
    out = tmp_path / "lineage.json"

    refused = aichain("fingerprint", "--mlflow-run", r2.run_id, "-o", out, env=env)
    also_r1 = aichain("fingerprint", "--mlflow-run", r1.run_id, "-o", out, env=env)

    line = assert_one_line_error(refused, 2)
    assert "--dataset" in line and r1.run_id in line and "big" in line
    assert r2.run_id in assert_one_line_error(also_r1, 2)  # one record: neither run's evidence
    assert not out.exists()
    assert aichain_tags(store, r2.run_id) == {} and aichain_tags(store, r1.run_id) == {}

    given = aichain(
        "fingerprint", "--mlflow-run", r2.run_id, "--dataset", second, "-o", out, env=env
    )

    assert given.returncode == 0, given.stderr
    manifest = json.loads(out.read_bytes())
    datasets = {leaf["path"]: leaf["digest"] for leaf in leaves_of(manifest, "dataset")}
    assert datasets == {"big.csv": sha256(second.read_bytes())}  # r2's data, as given
    (recorded,) = leaves_of(manifest, "mlflow-input")
    assert recorded["source"] == shared.dataset.source and "dataset" not in recorded


def test_remote_input_added_after_the_lineage_was_recorded_fails_mlflow_datasets(
    sqlite_store: Store, sample: Sample, tmp_path: Path
) -> None:
    run, env = anchored_run(sqlite_store, sample, tmp_path)
    add_input(sqlite_store, run.run_id, "https://example.com/late.csv", "late")

    proc = verify(run, env)

    assert proc.returncode == 1, (proc.stdout[-3000:], proc.stderr)
    (artifact,) = failing(json.loads(proc.stdout))["mlflow.datasets"]
    assert failing(json.loads(proc.stdout)).keys() == {"mlflow.datasets"}
    assert "https://example.com/late.csv" in str(artifact)


def test_remote_input_removed_after_the_lineage_was_recorded_fails_mlflow_datasets(
    sqlite_store: Store, sample: Sample, tmp_path: Path
) -> None:
    run, env = anchored_run(sqlite_store, sample, tmp_path, remote="s3://bucket/extra.csv")
    manifest = json.loads(run.lineage.read_bytes())  # type: ignore[union-attr]
    sources = {json.loads(leaf["source"])["uri"] for leaf in leaves_of(manifest, "mlflow-input")}
    assert sources == {"s3://bucket/extra.csv", *map(str, sample.datasets)}
    assert verify(run, env).returncode == 0
    with sqlite3.connect(sqlite_store.db) as db:
        deleted = db.execute(
            "DELETE FROM inputs WHERE destination_id = ? AND source_id IN "
            "(SELECT dataset_uuid FROM datasets WHERE name = 'remote')",
            (run.run_id,),
        ).rowcount
    assert deleted == 1

    proc = verify(run, env)

    assert proc.returncode == 1, (proc.stdout[-3000:], proc.stderr)
    (artifact,) = failing(json.loads(proc.stdout))["mlflow.datasets"]
    assert failing(json.loads(proc.stdout)).keys() == {"mlflow.datasets"}
    assert "s3://bucket/extra.csv" in str(artifact)


def test_verification_never_hashes_a_source_only_the_run_names(
    sqlite_store: Store, sample: Sample, tmp_path: Path
) -> None:
    run, env = anchored_run(sqlite_store, sample, tmp_path)
    secret = tmp_path / "elsewhere" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("a file of the auditor's machine\n")
    train = sample.datasets[0]
    old, new = json.dumps({"uri": str(train)}), json.dumps({"uri": str(secret)})
    # The run's records rewritten where they are stored: its input, and the tie to the leaf.
    with sqlite3.connect(sqlite_store.db) as db:
        changed = db.execute(
            "UPDATE datasets SET dataset_source = ? WHERE dataset_source = ? AND dataset_uuid IN "
            "(SELECT source_id FROM inputs WHERE destination_id = ?)",
            (new, old, run.run_id),
        ).rowcount
    assert changed == 1
    stored = sqlite_store.local_file(sqlite_store.client().get_run(run.run_id).info.artifact_uri)
    records = stored / RECORDS_ARTIFACT
    doc = json.loads(records.read_text())
    for item in doc["datasets"]:
        if item["source"] == json.loads(old):
            item["source"] = json.loads(new)
    records.write_text(json.dumps(doc))

    proc = verify(run, env)

    assert proc.returncode == 1, (proc.stdout[-3000:], proc.stderr)
    assert sha256(secret.read_bytes()) not in proc.stdout  # never hashed, never shown
    assert failing(json.loads(proc.stdout)).keys() == {"mlflow.datasets"}


def test_errors_about_a_model_taken_from_a_run_name_its_uri(
    sqlite_store: Store, sample: Sample, tmp_path: Path
) -> None:
    store = sqlite_store
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"not an ONNX model")
    run = log_run(store, store.new_experiment("uri"), model=broken, model_as="artifact")
    env = store.env(tmp_path / "home")

    proc = aichain("fingerprint", "--mlflow-run", run.run_id, "-o", tmp_path / "l.json", env=env)

    line = assert_one_line_error(proc, 2)
    assert f"runs:/{run.run_id}/model.onnx" in line
    assert "aichain-" not in line and "/tmp" not in line


def test_mlflows_own_log_lines_never_reach_stderr_beside_our_error(tmp_path: Path) -> None:
    empty = tmp_path / "mlflow.db"
    empty.touch()  # MLflow logs its creating the tables of a store at INFO, then fails
    env = Store("sqlite", f"sqlite:///{empty}", empty, tmp_path).env(tmp_path / "home")

    proc = aichain("fingerprint", "--mlflow-run", "abc", "-o", tmp_path / "l.json", env=env)

    line = assert_one_line_error(proc, 2)
    assert "abc" in line and "mlflow.store" not in proc.stderr
