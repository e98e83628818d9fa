#!/usr/bin/env bash
# Copy the CRDs of crds/ (their one source) into the chart (charts/celeriac/files/crds/),
# which installs them from a template. tests/chart/test_chart_crds.py fails until the copies
# are byte-identical, so run this after changing a CRD.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -f charts/celeriac/files/crds/*.yaml
cp crds/*.yaml charts/celeriac/files/crds/
ls charts/celeriac/files/crds/
