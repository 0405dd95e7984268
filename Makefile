# The two commands a newcomer needs: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DEMO_DB ?= sqlite+aiosqlite:///./crm.db
STAMP := $(VENV)/.installed

.PHONY: install demo test test-deep lint format schema

$(STAMP): pyproject.toml examples/loyalty_plugin/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]" -e examples/loyalty_plugin
	touch $(STAMP)

install: $(STAMP)

demo: install
	CRM_DATABASE_URL="$${CRM_DATABASE_URL:-$(DEMO_DB)}" $(BIN)/crm-graph migrate
	CRM_DATABASE_URL="$${CRM_DATABASE_URL:-$(DEMO_DB)}" $(BIN)/crm-graph demo
	CRM_DATABASE_URL="$${CRM_DATABASE_URL:-$(DEMO_DB)}" $(BIN)/crm-graph keys create --role admin --name demo --replace
	CRM_DATABASE_URL="$${CRM_DATABASE_URL:-$(DEMO_DB)}" $(BIN)/crm-graph serve

test: install lint
	$(BIN)/python -m pytest

# The deep runs: the fuzzer (tests/test_fuzz.py) with thousands of documents per role and
# database instead of make test's 200, and the compiled read path's differential corpus (2,000
# generated queries, every role, both databases, through both paths; make test runs 25).
# Record their results in docs/benchmarks.md.
FUZZ_EXAMPLES ?= 2000
test-deep: install
	CRM_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -q tests/test_fuzz.py
	CRM_DIFFERENTIAL_QUERIES=2000 $(BIN)/python -m pytest -q -s tests/test_compiled_reads.py -k generated

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Regenerate the committed schema.graphql (core + bundled plugins; the example partner plugin
# excluded) and the hostile corpus built from it.
schema: install
	CRM_DISABLED_PLUGINS=loyalty $(BIN)/crm-graph schema export > schema.graphql
	$(BIN)/python tests/corpus/generate.py
