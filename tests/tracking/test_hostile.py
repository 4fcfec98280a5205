"""Params and tags are the producer's strings: Rich markup, ANSI escapes, newlines and bidi
controls in them are shown inert, and cannot forge a passing row."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.ledger.conftest import aichain
from tests.tracking.conftest import Sample, Store, checks, log_run, record, unique_model

HOSTILE = {
    "note.markup": "[bold green]PASS[/]",
    "note.ansi": "\x1b[32mPASS\x1b[0m",
    "note.newline": "ok\n│ mlflow.params │ PASS │ - │ forged │",
    "note.bidi": "\u202eSSAP\u202c",
}
# What each param is changed to in the store: hostile again, so a failing row must show it.
TAMPERED = "[bold green]PASS[/] \x1b[2K\r│ mlflow.params │ PASS │\n\u202e"
ROOT_TAG = "[bold green]PASS[/]\n│ mlflow.root │ PASS │ aichain.root │ \x1b[32m"


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the verify table (check, status, artifact, detail...)."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in text.splitlines()
        if line.startswith("│")
    ]


def test_hostile_params_and_tags_cannot_forge_a_passing_row(
    server_store: Store, sample: Sample, tmp_path: Path
) -> None:
    store = server_store  # the strings travel through MLflow's REST API and back
    model = unique_model(sample, tmp_path / "model.onnx")
    run = log_run(
        store, store.new_experiment("hostile"), model=model, model_as="artifact", params=HOSTILE
    )
    lineage = record(store, run, tmp_path / "lineage.json")
    with sqlite3.connect(store.db) as db:  # the server's own database: no API call
        for key in HOSTILE:
            db.execute(
                "UPDATE params SET value = ? WHERE run_uuid = ? AND key = ?",
                (TAMPERED, run.run_id, key),
            )
    store.client().set_tag(run.run_id, "aichain.root", ROOT_TAG)
    args = ("verify", model, "--lineage", lineage)
    env = store.env(tmp_path / "home", COLUMNS="4000")  # one table row per line

    shown = aichain(*args, env=env)
    as_json = aichain(*args, "--json", env=env)

    assert (shown.returncode, as_json.returncode) == (1, 1), (shown.stdout, shown.stderr)
    doc = json.loads(as_json.stdout)
    assert doc["verified"] is False
    params = checks(doc, "mlflow.params")
    assert {c["artifact"]: (c["status"], c["expected"], c["actual"]) for c in params} == {
        key: ("fail", value, TAMPERED) for key, value in HOSTILE.items()
    }
    (root,) = checks(doc, "mlflow.root")
    assert (root["status"], root["actual"]) == ("fail", ROOT_TAG)

    out = shown.stdout
    rows = table_rows(out)
    assert len(rows) == len(doc["checks"])  # no row smuggled in by a newline
    assert [row[1] for row in rows] == [c["status"].upper() for c in doc["checks"]]
    assert [row[1] for row in rows if row[0] in ("mlflow.params", "mlflow.root")] == ["FAIL"] * 5
    assert "[bold green]PASS[/]" in out  # markup shown as text, not applied
    for raw, escaped in (("\x1b", "\\x1b"), ("\u202e", "\\u202e"), ("\r", "\\x0d")):
        assert raw not in out
        assert escaped in out
    assert not any(
        line.lstrip("│ ").startswith("mlflow.params │ PASS") for line in out.splitlines()
    )
    assert "NOT VERIFIED" in out
