# Quick start: `make run` (the service on embedded defaults) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PEER := tests/peers/oidc-provider

.PHONY: run test lint typecheck unit peers bench clean

$(STAMP): pyproject.toml hatch_build.py responder/readers/_brackets.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The main job on embedded defaults: the service on 127.0.0.1:8080 (upload trigger, panic, ledger API) with
# the SQLite ledger and the example config; it prints where everything is. Ctrl-C stops it gracefully.
# The demo provider is the local test OP (tests/peers/oidc-provider), whose client secret is a fixed test value.
run: $(STAMP)
	RESPONDER_DEMO_CLIENT_SECRET=responder-secret $(BIN)/responder serve --config config/responder.example.toml

$(PEER)/node_modules: $(PEER)/package-lock.json
	cd $(PEER) && npm ci --silent --no-audit --no-fund
	touch $@

peers: $(PEER)/node_modules

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check responder providers tests bench
	$(BIN)/hadolint --no-color --failure-threshold style Dockerfile

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: $(STAMP) lint typecheck
	@if command -v npm >/dev/null 2>&1; then $(MAKE) --no-print-directory peers; fi
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/scan.py

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
	find responder -name '*.so' -delete
