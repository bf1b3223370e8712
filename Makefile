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

quickstart: install
	$(VENV)/evaljobs prepare-model
	$(VENV)/evaljobs run examples/quickstart.yaml
	$(VENV)/evaljobs leaderboard --project demo

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
