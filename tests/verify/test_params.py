"""The params rule of docs/SPEC.md §12.2: MLflow params against config values and recorded
params. MLflow keeps `str(value)` of what a script logged, so these tests log the way a
script does (`str()` of Python values, the repr of nested dicts) and compare by meaning."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aichain_audit.lineage import config_leaf, mlflow_param_leaf
from aichain_audit.verify.findings import CheckStatus, Finding
from aichain_audit.verify.params import check_params, param_name, scalar_equal

SAFE = 2**53 - 1
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-SAFE, SAFE),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
keys = st.text(st.characters(categories=("L", "N"), include_characters="_-"), min_size=1,
               max_size=8)  # fmt: skip
nested = st.recursive(
    scalars, lambda inner: st.dictionaries(keys, inner, min_size=1, max_size=4), max_leaves=12
)


def _statuses(findings: list[Finding]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(str(f.status), set()).add(f.artifact or "")
    return out


def _config(doc: dict[str, Any], file: str = "train.yaml") -> list[dict[str, Any]]:
    """Config leaves as `aichain fingerprint` makes them from a parsed document."""
    leaves = []

    def walk(value: Any, pointer: str) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{pointer}/{k.replace('~', '~0').replace('/', '~1')}")
        else:
            leaves.append(config_leaf(file, pointer, value))

    walk(doc, "")
    return leaves


def test_param_names_are_pointer_tokens_unescaped_and_joined_with_dots() -> None:
    assert param_name("/model/C") == "model.C"
    assert param_name("/layers/0") == "layers.0"
    assert param_name("/a~1b/c~0d") == "a/b.c~d"
    assert param_name("") is None


@given(scalars)
def test_a_value_equals_what_mlflow_stores_for_it(value: Any) -> None:
    assert scalar_equal(str(value), value)


@given(st.floats(allow_nan=False, allow_infinity=False), st.floats(allow_nan=False))
def test_numbers_compare_as_doubles(a: float, b: float) -> None:
    assert scalar_equal(str(a), b) == (a == b)


@given(st.text(max_size=10), st.text(max_size=10))
def test_strings_compare_exactly(a: str, b: str) -> None:
    assert scalar_equal(a, b) == (a == b)


def test_booleans_and_null_take_python_and_json_spellings_only() -> None:
    assert scalar_equal("True", True) and scalar_equal("true", True)
    assert not scalar_equal("1", True) and not scalar_equal("False", True)
    assert scalar_equal("None", None) and scalar_equal("null", None)
    assert not scalar_equal("", None) and not scalar_equal("0", False)
    assert not scalar_equal("nan", 1.0) and not scalar_equal("inf", 1e308)


@given(st.dictionaries(keys, nested, min_size=1, max_size=4))
def test_a_config_logged_as_mlflow_logs_it_passes(doc: dict[str, Any]) -> None:
    params = {k: str(v) for k, v in doc.items()}  # top-level keys, nested dicts as repr
    findings = check_params(params, _config(doc))
    assert "fail" not in _statuses(findings), findings


def test_a_changed_value_inside_a_nested_dict_fails_naming_it() -> None:
    doc = {"optim": {"lr": 0.1, "beta": 0.9}, "epochs": 3}
    params = {"optim": str({"lr": 0.2, "beta": 0.9}), "epochs": "3"}
    findings = check_params(params, _config(doc))
    failed = [f for f in findings if f.status is CheckStatus.FAIL]
    assert [f.artifact for f in failed] == ["optim.lr"]
    assert failed[0].expected == 0.1


def test_a_changed_flat_param_fails_naming_the_param_and_the_config_key() -> None:
    findings = check_params({"model.C": "0.5"}, _config({"model": {"C": 1.0}}))
    (failed,) = [f for f in findings if f.status is CheckStatus.FAIL]
    assert failed.artifact == "model.C" and "train.yaml#/model/C" in failed.detail


def test_a_param_that_is_code_is_never_evaluated() -> None:
    params = {"optim": "__import__('os').system('false')"}
    findings = check_params(params, _config({"optim": {"lr": 0.1}}))
    assert [f.status for f in findings if f.artifact == "optim"] == [CheckStatus.FAIL]


def test_recorded_params_must_be_identical_and_present() -> None:
    leaves = [mlflow_param_leaf("lr", "0.1"), mlflow_param_leaf("seed", "7")]
    assert "fail" not in _statuses(check_params({"lr": "0.1", "seed": "7"}, leaves))
    changed = _statuses(check_params({"lr": "0.10", "seed": "7"}, leaves))
    assert changed["fail"] == {"lr"}  # "0.10" is another string, whatever its number
    missing = _statuses(check_params({"lr": "0.1"}, leaves))
    assert missing["fail"] == {"seed"}


def test_params_and_values_without_a_counterpart_are_warnings_not_failures() -> None:
    findings = check_params({"extra": "1"}, _config({"model": {"C": 1.0, "solver": "lbfgs"}}))
    statuses = _statuses(findings)
    assert "fail" not in statuses
    assert statuses["warn"] == {"extra", "train.yaml"}
    (unlogged,) = [f for f in findings if f.artifact == "train.yaml"]
    assert "/model/C" in unlogged.detail and "/model/solver" in unlogged.detail


def test_a_run_without_params_is_a_skip() -> None:
    assert [f.status for f in check_params({}, [])] == [CheckStatus.SKIP]


def test_a_param_logged_after_the_lineage_recorded_the_runs_params_fails() -> None:
    leaves = [mlflow_param_leaf("lr", "0.1"), *_config({"model": {"C": 1.0}})]
    statuses = _statuses(check_params({"lr": "0.1", "model.C": "1.0"}, leaves))
    assert statuses["fail"] == {"model.C"}  # the lineage recorded every param: this is new
    without = _statuses(check_params({"model.C": "1.0"}, _config({"model": {"C": 1.0}})))
    assert "fail" not in without  # a lineage that recorded no params: compared, not refused
