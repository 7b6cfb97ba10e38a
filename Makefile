# The two commands a new user needs: `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv/bin
WITH_STACK := set -a && . .tally/local.env && set +a &&

.PHONY: demo test up down unit lint e2e tools bench bench-emulator cost chaos fuzz

## demo: bring the local stack up and drive a paid, a declined and a JPY order on each platform
demo: up
	@$(VENV)/python scripts/demo.py

## test: unit tests, lint, then the integration tests against the deployed local stack
test: unit lint e2e

## up: start the emulator, build and deploy the SAM app, write .tally/local.env
up:
	@scripts/up.sh

## down: stop what `make up` started
down:
	@scripts/down.sh

tools:
	@scripts/install-tools.sh

unit:
	cargo test --workspace

lint: tools
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	$(VENV)/sam validate --lint --template-file infra/template.yaml
	$(VENV)/cfn-lint infra/template.yaml

e2e: up
	# One invocation with the same feature set as `unit`, so nothing is rebuilt: the
	# ignored tests are exactly those needing the stack (shared/aws/tests, shared/http/tests).
	$(WITH_STACK) cargo test --workspace -- --ignored
	# --durations: the slowest tests named in every CI log, to keep the run under its time budget
	$(WITH_STACK) $(VENV)/pytest -q --durations=25 tests

## bench: criterion benchmarks of the webhook receiver's CPU path
bench: tools
	cargo bench -p tally-core --bench receiver
	cargo bench -p tally-core --bench payout_ledger
	cargo bench -p tally-core --features testkit --bench slow_platform
	$(VENV)/python benches/stripe_python_construct_event.py
	cd benches/stripe-node && npm install --no-audit --no-fund --silent && node construct_event.js

## bench-emulator: cold/warm latency on the emulator and the functions' init time
bench-emulator: up
	$(VENV)/python benches/emulator_latency.py 50 7
	$(VENV)/python benches/init_time.py 20
	$(VENV)/python benches/o2c_latency.py 200 magento
	$(VENV)/python benches/o2c_latency.py 200 znode
	$(VENV)/python benches/o2c_latency.py 200 kentico
	$(VENV)/python benches/o2c_latency.py 200 clarity
	$(VENV)/python benches/o2c_latency.py 200 storefront
	$(VENV)/python benches/refund_latency.py 100 magento
	$(VENV)/python benches/refund_latency.py 100 znode
	$(VENV)/python benches/refund_latency.py 100 kentico
	$(VENV)/python benches/payout_latency.py 1000 10000

## cost: AWS requests per order through order-to-cash on the local stack, priced (BENCHMARKS.md)
cost: up
	cargo build --quiet -p tally-cli --bin tally
	$(VENV)/python benches/cost_report.py 50 magento

## chaos: the chaos run on the local stack: EVENTS events (1000; the full run is EVENTS=10000) under
## faults, an outage and killed Lambda workers, then the invariants table (RELIABILITY.md)
EVENTS ?= 1000
SEED ?= 15
chaos: up
	$(WITH_STACK) $(VENV)/python scripts/chaos.py --events $(EVENTS) --seed $(SEED) --report .tally/reports/chaos-$(EVENTS)-$(SEED).json

## fuzz: every fuzz target under libFuzzer for FUZZ_SECONDS each (600), on the stable toolchain
FUZZ_SECONDS ?= 600
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)
