# Two commands for newcomers: `make demo` and `make test`. Both build .venv by themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS := airflow,testing,docs,dev
STAMP := $(VENV)/.installed
export UV_CACHE_DIR ?= $(CURDIR)/.cache/uv

.PHONY: all venv test lint typecheck pytest docs demo bench reliability clean

all: test

# uv when present (seconds), pip otherwise (about a minute).
$(STAMP): pyproject.toml
	@if command -v uv >/dev/null 2>&1 || $(PYTHON) -m uv --version >/dev/null 2>&1 || $(PYTHON) -m pip install -q uv; then \
	  UV="$$(command -v uv || echo '$(PYTHON) -m uv')"; \
	  $$UV venv -q --allow-existing --seed -p $(PYTHON) $(VENV) && \
	  $$UV pip install -q -p $(BIN)/python -e ".[$(EXTRAS)]"; \
	else \
	  $(PYTHON) -m venv $(VENV) && $(BIN)/pip install -q -e ".[$(EXTRAS)]"; \
	fi
	@touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check sync_provider tests benchmarks
	$(BIN)/ruff format --check sync_provider tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers halve the wall time (the tests mostly wait on the local stand-ins); the tests that
# measure event-loop latency run alone afterwards.
PYTEST_WORKERS ?= 2
pytest: $(STAMP)
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not serial"
	$(BIN)/python -m pytest -q -m serial

docs: $(STAMP)
	$(BIN)/sphinx-build -q -W --keep-going -b html docs docs/_build/html

test: lint typecheck pytest docs

demo: $(STAMP)
	$(BIN)/python -m sync_provider.cli.demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The fault suite at full size (a small version runs inside `make test`); exits 1 when a goal is missed.
RELIABILITY_ARGS ?= --loops 100
reliability: $(STAMP)
	$(BIN)/python -m tests.reliability $(RELIABILITY_ARGS)

clean:
	rm -rf $(VENV) docs/_build .pytest_cache .mypy_cache .ruff_cache
