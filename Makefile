# Once-Only: one entry point for developers and CI (.ci/run runs `make test`).
#
#   make setup      uv + the workspace's virtualenv (all packages, dev group) + protos
#   make infra      PostgreSQL, Kafka, Temporal on 127.0.0.1 (deploy/local/infra.sh)
#   make up         infra + the services of deploy/local/Procfile (deploy/local/services.sh)
#   make demo       up, then the demo script
#   make test       up, then lint, unit tests, integration and end-to-end tests, short fault injection
#   make test-unit  unit tests only (no infrastructure needed)
#   make bench      the benchmarks (JSON in bench/results/; python -m bench compare A B)
#   make chaos      the long fault-injection runs: one, then two replicas of every process
#   make down       stop the services, then the infrastructure
#   make reset-temporal  down, then forget every workflow (the dev server's store)
#   make lint       ruff check + ruff format --check; buf lint + buf breaking on protos/

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# `uv` if it is on PATH; otherwise the copy `pip install uv` puts into python3's
# site-packages (its shim may not be on PATH yet, e.g. under pyenv before a rehash).
UV := $(if $(shell command -v uv 2>/dev/null),uv,python3 -m uv)
UVRUN := $(UV) run --frozen

RUN_DIR := .run
PROTOS := $(shell find protos -name '*.proto' 2>/dev/null)
PROTO_OUT := libs/schemas/src
PROTO_STAMP := $(RUN_DIR)/protos.stamp
# Generated modules are not committed: if one is missing (fresh clone, deleted folder),
# regenerate whatever the stamp says.
PROTO_PY := $(patsubst protos/%.proto,$(PROTO_OUT)/%_pb2.py,$(PROTOS))
ifneq ($(filter-out $(wildcard $(PROTO_PY)),$(PROTO_PY)),)
.PHONY: $(PROTO_STAMP)
endif

.PHONY: help setup uv venv protos infra up down reset-temporal demo test test-unit test-integration test-chaos chaos browser helm bench bench-quick lint

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

uv:
	@$(UV) --version >/dev/null 2>&1 || { echo "installing uv (pip)"; python3 -m pip install --quiet uv; }

setup: venv protos

# The whole workspace (every package, dev group included), exactly as uv.lock says.
venv: uv
	$(UV) sync --frozen --all-packages

protos: $(PROTO_STAMP)

# After generating, reinstall onceonly-schemas: in a fresh clone `uv sync` ran while
# libs/schemas/src held no Python file, and hatchling's editable install then puts no path
# entry for it (import onceonly.events fails until the package is reinstalled).
$(PROTO_STAMP): $(PROTOS) | venv
	$(UVRUN) python -m grpc_tools.protoc -I protos --python_out=$(PROTO_OUT) --pyi_out=$(PROTO_OUT) $(PROTOS)
	$(UV) sync --frozen --all-packages --reinstall-package onceonly-schemas
	@mkdir -p $(RUN_DIR) && touch $@

infra: setup
	deploy/local/infra.sh up

# The base registry's demonstration records stand in for the provincial data platform.
up: infra
	deploy/local/services.sh run .venv/bin/onceonly-workflow seed-registry
	deploy/local/services.sh up

down:
	deploy/local/services.sh down
	deploy/local/infra.sh down

# Benchmarks leave thousands of workflows in the dev server's store; the worker resumes
# them on the next `make up`, and a demo's application waits behind them.
reset-temporal: down
	rm -f $(RUN_DIR)/temporal/temporal.db $(RUN_DIR)/temporal/temporal.db-shm $(RUN_DIR)/temporal/temporal.db-wal

# With the services' environment (deploy/local/env): the demo signs staff tokens with
# the keys the services use.
demo: up
	deploy/local/services.sh run .venv/bin/python deploy/local/demo.py
	@echo
	@echo "The system is still running:"
	@echo "  intake API        http://127.0.0.1:$${ONCEONLY_INTAKE_PORT:-8000}/docs"
	@echo "  workflow API      http://127.0.0.1:$${ONCEONLY_WORKFLOW_API_PORT:-8001}/docs"
	@echo "  tracking          http://127.0.0.1:$${ONCEONLY_TRACKING_PORT:-8002}/docs (dashboard: /dashboard)"
	@echo "  notify            http://127.0.0.1:$${ONCEONLY_NOTIFY_PORT:-8003}/health"
	@echo "  Temporal UI       http://127.0.0.1:$${ONCEONLY_TEMPORAL_UI_PORT:-8233}"
	@echo "  logs              $(RUN_DIR)/logs/"
	@echo "Stop everything with: make down"

# Debian's Chromium for the dashboard's browser test (deploy/local/browser.sh).
browser:
	deploy/local/browser.sh

# Helm for the chart's render test (deploy/local/helm.sh: built from its Go module once
# per machine, kept outside the checkout).
helm:
	deploy/local/helm.sh

# The tests start nothing themselves: `test` brings the whole system up first.
test: up browser helm
	@$(MAKE) --no-print-directory lint test-unit test-integration test-chaos

# pytest exits 5 when the marker selects no test (e.g. before any integration test
# exists); that is not a failure of the suite.
test-unit: setup
	$(UVRUN) pytest -m "not integration and not e2e and not chaos" || [ $$? -eq 5 ]

test-integration:
	deploy/local/infra.sh reset-test-db
	$(UVRUN) pytest -m "integration or e2e" || [ $$? -eq 5 ]

# Every process of a separate instance killed once under load (tests/chaos/run.py); the
# report goes to bench/results/chaos-short.json. `chaos` is the long run, twice: one
# replica of every process, then two (each on the three-broker cluster; about 25 min each).
test-chaos: setup
	$(UVRUN) pytest -m chaos -s || [ $$? -eq 5 ]

chaos: setup
	$(UVRUN) python -m tests.chaos.run --long
	$(UVRUN) python -m tests.chaos.run --long --replicated \
		--output bench/results/chaos-replicated-long.json

# Each benchmark measures this system and the raw component under it in the same run.
# Development said explicitly, as in deploy/local/env: the benchmarks' own processes use
# the development keys of the local system (not the whole env: its metrics ports are the
# running processes').
BENCH_ENV := ONCEONLY_ENVIRONMENT=$${ONCEONLY_ENVIRONMENT:-development}

bench: up
	$(BENCH_ENV) $(UVRUN) python -m bench

bench-quick: up
	$(BENCH_ENV) $(UVRUN) python -m bench --quick

# buf from the npm registry, at the version package-lock.json pins (node and npm needed).
BUF := node_modules/.bin/buf

$(BUF): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make lint needs npm (Node.js) for buf: see package.json" >&2; exit 1; }
	npm ci --no-audit --no-fund
	@touch $@

# buf: protos/buf.yaml's lint rules, and no breaking change against the main branch
# (protos/check-breaking.sh says against which commit).
lint: uv $(BUF)
	$(UVRUN) ruff check . && $(UVRUN) ruff format --check .
	$(BUF) lint protos
	BUF=$(BUF) protos/check-breaking.sh
