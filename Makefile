# The two commands a user needs: `make demo` and `make test`.
# Both create .venv on first use with whatever python3 (>= 3.11) is on PATH.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "dataplan needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,postgres]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/dataplan demo

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) dataplan-demo .pytest_cache .mypy_cache .ruff_cache
