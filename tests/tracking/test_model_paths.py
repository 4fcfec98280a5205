"""Which artifacts of an MLflow run are models (`tracking.client.model_paths`): model files
by name, and checkpoint folders marked by their weights, whatever else they hold."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aichain_audit.tracking.client import model_paths

FILES = (".onnx", ".gguf", ".safetensors")
MARKS = (".safetensors", ".safetensors.index.json")


def test_a_folder_holding_safetensors_is_one_checkpoint_model_with_its_other_files() -> None:
    paths = [
        "MLmodel",
        "model/config.json",
        "model/model-00001-of-00002.safetensors",
        "model/model-00002-of-00002.safetensors",
        "model/model.safetensors.index.json",
        "model/tokenizer.json",
    ]
    assert model_paths(paths, FILES, MARKS) == [("model", True)]


def test_model_files_outside_a_checkpoint_are_models_of_their_own() -> None:
    paths = ["onnx/model.onnx", "q4/llama.gguf", "ckpt/model.safetensors", "ckpt/export.onnx"]
    assert model_paths(paths, FILES, MARKS) == [
        ("ckpt", True),
        ("onnx/model.onnx", False),
        ("q4/llama.gguf", False),
    ]


def test_a_safetensors_file_at_the_top_level_is_a_file_model() -> None:
    assert model_paths(["model.safetensors", "notes.txt"], FILES, MARKS) == [
        ("model.safetensors", False)
    ]


def test_a_checkpoint_inside_another_belongs_to_the_outer_one() -> None:
    paths = ["m/model.safetensors", "m/adapter/adapter_model.safetensors", "m/x.onnx"]
    assert model_paths(paths, FILES, MARKS) == [("m", True)]


def test_names_are_matched_without_regard_to_case() -> None:
    assert model_paths(["M/W.SafeTensors", "x/Y.ONNX"], FILES, MARKS) == [
        ("M", True),
        ("x/Y.ONNX", False),
    ]


def test_without_folder_markers_only_files_are_models() -> None:
    assert model_paths(["a/model.onnx", "a/b.txt"], (".onnx",), ()) == [("a/model.onnx", False)]


_name = st.text("abcxyz", min_size=1, max_size=3)
_path = st.lists(_name, min_size=1, max_size=3).map("/".join)


@given(st.lists(st.tuples(_path, st.sampled_from(["", ".onnx", ".safetensors", ".txt"]))))
def test_no_model_lies_inside_a_checkpoint_folder_and_each_is_listed_once(
    files: list[tuple[str, str]],
) -> None:
    paths = sorted({p + s for p, s in files})
    found = model_paths(paths, FILES, MARKS)
    folders = [p for p, folder in found if folder]
    assert len({p for p, _ in found}) == len(found)
    for p, _ in found:
        assert not any(p.startswith(f + "/") for f in folders)
    for p in paths:  # every model file is a model or inside one
        if p.endswith((".onnx", ".safetensors")):
            assert any(p == q or p.startswith(q + "/") for q, _ in found)
