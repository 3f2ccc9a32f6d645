# Switchboard — two commands on a fresh Debian/Ubuntu machine:
#   make run    install what is missing, build, start
#   make test   install the test servers, run every check and test
SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never

.PHONY: run test bench deps-run deps-test deps-bench lint build-test unit e2e fmt clean ui ui-test \
	desktop desktop-lint desktop-unit package package-test

# The desktop app (src-tauri: a workspace of its own, built into target/desktop).
DESKTOP_BIN := $(CURDIR)/target/desktop/release/switchboard-desktop

deps-run:
	@scripts/install-deps.sh run

deps-test:
	@scripts/install-deps.sh test
	@scripts/install-python-tools.sh
	@scripts/install-desktop-tools.sh >/dev/null

deps-bench:
	@scripts/install-deps.sh bench
	@scripts/install-desktop-tools.sh >/dev/null

# The web UI (ui/ → ui/dist/); the server embeds it into the binary at build time.
ui:
	@scripts/build-ui.sh

# Its unit tests (Vitest) and type check; the browser end-to-end test is tests/tests/ui_e2e.rs.
ui-test: ui
	cd ui && npm run --silent check && npm test

# With a display: the desktop app. Without one (DISPLAY and WAYLAND_DISPLAY empty): the
# embedded server with sync, and the URL to open in a browser.
run: deps-run ui
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
		$(MAKE) --no-print-directory desktop && scripts/run.sh --desktop $(DESKTOP_BIN); \
	else \
		$(CARGO) build --release -p switchboard-cli && scripts/run.sh --serve ./target/release/switchboard; \
	fi

# Built once, in release (custom-protocol on): the smoke test, the package and the benchmark
# all use this build. The UI is embedded at build time.
desktop: ui
	cd src-tauri && $(CARGO) build --release

desktop-lint:
	cd src-tauri && $(CARGO) fmt -- --check
	cd src-tauri && $(CARGO) clippy --release --all-targets -- -D warnings

desktop-unit: desktop
	cd src-tauri && $(CARGO) test --release

# target/package/switchboard_<version>_<arch>.deb (Tauri's bundler; reuses the release builds).
package: ui
	@scripts/package.sh

# Installs the .deb on this machine (apt-get, as root or with sudo), runs it, removes it.
package-test: package
	SWITCHBOARD_BIN=/usr/bin/switchboard SWITCHBOARD_DESKTOP_BIN=/usr/bin/switchboard-desktop \
	SWITCHBOARD_DEB="$$(ls $(CURDIR)/target/package/switchboard_*.deb)" \
		$(CARGO) test -p switchboard-tests --test package_e2e -- --ignored

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Build once; every end-to-end test reuses this binary.
build-test:
	$(CARGO) build -p switchboard-cli --bin switchboard

test: deps-test ui-test lint desktop-lint build-test desktop-unit
	SWITCHBOARD_BIN=$(CURDIR)/target/debug/switchboard SWITCHBOARD_DESKTOP_BIN=$(DESKTOP_BIN) \
		$(CARGO) test --workspace -- --test-threads=2
	@$(MAKE) --no-print-directory package-test

bench: deps-bench ui desktop
	$(CARGO) build --release -p switchboard-cli
	cd src-tauri && $(CARGO) build --release --example empty_window --features bench-baseline
	scripts/bench-sync.sh ./target/release/switchboard
	scripts/bench-index.sh ./target/release/switchboard
	scripts/bench-route.sh
	scripts/bench-deliver.sh ./target/release/switchboard
	scripts/bench-im.sh ./target/release/switchboard
	scripts/bench-ui.sh ./target/release/switchboard
	scripts/bench-desktop.sh ./target/release/switchboard $(DESKTOP_BIN) \
		./target/desktop/release/examples/empty_window

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
