"""``Task.apply_many`` / ``delay_many``: the bulk publish path (``celeriac.bulk``).

Each message built from the template must be the message ``prepare`` would have built,
except its own id; the fallbacks (another serializer, a router function) must give the
same; and every call must reach a worker and store its result.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis

from celeriac import serialization
from celeriac.bulk import BATCH, prepare_many
from celeriac.message import Message, new_id, new_ids


def _decoded(body: bytes, content_type: str) -> dict[str, Any]:
    data = serialization.loads(body, content_type, accept=frozenset({"application/json", "application/x-msgpack"}))
    Message.from_dict(data)  # valid by the same rules the worker applies
    return data  # type: ignore[no-any-return]


def _without_ids(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("id", "root_id", "eta", "expires")}


def test_ids_are_uuid4_text() -> None:
    for task_id in [new_id(), *new_ids(500)]:
        parsed = uuid.UUID(task_id)
        assert str(parsed) == task_id
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    assert len(set(new_ids(10_000))) == 10_000


@pytest.mark.parametrize("options", [
    {},
    {"countdown": 30, "expires": 600, "priority": 7, "queue": "bulk"},
    {"headers": {"tenant": "a\"b"}, "time_limit": 5, "soft_time_limit": 4, "ignore_result": True},
])
def test_template_messages_match_prepare(make_app: Any, options: dict[str, Any]) -> None:
    app = make_app()

    @app.task
    def add(x: Any, y: Any) -> Any:
        return x + y

    calls = [(1, 2), ("é\n\"", ["nested", {"k": None}]), (3.5, 1e-9)]
    messages = prepare_many(app, add, calls, None, options)
    assert len({m.task_id for m in messages}) == 3
    for args, out in zip(calls, messages, strict=True):
        _, expected = app.prepare(add.name, args, None, options, task=add)
        data = _decoded(out.body, out.content_type)
        assert data["id"] == out.task_id and data["root_id"] == out.task_id
        assert _without_ids(data) == _without_ids(_decoded(expected.body, expected.content_type))
        assert (out.queue, out.priority, out.task) == (expected.queue, expected.priority, expected.task)
        assert (out.eta is None) == (expected.eta is None)
        assert ("eta" in data) == ("countdown" in options)


def test_shared_kwargs_are_in_every_message(make_app: Any) -> None:
    app = make_app()

    @app.task
    def scale(x: int, *, factor: int = 1) -> int:
        return x * factor

    messages = prepare_many(app, scale, [(1,), (2,)], {"factor": 3}, {})
    assert [json.loads(m.body)["kwargs"] for m in messages] == [{"factor": 3}, {"factor": 3}]


def test_fallbacks_build_the_same_messages(make_app: Any) -> None:
    by_function = make_app(task_routes=[lambda name, args, kwargs, options, task=None, **kw:
                                        {"queue": f"q{args[0] % 2}"}])

    @by_function.task
    def route_me(x: int) -> int:
        return x

    routed = prepare_many(by_function, route_me, [(1,), (2,), (3,)], None, {})
    assert [m.queue for m in routed] == ["q1", "q0", "q1"]

    packed = make_app(task_serializer="msgpack")

    @packed.task
    def echo(x: Any) -> Any:
        return x

    out = prepare_many(packed, echo, [(b"raw",), (2,)], None, {})
    assert [_decoded(m.body, m.content_type)["args"] for m in out] == [[b"raw"], [2]]
    assert {m.content_type for m in out} == {"application/x-msgpack"}


def test_apply_many_runs_every_call(make_app: Any, worker: Any, redis_url: str) -> None:
    app = make_app()

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    n = BATCH * 2 + 7  # three batches, the last one short
    results = add.apply_many([(i, 1) for i in range(n)])
    client = redis.Redis.from_url(redis_url)
    assert client.xlen("celeriac:queue:default") == n
    client.close()
    worker(app, concurrency=4)
    assert [r.get(timeout=60) for r in results[:: n // 20]] == [i + 1 for i in range(0, n, n // 20)]
    assert results[-1].get(timeout=60) == n
    assert add.delay_many((2, 2), (3, 3))[1].get(timeout=10) == 6


def test_apply_many_checks_arguments_and_refuses_task_id(make_app: Any) -> None:
    app = make_app()

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    with pytest.raises(TypeError):
        add.apply_many([(1, 2), (1,)])
    with pytest.raises(ValueError, match="task_id"):
        add.apply_many([(1, 2)], task_id="fixed")
    assert add.apply_many([]) == []


def test_apply_many_eager_runs_here(make_app: Any) -> None:
    app = make_app(task_always_eager=True)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    assert [r.get() for r in add.apply_many([(1, 2), (3, 4)])] == [3, 7]


def test_apply_many_on_the_embedded_broker(tmp_path: Any) -> None:
    from celeriac import Celeriac

    app = Celeriac("bulk", broker=f"sqlite:///{tmp_path / 'q.db'}")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    results = add.apply_many([(i, i) for i in range(BATCH + 1)])
    assert app.broker.queue_stats("default").ready == BATCH + 1
    assert len({r.id for r in results}) == BATCH + 1
    app.close()
