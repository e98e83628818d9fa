from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from celeriac import serialization
from celeriac.errors import ContentDisallowed, DecodeError
from celeriac.message import Message

SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "docs" / "message.schema.json").read_text())


@pytest.mark.parametrize("name", ["json", "msgpack", "yaml", "pickle"])
def test_round_trip(name: str) -> None:
    value = {"a": [1, 2.5, "x", None, True], "b": {"c": "ü"}}
    content_type, payload = serialization.dumps(value, name)
    accept = serialization.accepted([name])
    assert serialization.loads(payload, content_type, accept) == value


def test_pickle_refused_unless_accepted() -> None:
    content_type, payload = serialization.dumps({"x": 1}, "pickle")
    with pytest.raises(ContentDisallowed, match="not in accept_content"):
        serialization.loads(payload, content_type, serialization.accepted(["json"]))


def test_bad_payload_and_unknown_type() -> None:
    with pytest.raises(DecodeError):
        serialization.loads(b"{not json", serialization.JSON, serialization.accepted(["json"]))
    with pytest.raises(DecodeError, match="unknown content type"):
        serialization.loads(b"x", "text/x-unknown", serialization.accepted(["json"]))


def test_json_encodes_datetimes_and_tuples() -> None:
    _, payload = serialization.dumps({"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "p": (1, 2)})
    # datetimes in kombu's typed envelope, as Celery's JSON serializer writes them
    assert json.loads(payload) == {"t": {"__type__": "datetime", "__value__": "2026-01-01T00:00:00+00:00"},
                                   "p": [1, 2]}


def test_message_round_trip_matches_the_schema() -> None:
    m = Message(task="tasks.add", id="abc", args=[2, 3], kwargs={"z": 1}, eta="2026-01-01T00:00:00+00:00",
                priority=9, timelimit=(10.0, None), headers={"h": 1})
    data = m.to_dict()
    jsonschema.validate(data, SCHEMA)
    assert Message.from_dict(data) == m


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "object"),
        ({"id": "x"}, "task"),
        ({"task": "t"}, "id"),
        ({"task": "t", "id": "x", "args": "no"}, "args"),
        ({"task": "t", "id": "x", "kwargs": []}, "kwargs"),
        ({"task": "t", "id": "x", "eta": "yesterday"}, "eta"),
        ({"task": "t", "id": "x", "priority": "high"}, "priority"),
    ],
)
def test_invalid_messages_name_the_field(body: object, field: str) -> None:
    with pytest.raises(DecodeError, match=field):
        Message.from_dict(body)


def test_unknown_fields_are_kept_as_headers() -> None:
    m = Message.from_dict({"task": "t", "id": "x", "lang": "go"})
    assert m.headers == {"lang": "go"}
