"""Issue 18, what a person reads in the HTML and Markdown reports: the trust level in the
verdict itself, a diagram coloured by the verdict, full values beside every cut one, the
mapping's code spans, a per-clause summary on the first screen, "bound by values" for
configs, and datasets resolved where the verification found them."""

from __future__ import annotations

import html as entities
import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from aichain_audit import api
from aichain_audit.verify.findings import Verification
from tests.report.conftest import Sample
from tests.report.test_formats import first_screen


def with_trust(v: Verification, trust: str) -> Verification:
    """The same verification, its ledger result resting on another trust level."""
    findings = tuple(
        replace(f, trust=trust) if f.name == "ledger.record" else f for f in v.findings
    )
    return replace(v, findings=findings)


def verdict_of(page: str) -> tuple[str, str]:
    """(the class of the verdict section, its headline word) of an HTML report."""
    m = re.search(r'<section class="verdict ([^"]+)" id="verdict">\s*<div class="word">([^<]*)<',
                  page)  # fmt: skip
    assert m is not None
    return m.group(1), entities.unescape(m.group(2))


def test_a_pass_names_its_trust_in_the_verdict_word_and_colour(sample: Sample) -> None:
    shown = {}
    for trust in ("pinned", "registry", "self-attested"):
        page = api.report(sample.lineage, fmt="html",
                          verification=with_trust(sample.passed, trust)).decode()  # fmt: skip
        shown[trust] = verdict_of(page)
    assert shown["self-attested"][1] == "VERIFIED (self-attested)"
    assert shown["registry"][1] == "VERIFIED (registry trust)"
    assert shown["pinned"][1] == "VERIFIED (pinned)"
    assert len({cls for cls, _ in shown.values()}) == 3, shown  # three distinct colours


def model_box_fill(page: str) -> str:
    m = re.search(r'<g class="node node-model"[^>]*>.*?<rect [^>]*fill="([^"]+)"', page, re.S)
    if m is None:  # before issue 18: the model box was the last rect of the diagram
        m = re.search(r'.*<rect [^>]*fill="([^"]+)"[^>]*/>\s*<text[^>]*>model\.onnx<', page, re.S)
    assert m is not None
    return m.group(1)


def test_the_diagram_colours_the_model_by_the_verdict(sample: Sample) -> None:
    passed = api.report(sample.lineage, fmt="html", verification=sample.passed).decode()
    failed = api.report(sample.lineage, fmt="html", verification=sample.failed).decode()
    none = api.report(sample.lineage, fmt="html").decode()
    fills = {model_box_fill(p) for p in (passed, failed, none)}
    assert len(fills) == 3, fills


def test_no_identifier_is_cut_without_its_full_value_beside_it(sample: Sample) -> None:
    page = api.report(sample.lineage, fmt="html", verification=sample.passed).decode()
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert sample.passed.subject is not None
    assert sample.passed.subject in svg  # the model's digest, whole, in the diagram
    for cut in re.findall(r">([^<>]*)…<", svg):
        assert re.search(re.escape(cut) + r"[^<]+</title>", svg), cut


@given(st.text())
def test_html_code_spans_make_only_code_elements(text: str) -> None:
    from aichain_audit.report.html import code_spans as html_code_spans

    out = str(html_code_spans(text))
    assert re.sub(r"</?code>", "", out).count("<") == 0
    assert out.count("<code>") == out.count("</code>")
    if text.count("`") % 2 == 0:
        assert "`" not in out


@given(st.text())
def test_markdown_code_spans_open_nothing(text: str) -> None:
    from aichain_audit.report.markdown import code_spans as md_code_spans

    out = str(md_code_spans(text))
    outside = re.sub(r"`[^`\n]*`", "", out)
    assert re.search(r"(?<!\\)[`<>\[\]*_|]", outside) is None, out
    assert "\n" not in out


def test_the_mapping_shows_code_not_backticks(sample: Sample) -> None:
    page = api.report(sample.lineage, fmt="html", verification=sample.passed).decode()
    mapping = page.split('id="mapping"', 1)[1]
    assert "`" not in mapping and "<code>aichain diff</code>" in mapping
    md = api.report(sample.lineage, fmt="md", verification=sample.passed).decode()
    assert "\\`" not in md and "`aichain diff`" in md


def test_a_per_clause_summary_is_on_the_first_screen(sample: Sample) -> None:
    first = first_screen(api.report(sample.lineage, fmt="html", verification=sample.passed))
    assert "Annex A, A.6.2.8 covered" in first and "MAP 4.1 partly" in first
    none = first_screen(api.report(sample.lineage, fmt="html"))
    assert "Annex A, A.6.2.8 not shown" in none and "MAP 4.1 not shown" in none
    doc = json.loads(api.report(sample.lineage, fmt="json", verification=sample.passed))
    coverage = {m["clause"]: m["coverage"] for m in doc["mappings"]}
    assert coverage["Annex A, A.7.5"] == "covered"  # datasets and ledger, both verified
    assert coverage["MAP 4.1"] == "partly"  # no parent lineage in the sample
    failed = json.loads(api.report(sample.lineage, fmt="json", verification=sample.failed))
    assert {m["coverage"] for m in failed["mappings"]} == {"not shown"}


def test_a_config_is_bound_by_values_not_absent(sample: Sample, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for folder in (None, empty):
        page = api.report(sample.lineage, fmt="html", artifacts=folder).decode()
        inventory = page.split('id="artifacts"', 1)[1].split("<h2", 1)[0]
        row = inventory.split("train.yaml", 1)[1].split("</tbody>", 1)[0]
        assert "bound by values" in row
        assert "not-comparable" not in row and ">absent<" not in row


def test_datasets_are_resolved_where_the_verification_found_them(
    sample: Sample, tmp_path: Path
) -> None:
    """The lineage alone in one folder, the datasets elsewhere, given to --dataset: the report
    finds them there, as the verification did, instead of calling them absent."""
    alone = tmp_path / "lineage"
    alone.mkdir()
    for name in ("lineage.json", "lineage.receipt.json", "model.onnx"):
        shutil.copy(sample.work / name, alone / name)
    shutil.copytree(sample.work / "data", tmp_path / "elsewhere" / "data")
    out = tmp_path / "r.json"
    proc = sample.run("report", alone / "lineage.json", "--verify", alone / "model.onnx",
                      "--dataset", tmp_path / "elsewhere" / "data", "-o", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    datasets = [a for a in json.loads(out.read_text())["artifacts"] if a["kind"] == "dataset"]
    assert {a["matches"] for a in datasets} == {"yes"}
    assert all(str(tmp_path / "elsewhere") in a["note"] for a in datasets)
    # Not given to the verification: not located, never "absent" under a VERIFIED.
    v = sample.passed
    assert v.request is not None
    unasked = replace(v, request=replace(v.request, datasets=()),
                      findings=tuple(f for f in v.findings if f.name != "dataset"),
                      required=tuple(r for r in v.required if r.name != "dataset"))  # fmt: skip
    assert unasked.verified
    page = api.report(alone / "lineage.json", fmt="html", verification=unasked)
    inventory = page.decode().split('id="artifacts"', 1)[1].split("<h2", 1)[0]
    assert "not located" in inventory and ">absent<" not in inventory
