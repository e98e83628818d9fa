#!/usr/bin/env bash
# The main job: install celeriac in .venv and run examples/quickstart.py (a worker on the
# embedded SQLite broker, the classic add task, a chain and a group, results with states
# and timings). No server needed: redis-server is not installed for it.
set -euo pipefail
cd "$(dirname "$0")/.."
CELERIAC_WITH_REDIS="${CELERIAC_WITH_REDIS:-0}" CELERIAC_EXTRAS="${CELERIAC_EXTRAS:-test}" bash scripts/bootstrap.sh
exec .venv/bin/python examples/quickstart.py
