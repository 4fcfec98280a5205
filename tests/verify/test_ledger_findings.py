"""`receipt.registry`, `ledger.batch` and `ledger.record` on hostile receipts and leaked keys
(issue 17, Part 3, low items), on the embedded chain through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.verify.test_verify import failed, make_model, run, sample, verify

__all__ = ["sample"]  # the fixture, imported for pytest


def _finding(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["checks"] if c["name"] == name)


def test_a_receipt_without_a_chain_id_fails_receipt_registry(sample: dict[str, Any]) -> None:
    receipt = sample["work"] / "lineage.receipt.json"
    doc = json.loads(receipt.read_text())
    del doc["chain_id"]
    receipt.write_text(json.dumps(doc))
    code, out = verify(sample)
    assert code == 1 and out["verified"] is False
    assert ("receipt.registry", str(receipt)) in failed(out)
    assert "chain id" in _finding(out, "receipt.registry")["detail"]


def test_a_receipt_of_another_lineage_is_a_failed_finding_naming_it(
    sample: dict[str, Any],
) -> None:
    s = sample
    (s["work"] / "other.yaml").write_text("other: 1\n")
    other = s["work"] / "other.json"
    proc = run("fingerprint", "--config", "other.yaml", "-o", other, home=s["home"], cwd=s["work"])
    assert proc.returncode == 0, proc.stderr
    assert run("anchor", other, home=s["home"], cwd=s["work"]).returncode == 0
    foreign = s["work"] / "other.receipt.json"
    code, out = verify(s, "--receipt", foreign)
    assert code == 1 and out["verified"] is False
    assert ("receipt.registry", str(foreign)) in failed(out)
    assert "another lineage" in _finding(out, "receipt.registry")["detail"]
    assert _finding(out, "ledger.record")["status"] == "pass"  # the lineage itself is fine


@pytest.mark.slow
def test_a_batch_receipt_with_an_altered_size_fails_ledger_batch(tmp_path: Path) -> None:
    """Index 0 of a batch of 3 has the same audit path in a tree of 4: only the size the
    registry logged tells the altered receipt apart."""
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    make_model(work / "model.onnx")
    a = work / "lineage.json"
    assert run("fingerprint", "--model", "model.onnx", "-o", a, home=home, cwd=work).returncode == 0
    others = []
    for name in ("b", "c"):
        (work / f"{name}.yaml").write_text(f"{name}: 1\n")
        out = work / f"{name}.json"
        proc = run("fingerprint", "--config", f"{name}.yaml", "-o", out, home=home, cwd=work)
        assert proc.returncode == 0, proc.stderr
        others.append(out)
    assert run("anchor", a, *others, home=home, cwd=work).returncode == 0
    receipt = work / "lineage.receipt.json"
    doc = json.loads(receipt.read_text())
    assert (doc["batch"]["index"], doc["batch"]["size"]) == (0, 3)
    doc["batch"]["size"] = 4
    receipt.write_text(json.dumps(doc))
    proc = run("verify", "model.onnx", "--lineage", a, "--json", home=home, cwd=work)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = json.loads(proc.stdout)
    assert ("ledger.batch", str(receipt)) in failed(out)
    assert "3" in _finding(out, "ledger.batch")["detail"]
