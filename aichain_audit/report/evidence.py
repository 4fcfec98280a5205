"""`Evidence`: everything a report shows, gathered before any renderer runs.

Renderers turn an `Evidence` into bytes and compute nothing: every digest, size, count and
verdict here was read or computed by `aichain_audit.report.collect`, or taken from a
verification. This module holds data only; it reads no file and imports nothing from the
ledger, tracking or fingerprint packages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "aichain.report/v1"

# What the verdict rests on.
VERIFIED_NOW = "verified-now"  # `report --verify`: the verification ran for this report
IMPORTED = "imported"  # `report --findings FILE`: a saved verify document, verdict recomputed
NOT_VERIFIED = "none"  # neither: lineage and receipt only


@dataclass(frozen=True)
class Artifact:
    """One file the lineage names, as found now (plain SHA-256 computed by the builder)."""

    kind: str  # model | model-data | dataset | config
    path: str  # as recorded in the lineage
    format: str  # "ONNX model", "CSV", "YAML config"...
    lineage_digest: str | None  # the lineage's digest (None for configs: values are hashed)
    lineage_size: int | None
    present: bool
    sha256: str | None = None  # "sha256:HEX" of the file now, or None when absent/unreadable
    size: int | None = None  # its size now
    matches: str = "absent"  # yes | no | not-comparable | absent | unreadable
    note: str = ""  # why absent or unreadable; for configs, how many values the lineage binds
    # The model as a verification hashed it: MODEL as the auditor gave it (sha256 and size
    # above are then that file's, as hashed during the verification), else None.
    verified_as: str | None = None
    # The match as a person reads it (HTML, Markdown): `matches`, except "bound by values"
    # for a config and "not located" for a dataset no verification looked at, found nowhere.
    shown: str = ""


@dataclass(frozen=True)
class ModelFacts:
    """The model's semantic fingerprint (from the lineage) and what its files show, in any
    format; an opaque model (a pickle) has no semantic fingerprint, and `opaque` says why."""

    path: str  # the model leaf's file (for a checkpoint folder, the file inside it)
    graph: str | None  # the digests of the lineage's model-semantic leaf (None: none)
    weights: str | None
    metadata: str | None
    tensors_in_lineage: int  # tensor leaves
    read: bool = False  # whether the model was read for the facts below
    note: str = ""  # why it was not
    # ONNX's own (the members this document has always had; empty for other formats):
    ir_version: int | None = None
    producer: str = ""
    doc_string: str = ""
    opsets: tuple[tuple[str, int], ...] = ()  # (domain, version), "ai.onnx" for the default
    operators: tuple[tuple[str, int], ...] = ()  # (domain-qualified op type, count)
    nodes: int = 0
    # Every format's:
    tensors: int = 0  # weights (ONNX: initializers, sparse initializers, Constant values…)
    tensor_bytes: int = 0
    format: str = ""  # "ONNX", "safetensors", "GGUF", "PyTorch pickle"; "" when not known
    scheme: str | None = None  # the model-semantic leaf's scheme; None: no such leaf
    opaque: str = ""  # why there is no semantic fingerprint ("" when there is one)
    described: str = ""  # what was read: the model file, or the checkpoint folder
    architecture: str = ""
    parameters: int = 0  # elements of every weight
    dtypes: tuple[tuple[str, int], ...] = ()  # (data type, tensors of it), most used first
    facts: tuple[tuple[str, str], ...] = ()  # the format's own (label, value) lines


@dataclass(frozen=True)
class Receipt:
    """The anchor receipt beside the lineage, as it states: a producer's pointer, not checked."""

    path: str
    root: str
    subject: str
    matches_lineage: bool
    chain: str | None
    chain_id: int | None
    registry: str | None
    anchorer: str | None
    tx: str | None
    block: int | None
    block_time: int | None
    batch: str | None  # "lineage I of N, batch root R"
    tx_url: str | None = None


@dataclass(frozen=True)
class LedgerRecord:
    anchorer: str
    status: str  # trusted | revoked | untrusted
    block: int | None
    time: int | None
    tx: str | None
    revocation_reason: str | None
    counted: bool
    tx_url: str | None = None
    anchorer_url: str | None = None


@dataclass(frozen=True)
class Ledger:
    """The pinned registry as the verification read it, and when."""

    chain_id: int
    chain_name: str | None  # a well-known chain's name, else None
    registry: str
    registry_url: str | None
    block_read: int
    read_at: int | None  # Unix seconds, the verifier's clock
    records: tuple[LedgerRecord, ...]


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # pass | fail | warn | skip | error
    artifact: str | None
    expected: str | None
    actual: str | None
    detail: str


@dataclass(frozen=True)
class Verdict:
    """What the report concludes, and what that conclusion rests on."""

    source: str  # VERIFIED_NOW | IMPORTED | NOT_VERIFIED
    verified: bool | None  # None when nothing was verified
    trust: str | None  # pinned | registry | self-attested | none; None when not verified
    headline: str  # one sentence for the first screen
    model_as_given: str | None = None  # MODEL, exactly as the auditor gave it
    imported_from: str | None = None  # --findings FILE
    failing: tuple[Check, ...] = ()  # failed and errored checks, first-screen material
    ledger: Ledger | None = None
    mlflow: dict[str, str] | None = None  # run, tracking server, experiment, status
    checks: tuple[Check, ...] = ()
    checked: tuple[str, ...] = ()  # the checks that ran, in words
    not_checked: tuple[str, ...] = ()  # what the lineage holds that was not checked


@dataclass(frozen=True)
class Mapping:
    """One framework clause, what this evidence shows for it, and what it cannot show."""

    framework: str
    clause: str
    title: str
    shows: str
    cannot_show: str
    here: str  # what this report holds for it, in one sentence
    # covered | partly | not shown: the rule is in docs/report.md, "Regulatory mapping"
    coverage: str = "not shown"
    missing: tuple[str, ...] = ()  # the evidence the clause lists that is not held, verified


@dataclass(frozen=True)
class LineageNode:
    """One node of the lineage graph: datasets and configs -> training run -> model."""

    id: str
    role: str  # dataset | config | parent | run | model
    label: str
    detail: str


@dataclass(frozen=True)
class Evidence:
    """Everything one report shows. Renderers take it and return bytes."""

    tool: str
    generated_at: int  # Unix seconds
    lineage_path: str  # as given
    artifacts_folder: str  # where artifact paths were resolved
    root: str  # recomputed from the leaves
    stated_root: str | None  # what the manifest states (differs only when edited)
    subject: str
    name: str | None
    leaves: int
    parents: tuple[str, ...]
    mlflow_run: str | None
    params: tuple[tuple[str, str], ...]  # MLflow params as recorded
    config_values: tuple[tuple[str, str, str], ...]  # (file, JSON pointer, JSON value)
    skipped: tuple[tuple[str, str], ...]  # dataset entries skipped by policy, with the reason
    artifacts: tuple[Artifact, ...]
    model: ModelFacts | None
    receipt: Receipt | None
    verdict: Verdict
    graph: tuple[tuple[LineageNode, ...], tuple[tuple[str, str], ...]]  # nodes, edges
    mappings: tuple[Mapping, ...] = field(default=())

    @property
    def model_artifact(self) -> Artifact | None:
        return next((a for a in self.artifacts if a.kind == "model"), None)

    def to_dict(self) -> dict[str, Any]:
        """The `aichain.report/v1` document (docs/report.md)."""
        doc = asdict(self)
        nodes, edges = self.graph
        doc["graph"] = {
            "nodes": [asdict(n) for n in nodes],
            "edges": [{"from": a, "to": b} for a, b in edges],
        }
        doc["parents"] = list(self.parents)
        doc["params"] = [{"name": n, "value": v} for n, v in self.params]
        doc["config_values"] = [
            {"file": f, "pointer": p, "value": v} for f, p, v in self.config_values
        ]
        doc["skipped"] = [{"path": p, "reason": r} for p, r in self.skipped]
        if self.model is not None:
            m = self.model
            doc["model"]["opsets"] = [{"domain": d, "version": v} for d, v in m.opsets]
            doc["model"]["operators"] = [{"op": o, "count": c} for o, c in m.operators]
            doc["model"]["dtypes"] = [{"dtype": d, "tensors": n} for d, n in m.dtypes]
            doc["model"]["facts"] = [{"label": k, "value": v} for k, v in m.facts]
        return {"schema": SCHEMA, **doc}
