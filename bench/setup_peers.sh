#!/usr/bin/env bash
# Create bench/.venv-peers and install the peer task queues pinned in
# bench/peers-requirements.txt. Idempotent: when the venv already holds exactly the
# pinned set (checked against a stamp of the requirements file) it returns at once.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-peers"
reqs="$here/peers-requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-}"

if [[ -z "$python" ]]; then
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then python="$(command -v "$candidate")"; break; fi
    done
fi
[[ -n "$python" ]] || { echo "setup_peers: no python3 found" >&2; exit 1; }

want="$(sha256sum "$reqs" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "setup_peers: $venv is up to date"
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup_peers: creating $venv with $python"
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -r "$reqs"
"$venv/bin/python" -m pip check
echo "$want" > "$stamp"
echo "setup_peers: installed $(wc -l < <(grep -Ev '^\s*(#|$)' "$reqs")) pinned packages into $venv"
