# CloudAct Costs. `make demo` runs the whole system on the embedded default; `make test` runs the tests.
# Both install what they need first (Python venv from requirements.lock, node tools from package-lock.json).

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# bqemulator (BigQuery emulator for the GCP tests and the demo) needs its own venv: its pins conflict with ours.
BQ_VENV  := $(VENV)-bqemulator
BQ_STAMP := $(BQ_VENV)/.installed
# The FinOps Foundation's focus-validator (conformance tests) needs Python >= 3.12: its own venv too.
VALIDATOR_VENV  := $(VENV)-validator
VALIDATOR_STAMP := $(VALIDATOR_VENV)/.installed
# fakesnow (Snowflake's wire protocol on DuckDB, a loopback server for the Snowflake tests and the demo)
# pins duckdb, sqlglot and snowflake-connector-python 5 (protobuf<7): its own venv as well.
FAKESNOW_VENV  := $(VENV)-fakesnow
FAKESNOW_STAMP := $(FAKESNOW_VENV)/.installed
export CLOUDACT_DATA_DIR ?= ./data

.PHONY: install protos check-protos lint typecheck test unit demo serve bench clean

# The dashboard's charts: ECharts from node_modules (package-lock.json), copied next to the served assets.
ECHARTS := cloudact_http/dashboard/static/vendor/echarts.min.js
# Debian packages: Chromium and its driver (the dashboard's browser tests) and jemalloc (the allocator
# `cloudact convert` runs DuckDB under when installed: cloudact_cli/allocator.py).
SYSTEM_STAMP := $(VENV)/.system-packages
JEMALLOC := /usr/lib/x86_64-linux-gnu/libjemalloc.so.2

install: $(STAMP) $(BQ_STAMP) $(VALIDATOR_STAMP) $(FAKESNOW_STAMP) node_modules/.installed $(ECHARTS) $(SYSTEM_STAMP)

$(ECHARTS): node_modules/.installed
	mkdir -p $(dir $@)
	cp node_modules/echarts/dist/echarts.min.js $@

$(SYSTEM_STAMP): | $(STAMP)
	# apt as root, or through sudo; nothing to do when all three are already there.
	command -v chromium >/dev/null && command -v chromedriver >/dev/null && test -f $(JEMALLOC) || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver libjemalloc2; }
	touch $(SYSTEM_STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.8
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

$(BQ_STAMP): requirements-bqemulator.lock | $(STAMP)
	test -x $(BQ_VENV)/bin/python || $(PYTHON) -m venv $(BQ_VENV)
	$(BIN)/uv pip sync --quiet --python $(BQ_VENV)/bin/python requirements-bqemulator.lock
	touch $(BQ_STAMP)

$(VALIDATOR_STAMP): requirements-validator.lock | $(STAMP)
	test -x $(VALIDATOR_VENV)/bin/python || $(PYTHON) scripts/python_at_least.py 3.12 -m venv $(VALIDATOR_VENV)
	$(BIN)/uv pip sync --quiet --python $(VALIDATOR_VENV)/bin/python requirements-validator.lock
	touch $(VALIDATOR_STAMP)

$(FAKESNOW_STAMP): requirements-fakesnow.lock | $(STAMP)
	test -x $(FAKESNOW_VENV)/bin/python || $(PYTHON) -m venv $(FAKESNOW_VENV)
	$(BIN)/uv pip sync --quiet --python $(FAKESNOW_VENV)/bin/python requirements-fakesnow.lock
	touch $(FAKESNOW_STAMP)

node_modules/.installed: package.json package-lock.json
	# npm install (not ci): npm 11 wants every platform build of buf in the lock; the version is pinned in package.json.
	npm install --no-audit --no-fund --loglevel=error
	touch node_modules/.installed

## Regenerate the gRPC stubs and typed .pyi from protos/ (commit the result).
protos: install
	$(BIN)/python scripts/gen_protos.py

## Fail when the committed stubs differ from what protos/ generates, or buf lint complains.
check-protos: install
	$(BIN)/python scripts/gen_protos.py
	git diff --exit-code --stat -- cloudact_shared/gen || (echo "generated stubs are stale: run 'make protos' and commit" && exit 1)
	test -z "$$(git status --porcelain -- cloudact_shared/gen)" || (echo "generated stubs missing from git: run 'make protos' and commit" && exit 1)
	npx --no-install buf lint

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

unit: install
	$(BIN)/pytest -q

## Everything CI checks: stubs fresh, buf lint, ruff, mypy, the whole pytest suite.
test: check-protos lint typecheck unit

demo: install
	$(BIN)/python -m cloudact_cli.demo

serve: install
	$(BIN)/cloudact serve

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(BQ_VENV) $(VALIDATOR_VENV) $(FAKESNOW_VENV) node_modules data data-keys bench-data .pytest_cache .mypy_cache .ruff_cache
