"""`aichain report --verify models:/NAME/VERSION`: the exports need the model's SHA-256, and
take it from the model the verification downloaded, with no --artifacts folder."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path

import pytest

from tests.ledger.conftest import aichain
from tests.tracking.conftest import World, tracking


@pytest.mark.slow  # runs the CLI in a process
def test_a_models_uri_verification_exports_the_downloaded_model_without_artifacts(
    sqlite_world: World, tmp_path: Path
) -> None:
    import mlflow

    world = sqlite_world
    base = world.runs["base"]
    assert base.model is not None and base.lineage is not None
    name = f"aichain-{uuid.uuid4().hex[:12]}"
    with tracking(world.store.uri):
        version = mlflow.register_model(f"models:/{base.model_id}", name)
    uri = f"models:/{name}/{version.version}"
    # The lineage alone in a folder: no model file beside it to fall back on.
    lineage = tmp_path / "lineage" / "lineage.json"
    lineage.parent.mkdir()
    lineage.write_bytes(base.lineage.read_bytes())
    receipt = base.lineage.with_name(base.lineage.stem + ".receipt.json")  # a batch's proof
    lineage.with_name("lineage.receipt.json").write_bytes(receipt.read_bytes())
    digest = hashlib.sha256(base.model.read_bytes()).hexdigest()
    env = world.store.env(world.home)

    out = tmp_path / "statement.intoto.json"
    proc = aichain("report", lineage, "--verify", uri, "-o", out,
                   env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    statement = json.loads(out.read_text())
    assert statement["subject"] == [{"name": uri, "digest": {"sha256": digest}}]
    assert statement["predicate"]["verification"]["verified"] is True

    out = tmp_path / "bom.cdx.json"
    proc = aichain("report", lineage, "--verify", uri, "-o", out,
                   env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    model = json.loads(out.read_text())["metadata"]["component"]
    assert model["hashes"] == [{"alg": "SHA-256", "content": digest}]


@pytest.mark.slow  # runs the CLI in a process
def test_report_resolves_an_mlflow_lineages_datasets_at_the_sources_the_verification_hashed(
    sqlite_world: World, tmp_path: Path
) -> None:
    world = sqlite_world
    base = world.runs["base"]
    assert base.model is not None and base.lineage is not None
    # The datasets are not beside the lineage: they are at the run's (local) sources.
    assert not any((base.lineage.parent / p.name).exists() for p in base.datasets)
    out = tmp_path / "report.json"

    proc = aichain("report", base.lineage, "--verify", base.model, "-o", out,
                   env=world.store.env(world.home))  # fmt: skip

    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr)
    artifacts = json.loads(out.read_text())["artifacts"]
    datasets = {a["path"]: a for a in artifacts if a["kind"] == "dataset"}
    assert set(datasets) == {p.name for p in base.datasets}
    for path in base.datasets:
        found = datasets[path.name]
        assert found["matches"] == "yes", found
        assert found["sha256"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        assert str(path) in found["note"]
