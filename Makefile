# The two commands a user needs: `make demo` and `make test`.
# Both create .venv on first use with whatever python3 (>= 3.11) is on PATH.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint browser clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "dataplan needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The demo needs dataplan alone; the tests add the dev tools and the Postgres driver and server.
$(VENV)/.installed-base: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.installed-base
	$(BIN)/python -m pip install -q -e '.[dev,postgres]'
	touch $@

demo: $(VENV)/.installed-base
	$(BIN)/dataplan demo

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# The screenshot tests look at the HTML reports in headless Chromium, from Debian's packages.
# Installed when this runs as root with apt-get (CI); otherwise those two tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium for the screenshot tests"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the screenshot tests will skip"; \
	  else echo "no chromium: the screenshot tests will skip"; fi; }

test: lint browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) dataplan-demo .pytest_cache .mypy_cache .ruff_cache
