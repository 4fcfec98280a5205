# The developer's front door. Every target bootstraps what it needs from nothing
# but python3 (and node/npm for the contracts, later).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export MLFLOW_DISABLE_TELEMETRY := true

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23.2"
	$(PY) -m pip install --quiet -e ".[dev,samples]"
	touch $(STAMP)

demo: $(STAMP)
	$(PY) samples/train.py --out samples/build
	$(VENV)/bin/aichain fingerprint \
	    --model samples/build/model.onnx \
	    --dataset samples/build/data \
	    --config samples/train.yaml \
	    --name breast-cancer-logreg \
	    -o samples/build/lineage.json

lint: $(STAMP)
	$(VENV)/bin/ruff check aichain_audit tests benchmarks samples
	$(VENV)/bin/ruff format --check aichain_audit tests benchmarks samples
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) samples/build .pytest_cache .mypy_cache .ruff_cache
