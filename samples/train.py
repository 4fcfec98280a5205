"""Deterministic sample training pipeline for aichain-audit.

Demonstrates the artefacts a lineage record binds together: a YAML training config, the exact
dataset split (CSV, repr-exact floats) and an ONNX model, all produced byte-identically on every
run so their fingerprints are reproducible. Uses scikit-learn's bundled breast-cancer data.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

DEFAULT_CONFIG = Path(__file__).resolve().parent / "train.yaml"
ML = "ai.onnx.ml"
SOLVERS = frozenset({"lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga"})


class ConfigError(Exception):
    """Raised when the training config is missing or invalid."""


def _get(cfg: dict[str, Any], section: str, key: str, kind: type | tuple[type, ...]) -> Any:
    sec = cfg.get(section)
    if not isinstance(sec, dict) or key not in sec:
        raise ConfigError(f"missing key '{section}.{key}'")
    value = sec[key]
    # bool is a subclass of int: only accept it where bool is explicitly asked for.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"'{section}.{key}' has invalid type {type(value).__name__}")
    return value


def load_config(path: Path) -> dict[str, Any]:
    """Read and validate the YAML config; return a flat dict of settings."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc.__class__.__name__}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML in {path}: {' '.join(str(exc).split())}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"config {path} must be a mapping")
    c: dict[str, Any] = {
        "kind": _get(raw, "model", "kind", str),
        "C": float(_get(raw, "model", "C", (int, float))),
        "max_iter": _get(raw, "model", "max_iter", int),
        "solver": _get(raw, "model", "solver", str),
        "test_size": float(_get(raw, "data", "test_size", float)),
        "seed": _get(raw, "data", "seed", int),
        "stratify": _get(raw, "data", "stratify", bool),
        "standardize": _get(raw, "preprocessing", "standardize", bool),
        "opset": _get(raw, "export", "opset", int),
        "opset_ml": _get(raw, "export", "target_opset_ml", int),
    }
    if c["kind"] != "logistic_regression":
        raise ConfigError(f"unsupported model.kind {c['kind']!r}")
    if c["solver"] not in SOLVERS:
        raise ConfigError(f"unsupported model.solver {c['solver']!r}")
    if not (c["C"] > 0 and c["max_iter"] > 0 and 0.0 < c["test_size"] < 1.0 and c["seed"] >= 0):
        raise ConfigError("need model.C > 0, model.max_iter > 0, 0 < data.test_size < 1, seed >= 0")
    _, _, max_opset, max_ml, *_ = onnx.helper.VERSION_TABLE[-1]  # newest known to installed onnx
    if not (1 <= c["opset"] <= max_opset and 1 <= c["opset_ml"] <= max_ml):
        raise ConfigError("export.opset / export.target_opset_ml not supported by installed onnx")
    return c


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes to a temp file in the target folder, fsync, then os.replace into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp creates 0600; use ordinary file permissions
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_csv(header: list[str], x: np.ndarray[Any, Any], y: np.ndarray[Any, Any]) -> bytes:
    """Serialise rows as CSV; floats go through float.__repr__ (shortest round-trip form)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row, label in zip(x.tolist(), y.tolist(), strict=True):
        writer.writerow([*(float.__repr__(float(v)) for v in row), int(label)])
    return buf.getvalue().encode("utf-8")


def train(cfg: dict[str, Any], out: Path) -> None:
    """Split data, train, export to ONNX and write all artefacts under ``out``."""
    ds: Any = load_breast_cancer()
    x, y = np.asarray(ds.data, dtype=np.float64), np.asarray(ds.target, dtype=np.int64)
    strat = y if cfg["stratify"] else None
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=cfg["test_size"], random_state=cfg["seed"], stratify=strat
    )
    header = [str(n) for n in ds.feature_names] + ["target"]
    train_csv, test_csv = out / "data" / "train.csv", out / "data" / "test.csv"
    atomic_write(train_csv, to_csv(header, x_tr, y_tr))
    atomic_write(test_csv, to_csv(header, x_te, y_te))

    clf = LogisticRegression(C=cfg["C"], max_iter=cfg["max_iter"], solver=cfg["solver"])
    steps: list[tuple[str, Any]] = [("scaler", StandardScaler())] if cfg["standardize"] else []
    pipe = Pipeline([*steps, ("clf", clf)]).fit(x_tr, y_tr)
    accuracy = float(pipe.score(x_te, y_te))

    try:
        model: Any = to_onnx(
            pipe,
            initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
            target_opset={"": cfg["opset"], ML: cfg["opset_ml"]},
            options={id(clf): {"zipmap": False}},
            name="breast_cancer_logreg",  # fixed graph name: skl2onnx defaults to a random uuid
        )
    except RuntimeError as exc:  # e.g. opset too low for an operator the converter needs
        raise ConfigError(f"skl2onnx rejected export settings: {str(exc).splitlines()[0]}") from exc
    # skl2onnx 1.20 emits the default domain twice in opset_import; keep one entry per domain.
    merged = {o.domain: o.version for o in sorted(model.opset_import, key=lambda o: o.version)}
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in merged.items())
    model.doc_string = "Logistic regression on the scikit-learn breast-cancer dataset (sample)."
    onnx.helper.set_model_props(model, {"training_config": "train.yaml", "dataset": "data/"})
    model_path = out / "model.onnx"
    atomic_write(model_path, model.SerializeToString(deterministic=True))
    onnx.checker.check_model(str(model_path), full_check=True)

    print(f"test accuracy: {accuracy:.4f} ({len(y_te)} samples)")
    for p in (model_path, train_csv, test_csv):
        print(f"wrote {p}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="YAML config")
    args = parser.parse_args(argv)
    try:
        train(load_config(args.config), args.out)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
