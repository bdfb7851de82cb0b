# dsom: two commands do everything on a fresh machine (Python 3.11+, Java 17+):
#   make demo   - live demo: local Kafka broker, pipeline, simulated operators, ClickHouse summary
#   make test   - lint, type-check, unit and integration tests against a real local broker
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The compiled hot paths (pipeline/native, Rust via PyO3), rebuilt when their sources change.
NATIVE := pipeline/native
NATIVE_STAMP := $(VENV)/.native
NATIVE_SRC := $(NATIVE)/Cargo.toml $(NATIVE)/Cargo.lock $(NATIVE)/dsom_native.pyi $(wildcard $(NATIVE)/src/*.rs $(NATIVE)/src/*/*.rs)
# The test broker uses its own ports and data folder, so it never disturbs a running demo,
# and requires client certificates (mTLS) from its own PKI, like production.
# TEST_PORT moves the test broker (and TEST_PORT+1 its controller) to run two checkouts at once.
TEST_PORT ?= 19192
TEST_PKI := $(CURDIR)/.run/test/pki
# The registry's tests also start a throwaway PostgreSQL on TEST_PG_PORT (default TEST_PORT+50).
TEST_PG_PORT ?= $(shell echo $$(($(TEST_PORT)+50)))
TEST_ENV := DSOM_RUN_DIR=$(CURDIR)/.run/test DSOM_KAFKA_PORT=$(TEST_PORT) DSOM_KAFKA_CONTROLLER_PORT=$(shell echo $$(($(TEST_PORT)+1))) \
	DSOM_PKI_DIR=$(TEST_PKI) DSOM_KAFKA_PKI_DIR=$(TEST_PKI) DSOM_POSTGRES_PORT=$(TEST_PG_PORT)

.PHONY: setup native chromium postgresql demo test unit lint bench bench-archive bench-checkpointer report-bench cabinet-bench grafana i18n kafka-fetch kafka-start kafka-stop clean examples

setup: $(NATIVE_STAMP) kafka-fetch chromium postgresql

# The dashboard's browser test drives Debian's Chromium with Playwright (Playwright's own browser
# download cannot work offline). Installed once, as root or through sudo.
chromium:
	@command -v chromium >/dev/null 2>&1 || { echo "installing Chromium (Debian package) for the browser test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; } || \
		{ echo "could not install Chromium: run 'apt-get install chromium' as root" >&2; exit 1; }; }

# The registry runs its tests on PostgreSQL too: Debian's server package, for initdb and pg_ctl
# (infra/postgres_local.py makes throwaway clusters under .run/). Installed once, as root or through sudo.
postgresql:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ echo "installing PostgreSQL (Debian package) for the registry's tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q postgresql >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q postgresql >/dev/null; } || \
		{ echo "could not install PostgreSQL: run 'apt-get install postgresql' as root" >&2; exit 1; }; }

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -e '.[dev]'
	@touch $@

# maturin builds the crate with the machine's cargo (rustup) and installs it into the venv.
$(NATIVE_STAMP): $(STAMP) $(NATIVE_SRC)
	@command -v cargo >/dev/null 2>&1 || { echo "cargo not found: install Rust (https://rustup.rs) to build $(NATIVE)" >&2; exit 1; }
	@echo "building $(NATIVE) (Rust, release)"
	@VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/maturin develop --release -q -m $(NATIVE)/Cargo.toml
	@touch $@

native: $(NATIVE_STAMP)

kafka-fetch:
	@$(PYTHON) infra/kafka_local.py fetch

demo: setup
	$(BIN)/dsom demo $(if $(DEMO_SECONDS),--seconds $(DEMO_SECONDS),)

lint: $(NATIVE_STAMP)
	$(BIN)/ruff check pipeline schemas sinks dashboards registry web infra tests
	$(BIN)/mypy pipeline schemas sinks dashboards registry web

unit: $(NATIVE_STAMP)
	$(BIN)/pytest -q tests --ignore=tests/integration

# Three suites run at once, since each spends much of its time waiting (on brokers, workers,
# browsers): the integration tests (tests/integration) and the others (unit, web, registry,
# reports) on the one mTLS test broker, and the cluster's tests (tests/cluster) on their own
# three brokers, ports and PKI. The others' and the cluster's output follow; any failing fails.
SIDE_PYTEST := $(BIN)/pytest -q -p no:cacheprovider
test: setup lint
	@$(TEST_ENV) $(BIN)/dsom security init
	@$(TEST_CLUSTER_ENV) $(BIN)/dsom security init
	@mkdir -p .run && rm -f .run/test-other.rc .run/test-cluster.rc; \
	( $(TEST_CLUSTER_ENV) $(SIDE_PYTEST) --basetemp=.run/pytest-cluster tests/cluster \
	  >.run/test-cluster.log 2>&1; echo $$? >.run/test-cluster.rc ) & \
	$(TEST_ENV) infra/with_kafka.sh env DSOM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:$(TEST_PORT) sh -c ' \
	  ( $(SIDE_PYTEST) --basetemp=.run/pytest-other tests --ignore=tests/integration --ignore=tests/cluster \
	    >.run/test-other.log 2>&1; echo $$? >.run/test-other.rc ) & \
	  $(BIN)/pytest -q --basetemp=.run/pytest-integration tests/integration; rc=$$?; wait; exit $$rc'; \
	suite=$$?; wait; \
	for s in other cluster; do echo "== tests ($$s: run beside the integration tests above)"; \
	  cat .run/test-$$s.log; done; \
	test "$$suite" = 0 && test "$$(cat .run/test-other.rc)" = 0 && test "$$(cat .run/test-cluster.rc)" = 0

# The reference clients (examples/java with Maven, examples/go) built and run against the test broker,
# with a key issued by `dsom keys issue`; `make test` runs them too.
examples: setup
	@$(TEST_ENV) $(BIN)/dsom security init
	@$(TEST_ENV) infra/with_kafka.sh env DSOM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:$(TEST_PORT) \
		$(BIN)/pytest -q tests/integration/test_examples_java.py tests/integration/test_examples_go.py

# Its own mTLS broker (ports BENCH_PORT and BENCH_PORT+1, data in .run/bench), stopped again afterwards.
# A warm-up of BENCH_WARMUP_EVENTS on throwaway topics, throughput of BENCH_EVENTS preloaded events, then latency at BENCH_RATE events/s for BENCH_LIVE_SECONDS.
BENCH_PORT ?= 19292
BENCH_PKI := $(CURDIR)/.run/bench/pki
BENCH_ENV := DSOM_RUN_DIR=$(CURDIR)/.run/bench DSOM_KAFKA_PORT=$(BENCH_PORT) DSOM_KAFKA_CONTROLLER_PORT=$(shell echo $$(($(BENCH_PORT)+1))) \
	DSOM_PKI_DIR=$(BENCH_PKI) DSOM_KAFKA_PKI_DIR=$(BENCH_PKI)
BENCH_EVENTS ?= 1500000
BENCH_WORKERS ?= 2
BENCH_RATE ?= 5000
BENCH_LIVE_SECONDS ?= 20
BENCH_WARMUP_EVENTS ?= 100000
# BENCH_ALERTS=1 also runs the alerts agent, in its own worker process, and prints its CPU per event.
# BENCH_ALERTS_ENGINE=python gives that agent alone the Python reference engine (before/after of its reader).

bench: setup
	@$(BENCH_ENV) $(BIN)/dsom security init
	@$(BENCH_ENV) infra/with_kafka.sh env DSOM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:$(BENCH_PORT) \
		$(BIN)/dsom bench --events $(BENCH_EVENTS) --workers $(BENCH_WORKERS) \
		--rate $(BENCH_RATE) --live-seconds $(BENCH_LIVE_SECONDS) --warmup-events $(BENCH_WARMUP_EVENTS)

# The verifiable archive's costs and proof sizes/times up to 100 M leaves (offline, docs/archive.md).
bench-archive: $(NATIVE_STAMP)
	$(BIN)/python -m pipeline.tools.bench_archive

# The checkpointer alone on a real broker (BENCH_PORT): its CPU per archive event, with and without
# hashing the leaves, runs alternated (docs/archive.md). Each run has its own topics on the broker.
CHECKPOINTER_BENCH_EVENTS ?= 600000
bench-checkpointer: setup
	@$(BENCH_ENV) $(BIN)/dsom security init
	@$(BENCH_ENV) infra/with_kafka.sh env DSOM_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:$(BENCH_PORT) \
		$(BIN)/python -m pipeline.tools.bench_checkpointer --events $(CHECKPOINTER_BENCH_EVENTS) --runs 4 --variants default,nohash

# Each report's latency over a large table (synthetic events in a fresh chdb folder under .run/).
REPORT_BENCH_EVENTS ?= 10000000
report-bench: setup
	$(BIN)/python -m dashboards.bench --events $(REPORT_BENCH_EVENTS)

# The cabinets' pages and API over HTTP on the report data set, p50/p95 (docs/cabinets.md).
# CABINET_BENCH_ARGS=--reuse measures the last data set again.
CABINET_BENCH_EVENTS ?= 10000000
CABINET_BENCH_PORT ?= 0
cabinet-bench: setup
	$(BIN)/python -m web.bench --events $(CABINET_BENCH_EVENTS) --port $(CABINET_BENCH_PORT) $(CABINET_BENCH_ARGS)

# Grafana dashboards are generated from the report catalog: regenerate after changing a report.
grafana: $(NATIVE_STAMP)
	$(BIN)/python -m dashboards.grafana_gen

# The translations (issue 19, docs/i18n.md): extract every string a person reads (babel.cfg) into
# the template, merge it into each language's catalog (a changed string turns fuzzy, a new one
# empty, a removed one goes), then list what still lacks its Ukrainian. The .po files are the
# only translations kept: the web app compiles them in memory at start-up. Then rewrite the operators'
# guide's table of rejection reasons in both languages (schemas/README.md) from pipeline/contract/reasons.py.
i18n: $(STAMP)
	@$(BIN)/python -m pipeline.contract.reasons
	@$(BIN)/python -m web.i18n_check

kafka-start:
	@$(PYTHON) infra/kafka_local.py start

kafka-stop:
	@$(PYTHON) infra/kafka_local.py stop

clean: kafka-stop
	rm -rf .run

# -- issue 16: a three-broker KRaft cluster (RF 3, min.insync.replicas 2) and the chaos harness --
# Brokers on CLUSTER_PORT, +2, +4 (controllers +1, +3, +5), data in .run/cluster, the same mTLS PKI.
CLUSTER_PORT ?= 19392
CLUSTER_PKI := $(CURDIR)/.run/cluster/pki
CLUSTER_ENV := DSOM_RUN_DIR=$(CURDIR)/.run/cluster DSOM_KAFKA_NODES=3 DSOM_KAFKA_PORT=$(CLUSTER_PORT) \
	DSOM_KAFKA_CONTROLLER_PORT=$(shell echo $$(($(CLUSTER_PORT)+1))) DSOM_PKI_DIR=$(CLUSTER_PKI) DSOM_KAFKA_PKI_DIR=$(CLUSTER_PKI)
# The short chaos run of `make test` (tests/cluster) on a cluster of its own.
TEST_CLUSTER_PORT ?= $(shell echo $$(($(TEST_PORT)+10)))
TEST_CLUSTER_PKI := $(CURDIR)/.run/test-cluster/pki
TEST_CLUSTER_ENV := DSOM_RUN_DIR=$(CURDIR)/.run/test-cluster DSOM_KAFKA_NODES=3 DSOM_KAFKA_PORT=$(TEST_CLUSTER_PORT) \
	DSOM_KAFKA_CONTROLLER_PORT=$(shell echo $$(($(TEST_CLUSTER_PORT)+1))) DSOM_PKI_DIR=$(TEST_CLUSTER_PKI) \
	DSOM_KAFKA_PKI_DIR=$(TEST_CLUSTER_PKI)
# make chaos: 20+ worker SIGKILLs, a broker killed and one frozen, under CHAOS_RATE events/s.
CHAOS_PORT ?= 19492
CHAOS_RATE ?= 1000
CHAOS_SEED ?= 1
CHAOS_PKI := $(CURDIR)/.run/chaos/pki
CHAOS_ENV := DSOM_RUN_DIR=$(CURDIR)/.run/chaos DSOM_KAFKA_NODES=3 DSOM_KAFKA_PORT=$(CHAOS_PORT) \
	DSOM_KAFKA_CONTROLLER_PORT=$(shell echo $$(($(CHAOS_PORT)+1))) DSOM_PKI_DIR=$(CHAOS_PKI) DSOM_KAFKA_PKI_DIR=$(CHAOS_PKI)

.PHONY: cluster-start cluster-stop chaos many-operators backlog

cluster-start: $(STAMP)
	@$(CLUSTER_ENV) $(BIN)/dsom security init
	@$(CLUSTER_ENV) $(PYTHON) infra/kafka_local.py start
	@echo "bootstrap servers: $$($(CLUSTER_ENV) $(PYTHON) infra/kafka_local.py bootstrap) (set DSOM_TOPICS__REPLICATION_FACTOR=3 DSOM_TOPICS__MIN_INSYNC_REPLICAS=2)"

cluster-stop:
	@$(CLUSTER_ENV) $(PYTHON) infra/kafka_local.py stop

chaos: setup
	@$(CHAOS_ENV) $(BIN)/dsom security init
	@$(CHAOS_ENV) infra/with_cluster.sh $(BIN)/dsom chaos --rate $(CHAOS_RATE) --seed $(CHAOS_SEED) \
		$(if $(CHAOS_WORKERS),--workers $(CHAOS_WORKERS),)

# A thousand operators' topics (4 each) on a cluster of its own (the chaos ports): creation time,
# broker memory, metadata, workers' assignment and restore times, throughput.
MANY_OPERATORS ?= 1000
many-operators: setup
	@$(CHAOS_ENV) $(BIN)/dsom security init
	@$(CHAOS_ENV) infra/with_cluster.sh $(BIN)/dsom many-operators --operators $(MANY_OPERATORS)

# An operator back from a 30-hour outage sends BACKLOG_EVENTS at full speed while four stream live.
BACKLOG_EVENTS ?= 200000
backlog: setup
	@$(CHAOS_ENV) $(BIN)/dsom security init
	@$(CHAOS_ENV) infra/with_cluster.sh $(BIN)/dsom backlog --events $(BACKLOG_EVENTS)
