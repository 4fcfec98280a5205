"""`check-proof` as a verification: the inclusion path, and the ledger's word on its root.

The verdict leaves the CLI: the findings are `proof.path` (the leaf at its index in a tree of
its size under the root the checker trusts, never the root inside the proof), and with a
chain `ledger.record` (the trust rule) and, when pinning is required, `ledger.trust`.
"""

from __future__ import annotations

from aichain_audit.anchoring import LedgerCheck
from aichain_audit.proof import InclusionProof
from aichain_audit.verify.findings import CheckStatus, Finding, Requirement, Verification


def ledger_why(ledger: LedgerCheck) -> str:
    """Why the ledger does not vouch for a lineage, in words (untrusted text left raw)."""
    if ledger.status == "not anchored":
        pinned = " by an anchorer you trust" if ledger.trust == "pinned" else ""
        return f"not anchored{pinned} in the registry"
    bad = [r for r in ledger.counted if r.status_name == ledger.status]
    detail = "; ".join(
        ledger.label(r) + (f": {why}" if (why := ledger.revocation(r)) else "") for r in bad
    )
    return f"{ledger.status} in the registry ({detail})"


def check_inclusion(
    proof: InclusionProof,
    trusted_root: bytes,
    ledger: LedgerCheck | None = None,
    require_pinned: bool = False,
) -> Verification:
    """Findings of one proof against a root the checker trusts (and the ledger, if read)."""
    item = f"{proof.kind} {proof.item}"
    findings: list[Finding] = []
    if proof.verifies_against(trusted_root):
        where = f"leaf {proof.index} of {proof.size}"
        findings.append(Finding("proof.path", CheckStatus.PASS, item, trusted_root.hex(),
                                proof.root.hex(), where))  # fmt: skip
    else:
        why = (
            "the proof is for another root"
            if proof.root != trusted_root
            else "the path does not lead from the leaf to the root"
        )
        findings.append(Finding("proof.path", CheckStatus.FAIL, item, trusted_root.hex(),
                                proof.root.hex(), why))  # fmt: skip
    required = [Requirement("proof.path")]
    if ledger is not None:
        required.append(Requirement("ledger.record"))
        status = CheckStatus.PASS if ledger.ok else CheckStatus.FAIL
        detail = "trusted" if ledger.ok else f"its lineage is {ledger_why(ledger)}"
        findings.append(
            Finding("ledger.record", status, trusted_root.hex(), "trusted", ledger.status, detail,
                    ledger.trust)
        )  # fmt: skip
    if require_pinned:
        required.append(Requirement("ledger.trust"))
        if ledger is not None and ledger.trust == "pinned":
            findings.append(
                Finding("ledger.trust", CheckStatus.PASS, None, "pinned", "pinned",
                        "the result rests on anchorers pinned with --trust")
            )  # fmt: skip
        else:
            trust = "none" if ledger is None else ledger.trust
            findings.append(Finding(
                "ledger.trust", CheckStatus.FAIL, None, "pinned", trust,
                f"trust is {trust}, and --require-pinned asks for anchorers pinned with --trust",
            ))  # fmt: skip
    return Verification(tuple(findings), tuple(required), extra={"index": proof.index})
