"""Reports end to end for every model format: a Hugging Face checkpoint folder (config.json,
tokenizer.json, two safetensors shards and their index), a single safetensors file, a GGUF
file and a split GGUF model, each fingerprinted, anchored on the embedded chain, verified
where it is deployed (not beside its lineage, under another name) and reported in every
format. The report names the format, the architecture its files state, the parameter count
and the data types (counted here by the `safetensors` and `gguf` packages' own readers); after
one value of one tensor changes, it says NOT VERIFIED and names that tensor. A pickle is
described by its bytes only.

In process (api.fingerprint, api.anchor, api.verify, api.report: no process, no server),
except the CLI run of `aichain report --verify` and the MLflow search, marked slow."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import struct
import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aichain_audit import api
from aichain_audit.ledger import ChainSettings
from aichain_audit.report.markdown import escape
from aichain_audit.verify.findings import Verification
from tests.conftest import REPO
from tests.fingerprint.gguf.build import Q8_0, write_with_gguf

FORMATS = ("md", "html", "json", "cyclonedx")


# --- the models ----------------------------------------------------------------------------
def _checkpoint(work: Path) -> None:
    from safetensors.numpy import save_file

    folder = work / "llama-tiny"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4,
        "torch_dtype": "float32",
    }))  # fmt: skip
    (folder / "tokenizer.json").write_text('{"model": {"vocab": {"a": 0, "b": 1}}}')
    first = {
        "model.embed_tokens.weight": np.arange(8, dtype=np.float32).reshape(2, 4),
        "model.norm.weight": np.ones(4, dtype=np.float16),
    }
    second = {"lm_head.weight": np.arange(8, dtype=np.float32).reshape(2, 4)}
    names = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    save_file(first, folder / names[0], metadata={"format": "pt"})
    save_file(second, folder / names[1], metadata={"format": "pt"})
    weight_map = {**dict.fromkeys(first, names[0]), **dict.fromkeys(second, names[1])}
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 72}, "weight_map": weight_map})
    )


def _single(work: Path) -> None:
    from safetensors.numpy import save_file

    save_file(
        {"encoder.weight": np.arange(6, dtype=np.float32).reshape(2, 3),
         "encoder.bias": np.zeros(3, dtype=np.float16),
         "position_ids": np.arange(5, dtype=np.int64)},
        work / "encoder.safetensors", metadata={"format": "pt"},
    )  # fmt: skip


_GGUF_TENSORS = [
    ("token_embd.weight", np.arange(12, dtype=np.float32).reshape(3, 4)),
    ("output_norm.weight", np.ones(4, dtype=np.float32)),
]
_GGUF_RAW = [("blk.0.attn_q.weight", np.arange(136, dtype=np.uint8), (2, 68), Q8_0)]


def _gguf(work: Path) -> None:
    write_with_gguf(work / "tiny.gguf", tensors=_GGUF_TENSORS, raw=_GGUF_RAW)


def _split_gguf(work: Path) -> None:
    write_with_gguf(work / "tiny.gguf", tensors=_GGUF_TENSORS, raw=_GGUF_RAW,
                    split_max_tensors=1)  # fmt: skip


def _safetensors_files(model: Path) -> list[Path]:
    return sorted(model.glob("*.safetensors")) if model.is_dir() else [model]


def _gguf_files(model: Path) -> list[Path]:
    if "-00001-of-" not in model.name:
        return [model]
    return sorted(model.parent.glob(model.name.replace("-00001-of-", "-*-of-")))


def _safetensors_counts(model: Path) -> tuple[int, Counter[str]]:
    """Elements and dtypes of every tensor, by the safetensors package's own reader."""
    from safetensors import safe_open

    elements, dtypes = 0, Counter[str]()
    for path in _safetensors_files(model):
        with safe_open(str(path), "numpy") as f:
            for name in f.keys():  # noqa: SIM118 - safe_open has no __iter__
                view = f.get_slice(name)
                elements += int(np.prod(view.get_shape()))
                dtypes[view.get_dtype()] += 1
    return elements, dtypes


def _gguf_counts(model: Path) -> tuple[int, Counter[str]]:
    """Elements and GGML types of every tensor, by gguf-py's own reader."""
    import gguf

    elements, dtypes = 0, Counter[str]()
    for path in _gguf_files(model):
        for t in gguf.GGUFReader(path).tensors:
            elements += int(t.n_elements)
            dtypes[t.tensor_type.name] += 1
    return elements, dtypes


def _flip_safetensors(model: Path, tensor: str) -> None:
    """One bit of the first value of `tensor`, wherever it is stored."""
    for path in _safetensors_files(model):
        data = bytearray(path.read_bytes())
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8 : 8 + length])
        if tensor in header:
            data[8 + length + header[tensor]["data_offsets"][0]] ^= 0x01
            path.write_bytes(bytes(data))
            return
    raise AssertionError(f"no tensor {tensor} in {model}")


def _flip_gguf(model: Path, tensor: str) -> None:
    import gguf

    for path in _gguf_files(model):
        found = [t for t in gguf.GGUFReader(path).tensors if t.name == tensor]
        if found:
            data = bytearray(path.read_bytes())
            data[found[0].data_offset] ^= 0x01
            path.write_bytes(bytes(data))
            return
    raise AssertionError(f"no tensor {tensor} in {model}")


@dataclass(frozen=True)
class Kind:
    """One model format as a user has it: how it is built, what it is called (`model`,
    relative to its folder), what a report must say of it, and how one value changes."""

    id: str
    build: Callable[[Path], None]
    model: str
    format: str  # ModelDescription.format
    artifact: str  # what the artifacts table calls the model leaf's file
    architecture: str  # "" when its files state none (a lone safetensors file)
    tensor: str  # the tensor whose first value is changed
    counts: Callable[[Path], tuple[int, Counter[str]]]
    flip: Callable[[Path, str], None]
    parts: int = 1  # files of the model (a folder: every file; a split GGUF: every part)


KINDS = (
    Kind("checkpoint", _checkpoint, "llama-tiny", "safetensors", "safetensors model",
         "LlamaForCausalLM", "lm_head.weight", _safetensors_counts, _flip_safetensors, 5),
    Kind("safetensors", _single, "encoder.safetensors", "safetensors", "safetensors model", "",
         "encoder.bias", _safetensors_counts, _flip_safetensors),
    Kind("gguf", _gguf, "tiny.gguf", "GGUF", "GGUF model", "llama", "blk.0.attn_q.weight",
         _gguf_counts, _flip_gguf),
    Kind("split-gguf", _split_gguf, "tiny-00001-of-00003.gguf", "GGUF", "GGUF model", "llama",
         "blk.0.attn_q.weight", _gguf_counts, _flip_gguf, 3),
)  # fmt: skip
BY_ID = {k.id: k for k in KINDS}


def _model_files(kind: Kind, work: Path) -> list[Path]:
    model = work / kind.model
    if model.is_dir():
        return [model]
    return _gguf_files(model) if kind.format == "GGUF" else [model]


def _deploy(kind: Kind, work: Path, dest: Path) -> Path:
    """A copy of the model as deployed: in another folder, a checkpoint under another name;
    the path to give `verify`."""
    dest.mkdir(parents=True)
    for path in _model_files(kind, work):
        if path.is_dir():
            shutil.copytree(path, dest / "v3")
        else:
            shutil.copy(path, dest / path.name)
    return dest / ("v3" if (work / kind.model).is_dir() else kind.model)


# --- one world: every model fingerprinted, anchored in one batch, verified ----------------
@dataclass(frozen=True)
class Case:
    kind: Kind
    work: Path  # the model as fingerprinted, and lineage.json (+ its receipt) beside it
    lineage: Path
    deployed: Path  # an unchanged copy elsewhere
    tampered: Path  # a copy elsewhere with one value of `kind.tensor` changed
    passed: Verification
    failed: Verification


@dataclass(frozen=True)
class World:
    settings: ChainSettings
    cases: dict[str, Case]
    pickled: Case  # an opaque model: kind and tampered unused


def _settings(home: Path) -> ChainSettings:
    return ChainSettings(chain="embedded", registry=None, home=home)


def _verify(model: Path, lineage: Path, settings: ChainSettings) -> Verification:
    return api.verify(api.VerifyRequest(str(model), settings, lineage=lineage))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("formats-e2e")
    settings = _settings(root / "home")
    made: dict[str, tuple[Path, Path]] = {}
    for kind in KINDS:
        work = root / kind.id / "work"
        work.mkdir(parents=True)
        kind.build(work)
        lineage = work / "lineage.json"
        lineage.write_bytes(api.fingerprint(model=work / kind.model).manifest.to_json())
        made[kind.id] = (work, lineage)
    pickled = root / "pickle" / "work"
    pickled.mkdir(parents=True)
    (pickled / "model.pt").write_bytes(pickle.dumps({"w": [1.0, 2.0]}, protocol=4))
    (pickled / "lineage.json").write_bytes(
        api.fingerprint(model=pickled / "model.pt").manifest.to_json()
    )
    api.anchor([lineage for _, lineage in made.values()] + [pickled / "lineage.json"], settings)
    cases = {}
    for kind in KINDS:
        work, lineage = made[kind.id]
        deployed = _deploy(kind, work, root / kind.id / "srv")
        tampered = _deploy(kind, work, root / kind.id / "tampered")
        kind.flip(tampered, kind.tensor)
        cases[kind.id] = Case(kind, work, lineage, deployed, tampered,
                              _verify(deployed, lineage, settings),
                              _verify(tampered, lineage, settings))  # fmt: skip
    srv = root / "pickle" / "srv"
    srv.mkdir()
    shutil.copy(pickled / "model.pt", srv / "model.pt")
    passed = _verify(srv / "model.pt", pickled / "lineage.json", settings)
    opaque = Case(KINDS[0], pickled, pickled / "lineage.json", srv / "model.pt", srv / "model.pt",
                  passed, passed)  # fmt: skip
    return World(settings, cases, opaque)


def _report(case: Case, fmt: str, verification: Verification) -> str:
    return api.report(case.lineage, fmt=fmt, verification=verification).decode()


def _validate_cyclonedx(text: str) -> dict[str, Any]:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    doc: dict[str, Any] = json.loads(text)
    return doc


def _props(component: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in component.get("properties", [])}


def _shown_dtypes(dtypes: Counter[str]) -> list[tuple[str, int]]:
    return sorted(dtypes.items(), key=lambda kv: (-kv[1], kv[0]))


# --- a verified model, in every report -----------------------------------------------------
def test_every_model_verifies_where_it_is_deployed(world: World) -> None:
    for case in world.cases.values():
        assert case.passed.verified, (case.kind.id, case.passed.findings)
        digests = [f for f in case.passed.findings if f.name == "model.digest"]
        assert len(digests) == case.kind.parts, case.kind.id
        assert not case.failed.verified, case.kind.id


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", [k.id for k in KINDS])
def test_the_report_of_a_verified_model_names_its_format_architecture_parameters_and_dtypes(
    world: World, kind: str, fmt: str
) -> None:
    case = world.cases[kind]
    k = case.kind
    parameters, dtypes = k.counts(case.work / k.model)
    text = _report(case, fmt, case.passed)
    assert "ONNX" not in text and "onnx" not in text
    if fmt in ("md", "html"):
        shown = escape if fmt == "md" else str
        assert ("**VERIFIED.**" if fmt == "md" else "VERIFIED") in text
        assert "NOT VERIFIED" not in text
        assert f"{k.format} model: semantic fingerprint" in text
        row = "| {} | {} |" if fmt == "md" else "<tr><th>{}</th><td>{}</td></tr>"
        code = escape if fmt == "md" else "<code>{}</code>".format
        listed = ", ".join(f"{code(d)} \u00d7 {n}" for d, n in _shown_dtypes(dtypes))
        assert row.format("Parameters", f"{parameters:,}") in text
        assert row.format("Data types", listed) in text
        if k.architecture:
            assert row.format("Architecture", shown(k.architecture)) in text
        assert row.format("Read from", code(str(case.deployed))) in text  # as verified
        return
    if fmt == "json":
        doc = json.loads(text)
        assert doc["verdict"]["verified"] is True
        m = doc["model"]
        assert m["read"] is True and m["note"] == ""
        assert (m["format"], m["architecture"]) == (k.format, k.architecture)
        assert m["parameters"] == parameters and m["tensors"] == sum(dtypes.values())
        assert m["dtypes"] == [{"dtype": d, "tensors": n} for d, n in _shown_dtypes(dtypes)]
        assert m["described"] == str(case.deployed)
        files = [a for a in doc["artifacts"] if a["kind"] in ("model", "model-data")]
        assert len(files) == k.parts
        assert {a["matches"] for a in files} == {"yes"}, files
        assert next(a for a in files if a["kind"] == "model")["format"] == k.artifact
        return
    bom = _validate_cyclonedx(text)
    model = bom["metadata"]["component"]
    assert model["type"] == "machine-learning-model"
    card = model["modelCard"]
    if k.architecture:
        assert card["modelParameters"]["modelArchitecture"] == k.architecture
    else:
        assert "modelArchitecture" not in card["modelParameters"]
    props = _props(card)
    assert props["aichain:model:format"] == k.format
    assert props["aichain:model:scheme"].endswith("-semantic/v1")
    assert props["aichain:model:parameters"] == str(parameters)
    assert props["aichain:model:tensors"] == str(sum(dtypes.values()))
    assert props["aichain:model:dtypes"] == ", ".join(f"{d} x{n}" for d, n in _shown_dtypes(dtypes))
    on_model = _props(model)
    assert on_model["aichain:artifact:matches-lineage"] == "yes"
    assert on_model["aichain:model:parameters"] == str(parameters)
    data = [c for c in bom.get("components", []) if c["bom-ref"].startswith("model-data:")]
    assert len(data) == k.parts - 1
    assert {_props(c)["aichain:artifact:matches-lineage"] for c in data} <= {"yes"}


# --- one value of one tensor changed -------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("kind", [k.id for k in KINDS])
def test_a_changed_value_makes_the_report_say_not_verified_and_name_the_tensor(
    world: World, kind: str, fmt: str
) -> None:
    case = world.cases[kind]
    k = case.kind
    text = _report(case, fmt, case.failed)
    if fmt in ("md", "html"):
        assert "NOT VERIFIED" in text
        assert (escape(k.tensor) if fmt == "md" else k.tensor) in text
        assert "structure is not shown" in text
        return
    if fmt == "json":
        doc = json.loads(text)
        assert doc["verdict"]["verified"] is False
        [semantic] = [c for c in doc["verdict"]["checks"] if c["name"] == "model.semantic"]
        assert semantic["status"] == "fail"
        assert semantic["detail"].startswith("changed: weights; tensors: ")
        assert k.tensor in semantic["detail"]
        every = ("lm_head.weight", "model.norm.weight", "encoder.weight",
                 "token_embd.weight", "output_norm.weight")  # fmt: skip
        others = {t for t in every if t != k.tensor}
        assert not any(t in semantic["detail"] for t in others)
        assert doc["model"]["read"] is False and "not shown" in doc["model"]["note"]
        changed = [a for a in doc["artifacts"] if a["matches"] == "no"]
        assert len(changed) == 1  # the one file holding the tensor
        return
    bom = _validate_cyclonedx(text)
    assert _props(bom["metadata"])["aichain:verification:verified"] == "false"
    components = [bom["metadata"]["component"], *bom.get("components", [])]
    changed = [c for c in components if _props(c).get("aichain:artifact:matches-lineage") == "no"]
    assert len(changed) == 1


def test_a_checkpoint_with_an_added_file_is_not_described(world: World, tmp_path: Path) -> None:
    case = world.cases["checkpoint"]
    folder = tmp_path / "v4"
    shutil.copytree(case.deployed, folder)
    (folder / "special_tokens_map.json").write_text("{}")
    v = _verify(folder, case.lineage, world.settings)
    assert not v.verified
    m = json.loads(_report(case, "json", v))["model"]
    assert m["read"] is False
    assert m["note"] == (
        f"the verification found {folder}/special_tokens_map.json changed; the model's "
        "structure is not shown"
    )


def test_a_report_without_verification_describes_a_checkpoint_given_as_the_artifacts(
    world: World,
) -> None:
    case = world.cases["checkpoint"]
    doc = json.loads(api.report(case.lineage, fmt="json", artifacts=case.deployed))
    assert doc["verdict"]["verified"] is None
    m = doc["model"]
    assert m["read"] is True and m["architecture"] == "LlamaForCausalLM"
    assert m["described"] == str(case.deployed)
    # beside the lineage, the checkpoint is a folder of its own: its files are not there
    doc = json.loads(api.report(case.lineage, fmt="json"))
    assert doc["model"]["read"] is False
    assert {a["matches"] for a in doc["artifacts"]} == {"absent"}


# --- an opaque model -----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["md", "json", "cyclonedx"])
def test_a_pickle_verified_elsewhere_is_described_by_its_bytes_only(world: World, fmt: str) -> None:
    case = world.pickled
    assert case.passed.verified, case.passed.findings
    text = _report(case, fmt, case.passed)
    if fmt == "md":
        assert "PyTorch pickle model: bytes only" in text
        assert "a pickle, protocol 4" in text and "loading a pickle runs code" in text
        assert "Parameters" not in text and "Graph digest" not in text
        return
    if fmt == "json":
        m = json.loads(text)["model"]
        assert (m["format"], m["scheme"], m["read"]) == ("PyTorch pickle", None, True)
        assert m["described"] == str(case.deployed) and m["parameters"] == 0
        assert m["opaque"].startswith("no semantic fingerprint")
        return
    bom = _validate_cyclonedx(text)
    props = _props(bom["metadata"]["component"])
    assert props["aichain:model:format"] == "PyTorch pickle"
    assert "aichain:model:parameters" not in props and "aichain:model:graph" not in props


# --- verify without --lineage: a folder model -----------------------------------------------
def test_a_folder_that_is_no_model_verified_without_a_lineage_is_a_clear_error(
    world: World, tmp_path: Path
) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("a")
    v = api.verify(api.VerifyRequest(str(tmp_path / "notes"), world.settings))
    [finding] = v.findings
    assert (finding.name, str(finding.status)) == ("lineage.root", "error")
    assert "a folder, and no model format reads it" in finding.detail


@pytest.mark.slow  # MLflow creates its SQLite store in seconds
def test_a_checkpoint_folder_finds_its_lineage_in_mlflow_by_its_model_digest(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow import MlflowClient

    case = world.cases["checkpoint"]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's SQLAlchemy deprecations, not ours
        client = MlflowClient(tracking_uri=uri)
        experiment = client.create_experiment("e2e", str(tmp_path / "artifacts"))
        run_id = client.create_run(experiment).info.run_id
        client.set_terminated(run_id)
    result = api.fingerprint(model=case.work / case.kind.model, mlflow_run=run_id)
    lineage = tmp_path / "lineage.json"
    lineage.write_bytes(result.manifest.to_json())
    api.record_lineage(result)
    api.record_anchor([lineage], api.anchor([lineage], world.settings))

    found = api.verify(api.VerifyRequest(str(case.deployed), world.settings))
    assert found.lineage == {"path": None, "from": "mlflow search"}
    assert found.root == result.manifest.root_hex
    digests = {str(f.status) for f in found.findings if f.name == "model.digest"}
    assert digests == {"pass"}, found.findings
    named = api.verify(api.VerifyRequest(str(case.deployed), world.settings, mlflow_run=run_id))
    assert named.lineage == {"path": None, "from": "mlflow run"}
    assert {str(f.status) for f in named.findings if f.name == "model.digest"} == {"pass"}
    for v in (found, named):
        assert not [f for f in v.findings if f.name.startswith(("lineage", "ledger"))
                    and str(f.status) != "pass"], v.findings  # fmt: skip


# --- the CLI, as a user runs it -------------------------------------------------------------
def _aichain(*args: object, home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHAIN_")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true", AICHAIN_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.slow  # runs the CLI in processes
# Through the CLI: a folder model and a file model (the in-process tests above take every
# format through the same code; each CLI case costs about 15 s of the suite's budget).
@pytest.mark.parametrize("kind", ["checkpoint", "split-gguf"])
def test_the_cli_fingerprints_anchors_and_reports_every_format(kind: str, tmp_path: Path) -> None:
    k = BY_ID[kind]
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    k.build(work)
    made = _aichain("fingerprint", "--model", k.model, "-o", "lineage.json", home=home, cwd=work)
    assert made.returncode == 0, made.stderr
    anchored = _aichain("anchor", "lineage.json", home=home, cwd=work)
    assert anchored.returncode == 0, anchored.stderr
    deployed = _deploy(k, work, tmp_path / "srv")
    parameters, _ = k.counts(work / k.model)
    for out in ("r.html", "r.md", "r.json", "r.cdx.json"):
        proc = _aichain("report", "lineage.json", "--verify", deployed, "-o", out,
                        home=home, cwd=work)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        text = (work / out).read_text()
        assert k.format in text and "ONNX" not in text
        if out == "r.json":
            assert json.loads(text)["model"]["parameters"] == parameters
        elif out == "r.cdx.json":
            card = _validate_cyclonedx(text)["metadata"]["component"]["modelCard"]
            assert _props(card)["aichain:model:parameters"] == str(parameters)
        elif out == "r.md":
            assert f"| Parameters | {parameters:,} |" in text
        else:
            assert f"<tr><th>Parameters</th><td>{parameters:,}</td></tr>" in text
    k.flip(deployed, k.tensor)
    proc = _aichain("report", "lineage.json", "--verify", deployed, "-o", "bad.md",
                    home=home, cwd=work)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    text = (work / "bad.md").read_text()
    assert "NOT VERIFIED" in text and escape(k.tensor) in text
    assert "NOT VERIFIED" in proc.stdout  # the verify table, printed as `verify` prints it
