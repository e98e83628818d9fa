"""Nested workflows, callbacks and tracing against a real redis-server."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import states
from celeriac.canvas import GroupResult, chain, chord, group
from celeriac.message import Message
from helpers import wait_for


def _tasks(app: Any) -> dict[str, Any]:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def tsum(values: list[Any]) -> int:
        return sum(v if isinstance(v, int) else sum(v) for v in values)

    @app.task
    def ident(x: Any) -> Any:
        return x

    @app.task
    def boom(*args: Any) -> None:
        raise ValueError("boom")

    @app.task
    def record(*args: Any) -> None:
        app.backend.client.rpush("recorded", repr(args))

    @app.task
    def on_error_new(request: Any, exc: Any, traceback: Any) -> None:
        app.backend.client.rpush("errors", f"new|{request.id}|{request.task}|{type(exc).__name__}|"
                                           f"{'Traceback' in traceback}")

    @app.task
    def on_error_old(task_id: str) -> None:
        app.backend.client.rpush("errors", f"old|{task_id}")

    return locals()


def test_chain_of_groups_passes_lists(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app, concurrency=4)
    # add(1,1) -> group(add(2, +i)) -> tsum -> group(add(x, i)) : last result is a GroupResult
    c = chain(t["add"].s(1, 1), group(t["add"].s(i) for i in range(3)), t["tsum"].s(),
              group(t["add"].s(i) for i in range(2)))
    res = c.apply_async()
    assert isinstance(res, GroupResult)
    assert res.get(timeout=20) == [9, 10]  # 2+0 + 2+1 + 2+2 = 9
    # walking back: the GroupResult's parent is tsum, whose parent is the first group
    assert res.parent.get(timeout=5) == 9
    assert isinstance(res.parent.parent, GroupResult) and res.parent.parent.get(timeout=5) == [2, 3, 4]


def test_group_of_chains(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app, concurrency=4)
    g = group(chain(t["add"].s(i, i), t["add"].s(100)) for i in range(5))
    res = g.apply_async()
    assert res.get(timeout=20) == [100 + 2 * i for i in range(5)]
    assert [r.parent.get(timeout=5) for r in res] == [2 * i for i in range(5)]


def test_chord_with_chains_in_header_and_chain_callback(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app, concurrency=4)
    header = [chain(t["add"].s(i, i), t["add"].s(1)) for i in range(4)]
    res = chord(header, chain(t["tsum"].s(), t["add"].s(1000))).apply_async()
    assert res.get(timeout=20) == 1000 + sum(2 * i + 1 for i in range(4))


def test_chain_ending_in_chord_and_continuing(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app, concurrency=4)
    c = chain(t["add"].s(1, 2), chord([t["add"].s(10), t["add"].s(20)], t["tsum"].s()))
    assert c.apply_async().get(timeout=20) == 36
    c2 = t["ident"].s(5) | chord([t["add"].s(1), t["add"].s(2)], t["tsum"].s()) | t["add"].s(100)
    res = c2.delay()
    assert res.get(timeout=20) == 113
    assert res.parent.get(timeout=5) == 13


def test_chain_in_chord_header_failing_fails_the_chord(make_app: Any, worker: Any) -> None:
    from celeriac.errors import ChordError

    app = make_app()
    t = _tasks(app)
    worker(app)
    header = [chain(t["boom"].s(), t["add"].s(1)), t["ident"].s(1)]
    res = chord(header, t["tsum"].s()).apply_async()
    with pytest.raises(ChordError, match=r"boom|ValueError"):
        res.get(timeout=20)


def test_link_and_link_error_styles(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app)
    r = t["add"].apply_async((2, 3), link=t["record"].s("after"))
    assert r.get(timeout=10) == 5
    wait_for(lambda: app.backend.client.lrange("recorded", 0, -1) == [repr((5, "after")).encode()],
             timeout=10, what="link callback")
    bad = t["boom"].apply_async((1,), link_error=[t["on_error_new"].s(), t["on_error_old"].s()])
    with pytest.raises(ValueError):
        bad.get(timeout=10)
    got = wait_for(lambda: sorted(app.backend.client.lrange("errors", 0, -1)) if
                   app.backend.client.llen("errors") == 2 else None, timeout=10, what="errbacks")
    assert got == sorted([f"new|{bad.id}|{t['boom'].name}|ValueError|True".encode(),
                          f"old|{bad.id}".encode()])
    # a signature's own link/link_error, and on a chain (errback on every step)
    sig = t["ident"].s(7)
    sig.link(t["record"].s())
    assert sig.delay().get(timeout=10) == 7
    wait_for(lambda: app.backend.client.llen("recorded") == 2, timeout=10, what="signature link")
    c = chain(t["add"].s(1, 1), t["boom"].s())
    c.link_error(t["on_error_old"].si("chain-failed"))
    with pytest.raises(ValueError):
        c.apply_async().get(timeout=10)
    wait_for(lambda: b"old|chain-failed" in app.backend.client.lrange("errors", 0, -1), timeout=10,
             what="chain errback")


def test_whole_workflow_traced_by_root_id(make_app: Any, worker: Any) -> None:
    """Every message of a workflow carries the first task's id as root_id, and a parent_id."""
    app = make_app()
    t = _tasks(app)
    seen: list[Message] = []
    original = app.publish

    def spy(messages: Any) -> None:
        from celeriac import serialization

        for m in messages:
            seen.append(Message.from_dict(serialization.loads(m.body, m.content_type,
                                                              frozenset({m.content_type}))))
        original(messages)

    app.publish = spy  # type: ignore[method-assign]
    worker(app, concurrency=4)
    wf = chain(t["add"].s(1, 1), group(t["add"].s(i) for i in range(3)), t["tsum"].s(), t["add"].s(1))
    res = wf.apply_async()
    assert res.get(timeout=20) == 2 * 3 + 3 + 1
    first = seen[0]
    ids = [res.id, res.parent.id, *[r.id for r in res.parent.parent.results], res.parent.parent.parent.id]
    records = app.backend.get_results(ids)
    assert all(r is not None and r.status == states.SUCCESS for r in records)
    assert {r.root_id for r in records} == {first.id}
    assert all(r.parent_id for r in records[:-1])  # everything but the first step has a parent
    group_records = records[2:5]
    assert len({r.group for r in group_records}) == 1 and group_records[0].group
