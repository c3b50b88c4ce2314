# Two entry points on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
# Extra pip arguments for torch, e.g. --index-url https://download.pytorch.org/whl/cpu
# on machines without a local CPU wheel (the GitHub workflow sets it).
TORCH_PIP_ARGS ?=

.PHONY: run test lint bench synth clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned: an unpinned torch pulled in by a dependency would be a
# multi-GB CUDA build. Reinstall when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH) $(TORCH_PIP_ARGS)
	$(BIN)/pip install --quiet -e '.[aws,cdk,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/paperfoundry run --offline-fallback

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/pipeline.py
	$(BIN)/python benchmarks/harness_throughput.py --device cpu
	$(BIN)/python benchmarks/llm_cost.py

# Offline, no Docker: Lambda code is bundled with pip, the trainer image builds at deploy.
synth: $(STAMP)
	CDK_OUTDIR=cdk.out $(BIN)/python app.py
	@ls cdk.out/*.template.json

clean:
	rm -rf $(VENV) runs cdk.out .pytest_cache .ruff_cache
