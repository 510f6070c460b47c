#!/usr/bin/env bash
# The demo: deploy the bundled example (fixtures/example) twice, v1 then v2, behind the Caddy
# proxy docker flow starts, and show what the proxy answers after each deploy; then stage v3
# (reachable only with the preview header), abort it, and show the release history.
set -euo pipefail
cd "$(dirname "$0")/../fixtures/example"
port=$(sed -n 's/^proxy_http_port: *//p' docker-flow.yml)

show() {
  echo "--- GET http://127.0.0.1:${port}/demo"
  curl -fsS --max-time 5 "http://127.0.0.1:${port}/demo"
}

echo "### docker flow config (settings and where each comes from)"
docker flow config
echo
echo "### docker flow deploy (v1)"
DEMO_VERSION=v1 docker flow deploy
show
echo
echo "### docker flow deploy (v2)"
DEMO_VERSION=v2 docker flow deploy
show
echo
echo "### docker flow status"
docker flow status
echo
echo "### docker flow deploy --no-promote (v3: healthy, previewed, not live)"
DEMO_VERSION=v3 docker flow deploy --no-promote
show
echo "--- GET http://127.0.0.1:${port}/demo with X-Docker-Flow-Preview: 1"
curl -fsS --max-time 5 -H 'X-Docker-Flow-Preview: 1' "http://127.0.0.1:${port}/demo"
echo
echo "### docker flow abort (v3 removed; v2 never stopped serving)"
docker flow abort
show
echo
echo "### docker flow history"
docker flow history
