# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test install lint typecheck unit clean openapi

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Start the whole hub (SQLite + Temporal dev server + simulator + worker + API).
run: $(STAMP)
	$(VENV)/bin/mph dev

## The whole suite: lint, types, then every test tier.
test: $(STAMP) lint typecheck
	$(PY) -m pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy .

unit: $(STAMP)
	$(PY) -m pytest -q tests/unit

## Regenerate docs/openapi.json from the app (the contract test fails while they differ).
openapi: $(STAMP)
	$(VENV)/bin/mph openapi --write

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
