"""`gguf-semantic/v1` on real files: digests against gguf-py's own reader (differential), and
which of graph, weights and metadata each kind of change moves."""

from __future__ import annotations

import hashlib
import struct
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from aichain_audit.fingerprint.model import format_for, format_of
from aichain_audit.fingerprint.model.gguf import GgufFormat
from aichain_audit.fingerprint.model.interface import ModelFingerprint
from aichain_audit.lineage import tensor_leaf, validate_leaf
from tests.fingerprint.gguf.build import (
    F16,
    F32,
    FLOAT32,
    INT32,
    Q8_0,
    STRING,
    UINT32,
    Tensor,
    f32,
    kv_str,
    kv_u32,
    tiny,
    write_with_gguf,
)


def fp(path: Path) -> ModelFingerprint:
    return GgufFormat().fingerprint(path)


def parts(a: ModelFingerprint, b: ModelFingerprint) -> set[str]:
    """Which of graph, weights and metadata differ between two fingerprints."""
    assert a.semantic is not None and b.semantic is not None
    return {k for k in ("graph", "weights", "metadata")
            if getattr(a.semantic, k) != getattr(b.semantic, k)}  # fmt: skip


def q8_0_blocks(blocks: int) -> np.ndarray[Any, Any]:
    """`blocks` Q8_0 blocks of raw bytes (an f16 scale and 32 int8 each: 34 bytes), the same
    every time."""
    return np.random.default_rng(7).integers(0, 256, size=blocks * 34, dtype=np.uint8)


def sample(path: Path, **kw: Any) -> Path:
    tensors = kw.pop("tensors", [
        ("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4)),
        ("output_norm.weight", np.ones(4, dtype=np.float16)),
    ])  # fmt: skip
    raw = kw.pop("raw", [("blk.0.attn_q.weight", q8_0_blocks(4), (2, 68), Q8_0)])
    return write_with_gguf(path, tensors=tensors, raw=raw, **kw)


# --- differential: gguf-py's reader ----------------------------------------------------------
def framed(header: dict[str, Any], payload: bytes) -> str:
    h = rfc8785.dumps(header)
    return "sha256:" + hashlib.sha256(struct.pack(">Q", len(h)) + h + payload).hexdigest()


def test_each_tensor_digest_is_its_framed_bytes_as_gguf_py_reads_them(tmp_path: Path) -> None:
    import gguf

    path = sample(tmp_path / "m.gguf")
    reader = gguf.GGUFReader(path)
    expected = {
        t.name: framed(
            {"name": t.name, "type": int(t.tensor_type), "dims": [str(int(d)) for d in t.shape]},
            t.data.tobytes(),
        )
        for t in reader.tensors
    }
    got = fp(path)
    assert got.semantic is not None
    assert {t.name: t.digest for t in got.semantic.tensors} == expected
    assert {t.name for t in got.semantic.tensors} == {
        "token_embd.weight", "output_norm.weight", "blk.0.attn_q.weight"
    }  # fmt: skip
    q = next(t for t in reader.tensors if t.name == "blk.0.attn_q.weight")
    assert q.tensor_type == gguf.GGMLQuantizationType.Q8_0 and q.n_bytes == 4 * 34


def _reader_value(field: Any) -> list[str]:
    """A key's value as SPEC 14.3 writes it, from gguf-py's parts: the stored bytes."""
    import gguf

    vtype = field.types[0]
    if vtype == gguf.GGUFValueType.ARRAY:
        raw = b"".join(p.tobytes() for p in field.parts[5:])
        return ["ARRAY", field.types[1].name, raw.hex()]
    skip = 4 if vtype == gguf.GGUFValueType.STRING else 3  # a string's length is left out
    return [vtype.name, b"".join(p.tobytes() for p in field.parts[skip:]).hex()]


@pytest.mark.parametrize(("vocabulary", "window"), [(3, None), (2000, 64), (2000, 7)])
def test_the_documents_match_an_independent_reading_with_gguf_py(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, vocabulary: int, window: int | None
) -> None:
    """The header is read in windows (1 MiB): small ones put every kind of field across a
    window's edge."""
    import gguf

    from aichain_audit.fingerprint.model.gguf import parse

    if window is not None:
        monkeypatch.setattr(parse, "_WINDOW", window)
    extra = [("general.license", "mit", STRING), ("llama.rope.freq_base", 10000.0, FLOAT32)]
    tokens = [f"t{i}" for i in range(vocabulary)]
    path = sample(tmp_path / "m.gguf", extra=extra, tokens=tokens)
    reader = gguf.GGUFReader(path)
    storage = {"general.alignment", "split.no", "split.count", "split.tensors.count"}
    graph_keys, meta = [], []
    for key in sorted(reader.fields):
        if key.startswith("GGUF.") or key in storage:  # the reader's own pseudo-fields
            continue
        graph = key == "general.architecture" or key.startswith(
            ("llama.", "tokenizer.", "adapter.")
        )
        (graph_keys if graph else meta).append([key, _reader_value(reader.fields[key])])
    tensors = sorted(
        ({"id": t.name, "type": int(t.tensor_type), "dims": [str(int(d)) for d in t.shape]}
         for t in reader.tensors),
        key=lambda d: d["id"],
    )  # fmt: skip
    graph_doc = {"scheme": "gguf-semantic/v1", "keys": graph_keys, "tensors": tensors}
    weights_doc = sorted(
        [t.name, framed({"name": t.name, "type": int(t.tensor_type),
                         "dims": [str(int(d)) for d in t.shape]}, t.data.tobytes())]
        for t in reader.tensors
    )  # fmt: skip

    def sha(doc: Any) -> str:
        return "sha256:" + hashlib.sha256(rfc8785.dumps(doc)).hexdigest()

    got = fp(path).semantic
    assert got is not None
    assert (got.graph, got.weights, got.metadata) == (sha(graph_doc), sha(weights_doc), sha(meta))
    assert ["general.license", ["STRING", b"mit".hex()]] in meta
    assert any(k == "llama.rope.freq_base" and v == ["FLOAT32", struct.pack("<f", 1e4).hex()]
               for k, v in graph_keys)  # fmt: skip


# --- what each change moves ------------------------------------------------------------------
def test_a_metadata_only_edit_changes_only_metadata(tmp_path: Path) -> None:
    a = fp(sample(tmp_path / "a.gguf", name="tiny"))
    b = fp(sample(tmp_path / "b.gguf", name="renamed"))
    assert parts(a, b) == {"metadata"} and a.file != b.file


def test_a_hyper_parameter_change_changes_only_the_graph(tmp_path: Path) -> None:
    a = fp(sample(tmp_path / "a.gguf", context=128))
    b = fp(sample(tmp_path / "b.gguf", context=256))
    assert parts(a, b) == {"graph"}


def test_a_tokenizer_change_changes_only_the_graph(tmp_path: Path) -> None:
    a = fp(sample(tmp_path / "a.gguf", tokens=("a", "b", "c")))
    b = fp(sample(tmp_path / "b.gguf", tokens=("a", "b", "d")))
    assert parts(a, b) == {"graph"}


def test_one_changed_byte_of_a_quantised_tensor_changes_only_its_digest(tmp_path: Path) -> None:
    path = sample(tmp_path / "m.gguf")
    before = fp(path)
    import gguf

    q = next(t for t in gguf.GGUFReader(path).tensors if t.name == "blk.0.attn_q.weight")
    data = bytearray(path.read_bytes())
    data[q.data_offset + 40] ^= 1
    path.write_bytes(bytes(data))
    after = fp(path)
    assert parts(before, after) == {"weights"}
    assert before.semantic is not None and after.semantic is not None
    changed = {t.name for t, u in zip(before.semantic.tensors, after.semantic.tensors, strict=True)
               if t.digest != u.digest}  # fmt: skip
    assert changed == {"blk.0.attn_q.weight"}


def test_a_value_of_another_type_is_another_value(tmp_path: Path) -> None:
    """A UINT32 3 and an INT32 3 differ: values are typed, exactly as stored."""
    a = fp(sample(tmp_path / "a.gguf", extra=[("llama.x", 3, UINT32)]))
    b = fp(sample(tmp_path / "b.gguf", extra=[("llama.x", 3, INT32)]))
    assert parts(a, b) == {"graph"}


def test_a_version_2_file_by_hand_has_the_semantics_of_its_version_3_twin(tmp_path: Path) -> None:
    a = fp(tiny(version=2).write(tmp_path / "v2.gguf"))
    b = fp(tiny(version=3).write(tmp_path / "v3.gguf"))
    assert parts(a, b) == set() and a.file != b.file


def test_alignment_is_storage_not_semantics(tmp_path: Path) -> None:
    a = fp(sample(tmp_path / "a.gguf"))
    b = fp(sample(tmp_path / "b.gguf", alignment=64))
    assert parts(a, b) == set() and a.file != b.file


def test_key_order_in_the_file_changes_no_semantic_digest(tmp_path: Path) -> None:
    g = tiny()
    a = fp(g.write(tmp_path / "a.gguf"))
    g.kvs.reverse()
    b = fp(g.write(tmp_path / "b.gguf"))
    assert parts(a, b) == set() and a.file != b.file


_NAME = st.text(alphabet="abcdefghij._", min_size=1, max_size=12)
_TENSOR = st.tuples(st.sampled_from(["f32", "f16", "i8"]), st.integers(1, 3), st.integers(1, 4))


@settings(max_examples=20, deadline=None)
@given(
    tensors=st.dictionaries(_NAME, _TENSOR, min_size=1, max_size=5),
    order=st.randoms(use_true_random=False),
)
def test_the_order_of_tensors_in_the_file_changes_neither_weights_nor_graph(
    tensors: dict[str, tuple[str, int, int]], order: Any
) -> None:
    arrays = [
        (name, np.arange(rows * cols).reshape(rows, cols).astype(
            {"f32": np.float32, "f16": np.float16, "i8": np.int8}[kind]) + len(name))
        for name, (kind, rows, cols) in tensors.items()
    ]  # fmt: skip
    shuffled = list(arrays)
    order.shuffle(shuffled)
    with tempfile.TemporaryDirectory() as tmp:
        a = fp(sample(Path(tmp) / "a.gguf", tensors=arrays, raw=[]))
        b = fp(sample(Path(tmp) / "b.gguf", tensors=shuffled, raw=[]))
    assert parts(a, b) == set()
    assert a.semantic is not None and b.semantic is not None
    assert a.semantic.tensors == b.semantic.tensors
    assert [t.id for t in a.semantic.tensors] == sorted(t.id for t in a.semantic.tensors)


# --- ids -------------------------------------------------------------------------------------
def test_a_name_that_cannot_be_an_id_gets_a_stable_fallback_and_valid_leaves(
    tmp_path: Path,
) -> None:
    names = ["blk.0 attn", "ступень.weight", "é" * 256, "tab\there"]
    g = tiny(tensors=[Tensor(n, (1,), F32, f32(i)) for i, n in enumerate(names)])
    got = fp(g.write(tmp_path / "m.gguf"))
    assert got.semantic is not None
    ids = {t.name: t.id for t in got.semantic.tensors}
    for n in names:
        assert ids[n] == "name-sha256:" + hashlib.sha256(n.encode()).hexdigest()
    for t in got.semantic.tensors:
        validate_leaf(tensor_leaf("m.gguf", t.id, t.name, t.digest), "test")


def test_a_name_equal_to_another_tensors_fallback_id_is_refused(tmp_path: Path) -> None:
    from aichain_audit.errors import ModelError

    fallback = "name-sha256:" + hashlib.sha256(b"a b").hexdigest()
    g = tiny(tensors=[Tensor("a b", (1,), F32, f32(0)), Tensor(fallback, (1,), F32, f32(1))])
    with pytest.raises(ModelError, match="have the same id"):
        fp(g.write(tmp_path / "m.gguf"))


# --- the registry and describe --------------------------------------------------------------
def test_the_registry_reads_gguf_by_its_suffix_in_any_case() -> None:
    assert isinstance(format_for(Path("dir/Model.GGUF")), GgufFormat)
    assert isinstance(format_of(Path("m.gguf")), GgufFormat)


def test_describe_gives_architecture_parameters_types_and_facts(tmp_path: Path) -> None:
    path = sample(tmp_path / "m.gguf", extra=[("general.file_type", 7, UINT32)])
    d = GgufFormat().describe(path, "m.gguf")
    assert d.format == "GGUF" and d.architecture == "llama"
    assert d.parameters == 12 + 4 + 128 and d.tensors == 3
    assert d.tensor_bytes == 48 + 8 + 136
    assert dict(d.dtypes) == {"F32": 1, "F16": 1, "Q8_0": 1}
    facts = dict(d.facts)
    assert facts["name"] == "tiny" and facts["GGUF version"] == "3"
    assert facts["context length"] == "128" and facts["file type"] == "Q8_0"


def test_a_version_2_file_with_a_quantised_and_an_f16_tensor_is_read(tmp_path: Path) -> None:
    g = tiny(version=2, kvs=[*tiny().kvs, kv_u32("general.alignment", 64),
                            kv_str("general.license", "apache-2.0")])  # fmt: skip
    g.alignment = 64
    g.tensors.append(Tensor("q", (32, 2), Q8_0, bytes(range(68))))
    g.tensors.append(Tensor("h", (3,), F16, struct.pack("<3e", 1, 2, 3)))
    got = fp(g.write(tmp_path / "m.gguf"))
    assert got.semantic is not None
    q = next(t for t in got.semantic.tensors if t.name == "q")
    assert q.digest == framed({"name": "q", "type": Q8_0, "dims": ["32", "2"]}, bytes(range(68)))


def test_one_read_gives_the_file_digest_and_the_tensor_digests_across_shard_edges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shards of 64 bytes read in blocks of 16: tensors and padding straddle every edge, and
    each digest is still what hashing the bytes on their own gives."""
    from aichain_audit.fingerprint import hashing

    path = sample(tmp_path / "m.gguf")
    plain = fp(path)
    monkeypatch.setattr(hashing, "SHARD_SIZE", 64)
    monkeypatch.setattr(hashing, "_PARALLEL_BLOCK", 16)
    sharded = fp(path)
    assert sharded.file == hashing.digest_file(str(path))
    assert sharded.file.digest.startswith("sha256-shards:")
    assert sharded.semantic == plain.semantic
