PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# One venv, two install stamps: `make demo` installs only what the demo runs (.[demo]), `make
# test` everything (.[dev], a superset of .[demo], so it marks the demo's stamp too and a later
# `make demo` installs nothing).
DEMO_STAMP := $(VENV)/.installed-demo
DEV_STAMP := $(VENV)/.installed-dev
STAMP := $(DEV_STAMP)

.PHONY: test demo demo-eol lint typecheck format install install-botorch clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip  # a current pip resolves faster

$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[demo]'
	touch $(DEMO_STAMP)

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(DEV_STAMP) $(DEMO_STAMP)

install: $(STAMP)

# The optional BoTorch extra (the optimiser's `acquisition = "botorch"` and its tests, which
# skip without it except in CI). TORCH picks the PyTorch build, e.g. a CPU wheel:
#   make install-botorch TORCH='torch --index-url https://download.pytorch.org/whl/cpu'
TORCH ?= torch
BOTORCH_STAMP := $(VENV)/.installed-botorch
$(BOTORCH_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install --quiet $(TORCH)
	$(BIN)/python -m pip install --quiet -e '.[dev,botorch]'
	touch $(BOTORCH_STAMP)

install-botorch: $(BOTORCH_STAMP)

# The checks before the suite: a type error or a broken layering contract fails CI.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest -n 4 --dist worksteal $(PYTEST_ARGS)

# OUT=DIR writes the report there (default: ./finales-demo/conductivity-<date>-<time>/).
demo: $(DEMO_STAMP)
	$(BIN)/finales demo $(if $(OUT),--out '$(OUT)')

# The end-of-life campaign (about 70 s more: not part of `make demo`, which stays under a
# minute on a fresh clone; default report folder ./finales-demo/eol-<date>-<time>/).
demo-eol: $(DEMO_STAMP)
	$(BIN)/finales demo eol $(if $(OUT),--out '$(OUT)')

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts
	$(MAKE) --no-print-directory typecheck

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
