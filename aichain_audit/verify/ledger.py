"""`ledger.record`, `ledger.batch` and `receipt.registry`: the pinned registry's word.

Only what the auditor pins counts (chain, registry, anchorers: flag or environment, else the
embedded chain's own registry). A receipt handed over with the model is a pointer: its batch
path is verified against a recorded batch root, and a receipt that names another registry
than the pinned one is a failed finding, never a reason to read that registry.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aichain_audit.anchoring import LedgerCheck, check_ledger
from aichain_audit.errors import AichainError, CheckFailed
from aichain_audit.receipt import ReceiptPointer
from aichain_audit.verify.findings import CheckStatus, Finding
from aichain_audit.verify.lineage_root import ReadManifest

if TYPE_CHECKING:
    from aichain_audit.ledger import ChainSettings


def check_ledger_records(
    manifest: ReadManifest,
    settings: ChainSettings,
    pins: Sequence[str],
    receipt: ReceiptPointer | None,
    receipt_path: Path | None,
) -> tuple[list[Finding], LedgerCheck | None, dict[str, Any]]:
    """The ledger findings, the check they rest on (None when the chain could not be read),
    and the facts for `--json`'s `ledger` member."""
    from aichain_audit.ledger.registry import hex32

    root, subject = manifest.root, hex32(manifest.subject)
    batch = None
    if receipt is not None and receipt.root == root.hex() and receipt.subject == manifest.subject:
        batch = receipt.batch
    findings: list[Finding] = []
    try:
        ledger = check_ledger(root, subject, settings, pins, batch, with_txs=True)
    except CheckFailed as exc:  # a batch path that does not lead to its root
        findings.append(Finding("ledger.batch", CheckStatus.FAIL, str(receipt_path),
                                batch.root if batch else None, None, exc.message))  # fmt: skip
        why = "the lineage's batch path is not valid"
        findings.append(
            Finding("ledger.record", CheckStatus.FAIL, root.hex(), "trusted", None, why)
        )
        return findings, None, {}
    except AichainError as exc:
        findings.append(Finding("ledger.record", CheckStatus.ERROR, root.hex(), "trusted", None,
                                f"the ledger could not be read: {exc.message}"))  # fmt: skip
        return findings, None, {}
    facts = {
        "chain_id": ledger.chain_id,
        "registry": ledger.registry,
        "block_read": ledger.block_read,
        "read_at": int(time.time()),
        "records": [
            {
                "anchorer": r.anchorer,
                "status": r.status_name,
                "block": r.block,
                "time": r.timestamp,
                "tx": ledger.txs.get(r),
                "revocation_reason": ledger.reasons.get(r),
                "counted": r in ledger.counted,
            }
            for r in ledger.records
        ],
    }
    counted = ", ".join(f"{ledger.label(r)} ({r.status_name})" for r in ledger.counted) or "none"
    status = CheckStatus.PASS if ledger.ok else CheckStatus.FAIL
    reasons = "; ".join(
        f"{ledger.label(r)}: {ledger.revocation(r)}" for r in ledger.counted if r in ledger.reasons
    )
    detail = f"trust {ledger.trust}; counted records: {counted}" + (
        f"; revoked: {reasons}" if reasons else ""
    )
    artifact = root.hex() if ledger.batch is None else f"batch {ledger.batch.root}"
    findings.append(
        Finding("ledger.record", status, artifact, "trusted", ledger.status, detail, ledger.trust)
    )
    if ledger.batch is not None:
        findings.append(
            Finding("ledger.batch", CheckStatus.PASS, str(receipt_path), ledger.batch.root,
                    ledger.batch.root,
                    f"lineage {ledger.batch.index + 1} of {ledger.batch.size}: the receipt's path "
                    "leads to the recorded batch root")
        )  # fmt: skip
    if receipt is not None:
        findings.append(
            _receipt_registry(receipt, receipt_path, ledger, root.hex(), manifest.subject)
        )
    return findings, ledger, facts


def _receipt_registry(
    receipt: ReceiptPointer,
    receipt_path: Path | None,
    ledger: LedgerCheck,
    root: str,
    subject: str,
) -> Finding:
    """The receipt names this lineage, and the pinned registry on the pinned chain; a receipt
    that cannot show it (another lineage, no chain id, another registry) is a failed finding."""
    named = receipt.registry
    same = named is not None and named.lower() == ledger.registry.lower()
    if (receipt.root, receipt.subject) != (root, subject):
        return Finding(
            "receipt.registry", CheckStatus.FAIL, str(receipt_path), f"{root} ({subject})",
            f"{receipt.root} ({receipt.subject})",
            f"the receipt {receipt_path} is for another lineage, not this one",
        )  # fmt: skip
    if receipt.chain_id is None:
        return Finding(
            "receipt.registry", CheckStatus.FAIL, str(receipt_path), f"chain {ledger.chain_id}",
            None, "the receipt names no chain id, so it cannot show it is for the pinned chain",
        )  # fmt: skip
    if same and receipt.chain_id == ledger.chain_id:
        why = "the receipt names this lineage, the pinned registry and chain"
        return Finding("receipt.registry", CheckStatus.PASS, str(receipt_path), ledger.registry,
                       named, why)  # fmt: skip
    return Finding(
        "receipt.registry", CheckStatus.FAIL, str(receipt_path),
        f"{ledger.registry} (chain {ledger.chain_id})", f"{named} (chain {receipt.chain_id})",
        "the receipt points at another registry than the one pinned; only the pinned one counts",
    )  # fmt: skip


def check_pinned(ledger_findings: Sequence[Finding]) -> Finding:
    """`ledger.trust`, when the result must rest on pinned anchorers (`--require-pinned`):
    passes only when the `ledger.record` finding's trust level is `pinned`."""
    from aichain_audit.verify.findings import trust_of

    trust = trust_of(ledger_findings)
    if trust == "pinned":
        return Finding("ledger.trust", CheckStatus.PASS, None, "pinned", trust,
                       "the result rests on anchorers pinned with --trust")  # fmt: skip
    return Finding(
        "ledger.trust", CheckStatus.FAIL, None, "pinned", trust,
        "--require-pinned: the result must rest on anchorers pinned with --trust",
    )  # fmt: skip
