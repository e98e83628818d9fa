#!/usr/bin/env bash
# Prepare a fresh Debian machine for celeriac: system packages (redis-server for the test
# suite and benchmarks) and a virtualenv in .venv with celeriac and its test tools.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi

need_apt=()
# The test suite and the benchmarks need redis-server (and redis-sentinel for the failover
# tests); the quickstart runs on the embedded SQLite broker and sets CELERIAC_WITH_REDIS=0.
if [ "${CELERIAC_WITH_REDIS:-1}" = "1" ]; then
  command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
  command -v redis-sentinel >/dev/null 2>&1 || need_apt+=(redis-sentinel)
fi
if [ "${CELERIAC_WITH_PROMETHEUS:-0}" = "1" ] && ! command -v prometheus >/dev/null 2>&1; then
  need_apt+=(prometheus)
fi
# tests/image builds and runs the Dockerfile with podman from a debootstrap base
# (runc: crun fails on hybrid cgroups here).
if [ "${CELERIAC_WITH_PODMAN:-0}" = "1" ]; then
  for tool in podman buildah fuse-overlayfs newuidmap slirp4netns runc debootstrap; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      need_apt+=(podman buildah fuse-overlayfs uidmap slirp4netns runc debootstrap)
      break
    fi
  done
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need_apt[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # Debian starts the packaged services; we run our own servers on free ports.
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
  $SUDO systemctl disable --now redis-sentinel >/dev/null 2>&1 || true
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
extras="${CELERIAC_EXTRAS:-test}"
stamp=".venv/.celeriac-installed-$(sha1sum pyproject.toml | cut -c1-12)-${extras//,/_}"
if [ ! -f "$stamp" ]; then
  .venv/bin/pip install -q -e ".[${extras}]"
  touch "$stamp"
fi
