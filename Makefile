# Rollout Workbench. Needs only Python 3.11+, pip and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lab lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## make demo: run a real scenario end to end and write its reports (markdown and HTML) to runs/demo/
demo: $(STAMP)
	$(BIN)/workbench run scenarios/progressive_bad_candidate.toml --out runs/demo
	$(BIN)/workbench report runs/demo -o runs/demo/report.html
	@echo "report: runs/demo/report.md and runs/demo/report.html (figures inline)"

## make test: lint and the layer contracts, then every test (unit, end-to-end, doctests, notebooks, browser when Chromium exists)
test: $(STAMP)
	$(BIN)/ruff check workbench tests bench
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

## make lab: JupyterLab on notebooks/
lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

## make lint: ruff, and the layer contracts in pyproject.toml ([tool.importlinter])
lint: $(STAMP)
	$(BIN)/ruff check workbench tests bench
	$(BIN)/lint-imports --no-cache --no-logo

bench: $(STAMP)
	$(BIN)/python bench/engine.py

clean:
	rm -rf $(VENV) runs .pytest_cache
