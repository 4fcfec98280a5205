"""Reports describe a model in any format: its format's name, architecture, parameter count,
data types and its own facts, from the model's `describe`; a checkpoint folder is described
as the folder; an opaque model (a pickle) has no semantic section and the report says why.

In process, no server: the folder format here is a stand-in registered for the test (the
real safetensors and GGUF formats get their end-to-end report tests with them)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from aichain_audit import api, lineage
from aichain_audit.fingerprint.hashing import FileDigest, digest_file
from aichain_audit.fingerprint.model import ModelDescription, ModelFingerprint, ModelFormat
from aichain_audit.lineage import LineageManifest, file_leaf, semantic_leaf, tensor_leaf
from aichain_audit.report import collect, render
from aichain_audit.report.collect import ReportInputs, build_evidence

SCHEME = "checkpoint-semantic/v1"
D = "sha256:" + "d" * 64
DESCRIPTION = ModelDescription(
    format="Checkpoint",
    architecture="LlamaForCausalLM",
    parameters=1_234_567,
    dtypes=(("BF16", 3), ("F32", 1)),
    tensors=4,
    tensor_bytes=2_469_136,
    facts=(("Shards", "2"), ("Model type", "llama")),
)


class _Checkpoint(ModelFormat):
    """A folder format: `index.json` is its model file, every other file model data."""

    scheme = SCHEME
    name = "Checkpoint"
    suffixes = ()
    max_file_size = 1 << 30
    folders = True
    described: ClassVar[list[Path]] = []

    def recognises(self, path: Path) -> bool:
        return (path / "index.json").is_file()

    def main_file(self, path: Path) -> tuple[str, Path]:
        return "index.json", path / "index.json"

    def fingerprint(self, path: Path) -> ModelFingerprint:  # pragma: no cover - not called
        raise NotImplementedError

    def digest_data_file(self, folder: Path, location: str, shown: str) -> FileDigest:
        raise NotImplementedError  # pragma: no cover - not called

    def describe(self, path: Path, shown: str) -> ModelDescription:
        self.described.append(path)
        return DESCRIPTION


@pytest.fixture
def checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(lineage, checkpoint folder): a lineage of a checkpoint folder of the stand-in format,
    the folder's files as the lineage records them."""
    fmt = _Checkpoint()
    fmt.described = []
    monkeypatch.setattr(lineage, "SEMANTIC_SCHEMES", lineage.SEMANTIC_SCHEMES | {SCHEME})
    monkeypatch.setattr(collect, "MODEL_FORMATS", (*collect.MODEL_FORMATS, fmt))
    folder = tmp_path / "llama-7b"
    folder.mkdir()
    files = {"index.json": b'{"weight_map": {}}', "config.json": b'{"model_type": "llama"}',
             "model-00001-of-00002.safetensors": b"\x08" * 64,
             "model-00002-of-00002.safetensors": b"\x09" * 64}  # fmt: skip
    for name, data in files.items():
        (folder / name).write_bytes(data)
    leaves = [file_leaf("model" if name == "index.json" else "model-data", name,
                        digest_file(str(folder / name)).digest, len(data))
              for name, data in files.items()]  # fmt: skip
    leaves.append(semantic_leaf("index.json", SCHEME, D, D, D))
    leaves.append(tensor_leaf("index.json", "t0", "model.embed_tokens.weight", D))
    path = tmp_path / "lineage.json"
    path.write_bytes(LineageManifest.build(leaves).to_json())
    return path, folder


def _evidence(lineage_path: Path, artifacts: Path | None = None) -> Any:
    return build_evidence(ReportInputs(lineage_path, artifacts=artifacts))


def test_a_checkpoint_folder_is_described_as_the_folder(checkpoint: tuple[Path, Path]) -> None:
    path, folder = checkpoint
    e = _evidence(path, folder)
    m = e.model
    assert m.read and m.note == ""
    assert (m.format, m.scheme, m.described) == ("Checkpoint", SCHEME, str(folder))
    assert (m.architecture, m.parameters, m.dtypes) == (
        "LlamaForCausalLM", 1_234_567, (("BF16", 3), ("F32", 1)))  # fmt: skip
    assert m.facts == DESCRIPTION.facts
    assert m.ir_version is None and m.opsets == () and m.operators == ()
    formats = {a.path: a.format for a in e.artifacts}
    assert formats["index.json"] == "Checkpoint model"
    assert formats["config.json"] == "Checkpoint model data"
    fmt = next(f for f in collect.MODEL_FORMATS if isinstance(f, _Checkpoint))
    assert fmt.described == [folder]


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_every_page_report_shows_the_format_architecture_parameters_and_facts(
    checkpoint: tuple[Path, Path], fmt: str
) -> None:
    path, folder = checkpoint
    text = render(_evidence(path, folder), fmt).decode()
    assert "Checkpoint model: semantic fingerprint" in text
    assert "ONNX" not in text
    for shown in ("LlamaForCausalLM", "1,234,567", "BF16", "\u00d7 3", "Shards", "Model type",
                  SCHEME, folder.name):  # fmt: skip
        assert shown in text, shown


def test_the_json_report_carries_the_neutral_members(checkpoint: tuple[Path, Path]) -> None:
    path, folder = checkpoint
    doc = json.loads(render(_evidence(path, folder), "json"))
    m = doc["model"]
    assert m["format"] == "Checkpoint" and m["scheme"] == SCHEME
    assert m["architecture"] == "LlamaForCausalLM" and m["parameters"] == 1_234_567
    assert m["dtypes"] == [{"dtype": "BF16", "tensors": 3}, {"dtype": "F32", "tensors": 1}]
    assert m["facts"][0] == {"label": "Shards", "value": "2"}
    # the members the document has always had are still there, empty for this format
    assert m["opsets"] == [] and m["operators"] == [] and m["ir_version"] is None


def test_the_cyclonedx_model_card_is_filled_from_the_description(
    checkpoint: tuple[Path, Path],
) -> None:
    path, folder = checkpoint
    bom = json.loads(render(_evidence(path, folder), "cyclonedx"))  # validated against 1.6
    model = bom["metadata"]["component"]
    card = model["modelCard"]
    assert card["modelParameters"]["modelArchitecture"] == "LlamaForCausalLM"
    props = {p["name"]: p["value"] for p in card["properties"]}
    assert props["aichain:model:format"] == "Checkpoint"
    assert props["aichain:model:scheme"] == SCHEME
    assert props["aichain:model:parameters"] == "1234567"
    assert props["aichain:model:dtypes"] == "BF16 x3, F32 x1"
    on_component = {p["name"]: p["value"] for p in model["properties"]}
    assert on_component["aichain:model:graph"] == D
    assert on_component["aichain:checkpoint:model-type"] == "llama"
    assert not any("onnx" in name for name in on_component)


def test_a_checkpoint_with_a_changed_file_is_not_described(
    checkpoint: tuple[Path, Path],
) -> None:
    path, folder = checkpoint
    (folder / "model-00002-of-00002.safetensors").write_bytes(b"\x07" * 64)
    m = _evidence(path, folder).model
    assert not m.read and m.architecture == ""
    assert m.note == (
        "the model's file model-00002-of-00002.safetensors differs from the lineage; its "
        "structure is not shown"
    )


# --- an opaque model --------------------------------------------------------------------------
class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (str(self.marker), "w")


@pytest.fixture
def pickled(tmp_path: Path) -> Path:
    model = tmp_path / "model.pt"
    model.write_bytes(pickle.dumps({"w": _Payload(tmp_path / "marker")}, protocol=4))
    path = tmp_path / "lineage.json"
    path.write_bytes(api.fingerprint(model=model).manifest.to_json())
    return path


@pytest.mark.parametrize("fmt", ["md", "html"])
def test_an_opaque_model_has_no_semantic_section_and_the_report_says_why(
    pickled: Path, fmt: str
) -> None:
    text = render(_evidence(pickled), fmt).decode()
    assert "PyTorch pickle model: bytes only" in text
    assert "no semantic fingerprint" in text and "by its bytes only" in text
    assert "loading a pickle runs code" in text
    for absent in ("Graph digest", "Weights digest", "semantic fingerprint</h2>",
                   "model: semantic fingerprint", "Parameters", "Data types"):  # fmt: skip
        assert absent not in text, absent
    assert not (pickled.parent / "marker").exists()


def test_an_opaque_model_in_json_and_cyclonedx(pickled: Path) -> None:
    e = _evidence(pickled)
    m = json.loads(render(e, "json"))["model"]
    assert m["format"] == "PyTorch pickle" and m["scheme"] is None and m["graph"] is None
    assert m["opaque"].startswith("no semantic fingerprint")
    artifact = next(a for a in json.loads(render(e, "json"))["artifacts"] if a["kind"] == "model")
    assert artifact["format"] == "PyTorch pickle model"
    bom = json.loads(render(e, "cyclonedx"))
    card = bom["metadata"]["component"]["modelCard"]
    assert "modelArchitecture" not in card["modelParameters"]
    assert any(
        "no semantic fingerprint" in t for t in card["considerations"]["technicalLimitations"]
    )
    props = {p["name"]: p["value"] for p in bom["metadata"]["component"]["properties"]}
    assert props["aichain:model:format"] == "PyTorch pickle"
    assert "aichain:model:graph" not in props and "aichain:model:semantic" in props
    model_facts = [x.here for x in e.mappings if "by file digest" in x.here]
    assert model_facts and all("by file digest only" in here for here in model_facts)
    assert not (pickled.parent / "marker").exists()


def test_an_absent_pickle_still_reports_why_it_has_no_semantics(pickled: Path) -> None:
    (pickled.parent / "model.pt").unlink()
    text = render(_evidence(pickled), "md").decode()
    assert "no semantic fingerprint" in text and "absent" in text


# --- ONNX, as before, and more -----------------------------------------------------------
@pytest.fixture
def onnx_lineage(tmp_path: Path) -> Path:
    w = numpy_helper.from_array(np.ones((2, 3), dtype=np.float32), "W")
    b = numpy_helper.from_array(np.array([3, 4], dtype=np.int64), "B")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["Y"])], "tiny_mlp",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 3])], [w, b],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="hand")  # fmt: skip
    model.ir_version = 8
    onnx.save(model, tmp_path / "model.onnx")
    path = tmp_path / "lineage.json"
    path.write_bytes(api.fingerprint(model=tmp_path / "model.onnx").manifest.to_json())
    return path


def test_an_onnx_report_keeps_its_heading_and_members_and_gains_the_neutral_ones(
    onnx_lineage: Path,
) -> None:
    e = _evidence(onnx_lineage)
    md = render(e, "md").decode()
    assert "## ONNX model: semantic fingerprint" in md
    for shown in ("Opsets | ai.onnx 17", "Operators | MatMul \u00d7 1", "IR version | 8",
                  "Producer | hand", "Parameters | 8", "Architecture | tiny\\_mlp",
                  "Data types | FLOAT \u00d7 1, INT64 \u00d7 1"):  # fmt: skip
        assert shown in md, shown
    m = json.loads(render(e, "json"))["model"]
    assert m["opsets"] == [{"domain": "ai.onnx", "version": 17}]
    assert m["operators"] == [{"op": "MatMul", "count": 1}]
    assert (m["ir_version"], m["producer"], m["nodes"], m["tensors"]) == (8, "hand", 1, 2)
    assert m["tensor_bytes"] == 6 * 4 + 2 * 8 and m["parameters"] == 8
    artifact = next(a for a in json.loads(render(e, "json"))["artifacts"] if a["kind"] == "model")
    assert artifact["format"] == "ONNX model"
    card = json.loads(render(e, "cyclonedx"))["metadata"]["component"]["modelCard"]
    assert card["modelParameters"]["modelArchitecture"] == "tiny_mlp"


def test_a_dataset_file_named_bin_is_not_called_a_pickle() -> None:
    assert collect._format("dataset", "data/weights.bin") == "bin file"
    assert collect._format("dataset", "data/model.pt") == "PyTorch pickle model"
