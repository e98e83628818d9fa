#!/usr/bin/env bash
# Set up (scripts/bootstrap.sh) and run the whole test suite, then the type and lint checks.
# Slow suites run in their bounded CI form; pass -m "" to run everything in full.
set -euo pipefail
cd "$(dirname "$0")/.."
CELERIAC_WITH_PROMETHEUS=1 CELERIAC_WITH_PODMAN=1 CELERIAC_EXTRAS="${CELERIAC_EXTRAS:-test}" bash scripts/bootstrap.sh
.venv/bin/ruff check runtime operator tests bench examples
.venv/bin/mypy
.venv/bin/hadolint Dockerfile
exec .venv/bin/python -m pytest "$@"
