# `make demo` and `make test` each create .venv if missing, install hashbench into it, then run.
# `make test` is the fast tier; `make test-slow` the tests marked slow or training; `make test-all` both.
# `make docs` builds the documentation site (docs/, mkdocs.yml) strictly into $(SITE).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.docs-installed
SITE ?= build/site

.PHONY: demo test test-slow test-all docs install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,search,plot,timm,tensorboard]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/hashbench run experiments/demo.toml

test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not training"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow or training"

test-all: $(STAMP)
	$(BIN)/python -m pytest -q

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(BIN)/mkdocs build --strict --quiet --site-dir $(SITE)

clean:
	rm -rf $(VENV) runs .pytest_cache $(SITE)
