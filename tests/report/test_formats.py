"""Every format renders the sample with no verification, a passing and a failing one; the
exports are what their standards say; `--findings` refuses another lineage's document."""

from __future__ import annotations

import hashlib
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from aichain_audit import api
from aichain_audit.report import FORMATS
from aichain_audit.verify.findings import Verification
from tests.conftest import assert_one_line_error
from tests.report.conftest import Sample

MODES = ("none", "pass", "fail")


def document(sample: Sample, mode: str) -> Verification | None:
    return {"none": None, "pass": sample.passed, "fail": sample.failed}[mode]


class _Text(HTMLParser):
    """The text of an HTML page up to its first <h2>: what the first screen shows."""

    def __init__(self) -> None:
        super().__init__()
        self.first: list[str] = []
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "h2":
            self.done = True

    def handle_data(self, data: str) -> None:
        if not self.done:
            self.first.append(data)


def first_screen(html: bytes) -> str:
    parser = _Text()
    parser.feed(html.decode())
    return " ".join(" ".join(parser.first).split())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_the_sample(sample: Sample, fmt: str, mode: str) -> None:
    data = api.report(sample.lineage, fmt=fmt, verification=document(sample, mode))
    assert data
    text = data.decode("utf-8")
    root = sample.passed.root
    if fmt in ("json", "cyclonedx", "intoto"):
        json.loads(text)
    if fmt == "intoto":
        assert json.loads(text)["predicate"]["lineage"]["root"] == root
    else:
        assert root in text


@pytest.mark.parametrize("mode", MODES)
def test_the_verdict_and_trust_come_first(sample: Sample, mode: str) -> None:
    html = api.report(sample.lineage, fmt="html", verification=document(sample, mode))
    first = first_screen(html)
    md = api.report(sample.lineage, fmt="md", verification=document(sample, mode)).decode()
    md_first = md.split("\n## ", 1)[0]
    if mode == "none":
        assert "NOTHING WAS VERIFIED" in first and "ledger was not read" in first
        assert "NOTHING WAS VERIFIED" in md_first
    elif mode == "pass":
        assert "VERIFIED" in first and "NOT VERIFIED" not in first
        assert "Trust: self-attested" in first and "Ledger read:" in first
        assert "model.onnx" in first  # MODEL as given
    else:
        assert "NOT VERIFIED" in first and "Trust: self-attested" in first
        assert "tampered/model.onnx" in first and "model.digest" in first
        assert "NOT VERIFIED" in md_first and "tampered/model.onnx" in md_first


def test_json_is_the_documented_schema(sample: Sample) -> None:
    doc = json.loads(api.report(sample.lineage, fmt="json", verification=sample.failed))
    assert doc["schema"] == "aichain.report/v1"
    assert doc["verdict"]["verified"] is False and doc["verdict"]["source"] == "verified-now"
    assert doc["verdict"]["ledger"]["records"][0]["status"] == "trusted"
    model = next(a for a in doc["artifacts"] if a["kind"] == "model")
    # The subject is the model that was verified (the tampered copy), as hashed then.
    assert model["sha256"] == "sha256:" + sha256(sample.work / "tampered" / "model.onnx")
    assert model["matches"] == "no" and model["verified_as"] == "tampered/model.onnx"
    passed = json.loads(api.report(sample.lineage, fmt="json", verification=sample.passed))
    model = next(a for a in passed["artifacts"] if a["kind"] == "model")
    assert model["sha256"] == "sha256:" + sha256(sample.work / "model.onnx")
    assert model["matches"] == "yes"
    assert passed["model"]["read"] is True and passed["model"]["opsets"]
    assert {m["clause"] for m in doc["mappings"]} >= {"Annex IV, point 2(d)", "Article 12",
                                                       "MAP 4.1", "Annex A, A.7.5"}  # fmt: skip
    assert {n["role"] for n in doc["graph"]["nodes"]} == {"dataset", "config", "run", "model"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("mode", MODES)
def test_cyclonedx_validates_against_1_6(sample: Sample, mode: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = api.report(sample.lineage, fmt="cyclonedx", verification=document(sample, mode))
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text.decode()) is None
    bom = json.loads(text)
    assert bom["specVersion"] == "1.6"
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model" and "modelCard" in model
    verified = sample.work / ("tampered/model.onnx" if mode == "fail" else "model.onnx")
    assert model["hashes"] == [{"alg": "SHA-256", "content": sha256(verified)}]
    data = [c for c in bom["components"] if c["type"] == "data"]
    assert {c["name"] for c in data} == {"data/train.csv", "data/test.csv", "train.yaml"}
    for c in data:
        assert c["hashes"][0]["content"] == sha256(sample.work / c["name"])
    props = {p["name"]: p["value"] for p in bom["metadata"]["properties"]}
    assert props["aichain:lineage:root"] == sample.passed.root
    assert props["aichain:anchor:tx"].startswith("0x")


def test_intoto_subject_is_the_model_file(sample: Sample) -> None:
    statement = json.loads(api.report(sample.lineage, fmt="intoto", verification=sample.passed))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://aichain-audit.dev/lineage/v1"
    [subject] = statement["subject"]
    assert subject == {"name": "model.onnx",
                       "digest": {"sha256": sha256(sample.work / "model.onnx")}}  # fmt: skip
    predicate = statement["predicate"]
    assert predicate["lineage"]["root"] == sample.passed.root
    assert predicate["anchor"]["tx"].startswith("0x")
    assert predicate["verification"]["verified"] is True


def test_report_verify_exits_like_verify_and_still_writes(sample: Sample, tmp_path: Path) -> None:
    out = tmp_path / "failed.html"
    proc = sample.run("report", sample.lineage, "--verify", "tampered/model.onnx",
                      "--dataset", "data", "-o", out)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    first = first_screen(out.read_bytes())
    assert "NOT VERIFIED" in first and "tampered/model.onnx" in first
    out = tmp_path / "passed.md"
    proc = sample.run("report", sample.lineage, "--verify", "model.onnx", "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "**VERIFIED.**" in out.read_text()


def test_findings_are_imported_not_rechecked(sample: Sample, tmp_path: Path) -> None:
    saved = tmp_path / "verify.json"
    saved.write_text(json.dumps(sample.failed_doc))
    out = tmp_path / "r.html"
    proc = sample.run("report", sample.lineage, "--findings", saved, "-o", out)
    assert proc.returncode == 0, proc.stderr
    first = first_screen(out.read_bytes())
    assert f"Imported from {saved}, not re-checked" in first


def test_findings_of_another_lineage_are_refused(sample: Sample, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "c.yaml").write_text("lr: 0.5\n")
    made = sample.run("fingerprint", "--config", other / "c.yaml", "-o", other / "other.json")
    assert made.returncode == 0, made.stderr
    saved = tmp_path / "verify.json"
    saved.write_text(json.dumps(sample.passed_doc))
    out = tmp_path / "r.html"
    proc = sample.run("report", other / "other.json", "--findings", saved, "-o", out)
    assert "not this lineage" in assert_one_line_error(proc, 2)
    assert not out.exists()


def test_absent_artifacts_are_said_to_be_absent(sample: Sample, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    doc = json.loads(api.report(sample.lineage, fmt="json", artifacts=empty))
    assert {a["matches"] for a in doc["artifacts"]} == {"absent"}
    assert all(a["sha256"] is None and "absent" in a["note"] for a in doc["artifacts"])
    html = api.report(sample.lineage, fmt="html", artifacts=empty).decode()
    assert "absent from" in html
    proc = sample.run("report", sample.lineage, "--artifacts", empty, "--format", "intoto",
                      "-o", tmp_path / "s.json")  # fmt: skip
    assert "model.onnx is absent" in assert_one_line_error(proc, 2)


def test_bad_input_is_one_line_exit_2(sample: Sample, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    proc = sample.run("report", tmp_path / "missing.json", "-o", out)
    assert_one_line_error(proc, 2)
    proc = sample.run("report", sample.lineage, "--format", "pdf", "-o", out)
    assert_one_line_error(proc, 2)
    proc = sample.run("report", sample.lineage, "--dataset", "data", "-o", out)
    assert "need --verify" in assert_one_line_error(proc, 2)
    assert not out.exists()


# --- issue 17: no verdict taken from a document, exports name what was verified -------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_findings_document_cannot_declare_its_own_verdict(
    sample: Sample, tmp_path: Path, fmt: str
) -> None:
    """`verify bad.onnx --json` (exit 1), edited to say verified and pinned: refused in every
    format, naming why, and no report written."""
    forged = dict(sample.failed_doc, verified=True, trust="pinned")
    saved = tmp_path / "v.json"
    saved.write_text(json.dumps(forged))
    out = tmp_path / f"r.{fmt}"
    proc = sample.run("report", sample.lineage, "--findings", saved, "--format", fmt, "-o", out)
    assert "recomputed, never taken" in assert_one_line_error(proc, 2)
    assert not out.exists()
    doubled = json.dumps(sample.failed_doc).replace('"verified": false', '"verified": false, '
                                                    '"verified": true', 1)  # fmt: skip
    saved.write_text(doubled)
    proc = sample.run("report", sample.lineage, "--findings", saved, "--format", fmt, "-o", out)
    assert "appears twice" in assert_one_line_error(proc, 2)
    assert not out.exists()


def test_a_findings_document_with_a_contradicting_trust_is_refused(
    sample: Sample, tmp_path: Path
) -> None:
    saved = tmp_path / "v.json"
    saved.write_text(json.dumps(dict(sample.passed_doc, trust="pinned")))
    proc = sample.run("report", sample.lineage, "--findings", saved, "-o", tmp_path / "r.md")
    assert "states trust 'pinned'" in assert_one_line_error(proc, 2)


def test_an_honest_findings_document_is_still_labelled_imported(
    sample: Sample, tmp_path: Path
) -> None:
    saved = tmp_path / "v.json"
    saved.write_text(json.dumps(sample.passed_doc))
    out = tmp_path / "r.md"
    proc = sample.run("report", sample.lineage, "--findings", saved, "-o", out)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "**VERIFIED.**" in text and "not re\\-checked" in text


@pytest.mark.parametrize("fmt", ["cyclonedx", "intoto", "html", "json"])
def test_exports_of_a_failed_verification_name_the_model_that_was_verified(
    sample: Sample, tmp_path: Path, fmt: str
) -> None:
    """A tampered copy kept outside the lineage's folder: the report's subject is that copy,
    with the digest hashed during the verification; the lineage's digest is what was
    expected, never presented as the verified model's."""
    elsewhere = tmp_path / "deploy"
    elsewhere.mkdir()
    (elsewhere / "model.onnx").write_bytes((sample.work / "tampered" / "model.onnx").read_bytes())
    bad, good = sha256(elsewhere / "model.onnx"), sha256(sample.work / "model.onnx")
    out = tmp_path / f"r.{fmt}"
    proc = sample.run("report", sample.lineage, "--verify", elsewhere / "model.onnx",
                      "--format", fmt, "-o", out)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    text = out.read_text()
    assert bad in text
    if fmt == "cyclonedx":
        subject = json.loads(text)["metadata"]["component"]
        assert subject["hashes"] == [{"alg": "SHA-256", "content": bad}]
        props = {p["name"]: p["value"] for p in subject["properties"]}
        assert props["aichain:artifact:matches-lineage"] == "no"
        assert props["aichain:artifact:lineage-digest"] == "sha256:" + good
    elif fmt == "intoto":
        statement = json.loads(text)
        assert statement["subject"] == [
            {"name": str(elsewhere / "model.onnx"), "digest": {"sha256": bad}}
        ]
        assert statement["predicate"]["verification"]["verified"] is False
        assert statement["predicate"]["verification"]["expectedModelDigest"] == "sha256:" + good
    elif fmt == "html":
        assert "does not match" in text and "matches: yes" not in text
    else:
        model = next(a for a in json.loads(text)["artifacts"] if a["kind"] == "model")
        assert model["sha256"] == "sha256:" + bad and model["matches"] == "no"


def test_a_report_says_which_checks_ran_and_what_was_not_checked(
    sample: Sample, tmp_path: Path
) -> None:
    """`report --verify` without --dataset on a changed dataset: every required check passed,
    and the report says the datasets were not checked, in the headline and the mapping."""
    work = tmp_path / "work"
    shutil.copytree(sample.work, work, ignore=shutil.ignore_patterns("tampered"))
    csv = work / "data" / "train.csv"
    csv.write_bytes(csv.read_bytes() + b"1\n")
    out = tmp_path / "r.json"
    proc = sample.run("report", work / "lineage.json", "--verify", work / "model.onnx", "-o", out)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["verdict"]["verified"] is True
    assert any("datasets" in n for n in doc["verdict"]["not_checked"])
    assert "Not checked: datasets" in doc["verdict"]["headline"]
    nist = next(m for m in doc["mappings"] if m["clause"] == "MEASURE 2.1")
    assert "not checked: datasets" in nist["here"]


def test_a_findings_document_whose_checks_were_flipped_to_pass_is_refused(
    sample: Sample, tmp_path: Path
) -> None:
    """Every failed check of the tampered model's document turned into a pass, and the
    verdict with it: the document still names the tampered model's digest, which exports
    would carry as a verified subject. Refused."""
    forged = json.loads(json.dumps(sample.failed_doc))
    for check in forged["checks"]:
        check["status"] = "pass"
    forged["verified"], forged["unmet"] = True, []
    saved = tmp_path / "v.json"
    saved.write_text(json.dumps(forged))
    out = tmp_path / "r.cdx.json"
    proc = sample.run("report", sample.lineage, "--findings", saved, "-o", out)
    assert "model.digest" in assert_one_line_error(proc, 2)
    assert not out.exists()
