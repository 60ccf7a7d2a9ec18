# The project's verbs. Every target works on a fresh Debian machine: it creates the virtual
# environment, installs the project with its dev extras, and installs the Debian packages it
# needs (redis-server; Chromium and PostgreSQL for the tests) when they are missing.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test lint typecheck check bench docs redis system-test-packages clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,postgres]"
	touch $(STAMP)

install: $(STAMP) redis

# Debian packages, installed only when missing: redis-server for everything; headless Chromium
# for the dashboard's browser test; PostgreSQL server binaries for the multi-worker deployment
# tests (they start a throwaway cluster of their own).
redis:
	@scripts/install-system-packages redis

system-test-packages:
	@scripts/install-system-packages redis browser postgres

demo: install
	$(BIN)/orchestrator demo

test: $(STAMP) system-test-packages
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check orchestrator jobs tests benchmarks
	$(BIN)/ruff format --check orchestrator jobs tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: install
	$(BIN)/python -m benchmarks

# The documentation site (mkdocs.yml, docs/) into site/; --strict: a broken link, anchor or
# generated reference fails the build. NO_MKDOCS_2_WARNING quiets mkdocs-material's banner.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site
