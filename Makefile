# The two commands a newcomer needs: `make demo` and `make test`.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DEMO_DB ?= sqlite+aiosqlite:///./crm.db
STAMP := $(VENV)/.installed
# The web app (examples/spa): rebuilt when its sources, its lock file or schema.graphql change.
SPA := examples/spa
SPA_BUILT := $(SPA)/dist/index.html
SPA_SOURCES := $(SPA)/package.json $(SPA)/package-lock.json $(SPA)/index.html $(SPA)/codegen.ts \
	$(SPA)/vite.config.ts $(SPA)/tsconfig.json schema.graphql \
	$(shell find $(SPA)/src -path $(SPA)/src/gql -prune -o -type f -print)
CHROMIUM ?= /usr/bin/chromium

.PHONY: install demo test test-deep lint format schema app chromium

$(STAMP): pyproject.toml examples/loyalty_plugin/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]" -e examples/loyalty_plugin
	touch $(STAMP)

# install prepares everything the suite needs, outside pytest's timed run: the Python
# environment, the built web app and Debian's Chromium for the browser tests.
install: $(STAMP) app chromium

$(SPA_BUILT): $(SPA_SOURCES)
	@command -v npm >/dev/null || { echo "Node.js 20.19+ and npm are needed to build the web app in $(SPA)"; exit 1; }
	cd $(SPA) && npm ci --no-audit --no-fund && npm run build
	touch $@

app: $(SPA_BUILT)

chromium:
	@test -x $(CHROMIUM) || { \
	  test "$$(id -u)" = 0 || { echo "the browser tests need Debian's chromium: run as root, or apt-get install chromium"; exit 1; }; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; }

# The demo needs only Python: the web app is built when npm is there, and served at /app/.
demo: $(STAMP)
	@if command -v npm >/dev/null; then \
	  $(MAKE) --no-print-directory app || echo "the web app did not build: the API runs without it"; \
	else \
	  echo "Node.js is not installed: the API runs without the web app. To get it at /app/, install Node.js 20.19+ and npm, then run make app (or make demo again)"; \
	fi
	CRM_DATABASE_URL="$${CRM_DATABASE_URL:-$(DEMO_DB)}" $(BIN)/crm-graph migrate
	CRM_DATABASE_URL="$${CRM_DATABASE_URL:-$(DEMO_DB)}" $(BIN)/crm-graph demo
	CRM_DATABASE_URL="$${CRM_DATABASE_URL:-$(DEMO_DB)}" $(BIN)/crm-graph keys create --role admin --name demo --replace
	@echo "Web app: open http://127.0.0.1:8000/app/ and paste the key above (API and GraphiQL: http://127.0.0.1:8000/graphql)"
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
