"""`check-proof`'s verdict as findings: the path against the trusted root, and the ledger."""

from __future__ import annotations

from aichain_audit.anchoring import LedgerCheck
from aichain_audit.ledger.registry import Record, Status
from aichain_audit.lineage import LineageManifest, config_leaf, name_leaf
from aichain_audit.proof import prove
from aichain_audit.verify.proof import check_inclusion

MANIFEST = LineageManifest.build([name_leaf("demo"), config_leaf("c.json", "/lr", 0.1)])
PROOF = prove(MANIFEST, "c.json#/lr")
ANCHORER = "0x" + "12" * 20


def _ledger(*statuses: Status, trust: str = "pinned") -> LedgerCheck:
    records = tuple(Record(MANIFEST.root, b"\0" * 32, ANCHORER, 1, 1, 0, s) for s in statuses)
    return LedgerCheck(trust, 1, "0x" + "34" * 20, 5, records, records)


def test_a_valid_path_under_the_trusted_root_verifies() -> None:
    result = check_inclusion(PROOF, MANIFEST.root)
    assert result.verified
    assert [f.name for f in result.findings] == ["proof.path"]


def test_another_root_fails_the_path_finding_naming_the_leaf_kind() -> None:
    result = check_inclusion(PROOF, b"\1" * 32)
    assert not result.verified
    (failed,) = result.failed
    assert failed.name == "proof.path" and failed.artifact == "config c.json#/lr"
    assert "another root" in failed.detail


def test_with_a_ledger_the_record_must_be_trusted() -> None:
    assert check_inclusion(PROOF, MANIFEST.root, _ledger(Status.TRUSTED)).verified
    for bad in ((), (Status.REVOKED,), (Status.TRUSTED, Status.UNTRUSTED)):
        result = check_inclusion(PROOF, MANIFEST.root, _ledger(*bad))
        assert not result.verified
        assert [f.name for f in result.failed] == ["ledger.record"]


def test_require_pinned_fails_a_registry_or_self_attested_result() -> None:
    for trust in ("registry", "self-attested"):
        result = check_inclusion(PROOF, MANIFEST.root, _ledger(Status.TRUSTED, trust=trust), True)
        assert [f.name for f in result.failed] == ["ledger.trust"]
    assert check_inclusion(PROOF, MANIFEST.root, _ledger(Status.TRUSTED), True).verified
