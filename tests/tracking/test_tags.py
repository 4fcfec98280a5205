"""What a person sees in MLflow's pages: a few `aichain.*` tags, told apart at a glance, on
the run, on its logged model and on the registered version; and runs recorded with the
earlier, longer tag set still found and verified."""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.ledger.conftest import aichain, ok_json, receipt_file
from tests.tracking.conftest import (
    SAMPLE_CONFIG,
    Sample,
    Store,
    World,
    aichain_tags,
    checks,
    failing,
    log_run,
    statuses,
    tracking,
    unique_model,
)

pytestmark = pytest.mark.slow  # runs the CLI in processes

# What MLflow's run page shows of a tag key before cutting it with "…" (with 11 keys of up to
# 23 characters, all read "aichain.…").
SHORT_KEY = 16


def model_tags(store: Store, model_id: str) -> dict[str, str]:
    tags = store.client().get_logged_model(model_id).tags or {}
    return {k: v for k, v in tags.items() if k.startswith("aichain.")}


def version_tags(store: Store, name: str, version: str) -> dict[str, str]:
    tags = store.client().get_model_version(name, version).tags or {}
    return {k: v for k, v in tags.items() if k.startswith("aichain.")}


def test_run_logged_model_and_version_carry_few_short_tags_root_and_anchor_status(
    store: Store, sample: Sample, tmp_path: Path
) -> None:
    import mlflow

    run = log_run(
        store, store.new_experiment("tags"), model=unique_model(sample, tmp_path / "m.onnx"),
        datasets=sample.datasets,
    )  # fmt: skip
    assert run.model_id is not None
    name = f"aichain-{uuid.uuid4().hex[:12]}"
    with tracking(store.uri):
        version = str(mlflow.register_model(f"models:/{run.model_id}", name).version)
    env = store.env(tmp_path / "home")
    lineage = tmp_path / "lineage.json"

    ok_json(aichain("fingerprint", "--mlflow-run", run.run_id, "--config", SAMPLE_CONFIG,
                    "-o", lineage, "--json", env=env))  # fmt: skip

    root = json.loads(lineage.read_bytes())["root"]
    tags = aichain_tags(store, run.run_id)
    assert set(tags) == {"aichain.root", "aichain.model", "aichain.status"}
    assert all(len(key) <= SHORT_KEY for key in tags)
    assert not any("{" in value for value in tags.values())  # no JSON in a tag
    recorded = {"aichain.root": root, "aichain.status": "recorded, not anchored"}
    assert model_tags(store, run.model_id) == recorded
    assert version_tags(store, name, version) == recorded

    (receipt,) = ok_json(aichain("anchor", lineage, "--json", env=env))

    anchored = {
        "aichain.root": root,
        "aichain.status": "anchored",
        "aichain.anchorer": receipt["anchorer"],
        "aichain.tx": f"{receipt['tx']} (chain {receipt['chain_id']}, block {receipt['block']})",
    }
    tags = aichain_tags(store, run.run_id)
    assert tags == {**anchored, "aichain.model": tags["aichain.model"]}
    assert all(len(key) <= SHORT_KEY for key in tags)
    assert model_tags(store, run.model_id) == anchored
    assert version_tags(store, name, version) == anchored


def old_record(store: Store, run_id: str, lineage: Path, model: Path) -> None:
    """The lineage recorded as aichain did before `aichain/records.json`: the manifest
    artifact and the eleven-odd tags, dataset records as JSON in tags."""
    client = store.client()
    manifest = lineage.read_bytes()
    doc = json.loads(manifest)
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "lineage.json"
        shutil.copyfile(lineage, copy)
        client.log_artifact(run_id, str(copy), artifact_path="aichain")
    tags: dict[str, Any] = {
        "aichain.root": doc["root"],
        "aichain.subject": doc["subject"],
        "aichain.model_digest": "sha256:" + hashlib.sha256(model.read_bytes()).hexdigest(),
        "aichain.manifest_sha256": "sha256:" + hashlib.sha256(manifest).hexdigest(),
    }
    for i, leaf in enumerate(x for x in doc["leaves"] if x["kind"] == "mlflow-input"):
        record = {k: leaf[k] for k in ("name", "digest", "source")} | {"leaf": leaf["dataset"]}
        tags[f"aichain.dataset.{i}"] = json.dumps(record, sort_keys=True, separators=(",", ":"))
    for key, value in tags.items():
        client.set_tag(run_id, key, value)


def test_a_run_recorded_with_the_old_tag_keys_is_still_found_and_verified(
    sqlite_world: World, sample: Sample, tmp_path: Path
) -> None:
    from aichain_audit import api

    world = sqlite_world
    model = unique_model(sample, tmp_path / "old" / "model.onnx")
    run = log_run(world.store, world.store.new_experiment("old-tags"), model=model,
                  model_as="artifact", datasets=sample.datasets)  # fmt: skip
    with tracking(world.store.uri):  # the lineage as it was, written the old way
        result = api.fingerprint(mlflow_run=run.run_id, configs=[SAMPLE_CONFIG])
    lineage = tmp_path / "lineage.json"
    lineage.write_bytes(result.manifest.to_json())
    old_record(world.store, run.run_id, lineage, model)
    env = world.store.env(world.home)
    ok_json(aichain("anchor", "--no-mlflow", lineage, "--json", env=env))
    receipt_file(lineage).unlink()  # the auditor holds the model only

    proc = aichain("verify", model, "--json", env=env)  # found by aichain.model_digest

    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr)
    doc = json.loads(proc.stdout)
    assert doc["verified"] is True and failing(doc) == {}
    assert doc["mlflow"]["run"] == run.run_id
    for name in ("mlflow.run", "mlflow.root", "mlflow.params", "mlflow.datasets", "mlflow.model"):
        assert statuses(doc, name) == {"pass"}, (name, checks(doc, name))
