"""The sample trained inside an MLflow run, as a team using MLflow would.

`train`: runs samples/train.py's pipeline inside `mlflow.start_run()`, logging the config as
params, the train/test splits and a synthetic 12,000-row holdout split as dataset inputs
(`mlflow.data.from_pandas` with the CSV as source), holdout accuracy as a metric, and the ONNX
model with `mlflow.onnx.log_model` (tensors kept inline: MLflow would otherwise move them
into a fresh `<uuid>.data` file, a new digest every time). Prints the run id and the logged
model's id, and writes them to OUT/run.json.

`digest CSV`: MLflow's own digest of a CSV (what `log_input` records): 8 hex digits of MD5
over the first 10,000 rows. `edit-row CSV N`: changes one value in data row N in place.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train as sample  # samples/train.py: the pipeline itself

HOLDOUT_ROWS = 12_000  # more than the 10,000 rows MLflow's digest looks at


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _holdout(out: Path, train_csv: Path) -> Path:
    """A deterministic synthetic split: training rows with small Gaussian noise."""
    header = train_csv.read_text(encoding="utf-8").splitlines()[0].split(",")
    rows = np.loadtxt(train_csv, delimiter=",", skiprows=1)
    rng = np.random.default_rng(20261201)
    picked = rows[rng.integers(0, len(rows), HOLDOUT_ROWS)]
    x = picked[:, :-1] * (1.0 + rng.normal(0.0, 0.01, picked[:, :-1].shape))
    y = picked[:, -1].astype(np.int64)
    path = out / "data" / "holdout.csv"
    sample.atomic_write(path, sample.to_csv(header, x, y))
    return path


def _quiet() -> None:
    """MLflow's schema hints and database set-up notes are not the demo's story."""
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=UserWarning)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def train(out: Path, config: Path, tracking_uri: str) -> None:
    import mlflow
    import onnx
    import onnxruntime as ort
    import pandas as pd
    import yaml

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    _quiet()
    mlflow.set_tracking_uri(tracking_uri)
    artifacts = (out / "mlartifacts").resolve()
    name = "aichain-sample"
    experiment = mlflow.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else mlflow.create_experiment(name, artifact_location=artifacts.as_uri())
    )
    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_params(_flatten(cfg))
        sample.train(sample.load_config(config), out)
        data = out / "data"
        holdout = _holdout(out, data / "train.csv")
        for csv, context in ((data / "train.csv", "training"), (data / "test.csv", "testing"),
                             (holdout, "evaluation")):  # fmt: skip
            frame = pd.read_csv(csv)
            dataset = mlflow.data.from_pandas(frame, source=str(csv.resolve()), name=csv.stem)
            mlflow.log_input(dataset, context=context)
        frame = pd.read_csv(holdout)
        session = ort.InferenceSession(str(out / "model.onnx"))
        features = frame.drop(columns=["target"]).to_numpy(dtype=np.float32)
        labels = session.run(None, {"input": features})[0]
        mlflow.log_metric("holdout_accuracy", float((labels == frame["target"]).mean()))
        logged = mlflow.onnx.log_model(
            onnx.load(str(out / "model.onnx")), name="model", save_as_external_data=False
        )
    ids = {"run_id": run.info.run_id, "model_id": logged.model_id}
    (out / "run.json").write_text(json.dumps(ids) + "\n", encoding="utf-8")
    print(f"mlflow run {ids['run_id']}, logged model {ids['model_id']}")


def digest(csv: Path) -> str:
    import mlflow
    import pandas as pd

    _quiet()
    return str(mlflow.data.from_pandas(pd.read_csv(csv), source=str(csv)).digest)


def edit_row(csv: Path, row: int) -> None:
    lines = csv.read_bytes().split(b"\n")
    cells = lines[row].split(b",")  # line 0 is the header: line N is data row N
    cells[0] = repr(float(cells[0]) + 1.0).encode()
    lines[row] = b",".join(cells)
    sample.atomic_write(csv, b"\n".join(lines))
    print(f"changed data row {row} of {csv}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--config", type=Path, default=sample.DEFAULT_CONFIG)
    t.add_argument("--tracking-uri", required=True)
    d = sub.add_parser("digest")
    d.add_argument("csv", type=Path)
    e = sub.add_parser("edit-row")
    e.add_argument("csv", type=Path)
    e.add_argument("row", type=int)
    args = parser.parse_args(argv)
    if args.command == "train":
        train(args.out, args.config, args.tracking_uri)
    elif args.command == "digest":
        print(f"MLflow's digest of {args.csv}: {digest(args.csv)}")
    else:
        edit_row(args.csv, args.row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
