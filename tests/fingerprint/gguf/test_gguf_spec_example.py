"""docs/SPEC.md 14.6, the worked example: the file it describes gives exactly the documents
and digests written there (so SPEC and the code cannot drift apart)."""

from __future__ import annotations

import hashlib
import re
import struct
from pathlib import Path

from aichain_audit.canonical import canonical_json
from aichain_audit.fingerprint.model.gguf import GgufFormat
from aichain_audit.fingerprint.model.gguf.fingerprint import model_tensors, open_model
from aichain_audit.fingerprint.model.gguf.semantic import documents, merged_keys
from tests.conftest import REPO
from tests.fingerprint.gguf.build import (
    F32,
    STRING,
    Gguf,
    Tensor,
    f32,
    kv_array,
    kv_str,
    kv_u32,
    s,
)


def section_14() -> str:
    text = (REPO / "docs" / "SPEC.md").read_text(encoding="utf-8")
    return text[text.index("<!-- section 14 -->") :]


def example(path: Path) -> Path:
    return Gguf(
        kvs=[
            kv_str("general.architecture", "llama"),
            kv_str("general.name", "tiny"),
            kv_u32("llama.context_length", 128),
            kv_array("tokenizer.ggml.tokens", STRING, [s("a"), s("b")]),
        ],
        tensors=[
            Tensor("token_embd.weight", (2, 2), F32, f32(1, 2, 3, 4)),
            Tensor("output_norm.weight", (2,), F32, f32(1, 1)),
        ],
    ).write(path)


def spec_document(name: str) -> str:
    m = re.search(rf"^{name} = (.+)$", section_14(), re.MULTILINE)
    assert m is not None, name
    return m.group(1)


def test_the_worked_example_gives_the_documents_and_digests_spec_writes(tmp_path: Path) -> None:
    path = example(tmp_path / "example.gguf")
    assert path.stat().st_size == 384
    got = GgufFormat().fingerprint(path)
    assert got.semantic is not None
    with open_model(path) as parts:
        kv = merged_keys([p.header for p in parts], [p.shown for p in parts])
        graph, meta = documents(kv, model_tensors(parts), str(path))
        assert parts[0].header.data_start == 320
    weights = [[t.id, t.digest] for t in got.semantic.tensors]
    for name, doc, digest in (
        ("graph", graph, got.semantic.graph),
        ("weights", weights, got.semantic.weights),
        ("metadata", meta, got.semantic.metadata),
    ):
        written = spec_document(name)
        assert canonical_json(doc).decode() == written
        assert digest == "sha256:" + hashlib.sha256(written.encode()).hexdigest()
        assert re.search(rf"{name} `{digest}`", section_14().replace("\n", " ")), name
    assert f"the file digest is\n`{got.file.digest}`" in section_14()
    embd = next(t for t in got.semantic.tensors if t.name == "token_embd.weight")
    h = b'{"dims":["2","2"],"name":"token_embd.weight","type":0}'
    framed = struct.pack(">Q", len(h)) + h + f32(1, 2, 3, 4)
    assert embd.digest == "sha256:" + hashlib.sha256(framed).hexdigest()
    assert f"digest\n`{embd.digest}`" in section_14() and f32(1, 2, 3, 4).hex() in section_14()
