"""safetensors-semantic/v1 (docs/SPEC.md section 13): per-tensor digests checked against the
reference library's own reader, the three documents' invariants (re-sharding, metadata-only
and config-only edits), and the one-read hashing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors import deserialize, safe_open
from safetensors.numpy import save_file

from aichain_audit.canonical import canonical_json
from aichain_audit.fingerprint.hashing import digest_file
from aichain_audit.fingerprint.interface import ModelFingerprinter
from aichain_audit.fingerprint.model import FORMATS, format_for, format_of
from aichain_audit.fingerprint.model.safetensors import SafetensorsFile, SafetensorsFolder
from aichain_audit.fingerprint.model.safetensors.documents import tensor_id
from aichain_audit.fingerprint.model.safetensors.fingerprint import fingerprint_file
from aichain_audit.lineage import LineageManifest
from tests.fingerprint.safetensors.st import Tensor, spec_tensor_digest, write

ARRAYS = {
    "model.embed.weight": np.arange(24, dtype=np.float32).reshape(4, 6),
    "model.norm.weight": np.linspace(-1, 1, 6).astype(np.float16),
    "lm_head.bias": np.array([1, -2, 3], dtype=np.int64),
    "mask": np.array([[True, False], [False, True]]),
    "ids": np.arange(5, dtype=np.uint8),
    "scale": np.array(3.5, dtype=np.float64),  # a scalar: shape []
    "empty": np.zeros((0, 3), dtype=np.int32),
}


def fingerprint_of(path: Path) -> dict[str, str]:
    fp = format_of(path).fingerprint(path)
    assert fp.semantic is not None
    return {"graph": fp.semantic.graph, "weights": fp.semantic.weights,
            "metadata": fp.semantic.metadata}  # fmt: skip


def test_the_registry_reads_safetensors_files_and_checkpoint_folders(tmp_path: Path) -> None:
    path = tmp_path / "ckpt" / "model.safetensors"
    path.parent.mkdir()
    save_file({"w": np.ones(2, dtype=np.float32)}, str(path))
    assert isinstance(format_for(path), SafetensorsFile)
    assert isinstance(format_for(path.parent), SafetensorsFolder)
    assert format_for(tmp_path) is None  # its top level holds no weights file
    assert FORMATS[0].name == "ONNX"  # still the fallback for an unknown suffix


def test_each_tensor_digest_hashes_the_bytes_the_reference_reader_returns(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_file(ARRAYS, str(path), metadata={"format": "np"})
    fp = fingerprint_file(path)
    assert fp.semantic is not None
    ours = {t.name: t.digest for t in fp.semantic.tensors}
    with safe_open(str(path), framework="numpy") as f:
        theirs = {}
        for name in f.keys():  # noqa: SIM118 - safe_open has no __iter__
            array = f.get_tensor(name)
            dtype = {"float32": "F32", "float16": "F16", "int64": "I64", "bool": "BOOL",
                     "uint8": "U8", "float64": "F64", "int32": "I32"}[str(array.dtype)]  # fmt: skip
            theirs[name] = spec_tensor_digest(
                dtype, array.shape, array.astype(array.dtype.newbyteorder("<")).tobytes()
            )
    assert ours == theirs
    assert fp.file.digest == digest_file(str(path)).digest


@pytest.mark.parametrize(
    ("dtype", "shape", "size"),
    [("BF16", [3], 6), ("F8_E4M3", [2, 2], 4), ("F8_E5M2", [1], 1), ("F8_E8M0", [2], 2),
     ("F4", [4], 2), ("F6_E2M3", [4], 3), ("F6_E3M2", [8], 6), ("C64", [2], 16),
     ("U16", [1], 2), ("I16", [2], 4), ("U32", [1], 4), ("U64", [1], 8), ("I8", [3], 3)],
)  # fmt: skip
def test_dtypes_numpy_lacks_are_digested_as_the_reference_deserialises_them(
    tmp_path: Path, dtype: str, shape: list[int], size: int
) -> None:
    data = bytes(range(7, 7 + size))
    path = write(tmp_path / "m.safetensors", [("t", dtype, shape, data)])
    [(name, view)] = deserialize(path.read_bytes())
    fp = fingerprint_file(path)
    assert fp.semantic is not None
    [t] = fp.semantic.tensors
    assert (t.name, t.digest) == (
        name,
        spec_tensor_digest(view["dtype"], view["shape"], bytes(view["data"])),
    )


def test_tensor_ids_are_names_when_readable_else_a_digest_of_the_name() -> None:
    assert (
        tensor_id("model.layers.0.self_attn.q_proj.weight")
        == "model.layers.0.self_attn.q_proj.weight"
    )
    for name in ("", "with space", "é", "x" * 513):
        got = tensor_id(name)
        assert got.startswith("~sha256:") and len(got) == 8 + 64
    assert tensor_id("with space") != tensor_id("with  space")


def test_a_tensor_named_oddly_gets_a_stable_id_and_keeps_its_name(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.safetensors", [("a b", "U8", [1], b"\x01"), ("ok", "U8", [1], b"\x02")]
    )
    leaves = ModelFingerprinter().fingerprint([path]).leaves
    tensors = {leaf["name"]: leaf["tensor"] for leaf in leaves if leaf["kind"] == "tensor"}
    assert tensors == {"a b": tensor_id("a b"), "ok": "ok"}
    LineageManifest.build(
        [
            *leaves,
        ]
    )  # every leaf valid for a lineage


TENSORS: list[Tensor] = [
    (f"layer.{i}.weight", dt, shape, bytes((i * 7 + k) % 256 for k in range(n)))
    for i, (dt, shape, n) in enumerate(
        [("F32", [2, 3], 24), ("F16", [4], 8), ("U8", [5], 5), ("BF16", [2, 2], 8),
         ("I64", [1], 8), ("BOOL", [3], 3), ("F32", [0], 0)]
    )
]  # fmt: skip


def _folder(root: Path, shards: list[list[Tensor]], *, config: object = None) -> Path:
    root.mkdir(parents=True)
    if config is not None:
        (root / "config.json").write_text(json.dumps(config))
    if len(shards) == 1:
        write(root / "model.safetensors", shards[0], {"format": "pt"})
        return root
    weight_map = {}
    for k, tensors in enumerate(shards):
        name = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        write(root / name, tensors, {"format": "pt"})
        weight_map.update({t[0]: name for t in tensors})
    index = {"metadata": {"total_size": sum(len(t[3]) for t in TENSORS)}, "weight_map": weight_map}
    (root / "model.safetensors.index.json").write_text(json.dumps(index))
    return root


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_resharding_and_any_order_keeps_the_weights_digest(
    tmp_path: Path, data: st.DataObject
) -> None:
    order = data.draw(st.permutations(TENSORS))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(order) - 1), max_size=4)))
    shards = [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    base = tmp_path / f"run{data.draw(st.integers(0, 10**9))}"
    single = _folder(base / "one", [TENSORS])
    split = _folder(base / "split", shards)
    one, many = format_of(single).fingerprint(single), format_of(split).fingerprint(split)
    assert one.semantic is not None and many.semantic is not None
    assert many.semantic.weights == one.semantic.weights
    assert many.semantic.graph == one.semantic.graph
    assert many.semantic.tensors == one.semantic.tensors
    if order != TENSORS or len(shards) > 1:  # another layout: other file digests
        assert {many.file.digest, *(d.digest for _, d in many.external)} != {one.file.digest}
    shutil.rmtree(base)


def test_the_same_tensors_in_one_file_or_two_shards_differ_only_in_files_and_metadata(
    tmp_path: Path,
) -> None:
    one = _folder(tmp_path / "one", [TENSORS])
    two = _folder(tmp_path / "two", [TENSORS[:3], TENSORS[3:]])
    a, b = fingerprint_of(one), fingerprint_of(two)
    assert (a["graph"], a["weights"]) == (b["graph"], b["weights"])
    assert a["metadata"] != b["metadata"]  # the index's metadata, two headers' metadata


def test_a_metadata_only_edit_changes_only_the_metadata_digest(tmp_path: Path) -> None:
    a = write(tmp_path / "a.safetensors", TENSORS, {"format": "pt"})
    b = write(tmp_path / "b.safetensors", TENSORS, {"format": "pt", "note": "edited"})
    fa, fb = fingerprint_of(a), fingerprint_of(b)
    assert fa["graph"] == fb["graph"] and fa["weights"] == fb["weights"]
    assert fa["metadata"] != fb["metadata"]
    index = tmp_path / "two"
    _folder(index, [TENSORS[:2], TENSORS[2:]])
    before = fingerprint_of(index)
    doc = json.loads((index / "model.safetensors.index.json").read_text())
    doc["metadata"]["total_size"] += 1
    (index / "model.safetensors.index.json").write_text(json.dumps(doc))
    after = fingerprint_of(index)
    assert [p for p in before if before[p] != after[p]] == ["metadata"]


def test_renaming_a_single_file_changes_no_semantic_digest(tmp_path: Path) -> None:
    a = write(tmp_path / "a.safetensors", TENSORS, {"format": "pt"})
    b = tmp_path / "renamed.safetensors"
    shutil.copy(a, b)
    assert fingerprint_of(a) == fingerprint_of(b)


def test_a_config_change_changes_only_the_graph_digest(tmp_path: Path) -> None:
    a = _folder(tmp_path / "a", [TENSORS], config={"model_type": "tiny", "hidden_size": 4})
    b = _folder(tmp_path / "b", [TENSORS], config={"hidden_size": 8, "model_type": "tiny"})
    fa, fb = fingerprint_of(a), fingerprint_of(b)
    assert [p for p in fa if fa[p] != fb[p]] == ["graph"]
    # RFC 8785: member order and white space are not the config's meaning
    (b / "config.json").write_text('{ "hidden_size" : 4,\n "model_type": "tiny" }')
    assert fingerprint_of(b) == fa


def test_a_changed_value_changes_that_tensor_only(tmp_path: Path) -> None:
    a = write(tmp_path / "a.safetensors", TENSORS)
    changed = list(TENSORS)
    name, dt, shape, data = changed[2]
    changed[2] = (name, dt, shape, bytes([data[0] ^ 1]) + data[1:])
    b = write(tmp_path / "b.safetensors", changed)
    ta = {t.id: t.digest for t in fingerprint_file(a).semantic.tensors}  # type: ignore[union-attr]
    tb = {t.id: t.digest for t in fingerprint_file(b).semantic.tensors}  # type: ignore[union-attr]
    assert [k for k in ta if ta[k] != tb[k]] == [name]


def test_the_file_digest_and_tensor_digests_come_from_one_read_of_a_sharded_file(
    tmp_path: Path, small_shards: None
) -> None:
    """Past SHARD_SIZE (64 bytes here) the file digest is a shard tree; it must equal the
    dataset engine's digest of the same file, with the tensors' from the same reads."""
    big = [(f"t{i}", "U8", [37 + i], bytes((i + k) % 251 for k in range(37 + i))) for i in range(9)]
    path = write(tmp_path / "m.safetensors", big, {"k": "v"})
    fp = fingerprint_file(path)
    assert fp.file.digest.startswith("sha256-shards:")
    assert fp.file.digest == digest_file(str(path)).digest
    assert fp.semantic is not None
    assert {t.name: t.digest for t in fp.semantic.tensors} == {
        n: spec_tensor_digest(dt, s, d) for n, dt, s, d in big
    }


def test_the_semantic_documents_are_those_section_13_writes_out(tmp_path: Path) -> None:
    """The SPEC 13.5 worked example, recomputed here from the SPEC's definitions."""
    import hashlib

    w = b"\x00\x00\x80\x3f\x00\x00\x00\x40"  # 1.0, 2.0
    path = write(tmp_path / "model.safetensors", [("w", "F32", [2], w), ("b", "U8", [1], b"\x07")],
                 {"format": "pt"})  # fmt: skip
    fp = fingerprint_file(path)
    assert fp.semantic is not None

    def sha(doc: object) -> str:
        return "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()  # type: ignore[arg-type]

    digests = {"b": spec_tensor_digest("U8", [1], b"\x07"),
               "w": spec_tensor_digest("F32", [2], w)}  # fmt: skip
    graph = {"config": None, "scheme": "safetensors-semantic/v1",
             "tensors": [["b", "U8", ["1"]], ["w", "F32", ["2"]]]}  # fmt: skip
    assert fp.semantic.graph == sha(graph)
    assert fp.semantic.weights == sha([["b", digests["b"]], ["w", digests["w"]]])
    assert fp.semantic.metadata == sha({"headers": [{"format": "pt"}], "index": None})


def test_the_fingerprint_never_maps_or_loads_a_shard_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mmap

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("mmap used")

    monkeypatch.setattr(mmap, "mmap", refuse)
    path = write(tmp_path / "m.safetensors", TENSORS)
    real_read = os.read
    largest = []

    def counting(fd: int, n: int) -> bytes:
        largest.append(n)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", counting)
    fingerprint_file(path)
    assert all(n <= 1 << 22 for n in largest)  # bounded windows (pread/preadv elsewhere)
