# psa-chatops: `make run` starts a sandbox, `make test` runs every check. Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: run test check lint typecheck unit bench postman sdk clean help

help:
	@echo "make run    - install, migrate, seed demo data and serve the sandbox on http://127.0.0.1:8080"
	@echo "make test   - install dev extras, then lint, type checks, import contracts and the whole test suite"
	@echo "make bench  - run the benchmarks and rewrite BENCHMARKS.md"
	@echo "make postman - Postman collection with contract tests from the OpenAPI spec (build/postman/)"
	@echo "make sdk    - Python client (build/sdk/python) and TypeScript types (build/sdk/typescript)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/psa sandbox

check: $(STAMP)
	scripts/check

unit: $(STAMP)
	scripts/test

test: $(STAMP)
	scripts/check
	scripts/test

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

postman: $(STAMP)
	scripts/postman

sdk: $(STAMP)
	scripts/sdk

clean:
	rm -rf build tools/node_modules $(VENV) .pytest_cache .mypy_cache .ruff_cache psa.db psa.db-wal psa.db-shm
