"""Pure canvas logic: signature dicts, chain normalization, freezing, built messages (no I/O)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from celeriac import Celeriac
from celeriac.canvas import GroupResult, Signature, chain, chord, group, signature
from celeriac.canvas.followups import _task_ids
from celeriac.canvas.signature import CHORD_HEADER, ChordArgs, Lineage


@pytest.fixture
def app() -> Any:
    app = Celeriac("unit", broker="redis://127.0.0.1:1/0", set_as_current=False)

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    @app.task
    def tsum(values: list[int]) -> int:
        return sum(values)

    return app


def _bodies(outs: Any) -> list[dict[str, Any]]:
    return [json.loads(o.body) for o in outs]


def test_signature_round_trips_through_json(app: Any) -> None:
    add = app.tasks["test_canvas.add"] if "test_canvas.add" in app.tasks else next(
        t for n, t in app.tasks.items() if n.endswith(".add"))
    sig = add.s(2, y=3).set(queue="q", countdown=5)
    sig.link(add.si(1, 1))
    d = json.loads(json.dumps(sig.to_dict()))
    assert d["task"] == add.name and d["args"] == [2] and d["kwargs"] == {"y": 3}
    assert d["options"]["queue"] == "q" and d["options"]["link"][0]["immutable"] is True
    back = signature(d, app=app)
    assert back == sig and back.options["countdown"] == 5
    assert add.s(1).clone((9,)).args == (9, 1)
    assert add.si(1).clone((9,)).args == (1,)  # immutable: the parent's result is not prepended
    assert signature("some.task", (1,), {"a": 2}, {"queue": "x"}).to_dict()["options"] == {"queue": "x"}


def test_composites_round_trip(app: Any) -> None:
    add = next(t for n, t in app.tasks.items() if n.endswith(".add"))
    tsum = next(t for n, t in app.tasks.items() if n.endswith(".tsum"))
    wf = chain(add.s(1, 1), group(add.s(i) for i in range(3)), tsum.s(), add.s(5))
    # group followed by more steps became a chord whose body carries the rest
    assert [type(s).__name__ for s in wf.tasks] == ["Signature", "chord"]
    assert isinstance(wf.tasks[1], chord) and isinstance(wf.tasks[1].body, chain)
    d = json.loads(json.dumps(wf.to_dict()))
    assert d["subtask_type"] == "chain"
    back = Signature.from_dict(d, app)
    assert isinstance(back, chain) and back.to_dict() == wf.to_dict()
    assert isinstance(add.s(1, 1) | add.s(2), chain)
    assert isinstance(group(add.s(1, 1)) | tsum.s(), chord)
    assert len((add.s(1, 1) | add.s(2) | add.s(3)).tasks) == 3  # flattened


def test_freeze_assigns_ids_and_parents(app: Any) -> None:
    add = next(t for n, t in app.tasks.items() if n.endswith(".add"))
    tsum = next(t for n, t in app.tasks.items() if n.endswith(".tsum"))
    wf = chain(add.s(1, 1), chord([add.s(1), add.s(2)], tsum.s()), add.s(3))
    res = wf.freeze()
    assert res.id == wf.tasks[-1].body.tasks[-1].id  # the last step of the callback chain
    header = res.parent.parent
    assert isinstance(header, GroupResult) and len(header) == 2
    assert header.parent.id == wf.tasks[0].id
    ids = [i for i, _ in _task_ids(wf.to_dict())]
    assert len(ids) == len(set(ids)) == 5
    assert chain(add.s(1, 1), add.s(2)).freeze("my-last").id == "my-last"


def test_built_messages_carry_chain_chord_and_lineage(app: Any) -> None:
    add = next(t for n, t in app.tasks.items() if n.endswith(".add"))
    tsum = next(t for n, t in app.tasks.items() if n.endswith(".tsum"))
    c = chord([chain(add.s(1, 1), add.s(2)), add.s(3, 3)], tsum.s())
    c.freeze()
    outs = c.build(app, (), Lineage(parent_id="p", root_id="r"), {})
    bodies = _bodies(outs)
    assert len(bodies) == 2 and {b["root_id"] for b in bodies} == {"r"}
    assert all(b["parent_id"] == "p" for b in bodies)
    # the chain's chord info rides on its LAST step
    assert "chord" not in bodies[0] and bodies[0]["chain"][0]["options"]["chord"]["index"] == 0
    assert bodies[1]["chord"]["index"] == 1 and bodies[1]["chord"]["size"] == 2
    assert bodies[1]["group"] == bodies[1]["chord"]["id"] and bodies[1]["group_index"] == 1
    callback = Signature.from_dict(bodies[1]["chord"]["callback"], app)
    cb = _bodies(callback.build(app, ChordArgs("g", 2), Lineage("g", "r"), {}))[0]
    assert cb["headers"][CHORD_HEADER] == {"id": "g", "size": 2, "prepend": True}
    assert cb["id"] == c.body.id


def test_a_group_in_a_chord_header_is_one_slot(app: Any) -> None:
    """As Celery nests it: the group's list fills one slot (a chord of it, body accumulate)."""
    add = next(t for n, t in app.tasks.items() if n.endswith(".add"))
    c = chord([group(add.s(1, 1), add.s(2, 2)), add.s(3, 3)], add.s(1))
    inner = c.header.tasks[0]
    assert isinstance(inner, chord) and len(inner.header.tasks) == 2
    assert inner.body is not None and inner.body.task == "celeriac.accumulate" and inner.body.kwargs == {"index": 0}


def test_eager_canvas(app: Any) -> None:
    add = next(t for n, t in app.tasks.items() if n.endswith(".add"))
    tsum = next(t for n, t in app.tasks.items() if n.endswith(".tsum"))
    assert chain(add.s(1, 1), add.s(2)).apply().get() == 4
    assert group(add.s(i, i) for i in range(3)).apply().get() == [0, 2, 4]
    assert chord([add.s(1, 1), add.s(2, 2)], tsum.s()).apply().get() == 6
    assert add.chunks([(1, 1), (2, 2), (3, 3)], 2).apply().get() == [[2, 4], [6]]
    assert add.starmap([(1, 2)]).apply().get() == [3]
    app.conf.task_always_eager = True
    assert (add.s(1, 1) | add.s(1)).delay().get() == 3
