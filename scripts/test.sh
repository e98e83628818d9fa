#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh), run the lint, type and import-layer checks, then the whole
# test suite.
# Slow suites run in their bounded CI form; pass -m "" to run everything in full.
# Besides the virtualenv and redis-server, it installs (apt-get, when missing) prometheus
# and promtool, why: the monitoring tests load the chart's alert rules and dashboards'
# queries into a real Prometheus; and podman, why: the image tests build and run the
# Dockerfile without a Docker daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
CELERIAC_WITH_PROMETHEUS=1 CELERIAC_WITH_PODMAN=1 CELERIAC_EXTRAS="${CELERIAC_EXTRAS:-test}" bash scripts/bootstrap.sh
.venv/bin/ruff check runtime operator tests bench examples
.venv/bin/mypy
.venv/bin/hadolint Dockerfile
.venv/bin/lint-imports   # the layer contracts of pyproject.toml [tool.importlinter]
exec .venv/bin/python -m pytest "$@"
