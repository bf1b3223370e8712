# The two commands of the README: `make quickstart` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin
# The offline dataset mirror when it is there, the Hugging Face Hub otherwise.
DATASETS ?= $(if $(wildcard ../shared/datasets/MANIFEST.json),$(abspath ../shared/datasets),hub)
export EVALJOBS_DATASET_SOURCE ?= $(DATASETS)
export INSPECT_EVALS_CACHE_DIR ?= $(abspath .evaljobs/inspect_evals_cache)

.PHONY: install quickstart test lint browser

install:
	bash infra/local/install.sh

# The quickstart's servers skip vLLM's torch.compile (--enforce-eager): on 2 CPU cores that
# compile is most of a cold start (measured: 209 s against 64 s for SmolLM2), paid once per
# model, while eager decoding of these small models is not the slow part.
quickstart: export EVALJOBS_VLLM_EXTRA_ARGS ?= --enforce-eager
quickstart: install
	$(VENV)/evaljobs prepare-model
	$(VENV)/evaljobs run examples/quickstart.yaml
	$(VENV)/evaljobs run examples/quickstart-instruct.yaml
	$(VENV)/evaljobs leaderboard --project demo
	$(VENV)/evaljobs compare --last demo

# Debian's Chromium for the web UI's browser test (Playwright drives it; no browser download).
browser:
	@test -x /usr/bin/chromium || apt-get install -y -q chromium >/dev/null \
	  || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)

lint: install
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy

test: lint
	$(VENV)/evaljobs schema --check
	$(VENV)/pytest
