"""Two ``celeriac beat`` replicas across a Sentinel failover: every tick still fires once.

The beats' fenced lease, its token and the schedule states live on the primary; with
``broker_wait_replicas = 1`` a commit (state + published message) counts only once a
replica has it, so the promoted replica holds every tick that was fired. Counting is done
on the new primary's queue stream (the published messages themselves).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from beat_helpers import ticks
from helpers import wait_for

pytestmark = pytest.mark.fault

BEAT_ARGS = ("-A", "beatapp", "beat", "--lease-ttl", "2", "--renew-interval", "0.5", "-l", "info")


def test_two_beats_fire_each_tick_once_across_a_failover(sentinel_cluster: Any, cli_worker: Any) -> None:
    env = {"CELERIAC_BROKER_URL": sentinel_cluster.url,
           "CELERIAC_BROKER_TRANSPORT_OPTIONS": json.dumps(sentinel_cluster.options),
           "CELERIAC_BROKER_WAIT_REPLICAS": "1",
           "CELERIAC_TASK_PUBLISH_RETRY_POLICY": json.dumps({"max_retries": 100, "interval_step": 0.1,
                                                              "interval_max": 0.3})}
    beats = [cli_worker(*BEAT_ARGS, env=env) for _ in range(2)]
    primary = sentinel_cluster.primary_port()
    before = f"redis://127.0.0.1:{primary}/0"
    wait_for(lambda: len(ticks(before, "every-second")) >= 3, 30, interval=0.2, what="the beat to fire")
    old = sentinel_cluster.kill_primary()
    killed_at = time.time()
    new = sentinel_cluster.wait_failover(old)
    after = f"redis://127.0.0.1:{new}/0"
    fired_before = len(ticks(after, "every-second"))
    wait_for(lambda: len(ticks(after, "every-second")) >= fired_before + 4, 30, interval=0.2,
             what="the beats to fire on the new primary")
    resumed_s = time.time() - killed_at
    for b in beats:
        b.stop()
    for b in beats:
        assert b.proc.returncode == 0, b.output.decode(errors="replace")[-3000:]
    counts = ticks(after, "every-second")
    print(f"\nbeat across a failover: {len(counts)} ticks on the new primary, each fired "
          f"{set(counts.values())} time(s); firing again {resumed_s:.1f} s after the kill")
    assert set(counts.values()) == {1}, {k: v for k, v in counts.items() if v != 1}
