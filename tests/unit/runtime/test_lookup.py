"""``celeriac.lookup.task_info``: presence and decoding of one trace (pure, no transport)."""

from __future__ import annotations

import json
import pickle

from celeriac import serialization, states
from celeriac.backends.base import FINISHED, QUEUED, ResultRecord, TaskTrace
from celeriac.lookup import task_info

ACCEPT = serialization.accepted(["json"])


def _record(status: str, value: object, **extra: str) -> ResultRecord:
    return ResultRecord(task_id="t", status=status, result=json.dumps(value).encode(), date_done=100.0,
                        task="x.y", worker="w@h", retries=2, queue="q", extra=dict(extra))


def test_presence_without_a_record() -> None:
    assert task_info(TaskTrace("t", None), ACCEPT).presence == "unknown"
    queued = task_info(TaskTrace("t", None, mark=QUEUED, enqueued_at=5.0, queue="q", task="x.y"), ACCEPT)
    assert (queued.presence, queued.state, queued.enqueued_at, queued.queue, queued.task) == (
        "queued", states.PENDING, 5.0, "q", "x.y")
    assert task_info(TaskTrace("t", None, mark=FINISHED), ACCEPT).presence == "expired"


def test_success_custom_state_and_failure() -> None:
    ok = task_info(TaskTrace("t", _record(states.SUCCESS, {"n": 1}, date_started="98.5", runtime="1.25")), ACCEPT)
    assert (ok.presence, ok.result, ok.started_at, ok.finished_at, ok.runtime_s, ok.retries, ok.ready) == (
        "recorded", {"n": 1}, 98.5, 100.0, 1.25, 2, True)
    progress = _record("PROGRESS", {"done": 3})
    progress.date_done = None
    meta = task_info(TaskTrace("t", progress), ACCEPT)
    assert (meta.state, meta.result, meta.finished_at, meta.ready) == ("PROGRESS", {"done": 3}, None, False)
    failed = task_info(TaskTrace("t", _record(states.FAILURE, {"exc_type": "KeyError", "exc_module": "builtins",
                                                               "exc_message": ["k", 1]}, date_started="99")),
                       ACCEPT)
    assert (failed.result, failed.error_type, failed.error_message, failed.runtime_s) == (None, "KeyError", "k 1", 1.0)


def test_a_payload_outside_accept_content_is_not_decoded() -> None:
    record = ResultRecord(task_id="t", status=states.SUCCESS, result=pickle.dumps(object),
                          content_type="application/x-python-serialize")
    info = task_info(TaskTrace("t", record), ACCEPT)
    assert (info.presence, info.state, info.result) == ("recorded", states.SUCCESS, None)
