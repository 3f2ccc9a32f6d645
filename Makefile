# Switchboard — two commands on a fresh Debian/Ubuntu machine:
#   make run    install what is missing, build, start
#   make test   install the test servers, run every check and test
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test bench deps-run deps-test deps-bench lint build-test unit e2e fmt clean ui ui-test

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test
	@scripts/install-python-tools.sh

deps-bench:
	@scripts/install-deps.sh bench

# The web UI (ui/ → ui/dist/); the server embeds it into the binary at build time.
ui:
	@scripts/build-ui.sh

# Its unit tests (Vitest) and type check; the browser end-to-end test is tests/tests/ui_e2e.rs.
ui-test: ui
	cd ui && npm run --silent check && npm test

run: deps-run ui
	$(CARGO) build --release -p switchboard-cli
	@scripts/run.sh ./target/release/switchboard

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Build once; every end-to-end test reuses this binary.
build-test:
	$(CARGO) build -p switchboard-cli --bin switchboard

test: deps-test ui-test lint build-test
	SWITCHBOARD_BIN=$(CURDIR)/target/debug/switchboard $(CARGO) test --workspace -- --test-threads=2

bench: deps-bench ui
	$(CARGO) build --release -p switchboard-cli
	scripts/bench-sync.sh ./target/release/switchboard
	scripts/bench-index.sh ./target/release/switchboard
	scripts/bench-route.sh
	scripts/bench-deliver.sh ./target/release/switchboard
	scripts/bench-im.sh ./target/release/switchboard
	scripts/bench-ui.sh ./target/release/switchboard

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
