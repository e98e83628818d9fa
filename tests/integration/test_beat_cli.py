"""``celeriac schedule ...`` and ``celeriac beat`` as real subprocesses."""

from __future__ import annotations

import json
import signal
from typing import Any

from beat_helpers import ticks
from helpers import wait_for


def run(cli_worker: Any, *args: str) -> tuple[int, str]:
    proc = cli_worker("-A", "beatapp", *args)
    code = proc.wait(60)
    return code, proc.output.decode(errors="replace")


def test_schedule_commands(cli_worker: Any, redis_url: str) -> None:
    code, out = run(cli_worker, "schedule", "add", "ping", "beatapp.noop", "--every", "30",
                    "-a", '["x"]', "-Q", "net", "--concurrency-policy", "forbid")
    assert code == 0, out
    code, out = run(cli_worker, "schedule", "add", "nightly", "beatapp.noop", "--cron", "30 2 * * *",
                    "--timezone", "Europe/Berlin")
    assert code == 0, out
    code, out = run(cli_worker, "schedule", "add", "bad", "beatapp.noop", "--cron", "99 * * * *")
    assert code == 1 and "Error" in out
    code, out = run(cli_worker, "schedule", "pause", "ping")
    assert code == 0, out
    code, out = run(cli_worker, "schedule", "list", "--json")
    rows = {r["name"]: r for r in json.loads(out.strip().splitlines()[-1])}
    assert rows["ping"]["enabled"] is False and rows["ping"]["schedule"] == {"every": 30.0}
    assert rows["nightly"]["timezone"] == "Europe/Berlin"
    code, out = run(cli_worker, "schedule", "list")
    assert code == 0 and "nightly" in out and "paused" in out
    code, out = run(cli_worker, "schedule", "run-now", "ping")
    assert code == 0 and ticks(redis_url, "ping", queue="net") == {"run-now": 1}
    code, out = run(cli_worker, "schedule", "resume", "ping")
    assert code == 0, out
    code, out = run(cli_worker, "schedule", "remove", "ping")
    assert code == 0, out
    code, out = run(cli_worker, "schedule", "remove", "ping")
    assert code == 1 and "no schedule" in out


def test_beat_command_syncs_config_and_stops_on_sigterm(cli_worker: Any, redis_url: str) -> None:
    beat = cli_worker("-A", "beatapp", "beat", "-l", "info")
    wait_for(lambda: ticks(redis_url, "every-second"), timeout=30, what="a run")
    beat.signal(signal.SIGTERM)
    assert beat.wait(20) == 0
    out = beat.output.decode(errors="replace")
    assert "is the leader now" in out and "sent beatapp.noop" in out and "stopped" in out
