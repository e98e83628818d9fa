#!/usr/bin/env bash
# The main job: install celeriac in .venv and run examples/quickstart.py (a worker on the
# embedded default broker, the classic add task, results with states and timings).
set -euo pipefail
cd "$(dirname "$0")/.."
CELERIAC_EXTRAS="${CELERIAC_EXTRAS:-test}" bash scripts/bootstrap.sh
exec .venv/bin/python examples/quickstart.py
