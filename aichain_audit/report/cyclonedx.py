"""CycloneDX 1.6 ML-BOM: the model as a `machine-learning-model` component with a model card,
each dataset file as a `data` component, plain SHA-256 hashes for every artifact found, and
the lineage root and anchor as properties. Built with cyclonedx-python-lib, then completed
with what the library does not model (`modelCard`, component `data`) and validated against
the 1.6 schema before it is returned.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from aichain_audit.report.evidence import Artifact, Evidence, ModelFacts
from aichain_audit.report.interface import THREAT_MODEL, Renderer

_PREFIX = "aichain:"


class CycloneDxRenderer(Renderer):
    name = "cyclonedx"
    media_type = "application/vnd.cyclonedx+json; version=1.6"

    def render(self, evidence: Evidence) -> bytes:
        from cyclonedx.schema import SchemaVersion
        from cyclonedx.validation.json import JsonStrictValidator

        doc = bom_document(evidence)
        text = json.dumps(doc, indent=2, ensure_ascii=True) + "\n"
        error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
        if error is not None:  # a bug here, never the user's input
            raise RuntimeError(f"the CycloneDX document is not valid 1.6: {error}")
        return text.encode()


def _ref(a: Artifact) -> str:
    return f"{a.kind}:{a.path}"


def _props(pairs: list[tuple[str, object]]) -> list[Any]:
    from cyclonedx.model import Property

    return [Property(name=_PREFIX + k, value=str(v)) for k, v in pairs if v is not None]


def _component(a: Artifact, e: Evidence) -> Any:
    from cyclonedx.model import HashAlgorithm, HashType
    from cyclonedx.model.component import Component, ComponentType

    kind = {
        "model": ComponentType.MACHINE_LEARNING_MODEL,
        "dataset": ComponentType.DATA,
        "config": ComponentType.DATA,
    }.get(a.kind, ComponentType.FILE)
    hashes = (
        [HashType(alg=HashAlgorithm.SHA_256, content=a.sha256.removeprefix("sha256:"))]
        if a.sha256
        else None
    )
    pairs: list[tuple[str, object]] = [
        ("artifact:kind", a.kind),
        ("artifact:format", a.format),
        ("artifact:present", str(a.present).lower()),
        ("artifact:matches-lineage", a.matches),
        ("artifact:lineage-digest", a.lineage_digest),
        ("artifact:size", a.size if a.size is not None else a.lineage_size),
    ]
    if a.note:
        pairs.append(("artifact:note", a.note))
    if a.verified_as is not None:
        pairs.append(("artifact:verified-as", a.verified_as))
    if a.kind == "model":
        pairs += [("lineage:root", e.root), ("lineage:subject", e.subject)]
        if e.model is not None:
            pairs += _model_pairs(e.model)
    return Component(
        name=a.path,
        type=kind,
        bom_ref=_ref(a),
        hashes=hashes,
        properties=_props(pairs),
        description=f"{a.format}" + ("" if a.present else f" ({a.note})"),
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "model"


def _dtypes(m: ModelFacts) -> str:
    return ", ".join(f"{d} x{n}" for d, n in m.dtypes)


def _model_pairs(m: ModelFacts) -> list[tuple[str, object]]:
    """The model's semantic fingerprint (or why it has none) and what its files show: the
    neutral facts as `model:…`, the format's own as `FORMAT:LABEL` (`onnx:opsets`)."""
    pairs: list[tuple[str, object]] = [("model:format", m.format or None)]
    if m.scheme:
        pairs += [("model:scheme", m.scheme), ("model:graph", m.graph),
                  ("model:weights", m.weights), ("model:metadata", m.metadata)]  # fmt: skip
    else:
        pairs.append(("model:semantic", m.opaque))
    if m.read:
        pairs.append(("model:architecture", m.architecture or None))
        if m.scheme:
            pairs += [("model:parameters", m.parameters), ("model:tensors", m.tensors),
                      ("model:tensor-bytes", m.tensor_bytes),
                      ("model:dtypes", _dtypes(m))]  # fmt: skip
        pairs += [(f"{_slug(m.format)}:{_slug(label)}", value) for label, value in m.facts]
    return pairs


def bom_document(e: Evidence) -> dict[str, Any]:
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentType
    from cyclonedx.model.dependency import Dependency
    from cyclonedx.output.json import JsonV1Dot6

    model = e.model_artifact
    parts = [a for a in e.artifacts if a is not model]
    components = [_component(a, e) for a in parts]
    v = e.verdict
    anchor: list[tuple[str, object]] = []
    if e.receipt is not None:
        r = e.receipt
        anchor = [
            ("anchor:source", "receipt, as the producer states it (not checked)"),
            ("anchor:chain-id", r.chain_id), ("anchor:registry", r.registry),
            ("anchor:anchorer", r.anchorer), ("anchor:tx", r.tx), ("anchor:block", r.block),
            ("anchor:block-time", r.block_time), ("anchor:batch", r.batch),
        ]  # fmt: skip
    verification: list[tuple[str, object]] = [("verification:source", v.source)]
    if v.verified is not None:
        verification += [
            ("verification:verified", str(v.verified).lower()),
            ("verification:trust", v.trust),
            ("verification:model-as-given", v.model_as_given),
            ("verification:imported-from", v.imported_from),
        ]
        if v.ledger is not None:
            verification += [
                ("ledger:chain-id", v.ledger.chain_id),
                ("ledger:registry", v.ledger.registry),
                ("ledger:block-read", v.ledger.block_read),
                ("ledger:read-at", v.ledger.read_at),
            ]
            for i, rec in enumerate(v.ledger.records):
                verification.append((f"ledger:record:{i}",
                                     f"{rec.anchorer} {rec.status} block {rec.block} tx {rec.tx}"
                                     + (" (counted)" if rec.counted else "")))  # fmt: skip
    lineage = [("lineage:root", e.root), ("lineage:subject", e.subject),
               ("lineage:name", e.name), ("lineage:mlflow-run", e.mlflow_run)]  # fmt: skip
    lineage += [(f"lineage:parent:{i}", p) for i, p in enumerate(e.parents)]
    subject = (
        _component(model, e)
        if model is not None
        else Component(name=e.name or "lineage", type=ComponentType.DATA,
                       bom_ref="lineage", description="a lineage without a model")
    )  # fmt: skip
    tool = Component(name="aichain-audit", version=e.tool, type=ComponentType.APPLICATION)
    metadata = BomMetaData(
        component=subject,
        timestamp=datetime.fromtimestamp(e.generated_at, UTC),
        properties=_props(lineage + anchor + verification),
    )
    metadata.tools.components.add(tool)
    bom = Bom(
        components=components,
        metadata=metadata,
        serial_number=uuid.uuid5(uuid.NAMESPACE_URL, f"aichain:{e.root}:{e.generated_at}"),
    )
    needs = [Dependency(ref=c.bom_ref) for c in components]
    bom.dependencies.add(Dependency(ref=subject.bom_ref, dependencies=needs))
    doc: dict[str, Any] = json.loads(JsonV1Dot6(bom).output_as_string())
    _complete(doc, e)
    return doc


def _complete(doc: dict[str, Any], e: Evidence) -> None:
    """Adds what cyclonedx-python-lib 11 does not model: the model card, and `data` on data
    components (CycloneDX 1.6 `modelCard` and `componentData`)."""
    for c in doc.get("components", []):
        if c.get("type") == "data":
            kind = "configuration" if c["bom-ref"].startswith("config:") else "dataset"
            c["data"] = [{"type": kind, "name": c["name"]}]
    subject = doc["metadata"]["component"]
    if subject.get("type") != "machine-learning-model":
        return
    datasets = [{"ref": c["bom-ref"]} for c in doc.get("components", [])
                if c["bom-ref"].startswith("dataset:")]  # fmt: skip
    m = e.model
    limits = [THREAT_MODEL]
    if m is not None and m.opaque:
        limits.append(f"The model {m.path}: {m.opaque}.")
    limits += [f"{c.framework} {c.clause}: cannot show: {c.cannot_show}" for c in e.mappings]
    card: dict[str, Any] = {
        "bom-ref": "model-card",
        "modelParameters": {"datasets": datasets} if datasets else {},
        "considerations": {"technicalLimitations": limits},
    }
    if m is not None:
        # CycloneDX has no member for the file format: a property says it. The architecture
        # is what the model's files state (config.json, GGUF keys, an ONNX graph's name);
        # `architectureFamily` ("transformer", "CNN") is stated by none of them, so it is
        # left out rather than guessed.
        if m.read and m.architecture:
            card["modelParameters"]["modelArchitecture"] = m.architecture
        props: list[tuple[str, object]] = [("model:format", m.format or None),
                                           ("model:scheme", m.scheme)]  # fmt: skip
        if m.read and m.scheme:
            props += [("model:parameters", m.parameters), ("model:tensors", m.tensors),
                      ("model:dtypes", _dtypes(m))]  # fmt: skip
        card["properties"] = [{"name": _PREFIX + k, "value": str(v)}
                              for k, v in props if v is not None]  # fmt: skip
        if not card["properties"]:
            del card["properties"]
    subject["modelCard"] = card


RENDERER = CycloneDxRenderer()
