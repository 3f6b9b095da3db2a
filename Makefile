# Kepu Cloud. Two commands do all set-up on a fresh Debian/Ubuntu machine:
#   make run    install everything, migrate, load regions, create a first admin, serve on 127.0.0.1:5000
#   make test   install what the tests need and run the whole suite (lint, then the SQLite pass with the
#               browser tests and the PostgreSQL pass side by side: tests/support/passes.py)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test setup lint serve bench

$(BIN)/python:
	scripts/install-system.sh run
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.run-deps

setup: $(VENV)/.run-deps
	scripts/install-system.sh run
	$(FLASK) db upgrade
	$(FLASK) regions load
	$(FLASK) users ensure-admin

run: setup
	@echo "科普资源云: http://$(HOST):$(PORT)/"
	HOST=$(HOST) PORT=$(PORT) scripts/serve.sh

lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: $(VENV)/.dev-deps
	scripts/install-system.sh test
	$(MAKE) lint
	$(BIN)/python -m tests.support.passes \
		"$(BIN)/python -m pytest -m 'not production'" \
		"$(BIN)/python -m tests.support.postgres -- $(BIN)/python -m pytest -m 'not browser and not once' -o cache_dir=.pytest_cache/postgres"

# One table, each row measured beside its limit in the same run (bench/README.md).
# KEPU_BENCH_QUICK=1 for smaller sizes; `$(BIN)/python -m bench.run NAME…` for some rows only.
bench: $(VENV)/.dev-deps
	scripts/install-system.sh test
	$(BIN)/python -m bench.run
