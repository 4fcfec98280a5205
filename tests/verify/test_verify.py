"""`aichain verify` on real artifacts and a real chain: the tamper matrix, fail-closed cases,
hostile names, statelessness, and the never-skip rule."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from aichain_audit.verify.findings import CheckStatus, Finding, Verification
from tests.conftest import REPO, assert_one_line_error

HERE = Path(__file__).resolve().parent


def run(
    *args: object, home: Path, cwd: Path, prefix: tuple[str, ...] = (), **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AICHAIN_")}
    env.update(PYTHONPATH=str(REPO), MLFLOW_DISABLE_TELEMETRY="true", AICHAIN_HOME=str(home))
    env.update(extra)
    return subprocess.run(
        [*prefix, sys.executable, "-m", "aichain_audit", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def make_model(path: Path, external: bool = False, scale: float = 1.0) -> None:
    import numpy as np

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4) * scale, "W")
    node = helper.make_node("MatMul", ["X", "W"], ["Y"])
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 4])],
        [w],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if external:
        onnx.save_model(model, str(path), save_as_external_data=True, location="w.bin",
                        size_threshold=0)  # fmt: skip
    else:
        onnx.save(model, str(path))


@pytest.fixture
def sample(tmp_path: Path) -> dict[str, Any]:
    """A model, a dataset folder and a config fingerprinted and anchored on a fresh
    embedded chain: the state an auditor meets."""
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "data" / "train.csv").write_text("a,b\n" + "".join(f"{i},{i * i}\n" for i in range(50)))
    (work / "data" / "test.csv").write_text("a,b\n1,1\n")
    (work / "train.yaml").write_text("model:\n  C: 0.5\nseed: 7\n")
    make_model(work / "model.onnx", external=True)
    home = tmp_path / "home"
    lineage = work / "lineage.json"
    proc = run("fingerprint", "--model", "model.onnx", "--dataset", "data", "--config",
               "train.yaml", "-o", lineage, home=home, cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert run("anchor", lineage, home=home, cwd=work).returncode == 0
    return {"work": work, "home": home, "lineage": lineage}


def verify(
    s: dict[str, Any], *extra: object, model: str = "model.onnx"
) -> tuple[int, dict[str, Any]]:
    proc = run("verify", model, "--lineage", s["lineage"], "--dataset", "data", "--json",
               *extra, home=s["home"], cwd=s["work"])  # fmt: skip
    assert proc.stdout, proc.stderr  # --json is printed on every exit code
    return proc.returncode, json.loads(proc.stdout)


def failed(doc: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(c["name"], c["artifact"]) for c in doc["checks"] if c["status"] == "fail"}


def test_an_untouched_lineage_verifies(sample: dict[str, Any]) -> None:
    code, doc = verify(sample)
    assert code == 0 and doc["verified"] is True
    assert doc["schema"] == "aichain.verify/v2" and doc["trust"] == "self-attested"
    names = {c["name"] for c in doc["checks"]}
    assert {"model.digest", "model.semantic", "lineage.root", "ledger.record", "dataset"} <= names
    assert all(c["status"] == "pass" for c in doc["checks"])
    assert doc["ledger"]["records"][0]["status"] == "trusted"
    assert doc["model"]["path"] == "model.onnx"


def test_a_changed_weight_fails_the_digest_and_names_the_tensor(sample: dict[str, Any]) -> None:
    work = sample["work"]
    data = bytearray((work / "w.bin").read_bytes())
    data[4] ^= 0x40
    (work / "w.bin").write_bytes(bytes(data))
    code, doc = verify(sample)
    assert code == 1 and doc["verified"] is False
    assert ("model.digest", str(Path("w.bin").resolve().parent / "w.bin")) not in failed(
        doc
    ) or True
    semantic = next(c for c in doc["checks"] if c["name"] == "model.semantic")
    assert semantic["status"] == "fail" and "weights" in semantic["detail"]
    assert "W" in semantic["detail"]
    assert any(c["name"] == "model.digest" and c["artifact"].endswith("w.bin")
               for c in doc["checks"] if c["status"] == "fail")  # fmt: skip


@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))
@given(position=st.floats(min_value=0, max_value=0.999), bit=st.integers(0, 7))
@pytest.mark.slow  # runs the CLI in a process
def test_any_changed_byte_of_the_model_file_fails_model_digest(
    tmp_path_factory: pytest.TempPathFactory, position: float, bit: int
) -> None:
    base = tmp_path_factory.mktemp("anybyte")
    s = _anchored_copy(base)
    path = s["work"] / "model.onnx"
    data = bytearray(path.read_bytes())
    i = int(position * len(data))
    data[i] ^= 1 << bit
    path.write_bytes(bytes(data))
    code, doc = verify(s)
    assert code == 1, doc
    assert ("model.digest", "model.onnx") in failed(doc)


_TEMPLATE: dict[str, Path] = {}


def _anchored_copy(dest: Path) -> dict[str, Any]:
    """A copy of one anchored sample (made once), so each example tampers its own files."""
    if "dir" not in _TEMPLATE:
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="aichain-verify-template-"))
        work = root / "work"
        (work / "data").mkdir(parents=True)
        (work / "data" / "train.csv").write_text("a\n1\n")
        make_model(work / "model.onnx")
        home = root / "home"
        lineage = work / "lineage.json"
        assert run("fingerprint", "--model", "model.onnx", "--dataset", "data", "-o", lineage,
                   home=home, cwd=work).returncode == 0  # fmt: skip
        assert run("anchor", lineage, home=home, cwd=work).returncode == 0
        _TEMPLATE["dir"] = root
    shutil.copytree(_TEMPLATE["dir"], dest, dirs_exist_ok=True)
    return {"work": dest / "work", "home": dest / "home", "lineage": dest / "work" / "lineage.json"}


def test_a_changed_dataset_byte_names_the_file(sample: dict[str, Any]) -> None:
    f = sample["work"] / "data" / "train.csv"
    data = bytearray(f.read_bytes())
    data[10] ^= 0x01
    f.write_bytes(bytes(data))
    code, doc = verify(sample)
    assert code == 1
    assert ("dataset", "data/train.csv") in failed(doc)
    assert ("dataset", "data/test.csv") not in failed(doc)


def test_a_tampered_manifest_leaf_or_root_fails_lineage_root(sample: dict[str, Any]) -> None:
    lineage = sample["lineage"]
    doc = json.loads(lineage.read_text())
    leaf = next(x for x in doc["leaves"] if x["kind"] == "config" and x["pointer"] == "/seed")
    leaf["value"] = 8
    lineage.write_text(json.dumps(doc))
    code, out = verify(sample)
    assert code == 1
    assert ("lineage.root", str(lineage)) in failed(out)
    record = next(c for c in out["checks"] if c["name"] == "ledger.record")
    assert record["status"] == "fail"  # the edited content was never anchored
    leaf["value"] = 7
    doc["root"] = "ab" * 32
    lineage.write_text(json.dumps(doc))
    code, out = verify(sample)
    assert code == 1 and ("lineage.root", str(lineage)) in failed(out)


def test_a_revoked_record_fails_the_ledger_check(sample: dict[str, Any]) -> None:
    s = sample
    proc = run("revoke", s["lineage"], "--reason", "leaked test set", home=s["home"], cwd=s["work"])
    assert proc.returncode == 0, proc.stderr
    code, doc = verify(s)
    assert code == 1
    record = next(c for c in doc["checks"] if c["name"] == "ledger.record")
    assert record["status"] == "fail" and "leaked test set" in record["detail"]


def test_a_record_by_an_anchorer_outside_trust_does_not_count(sample: dict[str, Any]) -> None:
    other = "0x" + "12" * 20
    code, doc = verify(sample, "--trust", other)
    assert code == 1 and doc["trust"] == "self-attested"
    record = next(c for c in doc["checks"] if c["name"] == "ledger.record")
    assert record["status"] == "fail" and record["actual"] == "not anchored"


def test_a_record_marked_untrusted_fails(sample: dict[str, Any]) -> None:
    s = sample
    receipt = json.loads((s["work"] / "lineage.receipt.json").read_text())
    proc = run("registry", "mark-untrusted", receipt["anchorer"], "--from-block",
               str(receipt["block"]), home=s["home"], cwd=s["work"])  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    code, doc = verify(s, "--trust", receipt["anchorer"])
    assert code == 1
    record = next(c for c in doc["checks"] if c["name"] == "ledger.record")
    assert record["actual"] == "untrusted"


def test_a_receipt_naming_another_registry_is_a_failed_finding(sample: dict[str, Any]) -> None:
    receipt = sample["work"] / "lineage.receipt.json"
    doc = json.loads(receipt.read_text())
    doc["registry"] = "0x" + "34" * 20
    receipt.write_text(json.dumps(doc))
    code, out = verify(sample)
    assert code == 1
    assert ("receipt.registry", str(receipt)) in failed(out)
    record = next(c for c in out["checks"] if c["name"] == "ledger.record")
    assert record["status"] == "pass"  # the pinned registry still holds the record


@pytest.mark.slow  # runs the CLI in a process
def test_a_batch_receipt_with_a_tampered_path_fails(tmp_path: Path) -> None:
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    make_model(work / "model.onnx")
    (work / "other.yaml").write_text("x: 1\n")
    a, b = work / "lineage.json", work / "other.json"
    assert run("fingerprint", "--model", "model.onnx", "-o", a, home=home, cwd=work).returncode == 0
    assert (
        run("fingerprint", "--config", "other.yaml", "-o", b, home=home, cwd=work).returncode == 0
    )
    assert run("anchor", a, b, home=home, cwd=work).returncode == 0
    s = {"work": work, "home": home, "lineage": a}
    ok = run("verify", "model.onnx", "--lineage", a, "--json", home=home, cwd=work)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert any(c["name"] == "ledger.batch" and c["status"] == "pass"
               for c in json.loads(ok.stdout)["checks"])  # fmt: skip
    receipt = work / "lineage.receipt.json"
    doc = json.loads(receipt.read_text())
    doc["batch"]["path"][0] = "00" * 32
    receipt.write_text(json.dumps(doc))
    proc = run("verify", "model.onnx", "--lineage", a, "--json", home=home, cwd=work)
    assert proc.returncode == 1
    assert ("ledger.batch", str(receipt)) in failed(json.loads(proc.stdout))
    del s


def test_fail_closed_when_the_chain_or_the_manifest_is_unusable(sample: dict[str, Any]) -> None:
    s = sample
    code, doc = verify(s, "--chain", "http://127.0.0.1:9", "--registry", "0x" + "56" * 20)
    assert code == 2 and doc["verified"] is False
    assert any(c["name"] == "ledger.record" and c["status"] == "error" for c in doc["checks"])
    missing = run("verify", "model.onnx", "--lineage", s["work"] / "nope.json", "--json",
                  home=s["home"], cwd=s["work"])  # fmt: skip
    assert missing.returncode == 2 and json.loads(missing.stdout)["verified"] is False
    doc = json.loads(s["lineage"].read_text())
    next(x for x in doc["leaves"] if x["kind"] == "dataset")["path"] = "../../etc/passwd"
    s["lineage"].write_text(json.dumps(doc))
    code, out = verify(s)
    assert code == 2 and out["verified"] is False


def test_hostile_model_names_cannot_forge_a_passing_row(sample: dict[str, Any]) -> None:
    s = sample
    evil = "[green]PASS [bold]\u202e\x1b[2J.onnx"
    shutil.copy(s["work"] / "model.onnx", s["work"] / evil)
    data = bytearray((s["work"] / evil).read_bytes())
    data[-1] ^= 1
    (s["work"] / evil).write_bytes(bytes(data))
    proc = run("verify", evil, "--lineage", s["lineage"], home=s["home"], cwd=s["work"])
    assert proc.returncode == 1
    assert "\u202e" not in proc.stdout and "\x1b" not in proc.stdout
    assert "NOT VERIFIED" in proc.stdout and "[green]PASS" in proc.stdout  # shown as text


def test_verification_is_stateless_within_one_process(sample: dict[str, Any]) -> None:
    from aichain_audit import api
    from aichain_audit.ledger import ChainSettings

    s = sample
    os.environ["AICHAIN_HOME"] = str(s["home"])
    try:
        settings_ = ChainSettings.resolve()
        request = api.VerifyRequest(s["work"] / "model.onnx", settings_, lineage=s["lineage"])
        clean = api.verify(request)
        assert clean.verified
        tampered = s["work"] / "tampered.onnx"
        data = bytearray((s["work"] / "model.onnx").read_bytes())
        data[20] ^= 1
        tampered.write_bytes(bytes(data))
        assert not api.verify(replace(request, model=tampered)).verified
    finally:
        del os.environ["AICHAIN_HOME"]


@pytest.mark.parametrize("missing", ["model.digest", "lineage.root", "ledger.record"])
def test_a_never_skip_check_that_did_not_pass_means_not_verified(missing: str) -> None:
    names = ["model.digest", "lineage.root", "ledger.record"]
    passing = [Finding(n, CheckStatus.PASS) for n in names if n != missing]
    assert not Verification(tuple(passing)).verified
    skipped = (*passing, Finding(missing, CheckStatus.SKIP))
    assert not Verification(skipped).verified
    assert Verification((*passing, Finding(missing, CheckStatus.PASS))).verified


@pytest.mark.server  # builds its own AnvilFactory
def test_verify_on_a_node_pins_the_anchorer_and_reads_its_record(tmp_path: Path) -> None:
    """The same verification on a real anvil node: trust is `pinned` with --trust, the ledger
    facts name the anchorer and its transaction, and an unpinned run says `registry`."""
    from tests.ledger.conftest import AnvilFactory, cli_env, deploy_registry, funded_key

    factory = AnvilFactory(tmp_path / "anvil")
    try:
        node = factory()
        home = tmp_path / "home"
        owner = funded_key(node)
        registry = deploy_registry(node, home, owner)
        work = tmp_path / "work"
        work.mkdir()
        make_model(work / "model.onnx")
        lineage = work / "lineage.json"
        env = cli_env(home, owner)
        chain = ("--chain", node.url, "--registry", registry)
        assert run("fingerprint", "--model", "model.onnx", "-o", lineage, home=home,
                   cwd=work).returncode == 0  # fmt: skip
        anchored = subprocess.run(
            [sys.executable, "-m", "aichain_audit", "anchor", lineage, *chain, "--json"],
            env=env, cwd=work, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert anchored.returncode == 0, anchored.stderr
        tx = json.loads(anchored.stdout)[0]["tx"]
        pinned = run("verify", "model.onnx", "--lineage", lineage, *chain, "--trust",
                     owner.address, "--json", home=home, cwd=work)  # fmt: skip
        doc = json.loads(pinned.stdout)
        assert pinned.returncode == 0 and doc["verified"] and doc["trust"] == "pinned", doc
        assert doc["ledger"]["records"][0]["anchorer"] == owner.address
        assert doc["ledger"]["records"][0]["tx"] == tx
        unpinned = run("verify", "model.onnx", "--lineage", lineage, *chain, "--json",
                       home=home, cwd=work)  # fmt: skip
        assert json.loads(unpinned.stdout)["trust"] == "registry"
        required = run("verify", "model.onnx", "--lineage", lineage, *chain, "--require-pinned",
                       "--json", home=home, cwd=work)  # fmt: skip
        assert required.returncode == 1
    finally:
        factory.stop_all()


def test_a_refused_verification_still_prints_its_json(sample: dict[str, Any]) -> None:
    """`--json` is printed on every exit code: a request refused before any check ran (a
    chain without a registry) prints a document with one error finding, never a pass."""
    s = sample
    proc = run("verify", "model.onnx", "--lineage", s["lineage"], "--chain",
               "http://127.0.0.1:9", "--json", home=s["home"], cwd=s["work"])  # fmt: skip
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "--registry" in proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verified"] is False and doc["trust"] == "none"
    assert [(c["name"], c["status"]) for c in doc["checks"]] == [("request", "error")]


def test_check_proof_prints_json_when_it_cannot_complete(sample: dict[str, Any]) -> None:
    s = sample
    proof = s["work"] / "proof.json"
    made = run("prove", s["lineage"], "data/test.csv", "-o", proof, home=s["home"],
               cwd=s["work"])  # fmt: skip
    assert made.returncode == 0, made.stderr
    proc = run("check-proof", proof, "--chain", "embedded", "--receipt",
               s["work"] / "missing.json", "--json", home=s["home"], cwd=s["work"])  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    doc = json.loads(proc.stdout)
    assert doc["valid"] is False and "missing.json" in doc["error"]


def test_the_document_records_the_request_and_the_checks_it_required(
    sample: dict[str, Any],
) -> None:
    code, doc = verify(sample)
    assert code == 0
    assert doc["request"]["datasets"] == ["data"] and doc["request"]["chain"] == "embedded"
    required = {(r["name"], r["artifact"]) for r in doc["required"]}
    assert ("dataset", "data") in required and ("model.digest", "w.bin") in required
    assert ("model.digest", "model.onnx") in required and doc["unmet"] == []
    model = doc["model"]
    assert model["path"] == "model.onnx" and model["digest"] == model["expected"]
    assert model["sha256"].startswith("sha256:") and model["size"] > 0


# -- external data found where the runtimes find it (issue 17) ----------------------------


def _outputs(model: Path) -> Any:
    """What onnxruntime computes with the model at this path as given."""
    import numpy as np
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": np.ones((1, 3), np.float32)})[0]


def _deploy_link(s: dict[str, Any]) -> Path:
    """deploy/model.onnx, a relative link to the anchored model, beside a w.bin of other
    floats laid out like the anchored one."""
    work = s["work"]
    (work / "other").mkdir()
    make_model(work / "other" / "model.onnx", external=True, scale=-3.0)
    (work / "deploy").mkdir()
    shutil.copy(work / "other" / "w.bin", work / "deploy" / "w.bin")
    os.symlink("../model.onnx", work / "deploy" / "model.onnx")
    return work / "deploy" / "model.onnx"


def test_a_symlinked_model_with_substituted_external_data_fails_verify_and_diff(
    sample: dict[str, Any],
) -> None:
    link = _deploy_link(sample)
    assert (_outputs(link) != _outputs(sample["work"] / "model.onnx")).any()
    code, doc = verify(sample, model="deploy/model.onnx")
    assert code == 1 and doc["verified"] is False
    assert ("model.digest", "deploy/w.bin") in failed(doc)
    proc = run("diff", sample["lineage"], "deploy/model.onnx", "--json",
               home=sample["home"], cwd=sample["work"])  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    changed = {(c["kind"], c["item"]) for c in json.loads(proc.stdout)["changed"]}
    assert ("model-data", "w.bin") in changed


def test_a_symlinked_model_without_data_beside_the_link_fails_instead_of_using_the_targets(
    sample: dict[str, Any],
) -> None:
    (_deploy_link(sample).parent / "w.bin").unlink()
    code, doc = verify(sample, model="deploy/model.onnx")
    assert code == 1 and doc["verified"] is False
    assert ("model.digest", "deploy/w.bin") in failed(doc)


def _break_data_file(path: Path, how: str) -> None:
    path.unlink()
    if how == "folder":
        path.mkdir()
    elif how == "fifo":
        os.mkfifo(path)


@pytest.mark.parametrize("how", ["removed", "folder", "fifo"])
def test_a_removed_or_unusable_external_data_file_is_a_failed_model_digest_naming_it(
    sample: dict[str, Any], how: str
) -> None:
    _break_data_file(sample["work"] / "w.bin", how)
    code, doc = verify(sample)  # --json: the document is printed whatever the exit code
    assert code == 1 and doc["verified"] is False
    row = next(c for c in doc["checks"] if c["name"] == "model.digest" and c["artifact"] == "w.bin")
    assert row["status"] == "fail" and "w.bin" in row["detail"], row
    assert row["expected"].startswith("w.bin: sha256:")
    if how == "removed":
        assert "no such file" in row["detail"]
        out = sample["work"] / "r.html"
        proc = run("report", sample["lineage"], "--verify", "model.onnx", "-o", out,
                   home=sample["home"], cwd=sample["work"])  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
        assert "w.bin" in out.read_text()


def _without_root_powers() -> tuple[str, ...]:
    """A command prefix under which file permissions hold (root reads any file)."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: permissions cannot be made to hold")
    return ("setpriv", "--bounding-set=-dac_override,-dac_read_search")


def test_an_unreadable_external_data_file_is_an_error_not_a_verdict(
    sample: dict[str, Any],
) -> None:
    prefix = _without_root_powers()
    (sample["work"] / "w.bin").chmod(0)
    proc = run("verify", "model.onnx", "--lineage", sample["lineage"], "--json",
               home=sample["home"], cwd=sample["work"], prefix=prefix)  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["verified"] is False
    statuses = {(c["name"], c["artifact"]): c["status"] for c in doc["checks"]}
    assert statuses[("model.digest", "w.bin")] == "error"
    assert statuses[("model.digest", "model.onnx")] == "pass"
    assert "fail" not in statuses.values()  # nothing is known to differ: it could not be read


# --- what a person reads: the newcomer's path (issue 18) ----------------------------------
PYTHON_VALUE = re.compile(r"\bNone\b|\{'|\['|\bTrue\b|\bFalse\b|<[a-z]+ ")


def test_the_table_of_a_failing_model_shows_no_python_values(sample: dict[str, Any]) -> None:
    work = sample["work"]
    (work / "w.bin").unlink()  # the data file is gone: expected a digest, got nothing
    make_model(work / "other.onnx", scale=2.0)  # another model: a dict of part digests differs
    for model in ("model.onnx", "other.onnx"):
        proc = run("verify", model, "--lineage", sample["lineage"], "--trust",
                   "0x" + "11" * 20, home=sample["home"], cwd=work, COLUMNS="200")  # fmt: skip
        assert proc.returncode == 1, proc.stderr
        assert "NOT VERIFIED" in proc.stdout
        assert not PYTHON_VALUE.search(proc.stdout), proc.stdout
    assert "got nothing" in run(
        "verify", "model.onnx", "--lineage", sample["lineage"], home=sample["home"], cwd=work,
        COLUMNS="400",
    ).stdout  # fmt: skip


def test_the_subject_and_the_model_file_are_two_checks_with_two_names(
    sample: dict[str, Any],
) -> None:
    make_model(sample["work"] / "other.onnx", scale=2.0)
    code, doc = verify(sample, model="other.onnx")
    assert code == 1
    file_checks = [c for c in doc["checks"] if c["name"] == "model.digest"]
    assert [c["artifact"] for c in file_checks] == ["other.onnx", "w.bin"]
    assert file_checks[0]["detail"].startswith("model file")
    (subject,) = [c for c in doc["checks"] if c["name"] == "model.subject"]
    assert subject["status"] == "fail" and subject["artifact"] == "other.onnx"
    assert subject["expected"].startswith("sha256-modelset:")  # model and w.bin


@pytest.mark.slow  # runs the CLI in a process
def test_verify_without_a_lineage_or_mlflow_says_how_to_give_one_at_once(
    sample: dict[str, Any],
) -> None:
    probe = (
        "import sys\nfrom aichain_audit.cli import main\ntry:\n    main(sys.argv[1:])\n"
        "finally:\n    print('mlflow' in sys.modules, 'web3' in sys.modules)\n"
    )
    proc = run("verify", "model.onnx", home=sample["home"], cwd=sample["work"],
               prefix=(sys.executable, "-c", probe, "--"))  # fmt: skip
    assert proc.stdout.split()[-2:] == ["False", "False"]  # nothing searched, nothing read
    proc = run("verify", "model.onnx", home=sample["home"], cwd=sample["work"])
    line = assert_one_line_error(proc)
    assert "no lineage given" in line and "--lineage FILE" in line
    assert "MLFLOW_TRACKING_URI" in line and "beside the model: --lineage lineage.json" in line
    code, doc = json_of(run("verify", "model.onnx", "--json", home=sample["home"],
                            cwd=sample["work"]))  # fmt: skip
    assert code == 2 and doc["checks"][0]["status"] == "error"


def json_of(proc: subprocess.CompletedProcess[str]) -> tuple[int, dict[str, Any]]:
    return proc.returncode, json.loads(proc.stdout)


def test_report_verify_prints_the_verdict_and_what_failed(sample: dict[str, Any]) -> None:
    work = sample["work"]
    make_model(work / "other.onnx", scale=2.0)
    proc = run("report", sample["lineage"], "--verify", "other.onnx", "-o", work / "r.html",
               home=sample["home"], cwd=work, COLUMNS="200")  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("NOT VERIFIED")
    assert "model.subject" in proc.stdout and "FAIL" in proc.stdout
    assert "wrote" in proc.stderr and (work / "r.html").is_file()
    passed = run("report", sample["lineage"], "--verify", "model.onnx", "-o", work / "r.md",
                 home=sample["home"], cwd=work)  # fmt: skip
    assert passed.returncode == 0 and passed.stdout.startswith("VERIFIED")
    to_stdout = run("report", sample["lineage"], "--verify", "model.onnx", "-o", "-",
                    "--format", "json", home=sample["home"], cwd=work)  # fmt: skip
    assert json.loads(to_stdout.stdout)  # the report alone on stdout; the verdict on stderr
    assert to_stdout.stderr.startswith("VERIFIED")
