# docker flow: the two commands of the README, and what they are made of.
PLUGINS := $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
CARGO ?= cargo
PREFIX ?= /usr/local
MANDIR ?= $(PREFIX)/share/man/man1

.PHONY: all build install testbed demo test bench lint schemas clean-demo

all: build

build:
	$(CARGO) build --release --locked

# Installs the plugin (then `docker flow …` works and `docker --help` lists flow) and the man
# pages (`man docker-flow`, `man docker-flow-deploy`, …).
install: build
	mkdir -p "$(PLUGINS)"
	install -m 0755 target/release/docker-flow "$(PLUGINS)/docker-flow"
	rm -rf target/man && target/release/docker-flow __man target/man >/dev/null
	mkdir -p "$(MANDIR)"
	install -m 0644 target/man/*.1 "$(MANDIR)/"

# Engine, Compose v2 and the locally built images (nothing is pulled from an image registry).
testbed:
	bash scripts/testbed.sh

# Deploys the bundled example twice (v1, then v2) behind the proxy and shows the responses.
demo: testbed install
	bash scripts/demo.sh

# Unit tests, then the end-to-end suite against the real engine (a missing engine fails it),
# two at a time; then the heavy ones (tests/heavy.rs: a route of 80 instances), alone.
test: testbed install
	DOCKER_FLOW_E2E=1 $(CARGO) test --workspace --locked -- --test-threads=2 --skip heavy::
	DOCKER_FLOW_E2E=1 $(CARGO) test --locked --test main -- --test-threads=1 heavy::

# The zero-downtime benchmark against a plain `docker compose up -d`, into docs/BENCHMARKS.md.
bench: testbed install
	$(CARGO) run --release --locked --example bench

# Rewrites docs/schemas/ from the report types (a unit test fails while they differ).
schemas:
	DOCKER_FLOW_WRITE_SCHEMAS=1 $(CARGO) test --locked --lib schemas

lint:
	$(CARGO) fmt --all --check
	rustfmt --edition 2021 --check build.rs
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

clean-demo:
	cd fixtures/example && docker compose down -v --remove-orphans || true
	docker rm -f docker-flow-proxy docker-flow-proxy-dns >/dev/null 2>&1 || true
	docker volume rm docker-flow-proxy-data docker-flow-proxy-dns >/dev/null 2>&1 || true
