# The project's verbs. Every target works on a fresh Debian machine: it creates the virtual
# environment, installs the project with its dev extras, and installs redis-server when missing.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install demo test lint typecheck check bench redis browser postgres clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,postgres]"
	touch $(STAMP)

install: $(STAMP) redis

redis:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (Debian package)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq redis-server >/dev/null; }

# Debian's headless Chromium, for the dashboard's browser test.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing chromium (Debian package)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# Debian's PostgreSQL server binaries, for the tests of the multi-worker deployment (they start
# a throwaway cluster of their own; the package's default cluster is not used).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
	  echo "installing postgresql (Debian package)"; \
	  $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq postgresql >/dev/null; }

demo: install
	$(BIN)/orchestrator demo

test: install browser postgres
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check orchestrator jobs tests
	$(BIN)/ruff format --check orchestrator jobs tests

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

bench: install
	$(BIN)/python -m orchestrator.bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
