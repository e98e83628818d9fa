"""The runtime API the operator calls keeps working across a Sentinel failover, on the same
app object: its connections to the dead primary are dropped and reopened through the
sentinels by redis-py (no restart, no reconnect by hand)."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import Celeriac

pytestmark = pytest.mark.fault


def test_operator_calls_carry_on_after_a_failover(sentinel_cluster: Any) -> None:
    app = Celeriac("celeriac-operator", broker=sentinel_cluster.url, set_as_current=False,
                   broker_transport_options=sentinel_cluster.options, broker_wait_replicas=1,
                   task_publish_retry_policy={"max_retries": 100, "interval_step": 0.1, "interval_max": 0.3})
    try:
        assert app.enqueue_once("k8s.work", task_id="before-1") is True
        assert app.queue_stats(["default"])["default"].waiting == 1
        last = app.last_event_id()
        old = sentinel_cluster.kill_primary()
        # Publishing retries through the switch (task_publish_retry_policy).
        assert app.enqueue_once("k8s.work", task_id="after-1") is True
        new = sentinel_cluster.wait_failover(old)
        assert sentinel_cluster.primary_port() == new
        assert app.enqueue_once("k8s.work", task_id="after-1") is False  # once, on the new primary too
        infos = app.lookup_tasks(["before-1", "after-1"])
        assert infos["before-1"].presence == "queued"  # replicated before it counted
        assert infos["after-1"].presence == "queued"
        assert app.queue_stats(["default"])["default"].waiting == 2
        assert app.live_workers() == []
        events = app.read_events(last)
        assert any(fields.get("uuid") == "after-1" for _, fields in events)
    finally:
        app.close()
