"""The verify document (`aichain_audit.verify.document`): one writer, one reader, a round trip,
strict reading, and a verdict that is recomputed, never taken from the document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit import api
from aichain_audit.errors import InputError
from aichain_audit.verify.document import (
    SCHEMA_V1,
    SCHEMA_V2,
    document,
    read,
    read_document,
    reconcile,
    write,
)
from aichain_audit.verify.findings import (
    CheckStatus,
    Finding,
    Requirement,
    Verification,
    VerifiedModel,
    trust_of,
    unmet,
    verdict,
)
from aichain_audit.verify.lineage_root import read_manifest
from aichain_audit.verify.request import RequestRecord, required_checks

NAMES = ("lineage.root", "model.digest", "ledger.record", "dataset", "mlflow.run", "ledger.trust")
TRUSTS = ("pinned", "registry", "self-attested")
text = st.text(max_size=12)
json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
findings_st = st.builds(
    Finding,
    name=st.sampled_from(NAMES),
    status=st.sampled_from(list(CheckStatus)),
    artifact=st.none() | text,
    expected=json_value,
    actual=json_value,
    detail=text,
    trust=st.none() | st.sampled_from(TRUSTS),
)
requirements_st = st.builds(
    Requirement, name=st.sampled_from(NAMES), artifact=st.none() | text, under=st.booleans()
)
records_st = st.builds(
    RequestRecord,
    model=text,
    lineage=st.none() | text,
    receipt=st.none() | text,
    datasets=st.lists(text, max_size=3).map(tuple),
    mlflow_run=st.none() | st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
    chain=st.sampled_from(("embedded", "json-rpc")),
    chain_id=st.none() | st.integers(1, 2**40),
    registry=st.none() | text,
    trust=st.lists(text, max_size=3).map(tuple),
    require_pinned=st.booleans(),
    confirmations=st.integers(1, 100),
)
models_st = st.builds(
    VerifiedModel,
    given=text,
    digest=st.none() | text,
    sha256=st.none() | text,
    size=st.none() | st.integers(0, 2**40),
    expected=st.none() | text,
    downloaded=st.booleans(),
)
ledger_st = st.none() | st.fixed_dictionaries(
    {
        "chain_id": st.integers(1, 2**40),
        "registry": text,
        "block_read": st.integers(0, 2**40),
        "read_at": st.integers(0, 2**33),
        "records": st.lists(
            st.fixed_dictionaries(
                {
                    "anchorer": text,
                    "status": text,
                    "block": st.integers(0, 2**40),
                    "time": st.integers(0, 2**33),
                    "counted": st.booleans(),
                }
            ),
            max_size=2,
        ),
    }
)
verifications = st.builds(
    Verification,
    findings=st.lists(findings_st, max_size=6).map(tuple),
    required=st.lists(requirements_st, max_size=4).map(tuple),
    request=st.none() | records_st,
    root=st.none() | text,
    subject=st.none() | text,
    model=st.none() | models_st,
    lineage=st.none() | st.fixed_dictionaries({"path": st.none() | text, "from": text}),
    ledger=ledger_st,
    mlflow=st.none() | st.dictionaries(text, text, max_size=3),
    tool=text,
)


@settings(max_examples=200, deadline=None)
@given(verifications)
def test_a_v2_document_reads_back_as_the_verification_it_was_written_from(
    v: Verification,
) -> None:
    assert read(write(v), "v.json") == v


@settings(max_examples=100, deadline=None)
@given(verifications)
def test_a_document_states_the_verdict_and_trust_its_checks_give(v: Verification) -> None:
    for version in (1, 2):
        doc = document(v, version)
        assert doc["verified"] is verdict(v.findings, v.required)
        assert doc["trust"] == trust_of(v.findings)


@settings(max_examples=300, deadline=None)
@given(st.lists(findings_st, max_size=8), st.lists(requirements_st, max_size=4))
def test_the_verdict_rule(findings: list[Finding], required: list[Requirement]) -> None:
    """Verified exactly when nothing failed or errored and each required check has a finding
    covering it, every one of them a pass."""
    bad = any(f.status in (CheckStatus.FAIL, CheckStatus.ERROR) for f in findings)
    each = all(
        any(r.covers(f) for f in findings)
        and all(f.status is CheckStatus.PASS for f in findings if r.covers(f))
        for r in required
    )
    assert verdict(findings, required) is (not bad and each)
    assert (not unmet(findings, required)) is each


def test_a_v1_document_is_still_read_for_archived_files() -> None:
    v = Verification(
        (
            Finding("lineage.root", CheckStatus.PASS, "lineage.json"),
            Finding("model.digest", CheckStatus.PASS, "model.onnx", "m: sha256:aa", "sha256:aa"),
            Finding(
                "ledger.record",
                CheckStatus.PASS,
                "ab" * 32,
                "trusted",
                "trusted",
                "trust self-attested; counted records: 0x1 (trusted)",
                "self-attested",
            ),
        ),
        root="ab" * 32,
        subject="sha256:aa",
        model=VerifiedModel("model.onnx", digest="sha256:aa"),
        tool="0.1.0",
    )
    got = read_document(write(v, version=1), "old.json")
    assert got.schema == SCHEMA_V1 and got.stated_verified is True
    assert got.verification.verified and got.verification.trust == "self-attested"
    assert got.verification.model is not None
    assert got.verification.model.sha256 == "sha256:aa"  # a plain digest is its SHA-256


CHECK = {"name": "x", "status": "pass", "artifact": None, "expected": None, "actual": None,
         "detail": ""}  # fmt: skip


def _v2(**changes: Any) -> bytes:
    v = Verification((Finding("lineage.root", CheckStatus.PASS),), tool="t")
    doc = document(v)
    doc.update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b'{"schema": "aichain.verify/v2", "verified": false, "verified": true}', "twice"),
        (_v2(verified=False)[:-1] + b', "extra": 1}', "unknown member 'extra'"),
        (_v2(checks=[{**CHECK, "verdict": "pass"}]), "unknown member"),
        (_v2(checks=[{**CHECK, "status": "passed"}]), "is not one of"),
        (_v2(root=float("nan")), "not a JSON number"),
        (_v2(tool="x").replace(b'"tool": "x"', b'"tool": 1e999'), "finite"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (_v2(ledger={"chain_id": 1, "read_at": 10**18, "records": []}), "out of range"),
        (_v2(ledger={"chain_id": 1, "records": [{"time": 10**18}]}), "out of range"),
        (_v2(verified="yes"), "needs 'verified'"),
        (b'{"schema": "aichain.verify/v3"}', "not an aichain.verify/v2"),
    ],
)
def test_a_malformed_document_is_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(InputError, match=why):
        read_document(data, "v.json")


# --- reconcile: a document against the lineage it is about ----------------------------------
@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder = tmp_path_factory.mktemp("lineage")
    (folder / "train.yaml").write_text("lr: 0.1\n")
    (folder / "data").mkdir()
    (folder / "data" / "a.csv").write_text("x\n1\n")
    result = api.fingerprint(configs=[folder / "train.yaml"], datasets=[folder / "data"])
    path = folder / "lineage.json"
    path.write_bytes(result.manifest.to_json())
    return read_manifest(path)


def _passing(manifest: Any, record: RequestRecord) -> Verification:
    required = required_checks(record, manifest)
    findings = tuple(
        Finding(r.name, CheckStatus.PASS, r.artifact, trust="pinned" if r.name == "ledger.record"
                else None)
        for r in required
    )  # fmt: skip
    return Verification(findings, required, record, manifest.root.hex(), manifest.subject)


def test_a_consistent_document_is_reconciled(manifest: Any) -> None:
    v = _passing(manifest, RequestRecord("model.onnx", datasets=("data",), trust=("0x1",)))
    got = reconcile(read_document(write(v), "v.json"), manifest, "v.json")
    assert got == v and got.verified


def test_a_stated_verdict_that_contradicts_the_checks_is_refused(manifest: Any) -> None:
    v = _passing(manifest, RequestRecord("model.onnx", datasets=("data",)))
    failed = v.with_findings([Finding("dataset", CheckStatus.FAIL, "data/a.csv")])
    doc = document(failed)
    assert doc["verified"] is False
    doc["verified"] = True
    with pytest.raises(InputError, match="states verified, but its checks say otherwise"):
        reconcile(read_document(json.dumps(doc).encode(), "v.json"), manifest, "v.json")
    doc["verified"], doc["trust"] = False, "registry"
    with pytest.raises(InputError, match="states trust 'registry'"):
        reconcile(read_document(json.dumps(doc).encode(), "v.json"), manifest, "v.json")


def test_a_document_that_drops_a_required_check_is_refused(manifest: Any) -> None:
    """Deleting the failed dataset findings and the dataset requirement would turn the
    recomputed verdict into a pass: the request still says a dataset was given."""
    v = _passing(manifest, RequestRecord("model.onnx", datasets=("data",)))
    doc = document(v)
    doc["required"] = [r for r in doc["required"] if r["name"] != "dataset"]
    doc["checks"] = [c for c in doc["checks"] if c["name"] != "dataset"]
    with pytest.raises(InputError, match="requires dataset data"):
        reconcile(read_document(json.dumps(doc).encode(), "v.json"), manifest, "v.json")


def test_a_document_lacking_a_required_finding_is_refused(manifest: Any) -> None:
    v = _passing(manifest, RequestRecord("model.onnx"))
    doc = document(v)
    doc["checks"] = [c for c in doc["checks"] if c["name"] != "model.digest"]
    doc["verified"] = False
    doc["unmet"] = ["model.digest model.onnx"]
    with pytest.raises(InputError, match=r"has no model\.digest model\.onnx check"):
        reconcile(read_document(json.dumps(doc).encode(), "v.json"), manifest, "v.json")


def test_the_request_defines_the_required_checks(manifest: Any) -> None:
    bare = {r.name for r in required_checks(RequestRecord("m.onnx"), manifest)}
    assert bare == {"lineage.root", "model.digest", "ledger.record"}
    full = required_checks(
        RequestRecord("m.onnx", datasets=("a/data", "b"), mlflow_run="r1", require_pinned=True),
        manifest,
    )
    assert Requirement("dataset", "data", under=True) in full
    assert Requirement("dataset", "b", under=True) in full
    assert {r.name for r in full} >= {"mlflow.run", "mlflow.root", "ledger.trust"}


def test_schema_names() -> None:
    assert SCHEMA_V2 == "aichain.verify/v2" and SCHEMA_V1 == "aichain.verify/v1"


def test_a_document_is_written_atomically_readable(tmp_path: Path) -> None:
    v = Verification((Finding("lineage.root", CheckStatus.PASS, "é\u202e"),), tool="t")
    data = write(v)
    assert data.endswith(b"\n") and read(data, "v.json") == v
