# Lanthanide: every target does its own set-up on a fresh machine (Python 3.11+, Java 17+, Maven).
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
PYTEST_ARGS ?=

.PHONY: help install kafka-jars run run-secure kafka-acls test test-unit test-chaos test-compose compose-secrets bench bench-cpu bench-cpu-compare docs up down lint fmt clean

help:
	@echo "make run    - real Kafka (KRaft, Maven jars) + every service as its own process, SQLite stores"
	@echo "make run-secure - the same on SASL_SSL with per-service principals and ACLs"
	@echo "make test   - unit, integration and end-to-end tests against a real broker and PostgreSQL"
	@echo "make bench  - benchmarks, reports in bench/results/"
	@echo "make bench-cpu - CPU per 1,000 applications of each service, replayed in-process"
	@echo "make bench-cpu-compare - the same replays, BASE revision (default e1e873e) vs this checkout, alternately"
	@echo "make compose-secrets - passwords, database roles and Kafka TLS material in deploy/secrets/"
	@echo "make up     - the same stack in docker compose, secured (needs a Docker engine)"
	@echo "make test-compose - build every image from Debian packages, run the compose stack, check it"
	@echo "make docs   - JSON Schema and AsyncAPI documents into docs/"
	@echo "make lint   - ruff and mypy"

install:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet "uv==0.13.9"
	$(UV) sync --frozen

kafka-jars: install
	$(UV) run python -m lanthanide_kafka_runner fetch

run: install kafka-jars
	$(UV) run python deploy/run_local.py

# The same, secured: SASL_SSL, one SCRAM principal per service, StandardAuthorizer + deploy/kafka/acls.yaml.
run-secure: install kafka-jars
	$(UV) run python deploy/run_local.py --secure

# Create the topics and apply deploy/kafka/acls.yaml on a cluster (LANTHANIDE_KAFKA_* of the admin).
kafka-acls: install
	$(UV) run python -m lanthanide.kafka_secure apply deploy/kafka/acls.yaml

test: install kafka-jars
	$(UV) run pytest $(PYTEST_ARGS)

test-unit: install
	$(UV) run pytest -m "not kafka and not postgres and not e2e" $(PYTEST_ARGS)

test-chaos: install kafka-jars
	$(UV) run pytest tests/reliability -m chaos -o addopts="--import-mode=importlib -ra" $(PYTEST_ARGS)

# The docker compose stack for real (needs a Docker engine and compose v2; not part of make test).
test-compose: install kafka-jars
	deploy/compose/test_compose.sh

bench: install kafka-jars
	$(UV) run python bench/run_all.py

# In-process replays of a captured corpus: one service's CPU, free of Kafka and of the others.
bench-cpu: install kafka-jars
	test -f bench/results/corpus.jsonl || $(UV) run python bench/capture.py
	for svc in screening review audit notification; do $(UV) run python bench/cpu_$$svc.py || exit 1; done

# The same replays on BASE and on this checkout, alternately in one run (bench/cpu_compare.py): BASE in a
# git worktree under .cache/bench-base/ with its own venv, one shared corpus; bench/results/cpu_compare.{json,md}.
# Fails if a service's CPU per 1,000 applications, head / base, is over 1.10 (CPU_COMPARE_ARGS=--report-only).
# BASE e1e873e is main just before the one-house refactor (issue 11) was merged, with the features of issues 13-15
# and 18 that landed beside it; BASE=820f5a8 (before both) mixes the refactor with those features' own cost.
BASE ?= e1e873e
CPU_COMPARE_ARGS ?=
bench-cpu-compare: install kafka-jars
	test -f bench/results/corpus.jsonl || $(UV) run python bench/capture.py
	$(UV) run python bench/cpu_compare.py --base $(BASE) --uv "$(UV)" $(CPU_COMPARE_ARGS)

docs: install
	$(UV) run lanthanide schema export --out docs/schemas
	$(UV) run python deploy/asyncapi.py --out docs/asyncapi

# The compose stack's secrets (never committed): keeps what exists, adds what is missing.
compose-secrets: install
	$(UV) run python deploy/compose/make_secrets.py deploy/secrets

# Every image from Debian packages (deploy/images/build.sh; the broker must be lanthanide/kafka).
up: compose-secrets
	deploy/images/build.sh >/dev/null
	docker compose -f deploy/docker-compose.yml --env-file deploy/images/debian.env up --no-build

down:
	docker compose -f deploy/docker-compose.yml down

lint: install
	$(UV) run ruff check .
	$(UV) run mypy shared/contracts/src/lanthanide shared/platform/src/lanthanide shared/testing/src/lanthanide

fmt: install
	$(UV) run ruff format .

clean:
	rm -rf .data .pytest_cache
