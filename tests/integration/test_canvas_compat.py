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
