"""Findings: what each check of a verification found, and the verdict they add up to.

A check returns findings and never decides an exit code; `Verification.verified` and
`aichain_audit.errors.verification_exit_code` do, in one place. Checks named in
`NEVER_SKIP` (the model digest, the root recomputation and the ledger record) can never be
skipped: a verification missing one of them, or holding it as `skip`, is not verified.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aichain_audit.errors import AichainError

SCHEMA = "aichain.verify/v1"
NEVER_SKIP = ("model.digest", "lineage.root", "ledger.record")


class CheckStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One check's result about one artifact (a path, tensor, config key, record, or None)."""

    name: str
    status: CheckStatus
    artifact: str | None = None
    expected: Any = None
    actual: Any = None
    detail: str = ""

    @classmethod
    def error(cls, name: str, artifact: str | None, exc: AichainError) -> Finding:
        """The check could not complete: why, as `exc` says."""
        return cls(name, CheckStatus.ERROR, artifact, None, None, exc.message)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": str(self.status),
            "artifact": self.artifact,
            "expected": self.expected,
            "actual": self.actual,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class Verification:
    """Every finding of one verification, and the trust its ledger result rests on."""

    trust: str  # pinned | registry | self-attested (or "none" when the ledger was not read)
    findings: tuple[Finding, ...]
    facts: dict[str, Any] = field(default_factory=dict)  # root, subject, model, ledger...
    required: tuple[str, ...] = NEVER_SKIP  # checks that must have passed

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.status is CheckStatus.FAIL]

    @property
    def errored(self) -> list[Finding]:
        return [f for f in self.findings if f.status is CheckStatus.ERROR]

    @property
    def verified(self) -> bool:
        """True only when every never-skip check passed and nothing failed or errored."""
        passed = {f.name for f in self.findings if f.status is CheckStatus.PASS}
        return not self.failed and not self.errored and all(n in passed for n in self.required)

    def with_findings(self, extra: Iterable[Finding]) -> Verification:
        return Verification(self.trust, (*self.findings, *extra), self.facts, self.required)
