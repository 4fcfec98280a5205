"""A run changed after its lineage was recorded: what it no longer holds, or holds anew,
fails. The lineage recorded the run's params and dataset inputs as they were; a run that
lost some, or gained a param, is not the run the lineage describes."""

from __future__ import annotations

import sqlite3

from tests.tracking.conftest import World, failing
from tests.tracking.test_tamper import verify_run


def test_dataset_inputs_deleted_from_the_run_fail_mlflow_datasets(world: World) -> None:
    run = world.runs["inputs"]
    with sqlite3.connect(world.store.db) as db:
        deleted = db.execute("DELETE FROM inputs WHERE destination_id = ?", (run.run_id,)).rowcount
    assert deleted == len(run.datasets)

    doc = verify_run(world, "inputs")

    assert failing(doc) == {"mlflow.datasets": {p.name for p in run.datasets}}


def test_a_param_logged_after_the_lineage_was_recorded_fails_mlflow_params(world: World) -> None:
    run = world.runs["newparam"]
    world.store.client().log_param(run.run_id, "late.param", "1")

    doc = verify_run(world, "newparam")

    assert failing(doc) == {"mlflow.params": {"late.param"}}
