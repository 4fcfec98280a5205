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

DEMO := samples/build

demo: $(STAMP)
	@echo "== 1. train the sample model (scikit-learn -> ONNX)"
	$(PY) samples/train.py --out $(DEMO)
	@echo "== 2. fingerprint model, datasets and config into one lineage"
	$(VENV)/bin/aichain fingerprint \
	    --model $(DEMO)/model.onnx \
	    --dataset $(DEMO)/data \
	    --config samples/train.yaml \
	    --name breast-cancer-logreg \
	    -o $(DEMO)/lineage.json
	@echo "== 3. prove one config value and check the proof against the lineage root"
	$(VENV)/bin/aichain prove $(DEMO)/lineage.json 'train.yaml#/model/C' -o $(DEMO)/proof-C.json
	$(VENV)/bin/aichain check-proof $(DEMO)/proof-C.json \
	    --root $$($(PY) -c 'import json,sys; print(json.load(open(sys.argv[1]))["root"])' $(DEMO)/lineage.json)

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
