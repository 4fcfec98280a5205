"""Findings: what each check of a verification found, and the one rule that turns them into a
verdict and a trust level.

A check returns findings and never decides an exit code. `verdict` (verified only when every
required check passed and nothing failed or errored) and `trust_of` (the trust level the
`ledger.record` finding states) are the only places a verdict or a trust level is derived;
`Verification` stores neither, and nothing takes one from outside (a saved document's own
`verified` member is recomputed by `aichain_audit.verify.document`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aichain_audit.errors import AichainError
    from aichain_audit.verify.request import RequestRecord

# Checks no verification of a model may lack, whatever it was asked: the root recomputation,
# the model's digest and the ledger record (PRODUCT.md section 5).
NEVER_SKIP = ("lineage.root", "model.digest", "ledger.record")
TRUST_NONE = "none"  # the ledger was not read, or said nothing about trust


class CheckStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """One check's result about one artifact (a path, tensor, config key, record, or None).

    `trust` is set on `ledger.record` findings only: the trust level the ledger result rests
    on (pinned, registry or self-attested)."""

    name: str
    status: CheckStatus
    artifact: str | None = None
    expected: Any = None
    actual: Any = None
    detail: str = ""
    trust: str | None = None

    @classmethod
    def error(cls, name: str, artifact: str | None, exc: AichainError) -> Finding:
        """The check could not complete: why, as `exc` says."""
        return cls(name, CheckStatus.ERROR, artifact, None, None, exc.message)


@dataclass(frozen=True)
class Requirement:
    """A check the verification must have passed: by name, and, when `artifact` is set, about
    that artifact (`under`: about it or anything inside it, for a dataset folder)."""

    name: str
    artifact: str | None = None
    under: bool = False

    def covers(self, f: Finding) -> bool:
        if f.name != self.name:
            return False
        if self.artifact is None:
            return True
        if f.artifact == self.artifact:
            return True
        return self.under and f.artifact is not None and f.artifact.startswith(self.artifact + "/")

    def describe(self) -> str:
        if self.artifact is None:
            return self.name
        return f"{self.name} {self.artifact}" + ("/…" if self.under else "")


def unmet(findings: Iterable[Finding], required: Iterable[Requirement]) -> list[Requirement]:
    """The required checks that did not pass: no finding covers them, or one that does is not
    a pass (a skipped or merely warned required check is not a pass)."""
    found = tuple(findings)
    missing = []
    for req in required:
        mine = [f for f in found if req.covers(f)]
        if not mine or any(f.status is not CheckStatus.PASS for f in mine):
            missing.append(req)
    return missing


def verdict(findings: Iterable[Finding], required: Iterable[Requirement]) -> bool:
    """The one verdict rule: verified only when every required check passed and nothing failed
    or errored."""
    found = tuple(findings)
    if any(f.status in (CheckStatus.FAIL, CheckStatus.ERROR) for f in found):
        return False
    return not unmet(found, required)


def trust_of(findings: Iterable[Finding]) -> str:
    """The trust level the verification rests on: the one `ledger.record` finding's, else
    "none" (the ledger was not read, or the findings disagree)."""
    levels = {f.trust for f in findings if f.name == "ledger.record"}
    if len(levels) == 1:
        (level,) = levels
        if level is not None:
            return level
    return TRUST_NONE


@dataclass(frozen=True)
class VerifiedModel:
    """The model as the verification hashed it: what a report names as its subject."""

    given: str  # MODEL as the auditor gave it (a path or an MLflow model URI)
    digest: str | None = None  # its digest by SPEC section 3, as hashed during the verification
    sha256: str | None = None  # "sha256:HEX" of its bytes, for exports that need a plain one
    size: int | None = None
    expected: str | None = None  # the lineage's digest of its model
    downloaded: bool = False  # fetched from MLflow into a private folder


@dataclass(frozen=True)
class Verification:
    """Every finding of one verification, the checks it required, and the facts a report
    needs. The verdict and the trust level are derived (`verified`, `trust`), never stored."""

    findings: tuple[Finding, ...]
    required: tuple[Requirement, ...] = tuple(Requirement(n) for n in NEVER_SKIP)
    request: RequestRecord | None = None  # what was asked, as a document records it
    root: str | None = None  # the root the manifest's leaves give
    subject: str | None = None
    model: VerifiedModel | None = None
    lineage: dict[str, Any] | None = None  # {"path", "from"}
    ledger: dict[str, Any] | None = None  # the registry as read (docs/verify.md)
    mlflow: dict[str, Any] | None = None  # the run as read
    tool: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # a command's own facts (check-proof)

    @property
    def verified(self) -> bool:
        return verdict(self.findings, self.required)

    @property
    def trust(self) -> str:
        return trust_of(self.findings)

    @property
    def failed(self) -> list[Finding]:
        return [f for f in self.findings if f.status is CheckStatus.FAIL]

    @property
    def errored(self) -> list[Finding]:
        return [f for f in self.findings if f.status is CheckStatus.ERROR]

    @property
    def unmet(self) -> list[Requirement]:
        return unmet(self.findings, self.required)

    @property
    def not_run(self) -> list[Requirement]:
        """The required checks no finding covers: they never ran."""
        return [r for r in self.required if not any(r.covers(f) for f in self.findings)]

    @property
    def checks_run(self) -> tuple[str, ...]:
        """The names of the checks that ran, in order of first finding."""
        return tuple(dict.fromkeys(f.name for f in self.findings))

    def with_findings(self, extra: Iterable[Finding]) -> Verification:
        return replace(self, findings=(*self.findings, *extra))
