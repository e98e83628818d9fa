"""Celery-compatible values: signatures are dicts, and JSON carries Celery's extra types."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid

from celeriac import Celeriac, serialization
from celeriac.canvas import Signature, chain, chord, group, maybe_signature


def _app() -> Celeriac:
    app = Celeriac("compat-unit", broker="memory://")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    return app


def test_a_signature_is_a_dict() -> None:
    app = _app()
    add = app.tasks["compat-unit.add"] if "compat-unit.add" in app.tasks else next(
        t for n, t in app.tasks.items() if n.endswith("add"))
    sig = add.s(2, 2).set(countdown=3)
    assert isinstance(sig, dict)
    d = dict(sig)
    assert d["task"] == sig.task and d["args"] == (2, 2) and d["kwargs"] == {}
    assert d["options"] == {"countdown": 3} and d["immutable"] is False and d["subtask_type"] is None
    assert json.loads(json.dumps(sig)) == {"task": sig.task, "args": [2, 2], "kwargs": {},
                                           "options": {"countdown": 3}, "subtask_type": None,
                                           "immutable": False}
    # back from its JSON form, equal to the original
    assert maybe_signature(json.loads(json.dumps(sig)), app) == sig
    sig.args = (5, 5)
    assert sig["args"] == (5, 5)
    assert sig() == 10 and add.s(1)(2) == 3  # calling a task signature runs the function here


def test_composite_signatures_are_dicts_with_their_parts_in_kwargs() -> None:
    app = _app()
    add = next(t for n, t in app.tasks.items() if n.endswith("add"))
    c = chain(add.s(1, 1), add.s(2))
    assert c["subtask_type"] == "chain" and [t["args"] for t in c["kwargs"]["tasks"]] == [(1, 1), (2,)]
    g = group(add.s(i, i) for i in range(3))
    assert len(g["kwargs"]["tasks"]) == 3
    ch = chord([add.s(1, 1)], add.s(3))
    assert ch["kwargs"]["header"]["subtask_type"] == "group" and ch["kwargs"]["body"]["args"] == (3,)
    for sig in (c, g, ch):
        again = Signature.from_dict(json.loads(json.dumps(sig)), app)
        assert type(again) is type(sig) and again.to_dict() == sig.to_dict()


def test_json_carries_celerys_extra_types_both_ways() -> None:
    value = {
        "when": dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2), "at": dt.time(3, 4, 5),
        "price": decimal.Decimal("1.10"), "id": uuid.UUID("12345678123456781234567812345678"),
        "text": b"hello", "blob": b"\xff\x00\x01",
    }
    ctype, payload = serialization.dumps(value, "json")
    wire = json.loads(payload)
    # kombu's envelopes, byte for byte what Celery's JSON serializer writes
    assert wire["when"] == {"__type__": "datetime", "__value__": "2026-01-02T03:04:05.600000+00:00"}
    assert wire["day"] == {"__type__": "date", "__value__": "2026-01-02"}
    assert wire["price"] == {"__type__": "decimal", "__value__": "1.10"}
    assert wire["id"] == {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}}
    assert wire["text"] == {"__type__": "bytes", "__value__": "hello"}
    assert wire["blob"] == {"__type__": "base64", "__value__": "/wAB"}
    accept = serialization.accepted(["json"])
    assert serialization.loads(payload, ctype, accept) == value
    # JSON-only readers (the operator's lookups) get the envelopes as plain dicts
    assert serialization.loads(payload, ctype, accept, typed=False) == wire
    # an ordinary dict that happens to have a __type__ key is left alone
    other = {"__type__": "mine", "__value__": 1}
    assert serialization.loads(serialization.dumps(other)[1], ctype, accept) == other


def test_celery_only_settings_are_accepted_with_a_warning() -> None:
    import warnings

    from celeriac.config import CeleryOnlySettingWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        app = Celeriac("compat-settings", broker="memory://", broker_pool_limit=20,
                       broker_connection_retry_on_startup=True, result_extended=True,
                       worker_send_task_events=False)
    notes = [str(w.message) for w in caught if issubclass(w.category, CeleryOnlySettingWarning)]
    assert len(notes) == 3 and any("broker_pool_limit" in n and "no effect" in n for n in notes)
    assert app.conf.broker_pool_limit == 20 and app.conf.result_extended is True
    assert app.conf.worker_send_task_events is False  # a setting with its Celery meaning: no warning


def test_signatures_pickle_and_travel_in_every_serializer() -> None:
    import pickle

    app = _app()
    add = next(t for n, t in app.tasks.items() if n.endswith("add"))
    c = chain(add.s(1, 1), add.s(2))
    again = pickle.loads(pickle.dumps(c))
    assert type(again) is chain and again.to_dict() == c.to_dict()
    for name in ("json", "msgpack", "yaml", "pickle"):
        ctype, payload = serialization.dumps({"sig": add.s(1, 2)}, name)
        back = serialization.loads(payload, ctype, serialization.accepted([name]))
        assert maybe_signature(back["sig"], app) == add.s(1, 2), name
