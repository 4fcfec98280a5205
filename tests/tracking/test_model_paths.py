"""Which artifacts of an MLflow run are models (`tracking.client.model_paths`): model files
by name, checkpoint folders marked by their weights, whatever else they hold, and the parts
of a split model as one."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aichain_audit.fingerprint.model import split_parts
from aichain_audit.tracking.client import model_paths, split_companions

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


# --- split models (GGUF, SPEC 14.5): the parts of one model in one folder are one model -------
def test_the_parts_of_a_split_gguf_model_are_one_model_named_by_its_first_part() -> None:
    paths = [f"q4/m-0000{k}-of-00003.gguf" for k in (3, 1, 2)] + ["q4/README.md"]
    assert model_paths(paths, FILES, MARKS, split_parts) == [("q4/m-00001-of-00003.gguf", False)]
    assert split_companions("q4/m-00001-of-00003.gguf", paths, split_parts) == [
        "q4/m-00002-of-00003.gguf",
        "q4/m-00003-of-00003.gguf",
    ]


def test_without_the_split_rule_each_part_is_a_model() -> None:
    paths = ["m-00001-of-00002.gguf", "m-00002-of-00002.gguf"]
    assert len(model_paths(paths, FILES, MARKS)) == 2


def test_split_models_in_two_folders_or_of_two_names_are_two_models() -> None:
    paths = [f"{d}/{n}-0000{k}-of-00002.gguf" for d in ("a", "b") for n in ("x", "y")
             for k in (1, 2)]  # fmt: skip
    assert model_paths(paths, FILES, MARKS, split_parts) == [
        (f"{d}/{n}-00001-of-00002.gguf", False) for d in ("a", "b") for n in ("x", "y")
    ]


def test_a_split_model_missing_its_first_part_is_named_by_its_lowest_part() -> None:
    paths = ["m-00002-of-00003.gguf", "m-00003-of-00003.gguf"]
    assert model_paths(paths, FILES, MARKS, split_parts) == [("m-00002-of-00003.gguf", False)]


def test_names_that_only_look_split_stay_models_of_their_own() -> None:
    paths = ["m-00001-of-00001.gguf", "m-00002-of-00001.gguf", "w-00001-of-00002.onnx"]
    assert model_paths(paths, FILES, MARKS, split_parts) == [(p, False) for p in sorted(paths)]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", "a/", "a/b/"]),
            st.sampled_from(["m", "n"]),
            st.integers(1, 4),
            st.integers(2, 4),
        ),
        max_size=12,
    )
)
def test_each_split_model_is_one_model_in_its_folder(
    parts: list[tuple[str, str, int, int]],
) -> None:
    paths = sorted({f"{d}{n}-{k:05d}-of-{c:05d}.gguf" for d, n, k, c in parts if k <= c})
    found = model_paths(paths, FILES, MARKS, split_parts)
    groups = {(d, n, c) for d, n, k, c in parts if k <= c}
    assert len(found) == len(groups)
    for path, _ in found:  # the lowest part of its model that the run holds
        companions = split_companions(path, paths, split_parts)
        assert all(path < other for other in companions)
