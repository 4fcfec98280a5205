"""`aichain diff` takes a model of any format it reads (a pickle, here) as a model, names it
by its format, and keeps a pickle a lineage records as a dataset file a dataset file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from aichain_audit import api
from aichain_audit.errors import UsageError
from aichain_audit.verify.diff import diff_paths


def _pickle(path: Path, value: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(value, protocol=4))
    return path


def test_two_pickles_are_compared_as_models_by_their_bytes(tmp_path: Path) -> None:
    a = _pickle(tmp_path / "a" / "model.pt", {"w": [1.0, 2.0]})
    b = _pickle(tmp_path / "b" / "model.pt", {"w": [1.0, 2.5]})
    d = diff_paths(a, b)
    assert [c.kind for c in d.changed] == ["model"]
    assert not d.added and not d.removed  # no semantic leaves on either side
    assert diff_paths(a, _pickle(tmp_path / "c" / "model.pth", {"w": [1.0, 2.0]})).empty


def test_a_pickle_against_its_lineage_compares_the_model(tmp_path: Path) -> None:
    model = _pickle(tmp_path / "model.pt", {"w": 1})
    lineage = tmp_path / "lineage.json"
    lineage.write_bytes(api.fingerprint(model=model).manifest.to_json())
    assert diff_paths(lineage, model).empty
    _pickle(model, {"w": 2})
    assert [c.kind for c in diff_paths(lineage, model).changed] == ["model"]


def test_a_pickle_the_lineage_records_as_a_dataset_file_stays_a_dataset_file(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    _pickle(data / "features.pt", [1, 2, 3])
    lineage = tmp_path / "lineage.json"
    lineage.write_bytes(api.fingerprint(datasets=[data / "features.pt"]).manifest.to_json())
    assert diff_paths(lineage, data / "features.pt").empty
    _pickle(data / "features.pt", [1, 2, 4])
    assert [c.kind for c in diff_paths(lineage, data / "features.pt").changed] == ["dataset"]


def test_a_pickle_and_a_dataset_folder_are_refused_naming_the_format(tmp_path: Path) -> None:
    model = _pickle(tmp_path / "model.pt", {"w": 1})
    (tmp_path / "data").mkdir()
    with pytest.raises(UsageError) as refused:
        diff_paths(model, tmp_path / "data")
    assert f"cannot compare the PyTorch pickle model {model} with the folder" in str(
        refused.value.message
    )
