# polyroute: `make demo` runs the demo, `make test` runs the whole test suite.
# Both build a virtualenv in .venv on first use (Python >= 3.11 as python3).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

INTEGRATIONS := $(wildcard integrations/*/pyproject.toml)

.PHONY: demo test lint typecheck docs bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: $(BIN)/python pyproject.toml
	$(PIP) -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.core pyproject.toml $(INTEGRATIONS) requirements-dev.txt requirements-proxy.txt
	$(PIP) -e ".[dev,docs]" -r requirements-dev.txt -r requirements-proxy.txt
	@for p in $(dir $(INTEGRATIONS)); do $(PIP) --no-deps -e $$p || exit 1; done
	@touch $@

install: $(VENV)/.core
install-dev: $(VENV)/.dev

demo: $(VENV)/.core  ## route a burst of requests through three simulated providers
	$(BIN)/polyroute demo

test: $(VENV)/.dev  ## the whole test suite: core, integrations, conformance
	$(BIN)/python -m pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests integrations benchmarks
	$(BIN)/ruff format --check src tests integrations

typecheck: $(VENV)/.dev
	$(BIN)/mypy
	$(BIN)/mypy --strict integrations/langchain/langchain_polyroute
	$(BIN)/mypy --strict -p llama_index.llms.polyroute
	$(BIN)/mypy --strict -p llama_index.embeddings.polyroute
	$(BIN)/mypy --strict integrations/litellm/litellm_polyroute

docs: $(VENV)/.dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

bench: $(VENV)/.dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) site .pytest_cache .mypy_cache .ruff_cache
