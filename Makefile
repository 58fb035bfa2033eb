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

## The whole suite: lint, types, then every test tier. The chaos tests (a few hundred generated
## runs, mostly waiting on their own hub) run alongside the rest; their report follows it.
test: $(STAMP) lint typecheck
	@mkdir -p .data
	@$(PY) -m pytest -q -s -p no:cacheprovider tests/chaos > .data/chaos-tests.log 2>&1 & chaos=$$!; \
	$(PY) -m pytest -q -p no:cacheprovider --ignore=tests/chaos; rest=$$?; \
	wait $$chaos; chaos_rc=$$?; \
	echo "== tests/chaos (run alongside; exit $$chaos_rc)"; tail -n 40 .data/chaos-tests.log; \
	test $$rest -eq 0 && test $$chaos_rc -eq 0

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
