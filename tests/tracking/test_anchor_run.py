"""`aichain anchor` records the receipt on the run the lineage was recorded in."""

from __future__ import annotations

from pathlib import Path

from tests.ledger.conftest import aichain, ok_json, receipt_file
from tests.tracking.conftest import (
    LINEAGE_ARTIFACT,
    RECEIPT_ARTIFACT,
    RECORDS_ARTIFACT,
    Sample,
    Store,
    World,
    aichain_tags,
    artifact_bytes,
    artifact_paths,
    log_run,
    record,
    unique_model,
)


def test_anchor_records_the_receipt_on_the_run(world: World, tmp_path: Path) -> None:
    # The world's lineages were anchored by one `aichain anchor A.json B.json ... --json`.
    names = list(world.runs)
    for name in ("base", "artifact"):
        run = world.runs[name]
        assert run.lineage is not None
        receipt = world.receipts[names.index(name)]
        assert receipt["root"] == aichain_tags(world.store, run.run_id)["aichain.root"]

        stored = artifact_bytes(world.store, run.run_id, RECEIPT_ARTIFACT, tmp_path / name)

        assert stored == receipt_file(run.lineage).read_bytes()
        tags = aichain_tags(world.store, run.run_id)
        assert tags["aichain.status"] == "anchored"
        assert tags["aichain.anchorer"] == receipt["anchorer"]
        assert tags["aichain.tx"] == (
            f"{receipt['tx']} (chain {receipt['chain_id']}, block {receipt['block']})"
        )


def test_anchor_no_mlflow_leaves_the_run_alone(
    sqlite_store: Store, sample: Sample, tmp_path: Path
) -> None:
    store = sqlite_store
    run = log_run(
        store, store.new_experiment("anchor"), model=unique_model(sample, tmp_path / "m.onnx")
    )
    lineage = record(store, run, tmp_path / "lineage.json")
    tags_before = aichain_tags(store, run.run_id)

    ok_json(aichain("anchor", "--no-mlflow", lineage, "--json", env=store.env(tmp_path / "home")))

    assert receipt_file(lineage).exists()  # anchored: the receipt is beside the manifest
    assert artifact_paths(store, run.run_id) == {LINEAGE_ARTIFACT, RECORDS_ARTIFACT}
    assert aichain_tags(store, run.run_id) == tags_before
