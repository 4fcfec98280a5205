"""What a report shows of a GGUF model: architecture, parameters, tensor types, a few keys."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from aichain_audit.fingerprint.model.gguf.fingerprint import model_tensors, open_model
from aichain_audit.fingerprint.model.gguf.parse import Value
from aichain_audit.fingerprint.model.gguf.semantic import architecture_of, merged_keys
from aichain_audit.fingerprint.model.gguf.tables import FILE_TYPES, GGML_TYPES
from aichain_audit.fingerprint.model.interface import ModelDescription

_SHOWN_CHARS = 200  # a string key's value is cut to this many characters in a report


def describe(path: Path, shown: str) -> ModelDescription:
    """The GGUF model at `path` (checked as its fingerprint checks it), for reports."""
    with open_model(path) as parts:
        kv = merged_keys([p.header for p in parts], [p.shown for p in parts])
        tensors = model_tensors(parts)
        versions = sorted({p.header.version for p in parts})
        architecture = architecture_of(kv, shown) or ""
    kinds = Counter(GGML_TYPES[t.type][0] for t in tensors)
    facts: list[tuple[str, str]] = [("GGUF version", ", ".join(map(str, versions)))]
    if len(parts) > 1:
        facts.append(("files", f"{len(parts)} (split)"))
    for label, key in (
        ("name", "general.name"),
        ("type", "general.type"),
        ("size label", "general.size_label"),
        ("licence", "general.license"),
        ("base model", "general.base_model.0.name"),
    ):
        text = _text(kv.get(key))
        if text:
            facts.append((label, text))
    file_type = kv.get("general.file_type")
    number = file_type.integer() if file_type is not None else None
    if number is not None:
        facts.append(("file type", FILE_TYPES.get(number, str(number))))
    if architecture:
        for label, suffix in (
            ("context length", "context_length"),
            ("embedding length", "embedding_length"),
            ("layers", "block_count"),
        ):
            value = kv.get(f"{architecture}.{suffix}")
            n = value.integer() if value is not None else None
            if n is not None:
                facts.append((label, f"{n:,}"))
    model = _text(kv.get("tokenizer.ggml.model"))
    if model:
        facts.append(("tokenizer", model))
    return ModelDescription(
        format="GGUF",
        architecture=architecture,
        parameters=sum(t.elements for t in tensors),
        dtypes=tuple(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))),
        facts=tuple(facts),
        tensors=len(tensors),
        tensor_bytes=sum(t.nbytes for t in tensors),
    )


def _text(value: Value | None) -> str:
    text = value.text() if value is not None else None
    if not text:
        return ""
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"
