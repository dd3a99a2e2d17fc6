#!/usr/bin/env bash
# A private Docker engine for make test-compose (used by .ci/run), apart from any other engine:
#   deploy/compose/docker_engine.sh start   # prints DOCKER_HOST=unix:///run/lanthanide-docker.sock
#   deploy/compose/docker_engine.sh stop
# start installs what is missing (Debian's docker.io and debootstrap, the compose v2 plugin built
# from its Go module), starts dockerd on its own socket, exec-root and data-root, and waits for
# it. The pytest suite never sees it: its socket is not the default one, and nothing here exports
# DOCKER_HOST. Exit 3 (and one line) when no engine can be started on this machine.
# Settings: LANTHANIDE_DOCKER_SOCKET, LANTHANIDE_DOCKER_ROOT (data-root), COMPOSE_VERSION.
set -euo pipefail
sock="${LANTHANIDE_DOCKER_SOCKET:-/run/lanthanide-docker.sock}"
data_root="${LANTHANIDE_DOCKER_ROOT:-/var/lib/lanthanide-docker}"
exec_root="/run/lanthanide-docker"
pidfile="/run/lanthanide-docker.pid"
compose_version="${COMPOSE_VERSION:-v2.29.7}"
log="${TMPDIR:-/tmp}/lanthanide-dockerd.log"
export DOCKER_HOST="unix://$sock"
unavailable() { echo "docker engine unavailable: $*" >&2; exit 3; }

start() {
  export DEBIAN_FRONTEND=noninteractive
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v debootstrap >/dev/null 2>&1; then
    { apt-get update -qq && apt-get install -y -qq docker.io debootstrap >/dev/null; } \
      || unavailable "could not install docker.io and debootstrap"
  fi
  if ! docker compose version >/dev/null 2>&1; then
    command -v go >/dev/null 2>&1 || unavailable "no Go toolchain to build the compose plugin"
    GOBIN="$HOME/.docker/cli-plugins/.build" go install "github.com/docker/compose/v2/cmd@$compose_version" \
      || unavailable "could not build docker compose $compose_version"
    mv "$HOME/.docker/cli-plugins/.build/cmd" "$HOME/.docker/cli-plugins/docker-compose"
    rmdir "$HOME/.docker/cli-plugins/.build"
  fi
  if ! docker info >/dev/null 2>&1; then
    mkdir -p "$data_root" "$exec_root"
    setsid dockerd --host "$DOCKER_HOST" --data-root "$data_root" --exec-root "$exec_root" \
      --pidfile "$pidfile" >"$log" 2>&1 < /dev/null &
    for _ in $(seq 60); do
      docker info >/dev/null 2>&1 && break
      kill -0 $! 2>/dev/null || { tail -n 5 "$log" >&2; unavailable "dockerd exited (log $log)"; }
      sleep 1
    done
    docker info >/dev/null 2>&1 || unavailable "dockerd did not answer within 60 s (log $log)"
  fi
  echo "DOCKER_HOST=$DOCKER_HOST"
}

stop() {
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
