"""`aichain diff A B`: two lineages compared leaf by leaf.

Every input is a real artifact built in a temporary folder: dataset folders, YAML configs,
ONNX models built with onnx.helper and passed through onnx.checker, and the manifests
`aichain fingerprint` writes for them. Exit codes follow diff(1): 0 equal, 1 different,
2 bad input (one line on stderr).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from aichain_audit import api
from aichain_audit.cli import main as cli_main
from aichain_audit.errors import InputError, UsageError
from aichain_audit.fingerprint.paths import LinkPolicy, PathPolicy
from aichain_audit.lineage import config_leaf, file_leaf, tensor_leaf
from aichain_audit.verify.diff import Change, LeafDiff, diff_leaves, semantic_parts
from tests.conftest import assert_one_line_error, run_cli

W0 = np.arange(6, dtype=np.float32).reshape(2, 3) / 7
B0 = np.array([0.5, -1.25, 3.0], dtype=np.float32)

# -- real artifacts --------------------------------------------------------------------------


def write_model(
    path: Path, w: np.ndarray = W0, b: np.ndarray = B0, doc: str = "", external: bool = False
) -> Path:
    """Z = X @ W + B with float32 initializers W [2,3] and B [3], checked by onnx.checker;
    with `external`, both stored in weights.bin beside the model."""
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["X", "W"], ["Y"], name="matmul"),
            helper.make_node("Add", ["Y", "B"], ["Z"], name="add"),
        ],
        "matmul_add",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")],
        doc_string=doc,
    )
    model = helper.make_model(
        graph, producer_name="diff-tests", opset_imports=[helper.make_opsetid("", 17)]
    )
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, location="weights.bin",
                        size_threshold=0)  # fmt: skip
    else:
        onnx.save(model, str(path))
    return path


def write_dataset(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def write_manifest(path: Path, **inputs: Any) -> Path:
    """The manifest `aichain fingerprint` would write for these inputs."""
    path.write_bytes(api.fingerprint(**inputs).manifest.to_json())
    return path


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    """A model, a dataset folder and a config, with the manifest of all three."""
    root = tmp_path / "v1"
    model = write_model(root / "model.onnx")
    data = write_dataset(
        root / "data",
        {"train.csv": b"a,b\n1,2\n3,4\n", "test.csv": b"a,b\n5,6\n", "sub/extra.txt": b"x"},
    )
    config = root / "train.yaml"
    config.write_text("lr: 0.1\nmodel:\n  C: 0.5\n  solver: lbfgs\n")
    manifest = write_manifest(
        root / "lineage.json", model=model, datasets=[data], configs=[config], name="demo"
    )
    return {"root": root, "model": model, "data": data, "config": config, "manifest": manifest}


def diff_json(a: Path, b: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """Runs `aichain diff --json A B` in-process; returns (exit code, parsed JSON)."""
    code = run_main("diff", "--json", a, b, *extra)
    out = capsys.readouterr().out
    return code, json.loads(out)


def run_main(*args: str | Path) -> int:
    try:
        cli_main([str(a) for a in args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def items(doc: dict[str, list[dict[str, Any]]], status: str) -> list[tuple[str, str]]:
    return [(c["kind"], c["item"]) for c in doc[status]]


# -- two manifests ---------------------------------------------------------------------------


def test_identical_lineages_exit_0_with_empty_lists(
    project: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = diff_json(project["manifest"], project["manifest"], capsys=capsys)
    assert (code, doc) == (0, {"added": [], "removed": [], "changed": []})
    assert run_main("diff", project["manifest"], project["manifest"]) == 0
    assert capsys.readouterr().out.strip().endswith("no differences")


def test_one_changed_byte_in_a_dataset_file_is_named(
    project: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    train = project["data"] / "train.csv"
    train.write_bytes(train.read_bytes().replace(b"4", b"5"))
    after = write_manifest(
        tmp_path / "after.json",
        model=project["model"],
        datasets=[project["data"]],
        configs=[project["config"]],
        name="demo",
    )
    code, doc = diff_json(project["manifest"], after, capsys=capsys)
    assert code == 1
    assert (doc["added"], doc["removed"]) == ([], [])
    assert items(doc, "changed") == [("dataset", "data/train.csv")]
    change = doc["changed"][0]
    assert change["before"]["digest"] != change["after"]["digest"]
    assert change["before"]["size"] == change["after"]["size"]


def test_added_and_removed_files_are_listed(
    project: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project["data"] / "test.csv").unlink()
    (project["data"] / "valid.csv").write_bytes(b"a,b\n7,8\n")
    after = write_manifest(
        tmp_path / "after.json",
        model=project["model"],
        datasets=[project["data"]],
        configs=[project["config"]],
        name="demo",
    )
    code, doc = diff_json(project["manifest"], after, capsys=capsys)
    assert code == 1
    assert items(doc, "added") == [("dataset", "data/valid.csv")]
    assert doc["added"][0]["before"] is None
    assert items(doc, "removed") == [("dataset", "data/test.csv")]
    assert doc["removed"][0]["after"] is None
    assert doc["changed"] == []
    # Reversed, the same lists swap.
    code, back = diff_json(after, project["manifest"], capsys=capsys)
    assert (code, items(back, "added"), items(back, "removed")) == (
        1,
        [("dataset", "data/test.csv")],
        [("dataset", "data/valid.csv")],
    )


def test_changed_config_value_names_config_pointer(
    project: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project["config"].write_text("lr: 0.1\nmodel:\n  C: 0.25\n  solver: lbfgs\n")
    after = write_manifest(
        tmp_path / "after.json",
        model=project["model"],
        datasets=[project["data"]],
        configs=[project["config"]],
        name="demo",
    )
    code, doc = diff_json(project["manifest"], after, capsys=capsys)
    assert code == 1
    assert items(doc, "changed") == [("config", "train.yaml#/model/C")]
    assert (doc["changed"][0]["before"]["value"], doc["changed"][0]["after"]["value"]) == (
        0.5,
        0.25,
    )
    assert run_main("diff", project["manifest"], after) == 1
    out = capsys.readouterr().out
    assert "config keys" in out
    assert "train.yaml#/model/C  0.5 → 0.25" in out


def test_changed_weight_names_the_tensor_and_only_the_weights_part(
    project: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    w = W0.copy()
    w[1, 2] += 1
    model = write_model(tmp_path / "v2" / "model.onnx", w=w)
    after = write_manifest(
        tmp_path / "after.json",
        model=model,
        datasets=[project["data"]],
        configs=[project["config"]],
        name="demo",
    )
    code, doc = diff_json(project["manifest"], after, capsys=capsys)
    assert code == 1
    changed = items(doc, "changed")
    assert ("model", "model.onnx") in changed
    assert ("model-semantic", "model.onnx#semantic") in changed
    tensors = [c for c in doc["changed"] if c["kind"] == "tensor"]
    assert [t["after"]["name"] for t in tensors] == ["W"]
    semantic = next(c for c in doc["changed"] if c["kind"] == "model-semantic")
    differing = [p for p in ("graph", "weights", "metadata")
                 if semantic["before"][p] != semantic["after"][p]]  # fmt: skip
    assert differing == ["weights"]
    assert (doc["added"], doc["removed"]) == ([], [])

    assert run_main("diff", project["manifest"], after) == 1
    out = capsys.readouterr().out
    assert "model semantic parts" in out
    assert "weights changed (graph and metadata unchanged)" in out
    assert "tensors" in out


# -- a manifest and an artifact fingerprinted now ---------------------------------------------


def test_manifest_against_a_model_compares_only_model_leaves(
    project: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = diff_json(project["manifest"], project["model"], capsys=capsys)
    assert (code, doc) == (0, {"added": [], "removed": [], "changed": []})  # datasets not removed

    w = W0.copy()
    w[0, 0] = -3
    retrained = write_model(tmp_path / "retrained.onnx", w=w)  # another name: still matched
    code, doc = diff_json(project["manifest"], retrained, capsys=capsys)
    assert code == 1
    assert {kind for kind, _ in items(doc, "changed")} == {"model", "model-semantic", "tensor"}
    assert all(item.startswith("model.onnx") for _, item in items(doc, "changed"))
    assert (doc["added"], doc["removed"]) == ([], [])
    # And the other way round: the artifact as A.
    code, doc = diff_json(retrained, project["manifest"], capsys=capsys)
    assert code == 1 and len(doc["changed"]) == 3


def test_manifest_against_a_folder_compares_only_that_folder(
    project: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = diff_json(project["manifest"], project["data"], capsys=capsys)
    assert (code, doc) == (0, {"added": [], "removed": [], "changed": []})

    (project["data"] / "sub" / "extra.txt").write_bytes(b"y")
    (project["data"] / "new.csv").write_bytes(b"n\n")
    code, doc = diff_json(project["manifest"], project["data"], capsys=capsys)
    assert code == 1
    assert items(doc, "changed") == [("dataset", "data/sub/extra.txt")]
    assert items(doc, "added") == [("dataset", "data/new.csv")]
    assert doc["removed"] == []  # the model and config leaves are not "removed"

    assert run_main("diff", project["manifest"], project["data"]) == 1
    out = capsys.readouterr().out
    assert "only the dataset files recorded under 'data' are compared" in out
    assert "files" in out and "data/new.csv" in out


def test_manifest_against_a_config_file(
    project: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, doc = diff_json(project["manifest"], project["config"], capsys=capsys)
    assert (code, doc) == (0, {"added": [], "removed": [], "changed": []})
    project["config"].write_text("lr: 0.1\nmodel:\n  C: 0.5\n  solver: saga\n  tol: 1e-4\n")
    code, doc = diff_json(project["manifest"], project["config"], capsys=capsys)
    assert code == 1
    assert items(doc, "changed") == [("config", "train.yaml#/model/solver")]
    assert items(doc, "added") == [("config", "train.yaml#/model/tol")]


def test_two_folders_are_matched_whatever_their_names(
    project: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = write_dataset(
        tmp_path / "data-copy",
        {"train.csv": b"a,b\n1,2\n3,4\n", "test.csv": b"a,b\n5,6\n", "sub/extra.txt": b"z"},
    )
    code, doc = diff_json(project["data"], copy, capsys=capsys)
    assert code == 1
    assert items(doc, "changed") == [("dataset", "data/sub/extra.txt")]
    assert (doc["added"], doc["removed"]) == ([], [])
    result = api.diff(project["data"], copy)
    assert isinstance(result, LeafDiff)
    assert any("data-copy" in note for note in result.notes)


def test_two_models_are_compared_as_artifacts(project: dict[str, Path], tmp_path: Path) -> None:
    same = write_model(tmp_path / "other" / "copy.onnx")
    assert api.diff(project["model"], same).empty
    documented = write_model(tmp_path / "documented.onnx", doc="a note")
    result = api.diff(project["model"], documented)
    semantic = next(c for c in result.changed if c.kind == "model-semantic")
    assert semantic_parts(semantic) == ["metadata"]
    assert [c.kind for c in result.changed if c.kind == "tensor"] == []


@pytest.mark.slow  # runs the CLI in a process
def test_symlink_policy_has_the_fingerprint_meaning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_dataset(tmp_path / "data", {"a.csv": b"1\n", "v3/b.csv": b"2\n"})
    (data / "latest").symlink_to("v3")
    skipping = PathPolicy(LinkPolicy.SKIP)
    manifest = write_manifest(tmp_path / "lineage.json", datasets=[data], policy=skipping)

    proc = run_cli("diff", manifest, data)  # refused by default, as by fingerprint
    assert "--skip-symlinks" in assert_one_line_error(proc)
    code, doc = diff_json(manifest, data, "--skip-symlinks", capsys=capsys)
    assert (code, doc) == (0, {"added": [], "removed": [], "changed": []})
    code, doc = diff_json(manifest, data, "--follow-symlinks", capsys=capsys)
    assert code == 1
    assert items(doc, "removed") == [("skipped", "data/latest")]
    assert items(doc, "added") == [("dataset", "data/latest/b.csv")]
    assert doc["added"][0]["after"]["link"] == "v3/b.csv"
    assert run_main("diff", manifest, data, "--follow-symlinks", "--skip-symlinks") == 2


# -- bad input ---------------------------------------------------------------------------------


@pytest.mark.slow  # runs the CLI in a process
def test_bad_inputs_exit_2_with_one_line(project: dict[str, Path], tmp_path: Path) -> None:
    manifest = project["manifest"]
    line = assert_one_line_error(run_cli("diff", manifest, tmp_path / "missing.json"))
    assert "no such file" in line

    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    line = assert_one_line_error(run_cli("diff", manifest, fifo))
    assert "FIFO" in line

    doc = json.loads(manifest.read_text())
    doc["root"] = "0" * 64  # tampered: the root no longer matches the leaves
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(doc))
    line = assert_one_line_error(run_cli("diff", tampered, manifest))
    assert "does not match" in line

    truncated = tmp_path / "truncated.json"
    truncated.write_bytes(manifest.read_bytes()[:100])
    line = assert_one_line_error(run_cli("diff", manifest, truncated))
    assert "not a lineage manifest" in line

    line = assert_one_line_error(run_cli("diff", project["model"], project["data"]))
    assert "cannot compare" in line


def test_a_symlinked_model_is_compared_with_the_external_data_beside_the_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # deploy/model.onnx -> ../orig/model.onnx beside other weights: onnxruntime runs those.
    orig = write_model(tmp_path / "orig" / "model.onnx", external=True)
    manifest = write_manifest(tmp_path / "lineage.json", model=orig)
    other = write_model(tmp_path / "other" / "model.onnx", w=W0 * -3, external=True)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "weights.bin").write_bytes((other.parent / "weights.bin").read_bytes())
    os.symlink("../orig/model.onnx", tmp_path / "deploy" / "model.onnx")
    code, doc = diff_json(manifest, tmp_path / "deploy" / "model.onnx", capsys=capsys)
    assert code == 1
    assert ("model-data", "weights.bin") in items(doc, "changed")
    assert any(kind == "tensor" for kind, _ in items(doc, "changed"))  # W is named


@pytest.mark.slow
@pytest.mark.parametrize("how", ["removed", "folder", "fifo"])
def test_a_model_whose_external_data_file_is_gone_or_unusable_exits_2_naming_it(
    tmp_path: Path, how: str
) -> None:
    model = write_model(tmp_path / "v1" / "model.onnx", external=True)
    manifest = write_manifest(tmp_path / "lineage.json", model=model)
    data = model.parent / "weights.bin"
    data.unlink()
    if how == "folder":
        data.mkdir()
    elif how == "fifo":
        os.mkfifo(data)
    line = assert_one_line_error(run_cli("diff", manifest, model))
    assert "external data 'weights.bin'" in line and "internal error" not in line


def test_errors_are_values_of_the_family(project: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        api.diff(project["manifest"], tmp_path / "nothing")
    with pytest.raises(UsageError, match="cannot compare"):
        api.diff(project["config"], project["data"])


@pytest.mark.slow  # runs the CLI in a process
def test_help_documents_the_exit_codes() -> None:
    proc = run_cli("diff", "--help")
    assert proc.returncode == 0
    assert "exit 0 when equal, 1 when they differ" in proc.stdout
    assert "Example" in proc.stdout
    assert "diff" in run_cli("--help").stdout


# -- hostile names ---------------------------------------------------------------------------


@pytest.mark.slow  # runs the CLI in a process
def test_hostile_file_names_are_escaped_in_terminal_output(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", {"ok.csv": b"1\n"})
    manifest = write_manifest(tmp_path / "lineage.json", datasets=[data])
    hostile = ["\x1b[31mred.csv", "[red]loud.csv", "evil\u202ecsv.exe", ":smile:.csv"]
    for name in hostile:
        (data / name).write_bytes(b"x")
    proc = run_cli("diff", manifest, data)
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[31mred.csv" in out
    assert "data/[red]loud.csv" in out  # shown as text, not taken as markup
    assert "evil\\u202ecsv.exe" in out
    assert ":smile:.csv" in out and "\U0001f604" not in out
    as_json = run_cli("diff", "--json", manifest, data)
    assert "\x1b" not in as_json.stdout and "\u202e" not in as_json.stdout
    assert {c["item"] for c in json.loads(as_json.stdout)["added"]} == {
        f"data/{n}" for n in hostile
    }


# -- the core, as a property -----------------------------------------------------------------

_names = st.text(alphabet="abcxyz/._-", min_size=1, max_size=6).filter(
    lambda s: not s.startswith("/") and not s.endswith("/") and "//" not in s
)
_digests = st.sampled_from(["sha256:" + c * 64 for c in "0123456789abcdef"])
_values = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=4))


@st.composite
def lineage_leaves(draw: st.DrawFn) -> list[dict[str, Any]]:
    files = draw(st.dictionaries(_names, _digests, max_size=6))
    configs = draw(st.dictionaries(st.sampled_from(["/lr", "/C", "/a/0", "/b"]), _values))
    tensors = draw(st.dictionaries(st.sampled_from(["v1", "v2", "v3"]), _digests))
    leaves = [file_leaf("dataset", f"data/{p}", d, 1) for p, d in files.items()]
    leaves += [config_leaf("c.json", p, v) for p, v in configs.items()]
    leaves += [tensor_leaf("m.onnx", t, t, d) for t, d in tensors.items()]
    return draw(st.permutations(leaves))


def _swapped(c: Change) -> tuple[str, str, Any, Any]:
    return (c.kind, c.item, c.after, c.before)


@settings(max_examples=200, deadline=None)
@given(lineage_leaves(), lineage_leaves())
def test_diff_leaves_is_empty_on_itself_and_mirrors_when_reversed(
    a: list[dict[str, Any]], b: list[dict[str, Any]]
) -> None:
    assert diff_leaves(a, a).empty
    assert diff_leaves(a, list(reversed(a))).to_dict() == LeafDiff().to_dict()
    forward, backward = diff_leaves(a, b), diff_leaves(b, a)
    assert [_swapped(c) for c in forward.added] == [
        (c.kind, c.item, c.before, c.after) for c in backward.removed
    ]
    assert [_swapped(c) for c in forward.removed] == [
        (c.kind, c.item, c.before, c.after) for c in backward.added
    ]
    assert [_swapped(c) for c in forward.changed] == [
        (c.kind, c.item, c.before, c.after) for c in backward.changed
    ]
    assert forward.empty == (sorted(map(json.dumps, a)) == sorted(map(json.dumps, b)))
