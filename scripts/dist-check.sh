#!/usr/bin/env bash
# Installs docker flow's .deb with dpkg and uses it as a user of the package would, from outside
# the build tree: the docker CLI finds the plugin where the package put it (a DOCKER_CONFIG of
# its own holds only Compose, so no plugin installed by `make install` can answer instead), prints
# its help and man page, and deploys a copy of the bundled example twice. Run as root; the
# package, the example's containers, networks and the proxy are removed afterwards.
set -euo pipefail
deb=$(readlink -f "$1")
root=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "dist-check: $*" >&2; }

work=$(mktemp -d)
project=distcheck$$
proxy=dflow-${project}-proxy
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
tls_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  cd /
  docker rm -f $(docker ps -aq --filter "label=com.docker.compose.project=${project}") "$proxy" >/dev/null 2>&1 || true
  docker network ls -q --filter "name=dflow-${project}" | xargs -r docker network rm >/dev/null 2>&1 || true
  docker network rm "${project}_default" >/dev/null 2>&1 || true
  docker volume ls -q --filter "name=${proxy}" | xargs -r docker volume rm >/dev/null 2>&1 || true
  dpkg -r docker-flow >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "installing $(basename "$deb")"
dpkg -i "$deb" >/dev/null
test -x /usr/libexec/docker/cli-plugins/docker-flow

# Only Compose beside it: the docker CLI must find docker flow where the package put it.
compose=$(docker info --format '{{range .ClientInfo.Plugins}}{{if eq .Name "compose"}}{{.Path}}{{end}}{{end}}')
export DOCKER_CONFIG=$work/docker
mkdir -p "$DOCKER_CONFIG/cli-plugins"
cp "$compose" "$DOCKER_CONFIG/cli-plugins/docker-compose"
# Read whole, not piped into `grep -q` (under pipefail, grep leaving early can fail the pipe),
# and said when wrong; a failing `docker info` (the daemon busy) is asked again, twice at most.
listed=false
for _ in 1 2 3; do
  if plugins=$(docker info --format '{{range .ClientInfo.Plugins}}{{.Name}} {{.Path}}{{"\n"}}{{end}}' 2>&1); then
    grep -qx 'flow /usr/libexec/docker/cli-plugins/docker-flow' <<<"$plugins" && listed=true
    break
  fi
  say "docker info failed: $plugins"
  sleep 1
done
$listed || { say "the docker CLI does not list the packaged plugin: $plugins"; exit 1; }

cp -r "$root/fixtures/example" "$work/example"
cd "$work/example"
help=$(docker flow --help)
grep -q 'Deploy the next release' <<<"$help" || { say "no help: $help"; exit 1; }
page=$(man -P cat docker-flow-deploy 2>&1)
grep -q -- '--blue-green' <<<"$page" || { say "no man page: $page"; exit 1; }
for v in v1 v2; do
  DEMO_VERSION=$v docker flow deploy -p "$project" --proxy-name "$proxy" --proxy-http-port "$port" --proxy-https-port "$tls_port" -q
  got=$(curl -fsS --max-time 5 "http://127.0.0.1:${port}/demo" | cut -d' ' -f1)
  [ "$got" = "$v" ] || { say "after deploying $v the proxy answered: $got"; exit 1; }
done
say "ok: the packaged plugin deployed v1 then v2 from $work/example"
