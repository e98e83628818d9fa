"""Canvas primitives against a real redis-server: chain, group, chord, map/starmap/chunks."""

from __future__ import annotations

from typing import Any

import pytest

from celeriac import states
from celeriac.canvas import GroupResult, chain, chord, group, signature
from celeriac.errors import ChordError


def _tasks(app: Any) -> dict[str, Any]:
    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def mul(x: int, y: int) -> int:
        return x * y

    @app.task
    def tsum(values: list[int]) -> int:
        return sum(values)

    @app.task
    def boom(*args: Any) -> None:
        raise ValueError(f"boom {args}")

    @app.task
    def ident(x: Any) -> Any:
        return x

    return {"add": add, "mul": mul, "tsum": tsum, "boom": boom, "ident": ident}


def test_chain_passes_results_and_parents_walk_back(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app)
    res = chain(t["add"].s(2, 2), t["mul"].s(10), t["add"].s(1)).apply_async()
    assert res.get(timeout=10) == 41
    assert res.parent is not None and res.parent.get(timeout=10) == 40
    assert res.parent.parent is not None and res.parent.parent.get(timeout=10) == 4
    assert res.parent.parent.parent is None
    piped = (t["add"].s(1, 1) | t["mul"].s(3) | t["ident"].si("fixed")).delay()
    assert piped.get(timeout=10) == "fixed"
    # every step has the same root, and each one's parent is the step before
    first = res.parent.parent
    assert {app.backend.get_result(r.id).root_id for r in (res, res.parent, first)} == {first.id}
    assert app.backend.get_result(res.id).parent_id == res.parent.id


def test_chain_failure_marks_the_rest_not_run(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app)
    res = chain(t["add"].s(1, 1), t["boom"].s(), t["add"].s(1), t["mul"].s(2)).apply_async()
    with pytest.raises(ValueError, match="boom"):
        res.get(timeout=10)  # the original error, at once
    assert res.state == states.FAILURE
    record = app.backend.get_result(res.id)
    assert "not run" in record.extra["reason"]
    assert res.parent.state == states.FAILURE
    assert res.parent.parent.state == states.FAILURE  # the step that raised
    assert res.parent.parent.parent.get(timeout=5) == 2


def test_group_results_in_order_and_one_publish(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    calls: list[int] = []
    original = app.publish

    def counting(messages: Any) -> None:
        calls.append(len(messages))
        original(messages)

    app.publish = counting  # type: ignore[method-assign]
    g = group(t["add"].s(i, i) for i in range(50))
    res = g.apply_async()
    assert calls == [50]  # ONE batched publish
    worker(app)
    assert isinstance(res, GroupResult) and len(res) == 50
    assert res.get(timeout=20) == [2 * i for i in range(50)]
    assert res.ready() and res.successful() and not res.failed()
    assert res.completed_count() == 50
    assert res.join(timeout=5) == [2 * i for i in range(50)]
    records = app.backend.get_results([r.id for r in res.results])
    assert {r.group for r in records} == {res.id}


def test_group_failure_save_restore(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app)
    res = group([t["add"].s(1, 2), t["boom"].s(), t["ident"].s("x")]).apply_async()
    res.save()
    with pytest.raises(ValueError):
        res.get(timeout=10)
    again = GroupResult.restore(res.id, app=app)
    assert again is not None and [r.id for r in again] == [r.id for r in res]
    assert again.get(timeout=10, propagate=False)[0] == 3
    assert again.failed() and not again.successful() and again.ready()
    assert again.completed_count() == 2
    again.forget()
    assert GroupResult.restore(res.id, app=app) is None


def test_chord_callback_gets_ordered_results(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app, concurrency=4)
    res = chord((t["ident"].s(i) for i in range(20)), t["ident"].s()).apply_async()
    assert res.get(timeout=20) == list(range(20))
    assert isinstance(res.parent, GroupResult) and res.parent.get(timeout=5) == list(range(20))
    res2 = chord([t["add"].s(i, i) for i in range(5)])(t["tsum"].s())
    assert res2.get(timeout=10) == 20
    res3 = (group(t["add"].s(i, 1) for i in range(3)) | t["tsum"].s()).delay()
    assert res3.get(timeout=10) == 6
    empty = chord([], t["tsum"].s()).apply_async()
    assert empty.get(timeout=10) == 0


def test_chord_header_failure_fails_callback_with_chord_error(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)

    @app.task
    def on_err(request: Any, exc: Any, traceback: Any) -> str:
        app.backend.client.rpush("errback", f"{request.id}|{type(exc).__name__}|{exc}")
        return "handled"

    worker(app)
    callback = t["tsum"].s()
    callback.link_error(on_err.s())
    header = [t["add"].s(1, 1), t["boom"].s(7), t["add"].s(2, 2)]
    res = chord(header, callback).apply_async()
    with pytest.raises(ChordError) as info:
        res.get(timeout=10)
    failed_id = res.parent.results[1].id
    assert failed_id in str(info.value) and "ValueError" in str(info.value)
    assert res.state == states.FAILURE
    from helpers import wait_for

    got = wait_for(lambda: app.backend.client.lrange("errback", 0, -1), timeout=10, what="errback")
    assert got == [f"{res.id}|ChordError|{info.value}".encode()]


def test_map_starmap_chunks(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app)
    assert t["ident"].map([1, 2, 3]).delay().get(timeout=10) == [1, 2, 3]
    assert t["add"].starmap([(1, 2), (3, 4)]).delay().get(timeout=10) == [3, 7]
    ch = t["add"].chunks(zip(range(10), range(10), strict=True), 3)
    res = ch.apply_async()
    assert res.get(timeout=10) == [[0, 2, 4], [6, 8, 10], [12, 14, 16], [18]]
    assert len(ch.group()) == 4
    # chunks inside a chain: the next step gets the list of chunk results
    flat = chain(t["add"].chunks([(1, 1), (2, 2), (3, 3)], 2), t["ident"].s()).apply_async()
    assert flat.get(timeout=10) == [[2, 4], [6]]
    # a signature of a map survives the wire (dict) form
    sig = signature(t["ident"].map([5]).to_dict(), app=app)
    assert sig.delay().get(timeout=10) == [5]


def test_canvas_with_a_separate_result_store(make_app: Any, worker: Any, redis_url: str) -> None:
    """Results in another store: chords still join with the acks, 'not run' records land there."""
    app = make_app(backend=redis_url.rsplit("/", 1)[0] + "/1")
    t = _tasks(app)
    assert not app.results_with_broker
    worker(app)
    assert chord([t["add"].s(i, i) for i in range(10)], t["tsum"].s()).apply_async().get(timeout=10) == 90
    res = chain(t["boom"].s(), t["add"].s(1)).apply_async()
    with pytest.raises(ValueError):
        res.get(timeout=10)
    assert res.state == states.FAILURE
