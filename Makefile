# dsom: two commands do everything on a fresh machine (Python 3.11+, Java 17+):
#   make demo   - live demo: local Kafka broker, pipeline, simulated operators, ClickHouse summary
#   make test   - lint, type-check, unit and integration tests against a real local broker
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The test broker uses its own ports and data folder, so it never disturbs a running demo,
# and requires client certificates (mTLS) from its own PKI, like production.
# TEST_PORT moves the test broker (and TEST_PORT+1 its controller) to run two checkouts at once.
TEST_PORT ?= 19192
TEST_PKI := $(CURDIR)/.run/test/pki
TEST_ENV := DSOM_RUN_DIR=$(CURDIR)/.run/test DSOM_KAFKA_PORT=$(TEST_PORT) DSOM_KAFKA_CONTROLLER_PORT=$(shell echo $$(($(TEST_PORT)+1))) \
	DSOM_PKI_DIR=$(TEST_PKI) DSOM_KAFKA_PKI_DIR=$(TEST_PKI)

.PHONY: setup demo test unit lint bench kafka-fetch kafka-start kafka-stop clean

setup: $(STAMP) kafka-fetch

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	@touch $@

kafka-fetch:
	@$(PYTHON) infra/kafka_local.py fetch

demo: setup
	$(BIN)/dsom demo $(if $(DEMO_SECONDS),--seconds $(DEMO_SECONDS),)

lint: $(STAMP)
	$(BIN)/ruff check pipeline schemas sinks tests
	$(BIN)/mypy pipeline schemas sinks

unit: $(STAMP)
	$(BIN)/pytest -q tests --ignore=tests/integration

test: setup lint
	@$(TEST_ENV) $(BIN)/dsom security init
	@$(TEST_ENV) infra/with_kafka.sh env DSOM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:$(TEST_PORT) \
		$(BIN)/pytest -q tests

# Its own mTLS broker (ports BENCH_PORT and BENCH_PORT+1, data in .run/bench), stopped again afterwards.
# Throughput of BENCH_EVENTS preloaded events, then latency at BENCH_RATE events/s for BENCH_LIVE_SECONDS.
BENCH_PORT ?= 19292
BENCH_PKI := $(CURDIR)/.run/bench/pki
BENCH_ENV := DSOM_RUN_DIR=$(CURDIR)/.run/bench DSOM_KAFKA_PORT=$(BENCH_PORT) DSOM_KAFKA_CONTROLLER_PORT=$(shell echo $$(($(BENCH_PORT)+1))) \
	DSOM_PKI_DIR=$(BENCH_PKI) DSOM_KAFKA_PKI_DIR=$(BENCH_PKI)
BENCH_EVENTS ?= 200000
BENCH_WORKERS ?= 1
BENCH_RATE ?= 5000
BENCH_LIVE_SECONDS ?= 20

bench: setup
	@$(BENCH_ENV) $(BIN)/dsom security init
	@$(BENCH_ENV) infra/with_kafka.sh env DSOM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:$(BENCH_PORT) \
		$(BIN)/dsom bench --events $(BENCH_EVENTS) --workers $(BENCH_WORKERS) \
		--rate $(BENCH_RATE) --live-seconds $(BENCH_LIVE_SECONDS)

kafka-start:
	@$(PYTHON) infra/kafka_local.py start

kafka-stop:
	@$(PYTHON) infra/kafka_local.py stop

clean: kafka-stop
	rm -rf .run
