"""`aichain verify` against MLflow: the run's records compared with the lineage, the lineage
found from the model alone, and models given as MLflow model URIs."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import assert_one_line_error
from tests.ledger.conftest import aichain
from tests.tracking.conftest import (
    LINEAGE_ARTIFACT,
    RECEIPT_ARTIFACT,
    SAMPLE_CONFIG,
    Sample,
    Store,
    World,
    checks,
    failing,
    log_run,
    record,
    statuses,
    tracking,
    unique_model,
)

MLFLOW_CHECKS = ("mlflow.run", "mlflow.root", "mlflow.params", "mlflow.datasets", "mlflow.model")


def verified(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The --json document of a verification that passed: exit 0, `verified`, nothing
    failed, and every mlflow.* check ran and passed (MLflow's own digest is a note)."""
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr)
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["verified"] is True
    assert failing(doc) == {}
    for name in MLFLOW_CHECKS:
        assert statuses(doc, name) == {"pass"}, (name, checks(doc, name))
    assert checks(doc, "mlflow.dataset_digest") == []  # a note, never a finding (below)
    return doc


def test_verify_with_lineage_passes_every_mlflow_check(world: World) -> None:
    base = world.runs["base"]

    proc = aichain(
        "verify", base.model, "--lineage", base.lineage, "--json", env=world.store.env(world.home)
    )

    doc = verified(proc)
    assert doc["mlflow"]["run"] == base.run_id
    assert doc["mlflow"]["tracking_uri"] == world.store.uri
    assert {c["artifact"] for c in checks(doc, "mlflow.datasets")} == {"train.csv", "test.csv"}
    assert base.model_id in checks(doc, "mlflow.model")[0]["artifact"]
    assert "View run" not in proc.stdout


def test_mlflow_dataset_digest_is_one_note_rather_than_a_warning_per_input(
    sqlite_world: World,
) -> None:
    world = sqlite_world
    base = world.runs["base"]
    args = ("verify", base.model, "--lineage", base.lineage)

    doc = verified(aichain(*args, "--json", env=world.store.env(world.home)))
    text = aichain(*args, env=world.store.env(world.home))

    assert not any(c["status"] == "warn" and "10,000" in c["detail"] for c in doc["checks"])
    (note,) = doc["mlflow"]["notes"]
    assert "10,000 rows" in note and "not evidence" in note
    assert text.returncode == 0, text.stdout[-3000:]
    assert "mlflow.dataset_digest" not in text.stdout
    noted = [line for line in text.stdout.splitlines() if line.startswith("note:")]
    assert len(noted) == 1 and "not evidence" in noted[0]


def test_verify_finds_the_run_by_model_digest_even_in_a_deleted_experiment(world: World) -> None:
    run = world.runs["discover"]
    client = world.store.client()
    client.delete_experiment(run.experiment_id)
    assert client.get_experiment(run.experiment_id).lifecycle_stage == "deleted"

    proc = aichain("verify", run.model, "--json", env=world.store.env(world.home))

    doc = verified(proc)
    assert doc["mlflow"]["run"] == run.run_id
    assert checks(doc, "lineage.root")[0]["artifact"] == f"runs:/{run.run_id}/{LINEAGE_ARTIFACT}"
    # Batch-anchored: the ledger check passes only with the receipt recorded on the run.
    receipts = {c["artifact"] for c in doc["checks"] if c["name"].startswith("receipt.")}
    assert receipts == {f"runs:/{run.run_id}/{RECEIPT_ARTIFACT}"}


def test_verify_refuses_to_choose_between_two_runs_of_one_model_until_told(
    server_world: World,
) -> None:
    world = server_world
    a, b = world.runs["twin_a"], world.runs["twin_b"]
    env = world.store.env(world.home)

    refused = aichain("verify", a.model, "--json", env=env)

    line = assert_one_line_error(refused, 2)
    assert a.run_id in line and b.run_id in line and "--mlflow-run" in line
    doc = json.loads(refused.stdout)  # --json is printed on every exit code
    assert doc["verified"] is False and doc["checks"][0]["name"] == "lineage.root"
    doc = verified(aichain("verify", a.model, "--mlflow-run", a.run_id, "--json", env=env))
    assert doc["mlflow"]["run"] == a.run_id


def test_verify_a_model_uri_uses_the_run_it_names_though_other_runs_logged_the_same_bytes(
    sqlite_world: World, tmp_path: Path
) -> None:
    import mlflow

    world = sqlite_world
    a, b = world.runs["twin_a"], world.runs["twin_b"]
    assert a.model is not None and b.model_id is not None
    third = log_run(world.store, world.store.new_experiment("twin-c"), model=a.model)
    record(world.store, third, tmp_path / "third.json", [SAMPLE_CONFIG])  # 3 runs, 1 digest
    name = f"aichain-{uuid.uuid4().hex[:12]}"
    with tracking(world.store.uri):
        version = mlflow.register_model(f"models:/{b.model_id}", name)
    env = world.store.env(world.home)

    for uri in (f"models:/{name}/{version.version}", f"models:/{b.model_id}"):
        doc = verified(aichain("verify", uri, "--json", env=env))

        assert doc["mlflow"]["run"] == b.run_id, uri
        assert doc["lineage"]["from"] == "mlflow run"


def test_verify_without_any_run_of_the_model_says_what_to_give(
    sqlite_store: Store, sample: Sample, tmp_path: Path
) -> None:
    sqlite_store.new_experiment("empty")  # a store that answers, and has no run of this model
    model = unique_model(sample, tmp_path / "model.onnx")

    proc = aichain("verify", model, "--json", env=sqlite_store.env(tmp_path / "home"))

    line = assert_one_line_error(proc, 2)
    assert "--lineage" in line and "--mlflow-run" in line
    assert [c["status"] for c in json.loads(proc.stdout)["checks"]] == ["error"]


@pytest.mark.parametrize("uri_kind", ["runs", "models-id", "models-name-version"])
def test_verify_accepts_mlflow_model_uris(world: World, uri_kind: str) -> None:
    base, artifact = world.runs["base"], world.runs["artifact"]
    env = world.store.env(world.home)
    if uri_kind == "runs":
        args = [f"runs:/{artifact.run_id}/model.onnx", "--lineage", artifact.lineage]
        expected_run = artifact.run_id
    elif uri_kind == "models-id":
        args = [f"models:/{base.model_id}", "--lineage", base.lineage]
        expected_run = base.run_id
    else:  # what is deployed from the registry, found by its digest: no lineage given
        import mlflow

        name = f"aichain-{uuid.uuid4().hex[:12]}"
        with tracking(world.store.uri):
            version = mlflow.register_model(f"models:/{base.model_id}", name)
        args = [f"models:/{name}/{version.version}"]
        expected_run = base.run_id

    doc = verified(aichain("verify", *args, "--json", env=env))

    assert doc["model"]["downloaded"] is True
    assert doc["model"]["path"] == args[0]
    assert doc["mlflow"]["run"] == expected_run
    assert statuses(doc, "model.digest") == {"pass"}
