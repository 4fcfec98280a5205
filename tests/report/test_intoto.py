"""in-toto: the Statement as pretty JSON (`.intoto.json`) or as one JSON Lines line
(`.intoto.jsonl`): never pretty-printed JSON under a JSON Lines name."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import assert_one_line_error
from tests.report.conftest import Sample

STATEMENT = "https://in-toto.io/Statement/v1"


# --- the file formats --------------------------------------------------------------------------
def test_a_jsonl_name_gets_the_statement_on_one_line_and_json_gets_it_pretty(
    sample: Sample, tmp_path: Path
) -> None:
    lines_out, pretty_out = tmp_path / "s.intoto.jsonl", tmp_path / "s.intoto.json"
    for out in (lines_out, pretty_out):
        proc = sample.run("report", sample.lineage, "--verify", "model.onnx", "-o", out)
        assert proc.returncode == 0, proc.stderr
    text = lines_out.read_text()
    assert text.endswith("\n") and text.count("\n") == 1  # JSON Lines: one statement, one line
    one = json.loads(text)
    assert one["_type"] == STATEMENT
    pretty = pretty_out.read_text()
    assert pretty.count("\n") > 20 and pretty.startswith("{\n")
    two = json.loads(pretty)
    for doc in (one, two):  # read at two moments: only the times may differ
        del doc["predicate"]["generator"]["time"]
        del doc["predicate"]["verification"]["ledger"]["readAt"]
    assert one == two


def test_a_jsonl_name_is_refused_for_a_format_that_is_not_written_as_json_lines(
    sample: Sample, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    proc = sample.run("report", sample.lineage, "--format", "json", "-o", out)
    assert "JSON Lines" in assert_one_line_error(proc, 2)
    assert not out.exists()
