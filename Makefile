# Two entry points on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TORCH  := torch==2.13.0
# Extra pip arguments for torch, e.g. --index-url https://download.pytorch.org/whl/cpu
# on machines without a local CPU wheel (the GitHub workflow sets it).
TORCH_PIP_ARGS ?=

.PHONY: run test lint bench gpu-check synth clean bubblewrap

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch first and pinned: an unpinned torch pulled in by a dependency would be a
# multi-GB CUDA build. Reinstall when pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH) $(TORCH_PIP_ARGS)
	$(BIN)/pip install --quiet -e '.[aws,cdk,dev]'
	@$(MAKE) --no-print-directory bubblewrap
	touch $(STAMP)

# bubblewrap jails LLM-written code; without a working jail such code is reported "not run"
# (reference implementations run anyway). Installed where apt-get can; a warning otherwise.
bubblewrap:
	@if ! command -v bwrap >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  (timeout 300 apt-get update -qq \
	    && timeout 300 apt-get install -y -qq --no-install-recommends bubblewrap >/dev/null) \
	    || echo "warning: could not install bubblewrap; LLM-written code will not run here"; \
	fi

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

# On a GPU machine: CUDA tests, throughput/MFU, one GPU verdict (docs/BENCHMARKS.md)
gpu-check:
	bash benchmarks/gpu_check.sh

# Offline, no Docker: Lambda code is bundled with pip, the trainer image builds at deploy.
synth: $(STAMP)
	CDK_OUTDIR=cdk.out $(BIN)/python app.py
	@ls cdk.out/*.template.json

clean:
	rm -rf $(VENV) runs cdk.out .pytest_cache .ruff_cache
