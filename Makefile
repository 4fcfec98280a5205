# The developer's front door. Every target bootstraps what it needs from nothing
# but python3 (and node/npm for the contracts, later).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export MLFLOW_DISABLE_TELEMETRY := true

NODE_STAMP := contracts/node_modules/.installed

.PHONY: demo test test-fast lint bench bench-quick clean contracts check-readme readme

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23.2"
	$(PY) -m pip install --quiet -e ".[dev,samples]"
	touch $(STAMP)

DEMO := samples/build
MLDEMO := $(DEMO)/mlflow
MLFLOW_URI = sqlite:///$(abspath $(MLDEMO))/mlflow.db
RUN_ID := import json,sys; print(json.load(open(sys.argv[1]))["run_id"])
MODEL_ID := import json,sys; print(json.load(open(sys.argv[1]))["model_id"])

# solc-js and anvil, pinned by contracts/package-lock.json (binaries ship inside the npm packages)
$(NODE_STAMP): contracts/package-lock.json contracts/package.json
	cd contracts && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

# Rebuild the committed ABI + bytecode artifact from contracts/LineageRegistry.sol
contracts: $(NODE_STAMP)
	cd contracts && npm run --silent build

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
	@echo "== 4. anchor the lineage root on the embedded chain (a real EVM running the registry)"
	AICHAIN_HOME=$${AICHAIN_HOME:-$(abspath $(DEMO))/aichain-home} \
	    $(VENV)/bin/aichain anchor $(DEMO)/lineage.json
	@echo "== 5. anchoring again is idempotent: it reports the existing record and sends nothing"
	AICHAIN_HOME=$${AICHAIN_HOME:-$(abspath $(DEMO))/aichain-home} \
	    $(VENV)/bin/aichain anchor $(DEMO)/lineage.json
	@cat $(DEMO)/lineage.receipt.json
	@echo "== 6. an auditor verifies the deployed model, its datasets and the ledger: it passes"
	AICHAIN_HOME=$${AICHAIN_HOME:-$(abspath $(DEMO))/aichain-home} \
	    $(VENV)/bin/aichain verify $(DEMO)/model.onnx --lineage $(DEMO)/lineage.json \
	    --dataset $(DEMO)/data
	@echo "== 7. one weight changed in a copy of the model: verification fails and names it"
	rm -rf $(DEMO)/tampered && mkdir -p $(DEMO)/tampered
	$(PY) samples/tamper.py weight $(DEMO)/model.onnx $(DEMO)/tampered/model.onnx
	AICHAIN_HOME=$${AICHAIN_HOME:-$(abspath $(DEMO))/aichain-home} \
	    $(VENV)/bin/aichain verify $(DEMO)/tampered/model.onnx --lineage $(DEMO)/lineage.json; \
	    test $$? -eq 1
	@echo "== 8. one byte changed in a copy of a dataset file: verification fails and names it"
	cp -r $(DEMO)/data $(DEMO)/tampered/data
	$(PY) samples/tamper.py byte $(DEMO)/tampered/data/train.csv 100
	AICHAIN_HOME=$${AICHAIN_HOME:-$(abspath $(DEMO))/aichain-home} \
	    $(VENV)/bin/aichain verify $(DEMO)/model.onnx --lineage $(DEMO)/lineage.json \
	    --dataset $(DEMO)/tampered/data; test $$? -eq 1
	@echo "== 9. train the sample again inside an MLflow run (a SQLite store under $(MLDEMO))"
	rm -rf $(MLDEMO) && mkdir -p $(MLDEMO)
	$(PY) samples/train_mlflow.py train --out $(MLDEMO) --tracking-uri $(MLFLOW_URI)
	@echo "== 10. fingerprint from the run (its model, params and datasets); recorded back in it"
	MLFLOW_TRACKING_URI=$(MLFLOW_URI) $(VENV)/bin/aichain fingerprint \
	    --mlflow-run $$($(PY) -c '$(RUN_ID)' $(MLDEMO)/run.json) \
	    --config samples/train.yaml -o $(MLDEMO)/lineage.json
	@echo "== 11. anchor it; the receipt is recorded on the run too"
	AICHAIN_HOME=$${AICHAIN_HOME:-$(abspath $(DEMO))/aichain-home} MLFLOW_TRACKING_URI=$(MLFLOW_URI) \
	    $(VENV)/bin/aichain anchor $(MLDEMO)/lineage.json
	@echo "== 12. an auditor verifies the model as MLflow serves it (models:/ID), lineage found in MLflow"
	AICHAIN_HOME=$${AICHAIN_HOME:-$(abspath $(DEMO))/aichain-home} MLFLOW_TRACKING_URI=$(MLFLOW_URI) \
	    $(VENV)/bin/aichain verify models:/$$($(PY) -c '$(MODEL_ID)' $(MLDEMO)/run.json)
	@echo "== 13. one value in holdout row 11,000 changed: MLflow's own digest (first 10,000 rows)"
	@echo "       stays the same; verification fails and names the file"
	$(PY) samples/train_mlflow.py digest $(MLDEMO)/data/holdout.csv
	$(PY) samples/train_mlflow.py edit-row $(MLDEMO)/data/holdout.csv 11000
	$(PY) samples/train_mlflow.py digest $(MLDEMO)/data/holdout.csv
	AICHAIN_HOME=$${AICHAIN_HOME:-$(abspath $(DEMO))/aichain-home} MLFLOW_TRACKING_URI=$(MLFLOW_URI) \
	    $(VENV)/bin/aichain verify models:/$$($(PY) -c '$(MODEL_ID)' $(MLDEMO)/run.json); \
	    test $$? -eq 1
	@echo "== 14. a compliance report of the sample: verified now, with its ledger evidence (HTML)"
	AICHAIN_HOME=$${AICHAIN_HOME:-$(abspath $(DEMO))/aichain-home} \
	    $(VENV)/bin/aichain report $(DEMO)/lineage.json --verify $(DEMO)/model.onnx \
	    --dataset $(DEMO)/data -o $(DEMO)/report.html
	@echo "report: $(abspath $(DEMO))/report.html"

lint: $(STAMP)
	$(VENV)/bin/ruff check aichain_audit tests benchmarks samples
	$(VENV)/bin/ruff format --check aichain_audit tests benchmarks samples
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Both cores: tests that start nodes or subprocesses each use their own ports and folders.
test: lint check-readme $(NODE_STAMP)
	$(VENV)/bin/pytest -q -n 2 --dist worksteal

# Unit and property tests only, in about a minute: no anvil, `mlflow server` or chromium
# (marker `server`) and no CLI or other process (marker `slow`); tests/conftest.py marks what
# uses such fixtures and, with AICHAIN_TEST_NO_SUBPROCESSES=1, fails an unmarked test that
# starts a process. `make test` runs everything.
test-fast: $(STAMP)
	$(VENV)/bin/ruff check aichain_audit tests benchmarks samples
	AICHAIN_TEST_NO_SUBPROCESSES=1 $(VENV)/bin/pytest -q -n 2 --dist worksteal \
	    -m "not server and not slow"

# The README's example session and pasted --help must be what the tool prints today.
check-readme: $(STAMP)
	$(PY) samples/readme.py

readme: $(STAMP)
	$(PY) samples/readme.py --write

# The reference run (about 5 minutes); `make bench ARGS=--quick` or `make bench-quick` (under
# 3 minutes, smaller inputs, every target) after each change.
bench: $(STAMP)
	$(PY) benchmarks/run.py $(ARGS)

bench-quick: $(STAMP)
	$(PY) benchmarks/run.py --quick $(ARGS)

clean:
	rm -rf $(VENV) samples/build .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
