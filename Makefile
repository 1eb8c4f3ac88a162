# Everyday commands. Each target creates .venv and installs the project from its own files
# when needed, so `make report` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.kamsim-run-installed
DEV_STAMP := $(VENV)/.kamsim-dev-installed

.PHONY: report summary test lint typecheck pytest bench notebooks clean

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "kamsim needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(RUN_STAMP)

## The main job: the board report on the bundled sample data -> reports/board_report.html
report: $(RUN_STAMP)
	$(BIN)/kamsim report --out reports

## Headline figures of the sample portfolio in the terminal
summary: $(RUN_STAMP)
	$(BIN)/kamsim summary

## Everything CI runs: ruff, mypy, then the whole pytest suite
test: $(DEV_STAMP)
	$(BIN)/ruff check kamsim tests benchmarks
	$(BIN)/mypy kamsim
	$(BIN)/pytest

lint: $(DEV_STAMP)
	$(BIN)/ruff check kamsim tests benchmarks

typecheck: $(DEV_STAMP)
	$(BIN)/mypy kamsim

## Benchmarks (ratios, printed): not part of the tests
bench: $(DEV_STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
