# Everyday commands. Each target creates .venv and installs the project from its own files
# when needed, so `make report` and `make test` work on a fresh machine with Python 3.11+.
# The install compiles the engine's C kernel when a C compiler is present (re-run when
# kamsim/engine/_ckernel.c changes); without one kamsim runs on its pure-numpy path.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.kamsim-run-installed
DEV_STAMP := $(VENV)/.kamsim-dev-installed
# -E: a fresh environment every time, so warnings of unchanged pages are reported too
SPHINX = $(BIN)/python -m sphinx -b html -E -W --keep-going -q docs docs/_build/html

.PHONY: report summary test test-fast test-notebooks test-browser docs lint typecheck pytest bench \
	notebooks clean package-data wheel-check

$(VENV)/bin/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "kamsim needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml setup.py kamsim/engine/_ckernel.c | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml setup.py kamsim/engine/_ckernel.c | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(RUN_STAMP)

## The main job: the board report on the bundled sample data -> reports/board_report.html
report: $(RUN_STAMP)
	$(BIN)/kamsim report --out reports

## Headline figures of the sample portfolio in the terminal
summary: $(RUN_STAMP)
	$(BIN)/kamsim summary

## Everything CI runs: ruff, mypy, import layers, the docs (-W), the pytest suite, the wheel
test: $(DEV_STAMP)
	$(BIN)/ruff check kamsim tests benchmarks
	$(BIN)/mypy kamsim
	$(BIN)/lint-imports
	$(SPHINX)
	$(BIN)/pytest
	PYTHON=$(BIN)/python .ci/wheel-check

## Copy the top-level data/ and notebooks/ (the files people open and edit) into the package
package-data:
	cp data/* kamsim/portfolio/data/
	cp notebooks/0*.ipynb kamsim/apps/notebooks/
	cp notebooks/board_report.ipynb kamsim/views/report/

## Build the wheel, install it alone in a fresh venv outside the checkout, run the product
wheel-check: $(DEV_STAMP)
	PYTHON=$(BIN)/python .ci/wheel-check

## The quick loop while coding: ruff, mypy and pytest without notebooks and browser tests
test-fast: $(DEV_STAMP)
	$(BIN)/ruff check kamsim tests benchmarks
	$(BIN)/mypy kamsim
	$(BIN)/lint-imports
	$(BIN)/pytest -m "not notebook and not browser"

## Only the tests that execute notebooks (explorers and the board report)
test-notebooks: $(DEV_STAMP)
	$(BIN)/pytest -m notebook

## Only the browser tests (JupyterLab and Voila in headless Chromium)
test-browser: $(DEV_STAMP)
	$(BIN)/pytest -m browser

## The documentation site -> docs/_build/html/index.html (warnings are errors; no network)
docs: $(DEV_STAMP)
	$(SPHINX)

lint: $(DEV_STAMP)
	$(BIN)/ruff check kamsim tests benchmarks
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy kamsim

## Benchmarks (ratios, printed): not part of the tests
bench: $(DEV_STAMP)
	for f in benchmarks/bench_*.py; do $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache docs/_build docs/_generated \
		docs/api
