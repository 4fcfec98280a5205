"""PyTorch pickles are opaque models: fingerprinted by their bytes (a model leaf, no semantic
fingerprint, no tensors) with a warning, and never unpickled, parsed or given to torch."""

from __future__ import annotations

import builtins
import io
import json
import pickle
import sys
import zipfile
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from aichain_audit import api
from aichain_audit.cli import main
from aichain_audit.fingerprint.hashing import digest_file
from aichain_audit.fingerprint.interface import ModelFingerprinter
from aichain_audit.fingerprint.model import MODEL_SUFFIXES, format_for, format_of
from aichain_audit.fingerprint.model.onnx import OnnxFormat
from aichain_audit.fingerprint.model.opaque import PickleFormat, container
from aichain_audit.lineage import MODEL, MODEL_SEMANTIC, TENSOR


class _Payload:
    """Unpickling this opens (creates) `marker`: loading it would leave the file behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return builtins.open, (str(self.marker), "w")


def _pickle_bytes(marker: Path) -> bytes:
    return pickle.dumps({"weight": [1.0, 2.0], "payload": _Payload(marker)}, protocol=2)


def _zip_bytes(marker: Path) -> bytes:
    """What `torch.save` writes since PyTorch 1.6: a zip archive holding `data.pkl`."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("archive/data.pkl", _pickle_bytes(marker))
        z.writestr("archive/version", "3\n")
    return out.getvalue()


def _onnx_bytes() -> bytes:
    w = numpy_helper.from_array(np.array([[1.0, 2.0]], dtype=np.float32), "W")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 2])],
        [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


class _Refuse(MetaPathFinder):
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if name.split(".")[0] == "torch":
            raise AssertionError(f"{name} was imported")


@pytest.fixture
def no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unpickling and importing torch fail the test, wherever they are tried."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a pickle was loaded")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(sys, "meta_path", [_Refuse(), *sys.meta_path])


def test_the_payload_would_run_if_it_were_loaded(tmp_path: Path) -> None:
    # The marker tests below mean something only if loading really creates the file.
    pickle.loads(_pickle_bytes(tmp_path / "loaded"))
    assert (tmp_path / "loaded").exists()


@pytest.mark.parametrize("name", ["model.pt", "model.pth", "last.ckpt", "pytorch_model.bin"])
@pytest.mark.parametrize("make", [_pickle_bytes, _zip_bytes], ids=["pickle", "zip"])
def test_a_pickle_is_fingerprinted_by_its_bytes_with_a_warning_and_never_loaded(
    tmp_path: Path, name: str, make: Any, no_loading: None
) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / name
    path.write_bytes(make(marker))
    assert isinstance(format_of(path), PickleFormat)
    done = ModelFingerprinter().fingerprint([path])
    assert not marker.exists()
    assert [leaf["kind"] for leaf in done.leaves] == [MODEL]
    assert done.leaves[0]["digest"] == digest_file(str(path)).digest
    assert done.leaves[0]["size"] == path.stat().st_size
    fp = done.model
    assert fp is not None and fp.semantic is None and fp.external == ()
    assert fp.warnings == (
        f"{path} is a pickle: it is fingerprinted by its bytes only, and loading it runs code; "
        "convert it to safetensors",
    )
    assert "torch" not in sys.modules


def test_a_large_pickle_is_hashed_by_its_shards_as_any_file(
    tmp_path: Path, small_shards: None, no_loading: None
) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(_pickle_bytes(tmp_path / "marker") + bytes(range(256)) * 3)
    fp = PickleFormat().fingerprint(path)
    assert fp.file == digest_file(str(path))
    assert fp.file.digest.startswith("sha256-shards:")


def test_a_lineage_of_a_pickle_has_a_model_leaf_and_no_semantic_leaves(
    tmp_path: Path, no_loading: None
) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(_zip_bytes(tmp_path / "marker"))
    manifest = api.fingerprint(model=path).manifest
    kinds = [leaf["kind"] for leaf in manifest.leaves]
    assert MODEL in kinds and MODEL_SEMANTIC not in kinds and TENSOR not in kinds
    assert manifest.subject == digest_file(str(path)).digest
    # and the manifest reads back: the lineage accepts a model with no semantic leaf
    assert api.load_manifest(_saved(tmp_path, manifest.to_json())).root_hex == manifest.root_hex


def _saved(folder: Path, data: bytes) -> Path:
    out = folder / "lineage.json"
    out.write_bytes(data)
    return out


def test_an_onnx_file_named_model_bin_is_still_onnx(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(_onnx_bytes())
    assert format_for(path) is None
    assert isinstance(format_of(path), OnnxFormat)
    fp = ModelFingerprinter().fingerprint([path]).model
    assert fp is not None and fp.semantic is not None and fp.warnings == ()


@pytest.mark.parametrize("head", [b"", b"\x80", b"\x80\x01abc", b"PK\x05\x06", b"\x08\x08\x12"])
def test_a_bin_file_is_a_pickle_only_when_its_first_bytes_say_so(
    tmp_path: Path, head: bytes
) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(head)
    assert format_for(path) is None
    path.write_bytes(b"\x80\x04" + head)
    assert isinstance(format_for(path), PickleFormat)


def test_recognising_a_missing_or_special_bin_reads_nothing_and_claims_nothing(
    tmp_path: Path,
) -> None:
    import os

    assert format_for(tmp_path / "absent.bin") is None
    fifo = tmp_path / "pipe.bin"
    os.mkfifo(fifo)
    assert format_for(fifo) is None  # no hang: opened without blocking, refused by fstat


def test_the_container_is_told_by_its_first_bytes() -> None:
    assert container(pickle.dumps(1, protocol=2)) == "pickle"
    assert container(pickle.dumps(1, protocol=5)) == "pickle"
    assert container(b"PK\x03\x04rest") == "zip"
    assert container(pickle.dumps(1, protocol=1)) is None
    assert container(_onnx_bytes()) is None


def test_pickles_are_never_taken_from_an_mlflow_run_unasked() -> None:
    # MLflow's pytorch flavour logs a pickle beside the model a run exports.
    assert not {".pt", ".pth", ".ckpt", ".bin"} & set(MODEL_SUFFIXES)
    assert ".onnx" in MODEL_SUFFIXES


def test_a_pickle_description_says_what_it_is_without_reading_it(
    tmp_path: Path, no_loading: None
) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(_zip_bytes(tmp_path / "marker"))
    d = PickleFormat().describe(path, "model.pt")
    assert d.format == "PyTorch pickle" and d.parameters == 0 and d.dtypes == ()
    facts = dict(d.facts)
    assert "zip" in facts["Container"] and "runs code" in facts["Contents"]
    path.write_bytes(_pickle_bytes(tmp_path / "marker"))
    assert dict(PickleFormat().describe(path, "model.pt").facts)["Container"] == (
        "a pickle, protocol 2"
    )
    assert not (tmp_path / "marker").exists()


def _cli(*args: object) -> int:
    try:
        main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def test_the_cli_prints_the_warning_on_stderr_and_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_loading: None
) -> None:
    path = tmp_path / "model.pth"
    path.write_bytes(_pickle_bytes(tmp_path / "marker"))
    assert _cli("fingerprint", "--model", path, "-o", tmp_path / "lineage.json") == 0
    out = capsys.readouterr()
    assert out.err == (
        f"aichain: warning: {path} is a pickle: it is fingerprinted by its bytes only, and "
        "loading it runs code; convert it to safetensors\n"
    )
    assert "none: an opaque model, compared by its bytes only" in out.out
    assert _cli("fingerprint", "--model", path, "--json", "-o", tmp_path / "lineage.json") == 0
    out = capsys.readouterr()
    doc = json.loads(out.out)
    assert doc["model"]["semantic"] is None
    assert doc["model"]["warnings"] == [out.err.removeprefix("aichain: warning: ").rstrip("\n")]
    assert not (tmp_path / "marker").exists()


def test_an_onnx_fingerprint_has_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(_onnx_bytes())
    assert _cli("fingerprint", "--model", path, "--json", "-o", tmp_path / "lineage.json") == 0
    out = capsys.readouterr()
    assert out.err == "" and json.loads(out.out)["model"]["warnings"] == []


def test_the_model_option_help_names_pickles_and_that_they_are_never_loaded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _cli("fingerprint", "--help") == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "PyTorch pickle" in text and "never loaded" in text


def test_pt_pth_and_ckpt_are_pickles_by_name_in_any_case() -> None:
    for name in ("model.PT", "model.pth", "epoch=3.Ckpt"):
        assert isinstance(format_for(Path(name)), PickleFormat)
    assert isinstance(format_for(Path("model.onnx")), OnnxFormat)


def test_the_spec_worked_example(tmp_path: Path) -> None:
    """docs/SPEC.md section 15: `pickle.dumps(None, protocol=2)` named model.pt."""
    data = pickle.dumps(None, protocol=2)
    assert data.hex() == "80024e2e"
    for name in ("model.pt", "model.bin"):
        (tmp_path / name).write_bytes(data)
        leaves = ModelFingerprinter().fingerprint([tmp_path / name]).leaves
        assert leaves == [{
            "kind": "model", "path": name, "size": 4,
            "digest": "sha256:e71559db7df35982f168ca0bd6d35a0270e621095a7bfd0c3a1773ed09ae1a44",
        }]  # fmt: skip


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None)
@given(value=_VALUES, protocol=st.integers(2, pickle.HIGHEST_PROTOCOL))
def test_every_pickle_of_protocol_2_or_more_is_recognised_as_a_bin(
    tmp_path_factory: pytest.TempPathFactory, value: object, protocol: int
) -> None:
    path = tmp_path_factory.mktemp("bin") / "model.bin"
    path.write_bytes(pickle.dumps(value, protocol=protocol))
    assert isinstance(format_for(path), PickleFormat)


@settings(max_examples=40, deadline=None)
@given(producer=st.text(max_size=40), doc=st.text(max_size=40), version=st.integers(3, 10))
def test_no_onnx_model_is_taken_for_a_pickle(producer: str, doc: str, version: int) -> None:
    model = onnx.ModelProto()
    model.ParseFromString(_onnx_bytes())
    model.producer_name, model.doc_string, model.ir_version = producer, doc, version
    assert container(model.SerializeToString()) is None
