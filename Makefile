# docker flow: the two commands of the README, and what they are made of.
PLUGINS := $(or $(DOCKER_CONFIG),$(HOME)/.docker)/cli-plugins
CARGO ?= cargo
PREFIX ?= /usr/local
MANDIR ?= $(PREFIX)/share/man/man1

.PHONY: all build install testbed testbed-swarm demo test bench lint schemas clean-demo dist dist-check
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')

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

# The test bed and a two-node Swarm in network namespaces (context dflow-swarm): `make test`'s.
testbed-swarm:
	DOCKER_FLOW_SWARM=1 bash scripts/testbed.sh

# Deploys the bundled example twice (v1, then v2) behind the proxy and shows the responses.
demo: testbed install
	bash scripts/demo.sh

# Unit tests, then the end-to-end suite against the real engine (a missing engine fails it),
# two at a time; then the heavy ones (tests/heavy.rs: a route of 80 instances), alone; then the
# .deb, installed and used as a user would.
test: testbed-swarm install
	DOCKER_FLOW_E2E=1 $(CARGO) test --workspace --locked -- --test-threads=2 --skip heavy::
	DOCKER_FLOW_E2E=1 $(CARGO) test --locked --test main -- --test-threads=1 heavy::
	$(MAKE) dist-check

# Release files in target/dist: a tar.gz (binary, man pages, completions, README, LICENSE,
# CHANGELOG) and a .deb (cargo-deb, installed from crates.io when missing).
dist: build
	rm -rf target/dist && mkdir -p target/dist/completions
	target/release/docker-flow __man target/dist/man >/dev/null
	target/release/docker-flow completion bash > target/dist/completions/docker-flow.bash
	target/release/docker-flow completion zsh > target/dist/completions/_docker-flow
	target/release/docker-flow completion fish > target/dist/completions/docker-flow.fish
	mkdir -p target/dist/docker-flow-$(VERSION)-$(TRIPLE)
	cp -r target/release/docker-flow target/dist/man target/dist/completions README.md docs LICENSE CHANGELOG.md \
		target/dist/docker-flow-$(VERSION)-$(TRIPLE)/
	tar -C target/dist -czf target/dist/docker-flow-$(VERSION)-$(TRIPLE).tar.gz docker-flow-$(VERSION)-$(TRIPLE)
	command -v cargo-deb >/dev/null || $(CARGO) install --locked cargo-deb
	$(CARGO) deb --no-build --output target/dist/
	ls -l target/dist/*.tar.gz target/dist/*.deb

# Installs the .deb with dpkg and uses it from outside the build tree: --help, and a deploy of
# a copy of the bundled example through the docker CLI (root; the package is removed after).
dist-check: dist testbed
	bash scripts/dist-check.sh target/dist/docker-flow_*.deb

# The zero-downtime benchmark against a plain `docker compose up -d`, into docs/BENCHMARKS.md.
bench: testbed-swarm install
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
	docker volume rm docker-flow-proxy-data docker-flow-proxy-dns docker-flow-history-flowdemo >/dev/null 2>&1 || true
