"""Anchoring, revocation and the ledger's word on a lineage, by the trust rule of SPEC §11.

The tool reports only what the chain shows: a record is new only if our own transaction's
receipt holds our event; everything else (who anchored, when, its status, why it was
revoked) is read back from the registry. A receipt handed over with a lineage is a pointer:
its batch path is verified against the recorded batch root, never trusted.

The trust rule: the records a verifier can see are those of (root, subject) and, when a
receipt places the lineage in a batch, those of its batch root; the *counted* ones are those of
the anchorers the auditor pins (`--trust`), or with no pins every one except those of keys
marked untrusted. A lineage checks out when at least one counted record is trusted and no
counted record, direct or batch, is revoked or untrusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aichain_audit import merkle
from aichain_audit.errors import CheckFailed, InputError, UsageError
from aichain_audit.lineage import LineageManifest
from aichain_audit.receipt import AnchorReceipt, BatchInfo, load_receipt, receipt_path

if TYPE_CHECKING:
    from aichain_audit.ledger import ChainSettings
    from aichain_audit.ledger.registry import Record, Registry, TxResult

TRUST_PINNED = "pinned"
TRUST_REGISTRY = "registry"
TRUST_SELF = "self-attested"


def batch_leaf_hash(root: bytes, subject: bytes) -> bytes:
    """A lineage's leaf in a batch anchor: SHA-256(0x00 || root || subject) (RFC 9162 leaf)."""
    return merkle.leaf_hash(root + subject)


def batch_path_leads_to(batch: BatchInfo, root: bytes, subject: bytes) -> bool:
    """True when the receipt's audit path leads from this lineage's batch leaf to its root."""
    try:
        path = [bytes.fromhex(p) for p in batch.path]
        batch_root = bytes.fromhex(batch.root)
    except ValueError:
        return False
    return merkle.verify_inclusion(
        batch_leaf_hash(root, subject), batch.index, batch.size, path, batch_root
    )


# --- the ledger's word -------------------------------------------------------------------
@dataclass(frozen=True)
class LedgerCheck:
    """What the registry says about one lineage, under the auditor's pins."""

    trust: str  # pinned | registry | self-attested
    chain_id: int
    registry: str
    block_read: int
    records: tuple[Record, ...]  # every record read (pinned anchorers', or all found)
    counted: tuple[Record, ...]
    reasons: dict[Record, str] = field(default_factory=dict)  # record -> revocation reason
    batch: BatchInfo | None = None  # set when the receipt's batch records were read
    txs: dict[Record, str] = field(default_factory=dict)  # record -> anchoring transaction

    @property
    def status(self) -> str:
        """trusted, revoked, untrusted or not anchored: the verdict of the trust rule."""
        names = {r.status_name for r in self.counted}
        if not names:
            return "not anchored"
        for worst in ("revoked", "untrusted"):
            if worst in names:
                return worst
        return "trusted"

    @property
    def ok(self) -> bool:
        return self.status == "trusted"

    def describe(self) -> str:
        """One line for people: the verdict, and whom it trusts."""
        who = ", ".join(f"{self.label(r)} ({r.status_name})" for r in self.counted) or "nobody"
        return f"{self.status} by the {self.trust} rule; counted records: {who}"

    def label(self, record: Record) -> str:
        """The record's anchorer, and whether the record is the lineage's batch record."""
        in_batch = self.batch is not None and record.root.hex() == self.batch.root
        return f"{record.anchorer} (batch)" if in_batch else record.anchorer

    def revocation(self, record: Record) -> str | None:
        """Its revocation's reason; a revocation the registry does not count (made with a key
        after it was marked untrusted) is labelled so, never shown as a counting one."""
        reason = self.reasons.get(record)
        if reason is None or record.status_name == "revoked":
            return reason
        return f"{reason} (by an untrusted key, not counted)"


def _trusted_addresses(pins: Sequence[str]) -> list[str]:
    """The pinned anchorers, checksummed, each once."""
    from aichain_audit.ledger.registry import checksum_address

    return list(dict.fromkeys(checksum_address(pin) for pin in pins))


def _records(
    reg: Registry, root: bytes, subject: bytes, pins: Sequence[str], block: int
) -> list[Record]:
    if pins:  # one eth_call per pinned anchorer, no log scan
        found = [reg.record(root, subject, a, block=block) for a in pins]
        return [r for r in found if r is not None]
    return reg.records_of(root, subject)


def _counted(records: Sequence[Record], pins: Sequence[str]) -> list[Record]:
    from aichain_audit.ledger.registry import Status

    if pins:
        return [r for r in records if r.anchorer in pins]
    return [r for r in records if r.status is not Status.UNTRUSTED]


def check_ledger(
    root: bytes,
    subject: bytes,
    settings: ChainSettings,
    pins: Sequence[str] = (),
    batch: BatchInfo | None = None,
    *,
    with_txs: bool = False,
) -> LedgerCheck:
    """The registry's word on (root, subject) by the trust rule, read-only (no key loaded).

    `with_txs` also finds each record's anchoring transaction (one log query per record),
    for reports that name it.

    When `batch` (from a receipt) is given, its path must lead from the lineage to its batch
    root, and the size it states must be the count the registry logged for each batch record
    read; that batch root's records then count beside the lineage's own (SPEC section 11).
    A path or size that does not match is a failed check (exit 1).
    """
    from aichain_audit.ledger import EMBEDDED, open_registry

    pinned = _trusted_addresses(pins)
    with open_registry(settings, write=False) as conn:
        reg = conn.registry
        block = reg.read_block()
        records = _records(reg, root, subject, pinned, block)
        if batch is not None:
            if not batch_path_leads_to(batch, root, subject):
                raise CheckFailed(
                    "the receipt's batch path does not lead from this lineage to its batch root "
                    f"{batch.root}: the receipt was altered or belongs to another lineage"
                )
            held = _records(reg, bytes.fromhex(batch.root), reg.batch_subject(), pinned, block)
            for r in held:
                logged = reg.batch_size(r)
                if logged != batch.size:
                    raise CheckFailed(
                        f"the receipt says batch {batch.root} holds {batch.size} lineages, but "
                        f"{r.anchorer} anchored it with {logged}: the receipt was altered"
                    )
            records += held
            if not held:
                batch = None  # no record of the batch root to read through it
        counted = _counted(records, pinned)
        reasons = {}
        for r in records:
            reason = reg.revocation_reason(r)
            if reason is not None:
                reasons[r] = reason
        txs = {}
        for r in records if with_txs else ():
            found = reg.find_anchor_tx(r)
            if found is not None:
                txs[r] = found.tx
        trust = TRUST_SELF if conn.kind == EMBEDDED else TRUST_PINNED if pinned else TRUST_REGISTRY
        return LedgerCheck(
            trust=trust,
            chain_id=conn.chain_id,
            registry=str(reg.address),
            block_read=block,
            records=tuple(records),
            counted=tuple(counted),
            reasons=reasons,
            batch=batch,
            txs=txs,
        )


# --- anchoring ---------------------------------------------------------------------------
def _refuse_unusable(record: Record, reg: Registry, what: str) -> None:
    """Anchoring onto a revoked or untrusted record would go green on a lineage that can
    never verify: a failed check (exit 1), and no receipt."""
    if record.status_name == "trusted":
        return
    reason = reg.revocation_reason(record)
    why = f" ({reason})" if reason else ""
    raise CheckFailed(
        f"{what} is already anchored by {record.anchorer} and that record is "
        f"{record.status_name}{why}: it can never verify; fingerprint a new lineage instead"
    )


def _refuse_revoked_members(
    reg: Registry, manifest_paths: Sequence[Path], pairs: Sequence[tuple[bytes, bytes]]
) -> None:
    """A lineage our key already recorded as unusable, directly or through the batch its
    receipt names, can never verify: anchoring it again (alone or in a new batch) is a failed
    check, and no receipt is written (a CI re-run must not un-revoke a batch revocation)."""
    assert reg.signer is not None
    me = reg.signer.address
    for path, (root, subject) in zip(manifest_paths, pairs, strict=True):
        what = f"lineage {root.hex()}"
        if (record := reg.record(root, subject, me)) is not None and len(pairs) > 1:
            _refuse_unusable(record, reg, what)
        rpath = receipt_path(path)
        try:
            batch = load_receipt(rpath).batch if rpath.exists() else None
        except InputError:
            batch = None  # not a receipt: nothing of ours it can point at
        if batch is None or not batch_path_leads_to(batch, root, subject):
            continue
        held = reg.record(bytes.fromhex(batch.root), reg.batch_subject(), me)
        if held is not None:
            _refuse_unusable(held, reg, f"{what} (through batch {batch.root})")


def _anchor_one(
    reg: Registry, root: bytes, subject: bytes, count: int | None, what: str
) -> tuple[TxResult, Record, bool]:
    """(transaction, our record as read back, whether it already existed) for one record."""
    assert reg.signer is not None
    me = reg.signer.address
    existing = reg.record(root, subject, me)
    if existing is None:
        tx, created = reg.anchor(root, subject) if count is None else reg.anchor_batch(root, count)
        record = reg.record(root, subject, me)
        if record is None:
            raise InputError(f"{what}: the anchoring transaction {tx.tx} left no record")
        if created:
            return tx, record, False
        existing = record  # our transaction was a no-op: another process of ours got there first
    _refuse_unusable(existing, reg, what)
    found = reg.find_anchor_tx(existing)
    if found is None:
        raise InputError(f"{what}: the record exists but its transaction was not found")
    return found, existing, True


def anchor(manifest_paths: Sequence[Path], settings: ChainSettings) -> list[AnchorReceipt]:
    """Anchors one lineage root, or several in one batch transaction; idempotent per anchorer.

    Returns one `AnchorReceipt` per manifest and writes each beside its manifest once
    everything has landed. A record of ours that is already there is reported as read from
    the chain; one that is revoked or untrusted is a failed check (exit 1, no receipt).
    """
    from aichain_audit.atomicfile import write_atomic
    from aichain_audit.ledger import open_registry
    from aichain_audit.ledger.registry import hex32

    if not manifest_paths:
        raise UsageError("give at least one lineage manifest to anchor")
    manifests = [LineageManifest.read(p) for p in manifest_paths]
    pairs = [(m.root, hex32(m.subject)) for m in manifests]
    if len(set(pairs)) != len(pairs):
        raise UsageError("the same lineage is given twice")
    receipts: list[AnchorReceipt] = []
    with open_registry(settings, write=True, deploy_if_missing=settings.embedded) as conn:
        reg = conn.registry
        if reg.address is not None and conn.deploy_tx is None:
            _refuse_revoked_members(reg, manifest_paths, pairs)

        def receipt(
            i: int, tx: TxResult, record: Record, batch: BatchInfo | None, existing: bool
        ) -> AnchorReceipt:
            return AnchorReceipt(
                root=pairs[i][0].hex(), subject=manifests[i].subject, tx=tx.tx, block=tx.block,
                block_time=tx.timestamp, chain_id=conn.chain_id, chain=conn.kind,
                registry=str(reg.address), anchorer=record.anchorer, gas_used=tx.gas_used,
                batch=batch, existing=existing, status=record.status_name,
            )  # fmt: skip

        if len(manifests) == 1:
            root, subject = pairs[0]
            tx, record, existing = _anchor_one(reg, root, subject, None, f"lineage {root.hex()}")
            receipts.append(receipt(0, tx, record, None, existing))
        else:
            tree = merkle.MerkleTree([batch_leaf_hash(r, s) for r, s in pairs])
            tx, record, existing = _anchor_one(
                reg, tree.root, reg.batch_subject(), len(pairs), f"batch {tree.root.hex()}"
            )
            for i in range(len(manifests)):
                audit = [p.hex() for p in tree.inclusion_proof(i)]
                info = BatchInfo(i, len(pairs), tree.root.hex(), audit)
                receipts.append(receipt(i, tx, record, info, existing))
    for path, r in zip(manifest_paths, receipts, strict=True):
        write_atomic(receipt_path(path), r.to_json())
    return receipts


# --- revocation --------------------------------------------------------------------------
@dataclass(frozen=True)
class Revocation:
    root: str
    subject: str
    anchorer: str
    tx: str
    block: int
    chain_id: int
    registry: str
    gas_used: int
    reason: str
    batch_size: int | None  # lineages the revoked batch record held, for a batch
    members: tuple[str, ...] = ()  # roots of the batch's lineages revoked directly too

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)


def _candidates(
    reg: Registry, target: str, subject: str | None, whose: str
) -> list[tuple[bytes, bytes, int | None]]:
    """The records of `whose` that `target` (a manifest, or a bare root) can mean."""
    from aichain_audit.ledger.registry import hex32

    batch_subject = reg.batch_subject()
    manifest = Path(target)
    out: list[tuple[bytes, bytes, int | None]] = []
    if target.endswith(".json") or manifest.is_file():
        m = LineageManifest.read(manifest)
        root, subj = m.root, hex32(subject or m.subject)
        if reg.record(root, subj, whose) is not None:
            out.append((root, subj, None))
        rpath = receipt_path(manifest)
        if subject is None and rpath.exists():
            batch = load_receipt(rpath).batch
            if batch is not None:
                if not batch_path_leads_to(batch, root, subj):
                    raise CheckFailed(
                        f"{rpath}: its batch path does not lead from this lineage to batch root "
                        f"{batch.root}; refusing to revoke through it"
                    )
                if reg.record(bytes.fromhex(batch.root), batch_subject, whose) is not None:
                    out.append((bytes.fromhex(batch.root), batch_subject, batch.size))
        return out
    root = hex32(target)
    subjects = [hex32(subject)] if subject is not None else reg.subjects_of(root, whose)
    for s in subjects:
        if reg.record(root, s, whose) is not None:
            out.append((root, s, None))
    if subject is None and (held := reg.record(root, batch_subject, whose)) is not None:
        out.append((root, batch_subject, reg.batch_size(held)))
    return out


def revoke(
    target: str,
    reason: str,
    settings: ChainSettings,
    subject: str | None = None,
    anchorer: str | None = None,
) -> Revocation:
    """Revokes one record: the signer's own, or (for the owner) `anchorer`'s.

    `target` is a manifest (a batched lineage resolves to its batch record through the
    receipt beside it, whose path is verified first) or a bare root; a bare root that
    matches several records is refused with the list.
    """
    from aichain_audit.ledger import open_registry

    if not reason.strip():
        raise UsageError("a revocation needs a reason that says why", hint="reason")
    with open_registry(settings, write=True) as conn:
        reg = conn.registry
        assert reg.signer is not None
        whose = _trusted_addresses([anchorer])[0] if anchorer else reg.signer.address
        found = _candidates(reg, target, subject, whose)
        if not found:
            raise InputError(f"{target}: no record by {whose} to revoke in {reg.address}")
        if len(found) > 1:
            listed = "; ".join(_describe(reg, r, s, size) for r, s, size in found)
            raise UsageError(
                f"{target} matches {len(found)} records by {whose}: {listed}; "
                "give the manifest, or name the subject of the one to revoke",
                hint="subject",
            )
        root, subj, size = found[0]
        tx = reg.revoke(root, subj, whose, reason)
        members: list[str] = []
        if subj == reg.batch_subject() and whose == reg.signer.address:
            members = _revoke_members(reg, _members_at_hand(target, root), reason)
        return Revocation(
            root=root.hex(), subject=subj.hex(), anchorer=whose, tx=tx.tx, block=tx.block,
            chain_id=conn.chain_id, registry=str(reg.address), gas_used=tx.gas_used,
            reason=reason, batch_size=size, members=tuple(members),
        )  # fmt: skip


def _members_at_hand(target: str, batch_root: bytes) -> list[tuple[bytes, bytes]]:
    """(root, subject) of each lineage of the batch whose receipt is at hand: the receipts
    beside the manifest `target` whose verified path leads to `batch_root`. The chain does not
    record a batch's lineages; a bare root has none at hand."""
    from aichain_audit.ledger.registry import hex32

    manifest = Path(target)
    if not manifest.is_file():
        return []
    out: dict[tuple[bytes, bytes], None] = {}
    for rpath in sorted(manifest.parent.glob("*.receipt.json")):
        try:
            pointer = load_receipt(rpath)
            root, subject = bytes.fromhex(pointer.root), hex32(pointer.subject)
        except InputError:
            continue  # not a receipt of ours: it names no member
        batch = pointer.batch
        if batch is None or batch.root != batch_root.hex():
            continue
        if batch_path_leads_to(batch, root, subject):
            out[(root, subject)] = None
    return list(out)


def _revoke_members(
    reg: Registry, members: Sequence[tuple[bytes, bytes]], reason: str
) -> list[str]:
    """Makes a batch revocation visible to a verifier without the batch receipt: the signer's
    own direct record of each member is written if missing (the registry revokes only records
    that exist) and revoked. Two transactions per member not yet recorded; none for one whose
    record is already revoked. Returns the members' roots, hex."""
    from aichain_audit.ledger.registry import Status

    assert reg.signer is not None
    me = reg.signer.address
    if members and not reg.is_anchorer(me):
        raise InputError(
            f"the batch record is revoked, but {me} may no longer anchor, so the revocation "
            "cannot be written for each of its lineages: ask the registry's owner to revoke "
            "them, or to mark the key untrusted"
        )
    done = []
    for root, subject in members:
        record = reg.record(root, subject, me)
        if record is None:
            reg.anchor(root, subject)
            record = reg.record(root, subject, me)
        if record is not None and record.status is not Status.REVOKED:
            reg.revoke(root, subject, me, reason)
        done.append(root.hex())
    return done


def _describe(reg: Registry, root: bytes, subject: bytes, size: int | None) -> str:
    if subject == reg.batch_subject():
        held = f" of {size} lineages" if size else ""
        return f"batch record{held} {root.hex()}"
    return f"root {root.hex()} with subject {subject.hex()}"


__all__ = [
    "TRUST_PINNED",
    "TRUST_REGISTRY",
    "TRUST_SELF",
    "LedgerCheck",
    "Revocation",
    "anchor",
    "batch_leaf_hash",
    "check_ledger",
    "revoke",
]
