"""How the registry's word on a lineage is shown: lines for people, members for `--json`."""

from __future__ import annotations

from typing import Any


def ledger_doc(ledger: Any) -> dict[str, Any]:
    counted = {id(r) for r in ledger.counted}
    return {
        "record": ledger.status,
        "trust": ledger.trust,
        "chain_id": ledger.chain_id,
        "registry": ledger.registry,
        "block_read": ledger.block_read,
        "records": [
            {
                "anchorer": r.anchorer,
                "status": r.status_name,
                "block": r.block,
                "time": r.timestamp,
                "revoked_block": r.revoked_block or None,
                "reason": ledger.reasons.get(r),
                "counted": id(r) in counted,
            }
            for r in ledger.records
        ],
        "batch": None
        if ledger.batch is None
        else {"index": ledger.batch.index, "size": ledger.batch.size, "root": ledger.batch.root},
        "warnings": ledger_warnings(ledger),
    }


def ledger_warnings(ledger: Any) -> list[str]:
    if ledger.trust == "self-attested":
        return ["self-attested: the embedded chain is written and read on this machine"]
    if ledger.trust == "registry":
        return [
            "no anchorer pinned: any anchorer the registry's owner granted is trusted; "
            "pin the ones you trust with --trust"
        ]
    return []


def ledger_lines(ledger: Any) -> list[str]:
    where = (
        f"chain {ledger.chain_id}, registry {ledger.registry}, read at block {ledger.block_read}"
    )
    lines = [f"  ledger: {ledger.status}, trust {ledger.trust} ({where})"]
    if ledger.batch is not None:
        lines.append(
            f"  batch: lineage {ledger.batch.index + 1} of {ledger.batch.size}, "
            f"root {ledger.batch.root}"
        )
    for r in ledger.records:
        counted = "" if r in ledger.counted else " (not counted)"
        lines.append(f"  anchorer {ledger.label(r)}: {r.status_name}, block {r.block}{counted}")
    lines.extend(f"  warning: {w}" for w in ledger_warnings(ledger))
    return lines
