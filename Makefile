PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo lint typecheck format install clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip  # a current pip resolves faster
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The checks before the suite: a type error or a broken layering contract fails CI.
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

test: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(MAKE) --no-print-directory typecheck
	$(BIN)/python -m pytest -n 4 --dist worksteal $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/finales demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(MAKE) --no-print-directory typecheck

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
