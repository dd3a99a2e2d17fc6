#!/usr/bin/env bash
# Build every image of the compose stack from Debian packages, with no container registry:
#   a bookworm minbase made by debootstrap and imported  -> lanthanide/debian:bookworm
#   Python 3.11 (Debian's python3)                        -> lanthanide/python:3.11
#   PostgreSQL 15 (Debian's postgresql-15)                -> lanthanide/postgres:15
#   Kafka 3.9.1 (Debian's JRE + jars from Maven Central)  -> lanthanide/kafka:3.9.1
#   the services (deploy/Dockerfile on the Python image)  -> lanthanide/app:latest
# Then run the stack on them with the variables printed at the end (or `source` deploy/images/debian.env).
# Needs root (debootstrap), debootstrap, a Docker engine, Python 3 and Maven (for the jars).
# Settings: LANTHANIDE_DEBIAN_MIRROR (default http://deb.debian.org/debian), LANTHANIDE_KAFKA_LIBS
# (where the jars are fetched), DOCKER (the docker CLI), LANTHANIDE_REBUILD_BASE=1 to redo the base.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
DOCKER="${DOCKER:-docker}"
mirror="${LANTHANIDE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
base=lanthanide/debian:bookworm

# The classic builder (DOCKER_BUILDKIT=0) where the CLI has no buildx: the Dockerfiles use no
# BuildKit features, and a CLI without buildx refuses BuildKit builds.
if ! $DOCKER buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=0; fi
build() { $DOCKER build --quiet "$@" >/dev/null; }

if [ "${LANTHANIDE_REBUILD_BASE:-0}" = 1 ] || ! $DOCKER image inspect "$base" >/dev/null 2>&1; then
  root="$(mktemp -d)"
  trap 'rm -rf "$root"' EXIT
  echo "debootstrap bookworm minbase from $mirror" >&2
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  # Containers have no init of their own to refuse service starts with; keep apt from trying.
  printf '#!/bin/sh\nexit 101\n' > "$root/usr/sbin/policy-rc.d" && chmod +x "$root/usr/sbin/policy-rc.d"
  tar -C "$root" -c . | $DOCKER import --change 'ENV LANG=C.UTF-8' --change 'CMD ["bash"]' - "$base" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi

echo "building lanthanide/python:3.11, lanthanide/postgres:15" >&2
build -t lanthanide/python:3.11 --build-arg BASE_IMAGE="$base" "$here/python"
build -t lanthanide/postgres:15 --build-arg BASE_IMAGE="$base" "$here/postgres"

echo "building lanthanide/kafka:3.9.1" >&2
libs="$(cd "$repo" && python3 deploy/kafka/kafka_runner.py fetch | tail -n 1)"
[ -d "$libs" ] || libs="${LANTHANIDE_KAFKA_LIBS:-$repo/.cache/kafka/libs}"
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp -r "$here/kafka/." "$ctx/"
mkdir -p "$ctx/libs" && cp "$libs"/*.jar "$ctx/libs/"
build -t lanthanide/kafka:3.9.1 --build-arg BASE_IMAGE="$base" "$ctx"

echo "building lanthanide/app:latest" >&2
build -t lanthanide/app:latest --build-arg PYTHON_IMAGE=lanthanide/python:3.11 -f "$repo/deploy/Dockerfile" "$repo"

cat > "$here/debian.env" <<ENV
LANTHANIDE_IMAGE=lanthanide/app:latest
LANTHANIDE_PYTHON_IMAGE=lanthanide/python:3.11
LANTHANIDE_KAFKA_IMAGE=lanthanide/kafka:3.9.1
LANTHANIDE_POSTGRES_IMAGE=lanthanide/postgres:15
ENV
echo "images built; use them with: set -a; . deploy/images/debian.env; set +a" >&2
cat "$here/debian.env"
