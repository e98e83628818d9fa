"""Celery-shaped canvas and result code, run as Celery users write it (issue 17), on Redis."""

from __future__ import annotations

from typing import Any

from celeriac.canvas import GroupResult, chain, chord, group


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

    return locals()


def test_calling_a_canvas_applies_it(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    worker(app, concurrency=2)
    res = (t["add"].s(1, 1) | t["mul"].s(10))()
    assert res.get(timeout=10) == 20
    assert res.parent.get(timeout=5) == 2
    assert chain(t["add"].s(2, 2), t["mul"].s(3))().get(timeout=10) == 12
    assert chain(t["add"].s(2), t["mul"].s(3))(5).get(timeout=10) == 21  # args go to the first task
    g = group(t["add"].s(i, i) for i in range(3))()
    assert isinstance(g, GroupResult) and g.get(timeout=10) == [0, 2, 4]
    assert chord([t["add"].s(i, i) for i in range(3)])(t["tsum"].s()).get(timeout=10) == 6
    assert chord([t["add"].s(1, 1)], t["tsum"].s())().get(timeout=10) == 2


def test_bytes_and_typed_values_reach_a_chord_callback(make_app: Any, worker: Any) -> None:
    import datetime as dt
    import decimal
    import uuid

    app = make_app()

    @app.task
    def produce(i: int) -> Any:
        return [b"raw-%d" % i, b"\xff%d" % i, dt.datetime(2026, 1, i + 1, tzinfo=dt.UTC),
                decimal.Decimal(f"{i}.5"), uuid.UUID(int=i)]

    @app.task
    def collect(values: list[Any]) -> list[str]:
        return [type(v).__name__ for row in values for v in row]

    worker(app, concurrency=2)
    res = chord(produce.s(i) for i in range(2))(collect.s())
    assert res.get(timeout=10) == ["bytes", "bytes", "datetime", "Decimal", "UUID"] * 2
    assert res.parent.get(timeout=5)[1] == [b"raw-1", b"\xff1", dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
                                            decimal.Decimal("1.5"), uuid.UUID(int=1)]


def test_a_signature_as_an_argument_and_as_a_return_value(make_app: Any, worker: Any) -> None:
    from celeriac.canvas import Signature, signature

    app = make_app()
    t = _tasks(app)

    @app.task
    def make_sig(x: int) -> Any:
        return t["add"].s(x, 1)

    @app.task
    def run_sig(sig: dict[str, Any]) -> Any:
        assert isinstance(sig, dict)
        return signature(sig, app=app).apply().get()

    worker(app, concurrency=2)
    returned = make_sig.delay(4).get(timeout=10)
    assert isinstance(returned, dict) and returned["task"] == t["add"].name and returned["args"] == [4, 1]
    assert isinstance(signature(returned), Signature)
    assert run_sig.delay(t["add"].s(2, 3)).get(timeout=10) == 5


def test_result_set(make_app: Any, worker: Any) -> None:
    from celeriac import AsyncResult, ResultSet

    app = make_app()
    t = _tasks(app)

    @app.task
    def fail() -> None:
        raise KeyError("nope")

    rs = ResultSet([t["add"].delay(1, 1), t["add"].delay(2, 2)], app=app)
    assert not rs.ready() and rs.waiting() and rs.completed_count() == 0
    worker(app, concurrency=2)
    third = t["mul"].delay(3, 3)
    rs.add(third)
    rs.add(AsyncResult(third.id, app=app))  # already a member: nothing added
    assert len(rs) == 3
    assert rs.get(timeout=10) == [2, 4, 9] and rs.join(timeout=5) == [2, 4, 9]
    assert rs.ready() and rs.successful() and not rs.failed() and rs.completed_count() == 3
    bad = fail.delay()
    rs.add(bad)
    assert rs.join(timeout=10, propagate=False)[3].__class__ is KeyError
    assert rs.failed() and not rs.successful() and rs.completed_count() == 3
    rs.remove(bad.id)
    assert rs.successful() and len(rs) == 3
    rs.discard(bad)  # not a member any more: nothing happens
    rs.revoke()  # revokes every member (finished ones stay as they are)
    assert rs.successful()


def test_ignored_results_and_propagate_false(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task(ignore_result=True)
    def quiet(x: int) -> int:
        return x

    @app.task
    def fail() -> None:
        raise ValueError("bad")

    worker(app, concurrency=2)
    r = quiet.delay(1)
    assert r.ignored is True
    assert r.get() is None  # no timeout: returns at once as Celery, never waits for ever
    loud = quiet.apply_async((1,), ignore_result=False)
    assert loud.ignored is False and loud.get(timeout=10) == 1
    assert app.send_task(quiet.name, (2,), ignore_result=True).ignored is True
    err = fail.delay().get(timeout=10, propagate=False)
    assert isinstance(err, ValueError) and err.args == ("bad",)


def test_children_and_collect(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)

    @app.task
    def fan(n: int) -> int:
        for i in range(n):
            t["mul"].delay(i, i)
        group(t["add"].s(i, 100) for i in range(2)).apply_async()
        return n

    worker(app, concurrency=2)
    r = fan.delay(3)
    assert r.get(timeout=10) == 3
    kids = r.children
    assert len(kids) == 5
    values = [v for _res, v in r.collect(timeout=10)]
    assert values[0] == 3 and sorted(values[1:]) == [0, 1, 4, 100, 101]


def test_parent_and_root_ids_as_celery_sets_them(make_app: Any, worker: Any) -> None:
    app = make_app()

    @app.task(bind=True)
    def who(self: Any, *args: Any) -> list[Any]:
        r = self.request
        return [r.id, r.parent_id, r.root_id, r.group, r.group_index]

    worker(app, concurrency=2)
    # a chain: each step's parent is the previous step, the root is the first
    res = chain(who.s(), who.si(), who.si()).apply_async()
    last = res.get(timeout=10)
    second = res.parent.get(timeout=5)
    first = res.parent.parent.get(timeout=5)
    assert last[0] == res.id and first[1] is None and first[2] == first[0]
    assert second[1] == first[0] and last[1] == second[0]
    assert {first[2], second[2], last[2]} == {first[0]}
    # a group from a client: each member is its own root; group id and index set
    g = group(who.s(), who.s()).apply_async()
    rows = g.get(timeout=10)
    assert [row[1] for row in rows] == [None, None]
    assert [row[2] for row in rows] == [row[0] for row in rows]
    assert [row[3] for row in rows] == [g.id, g.id] and [row[4] for row in rows] == [0, 1]

    # published from inside a task: parent is that task, root is its root
    @app.task(bind=True)
    def outer(self: Any) -> str:
        return str(group(who.s(), who.s()).apply_async().id)

    o = outer.delay()
    gid = o.get(timeout=10)
    from celeriac import GroupResult

    kids = [c.get(timeout=10) for c in o.children]
    assert [k[1] for k in kids] == [o.id, o.id] and [k[2] for k in kids] == [o.id, o.id]
    assert [k[3] for k in kids] == [gid, gid]
    assert GroupResult(gid, o.children, app=app).get(timeout=5) == kids


def test_request_context_as_celery_names_it(make_app: Any, worker: Any) -> None:
    app = make_app()
    seen: dict[str, Any] = {}

    @app.task(bind=True)
    def look(self: Any) -> None:
        r = self.request
        seen.update(time_limit=r.time_limit, soft=r.soft_time_limit, timelimit=tuple(r.timelimit),
                    props=r.properties, reply_to=r.reply_to, delivery_info=r.delivery_info,
                    hostname=r.hostname, origin=r.origin, is_eager=r.is_eager,
                    called_directly=r.called_directly, chord=r.chord, group_index=r.group_index,
                    correlation_id=r.correlation_id, id=r.id)

    @app.task(bind=True)
    def direct(self: Any) -> tuple[bool, bool]:
        return self.request.called_directly, self.request.is_eager

    worker(app, concurrency=1)
    res = look.apply_async(time_limit=30, soft_time_limit=20, headers={"origin": "gen1@box"})
    res.get(timeout=10)
    assert seen["time_limit"] == 30 and seen["soft"] == 20 and seen["timelimit"] == (30, 20)
    assert seen["props"]["correlation_id"] == res.id == seen["correlation_id"]
    assert seen["delivery_info"]["routing_key"] == app.conf.task_default_queue and seen["delivery_info"]["redelivered"] is False
    assert seen["props"]["delivery_info"] == seen["delivery_info"]
    assert seen["hostname"] == "test@worker" and seen["origin"] == "gen1@box"
    assert seen["is_eager"] is False and seen["called_directly"] is False
    assert seen["chord"] is None and seen["group_index"] is None
    assert direct() == (True, False)  # called as a function
    assert direct.apply().get() == (False, True)  # eager
    group(look.s(), look.s()).apply_async().get(timeout=10)
    assert seen["group_index"] in (0, 1)
    chord([look.s()], look.si()).apply_async().get(timeout=10)


def test_replace_keeps_the_id_the_chain_rest_callbacks_and_chord_place(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    add, mul, tsum = t["add"], t["mul"], t["tsum"]

    @app.task(bind=True)
    def swap(self: Any, x: int, how: str = "sig") -> Any:
        if how == "sig":
            return self.replace(mul.s(x, 10))
        if how == "chain":
            return self.replace(add.s(x, 1) | mul.s(100))
        return self.replace(group(add.s(x, i) for i in range(3)))

    @app.task
    def record(value: Any) -> None:
        app.backend.client.rpush("linked", repr(value))

    worker(app, concurrency=3)
    r = swap.delay(4)
    assert r.get(timeout=10) == 40  # the replacement's value under the original id
    assert swap.delay(4, "chain").get(timeout=10) == 500
    assert swap.delay(4, "group").get(timeout=10) == [4, 5, 6]
    # in a chain: the rest of the chain runs after the replacement
    res = chain(add.s(1, 1), swap.s(), add.s(7)).apply_async()
    assert res.get(timeout=10) == 27 and res.parent.get(timeout=5) == 20
    # link callbacks move to the replacement
    swap.apply_async((3,), link=record.s()).get(timeout=10)
    from helpers import wait_for

    wait_for(lambda: app.backend.client.lrange("linked", 0, -1) == [b"30"], 10, what="link called")
    # in a chord header: the replacement takes the task's place
    assert chord([swap.s(1), swap.s(2, "chain"), add.s(1, 1)], tsum.s()).apply_async().get(timeout=15) == 10 + 300 + 2
    # eagerly, replace runs the signature and returns its value
    assert swap.apply((5,)).get() == 50


def test_nesting_shaped_as_celery_shapes_it(make_app: Any, worker: Any) -> None:
    app = make_app()
    t = _tasks(app)
    add, tsum = t["add"], t["tsum"]

    @app.task
    def ident(x: Any) -> Any:
        return x

    @app.task
    def boom(*args: Any) -> None:
        raise ValueError("boom")

    @app.task(bind=True)
    def swap(self: Any, x: int) -> Any:
        return self.replace(add.s(x, 1000))

    worker(app, concurrency=4)
    # a group in a chord header is one slot holding its list
    res = chord([group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)], ident.s()).apply_async()
    assert res.get(timeout=15) == [[2, 4], 6]
    header = res.parent  # the header's results: a GroupResult holding the group's GroupResult
    assert isinstance(header, GroupResult) and isinstance(header.results[0], GroupResult)
    assert header.get(timeout=5) == [[2, 4], 6] and header.results[0].get(timeout=5) == [2, 4]
    # a chord in a chord header: its callback's value fills the slot
    res = chord([chord([add.s(1, 1), add.s(2, 2)], tsum.s()), add.s(3, 3)], ident.s()).apply_async()
    assert res.get(timeout=15) == [6, 6]
    # a group of chains ending in groups: GroupResult of GroupResult, nested lists
    g = group(chain(add.s(i, i), group(add.s(1), add.s(2))) for i in range(2)).apply_async()
    assert g.get(timeout=15) == [[1, 2], [3, 4]]
    assert all(isinstance(r, GroupResult) for r in g.results)
    # chains inside a group inside a chord
    res = chord([group(chain(add.s(1, 1), add.s(1)), chain(add.s(2, 2), add.s(1))), add.s(0, 0)],
                ident.s()).apply_async()
    assert res.get(timeout=15) == [[3, 5], 0]
    # a replaced task inside a nested header
    res = chord([group(swap.s(1), add.s(1, 1))], ident.s()).apply_async()
    assert res.get(timeout=15) == [[1001, 2]]


def test_chord_whose_header_chain_fails_first_fails(make_app: Any, worker: Any) -> None:
    import pytest

    from celeriac.errors import ChordError

    app = make_app()
    t = _tasks(app)

    @app.task
    def boom(*args: Any) -> None:
        raise ValueError("header boom")

    worker(app, concurrency=2)
    res = chord([chain(boom.s(), t["add"].s(1)), t["add"].s(1, 1)], t["tsum"].s()).apply_async()
    with pytest.raises(ChordError, match="ValueError: header boom") as info:
        res.get(timeout=15)
    # the header task's own exception is reachable from the ChordError, as Celery chains it
    cause = info.value.__cause__
    assert isinstance(cause, ValueError) and cause.args == ("header boom",)


def test_link_error_on_groups_and_chords_as_celery(make_app: Any, worker: Any) -> None:
    from helpers import wait_for

    app = make_app()
    t = _tasks(app)

    @app.task
    def boom(*args: Any) -> None:
        raise KeyError("bad")

    @app.task
    def on_err(request: Any, exc: Any, traceback: Any) -> None:  # Celery's new-style errback
        app.backend.client.rpush("errs", f"{request.task}|{type(exc).__name__}|{'Traceback' in traceback}")

    @app.task
    def note(tag: str) -> None:  # immutable errback: called with its own arguments only
        app.backend.client.rpush("errs", f"si|{tag}")

    worker(app, concurrency=2)
    g = group(t["add"].s(1, 1), boom.s())
    g.link_error(on_err.s())
    g.apply_async().get(timeout=10, propagate=False)
    c = chord([t["add"].s(1, 1), boom.s()], t["tsum"].s())
    c.link_error(note.si("chord"))  # the body's errback, as Celery (the body fails with ChordError)
    c.apply_async().get(timeout=10, propagate=False)

    def got() -> list[str]:
        return sorted(x.decode() for x in app.backend.client.lrange("errs", 0, -1))

    wait_for(lambda: len(got()) == 2, 10, what="both errbacks called")
    assert got() == sorted([f"{boom.name}|KeyError|True", "si|chord"])
