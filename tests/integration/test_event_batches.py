"""Task events of one settlement batch are one stream entry; readers see each event."""

from __future__ import annotations

from typing import Any

import redis

from celeriac.backends.base import Settlement


def test_settlement_events_are_one_entry_read_as_many(make_app: Any, redis_url: str) -> None:
    app = make_app()
    events = [{"type": "task-succeeded", "uuid": f"id-{i}", "runtime": "0.001"} for i in range(3)]
    app.broker.settle([Settlement(None, events=[e]) for e in events])
    client = redis.Redis.from_url(redis_url)
    entries = client.xrange("celeriac:events")
    assert len(entries) == 1 and entries[0][1][b"type"] == b"batch" and entries[0][1][b"count"] == b"3"
    read = app.broker.read_events("0", 100, 0.0)
    assert [e["uuid"] for _id, e in read] == ["id-0", "id-1", "id-2"]
    assert {eid for eid, _e in read} == {entries[0][0].decode()}  # resume after the whole entry
    assert app.broker.read_events(read[-1][0], 100, 0.0) == []
    app.broker.emit([{"type": "beat-fired", "name": "a"}, {"type": "beat-fired", "name": "b"}])
    assert client.xlen("celeriac:events") == 3  # emitted events stay one entry each
    client.close()
