"""The tamper matrix on the MLflow side: each change to what a run records, made where it is
stored, fails its own check (exit 1) and names what changed; nothing else fails."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import subprocess
from typing import Any

from tests.ledger.conftest import aichain
from tests.tracking.conftest import World, failing, sha256, tracking


def tampered(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 1, (proc.returncode, proc.stdout[-4000:], proc.stderr)
    doc: dict[str, Any] = json.loads(proc.stdout)
    assert doc["verified"] is False
    return doc


def verify_run(world: World, name: str) -> dict[str, Any]:
    run = world.runs[name]
    env = world.store.env(world.home)
    return tampered(aichain("verify", run.model, "--lineage", run.lineage, "--json", env=env))


def test_param_changed_in_the_store_fails_mlflow_params(world: World) -> None:
    run = world.runs["param"]
    # Straight into the backend database (the server's own, for the server): no API call.
    with sqlite3.connect(world.store.db) as db:
        changed = db.execute(
            "UPDATE params SET value = '2.0' WHERE run_uuid = ? AND key = 'model.C'",
            (run.run_id,),
        ).rowcount
    assert changed == 1

    doc = verify_run(world, "param")

    assert failing(doc) == {"mlflow.params": {"model.C"}}
    actual = {c["actual"] for c in doc["checks"] if c["status"] == "fail"}
    assert actual == {"2.0"}


def test_root_tag_changed_fails_mlflow_root(world: World) -> None:
    run = world.runs["root"]
    other = hashlib.sha256(b"another lineage").hexdigest()
    world.store.client().set_tag(run.run_id, "aichain.root", other)

    doc = verify_run(world, "root")

    assert failing(doc) == {"mlflow.root": {"aichain.root"}}
    (finding,) = [c for c in doc["checks"] if c["status"] == "fail"]
    assert finding["actual"] == other
    assert finding["expected"] == json.loads(run.lineage.read_bytes())["root"]  # type: ignore[union-attr]


def test_row_beyond_mlflows_first_10000_fails_mlflow_datasets_where_its_digest_is_blind(
    world: World,
) -> None:
    import mlflow
    import pandas as pd

    run = world.runs["rows"]
    (path,) = run.datasets
    logged = world.store.client().get_run(run.run_id).inputs.dataset_inputs[0].dataset.digest
    lines = path.read_text().splitlines(keepends=True)
    before = lines[15_000]  # data row 15,000 (line 0 is the header)
    lines[15_000] = "123.456789" + before[before.index(",") :]
    assert lines[15_000] != before
    path.write_text("".join(lines))

    with tracking(world.store.uri):  # MLflow's own digest does not see the change
        assert mlflow.data.from_pandas(pd.read_csv(path)).digest == logged
    doc = verify_run(world, "rows")

    assert failing(doc) == {"mlflow.datasets": {path.name}}
    (finding,) = [c for c in doc["checks"] if c["status"] == "fail"]
    assert finding["actual"] == sha256(path.read_bytes())
    assert [c for c in doc["checks"] if c["name"] == "mlflow.dataset_digest"] == []
    assert len(doc["mlflow"]["notes"]) == 1  # MLflow's digest: a note, never evidence


def test_logged_model_bytes_changed_fail_mlflow_model(world: World) -> None:
    run = world.runs["bytes"]
    location = world.store.client().get_logged_model(run.model_id).artifact_location
    stored = world.store.local_file(location) / "model.onnx"
    assert run.model is not None and stored.read_bytes() == run.model.read_bytes()
    data = bytearray(stored.read_bytes())
    data[len(data) // 2] ^= 0x01
    stored.write_bytes(bytes(data))

    doc = verify_run(world, "bytes")  # the local model is untouched: only MLflow's copy changed

    (artifact,) = failing(doc)["mlflow.model"]
    assert failing(doc).keys() == {"mlflow.model"}
    assert run.model_id is not None and run.model_id in str(artifact)
    (finding,) = [c for c in doc["checks"] if c["status"] == "fail"]
    assert finding["actual"] == sha256(bytes(data))
