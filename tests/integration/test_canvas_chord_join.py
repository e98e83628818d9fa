"""The chord join in settle.lua, driven directly: idempotent slots, the callback fires once."""

from __future__ import annotations

import json
from typing import Any

from celeriac.backends.base import ChordJoin, Outgoing, Settlement


def _callback(queue: str = "cb") -> tuple[Outgoing, ...]:
    return (Outgoing(queue=queue, task_id="callback-id", content_type="application/json",
                     body=b'{"task": "x", "id": "callback-id"}'),)


def _join(index: int, size: int, value: bytes, failed: bool = False) -> Settlement:
    return Settlement(None, chord=ChordJoin(group_id="g1", index=index, size=size, result=value,
                                            callback=_callback(), failed=failed))


def test_join_is_idempotent_and_fires_once(make_app: Any) -> None:
    app = make_app()
    backend = app.backend
    stream = "celeriac:queue:cb"
    backend.settle([_join(0, 3, b"application/json\n10")])
    backend.settle([_join(0, 3, b"application/json\n10")])  # redelivered: same slot
    backend.settle([_join(1, 3, b"application/json\n11")])
    assert backend.client.xlen(stream) == 0
    backend.settle([_join(2, 3, b"application/json\n12"), _join(2, 3, b"application/json\n12")])
    assert backend.client.xlen(stream) == 1
    backend.settle([_join(1, 3, b"application/json\n11")])  # late duplicate after firing
    assert backend.client.xlen(stream) == 1
    state = backend.get_chord("g1")
    assert state.failure is None and sorted(state.values) == [0, 1, 2]
    assert state.values[2] == b"application/json\n12"
    assert backend.client.ttl("celeriac:chord:g1") > 0 and backend.client.ttl("celeriac:chord:g1:fired") > 0


def test_first_failure_fires_at_once_and_later_joins_do_not(make_app: Any) -> None:
    app = make_app()
    backend = app.backend
    failure = json.dumps({"task_id": "t1", "task": "x", "index": 1, "exc": {"exc_type": "ValueError"}}).encode()
    backend.settle([_join(0, 3, b"application/json\n1")])
    backend.settle([_join(1, 3, failure, failed=True)])
    assert backend.client.xlen("celeriac:queue:cb") == 1
    backend.settle([_join(2, 3, b"application/json\n3"), _join(1, 3, b"other failure", failed=True)])
    assert backend.client.xlen("celeriac:queue:cb") == 1
    assert backend.get_chord("g1").failure == failure
