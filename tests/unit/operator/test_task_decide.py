"""decide/enqueue and decide/status as plain functions: the enqueue call a Task spec makes,
and the status (fields, conditions, Events) that events and lookups produce."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from celeriac_operator.decide import enqueue, status

META = {"name": "add-1", "namespace": "ns", "uid": "0b6f7c1e-9d2a-4c1b-8f00-2a3c4d5e6f70",
        "creationTimestamp": "2026-12-01T10:00:00Z", "generation": 1}
NOW = datetime(2026, 12, 1, 10, 0, 5, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class Info:
    """A TaskInfo as lookup_tasks returns it (the shape of celeriac.TaskInfo)."""

    task_id: str = META["uid"]
    presence: str = "recorded"
    state: str = "SUCCESS"
    result: Any = 4
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None
    worker: str | None = "pool-abc"
    queue: str | None = "default"
    retries: int | None = 0
    enqueued_at: float | None = NOW - 3
    started_at: float | None = NOW - 2
    finished_at: float | None = NOW - 1
    runtime_s: float | None = 1.0


# -- enqueue ---------------------------------------------------------------------------------


def test_task_id_is_the_uid_and_the_same_on_every_reconcile() -> None:
    a = enqueue.enqueue_request({"task": "tasks.add", "args": [2, 2]}, META)
    b = enqueue.enqueue_request({"task": "tasks.add", "args": [2, 2]}, dict(META))
    assert a.task_id == b.task_id == META["uid"]
    assert a.name == "tasks.add" and a.args == (2, 2) and a.kwargs == {}


def test_relative_times_are_anchored_at_creation_not_at_reconcile() -> None:
    req = enqueue.enqueue_request({"task": "t", "countdown": 30, "expiresSeconds": 60}, META)
    created = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC)
    assert req.options["eta"] == created.replace(second=30)
    assert req.options["expires"] == created.replace(minute=1)


def test_every_option_maps_to_apply_async() -> None:
    spec = {"task": "t", "queue": "q1", "priority": 7, "eta": "2026-12-01T11:00:00+01:00",
            "timeLimitSeconds": 10, "softTimeLimitSeconds": 5, "kwargs": {"x": 1}}
    req = enqueue.enqueue_request(spec, META)
    assert req.options["queue"] == "q1" and req.options["priority"] == 7
    assert req.options["eta"] == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert req.options["time_limit"] == 10.0 and req.options["soft_time_limit"] == 5.0
    assert req.options["headers"] == {"k8s_object": "ns/add-1"}
    assert req.kwargs == {"x": 1}


@pytest.mark.parametrize("spec, field", [
    ({}, "spec.task"),
    ({"task": "t", "priority": 12}, "spec.priority"),
    ({"task": "t", "countdown": 1, "eta": "2026-12-01T10:00:00Z"}, "spec.countdown"),
    ({"task": "t", "args": {"a": 1}}, "spec.args"),
    ({"task": "t", "countdown": -1}, "spec.countdown"),
])
def test_invalid_specs_name_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(enqueue.InvalidTaskSpec, match=field.replace(".", r"\.")):
        enqueue.enqueue_request(spec, META)


def test_annotations() -> None:
    assert enqueue.mirrored_task_id({"celeriac.dev/task-id": "abc"}) == "abc"
    assert enqueue.mirrored_task_id({}) is None
    assert enqueue.terminate_on_delete({"celeriac.dev/terminate-on-delete": "true"})
    assert not enqueue.terminate_on_delete({"celeriac.dev/terminate-on-delete": "no"})


# -- status ----------------------------------------------------------------------------------


def _conds(st: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}


def test_enqueued_status_and_conditions() -> None:
    st = status.enqueued_status({}, task_id="id1", queue="q", generation=1, now=NOW)
    assert st["state"] == "PENDING" and st["taskId"] == "id1" and st["queue"] == "q"
    assert st["observedGeneration"] == 1 and st["enqueuedAt"] == "2026-12-01T10:00:05.000000Z"
    assert _conds(st) == {"Enqueued": ("True", "Enqueued"), "Started": ("False", "Waiting"),
                          "Finished": ("False", "Pending")}
    for cond in st["conditions"]:
        assert set(cond) == {"type", "status", "reason", "message", "lastTransitionTime",
                             "observedGeneration"}


def test_success_from_a_lookup_has_the_result_and_every_field() -> None:
    obs = status.observation_from_info(Info(), now=NOW)
    assert obs is not None
    st = status.task_status({}, obs, task_id="id1", generation=1, now=NOW)
    assert st["state"] == "SUCCESS" and st["result"] == 4 and st["resultTruncated"] is False
    assert st["worker"] == "pool-abc" and st["retries"] == 0 and st["runtimeSeconds"] == 1.0
    assert st["startedAt"] < st["finishedAt"]
    assert _conds(st)["Finished"] == ("True", "Succeeded")
    assert _conds(st)["Started"] == ("True", "Started")


def test_failure_has_error_type_message_and_cut_traceback() -> None:
    info = Info(state="FAILURE", result=None, error_type="ValueError", error_message="boom",
                traceback="Traceback\n" + "x" * 10000)
    obs = status.observation_from_info(info, now=NOW)
    assert obs is not None
    st = status.task_status({}, obs, task_id="id1", generation=1, now=NOW)
    assert st["error"] == {"type": "ValueError", "message": "boom"}
    assert len(st["traceback"].encode()) == status.MAX_VALUE_BYTES
    assert _conds(st)["Finished"] == ("True", "Failed")
    assert "result" not in st


def test_large_results_are_cut_at_4_kib_with_the_flag() -> None:
    obs = status.observation_from_info(Info(result={"data": "é" * 5000}), now=NOW)
    assert obs is not None
    st = status.task_status({}, obs, task_id="id1", generation=1, now=NOW)
    assert st["resultTruncated"] is True and isinstance(st["result"], str)
    assert len(st["result"].encode()) <= status.MAX_VALUE_BYTES
    assert st["result"].startswith('{"data":"é')


def test_custom_state_meta_goes_to_progress() -> None:
    obs = status.observation_from_info(Info(state="PROGRESS", result={"done": 3, "of": 10},
                                            finished_at=None), now=NOW)
    assert obs is not None
    st = status.task_status({}, obs, task_id="id1", generation=1, now=NOW)
    assert st["state"] == "PROGRESS" and st["progress"] == {"done": 3, "of": 10}
    assert _conds(st)["Finished"] == ("False", "Running")


def test_states_never_move_back_and_the_first_terminal_state_wins() -> None:
    started = status.Observation(state="STARTED", at=NOW)
    success = status.Observation(state="SUCCESS", at=NOW - 5)
    assert status.accepts(None, None, started)
    assert status.accepts("PENDING", NOW, started)
    assert not status.accepts("SUCCESS", NOW, started)  # a late heartbeat's STARTED
    assert status.accepts("STARTED", NOW, success)  # terminal beats running, whatever the time
    assert status.accepts("SUCCESS", NOW, success)  # the lookup's details after the event
    assert not status.accepts("SUCCESS", NOW, status.Observation(state="REVOKED", at=NOW + 1))
    assert not status.accepts("STARTED", NOW, status.Observation(state="PENDING", at=NOW + 1))
    assert status.accepts("STARTED", NOW, status.Observation(state="RETRY", at=NOW + 1))
    assert not status.accepts("RETRY", NOW, status.Observation(state="STARTED", at=NOW - 1))


def test_events_map_to_observations() -> None:
    ev = {"type": "task-started", "uuid": "id1", "timestamp": str(NOW), "hostname": "w1",
          "started": str(NOW - 0.5)}
    obs = status.observation_from_event(ev)
    assert obs is not None and obs.state == "STARTED" and obs.worker == "w1"
    assert obs.started_at == NOW - 0.5
    failed = status.observation_from_event({"type": "task-failed", "timestamp": str(NOW),
                                            "exception": "ValueError('boom')", "runtime": "0.25"})
    assert failed is not None and (failed.error_type, failed.error_message) == ("ValueError", "boom")
    assert failed.started_at == NOW - 0.25
    revoked = status.observation_from_event({"type": "task-revoked", "timestamp": str(NOW),
                                             "reason": "terminated"})
    assert revoked is not None and revoked.state == "REVOKED" and revoked.error_message == "terminated"
    assert status.observation_from_event({"type": "worker-heartbeat"}) is None


def test_lookup_presences() -> None:
    assert status.observation_from_info(Info(presence="unknown"), now=NOW) is None
    assert status.observation_from_info(Info(presence="expired"), now=NOW) is None
    queued = status.observation_from_info(Info(presence="queued"), now=NOW)
    assert queued is not None and queued.state == "PENDING"


def test_transition_times_hold_while_a_condition_holds() -> None:
    first = status.enqueued_status({}, task_id="i", queue="q", generation=1, now=NOW)
    later = status.task_status(first, status.Observation(state="STARTED", at=NOW + 1, started_at=NOW + 1),
                               task_id="i", generation=1, now=NOW + 1)
    by_type = {c["type"]: c for c in later["conditions"]}
    assert by_type["Enqueued"]["lastTransitionTime"] == first["conditions"][0]["lastTransitionTime"]
    assert by_type["Started"]["lastTransitionTime"] == status.rfc3339(NOW + 1)


def test_status_patch_is_a_merge_patch() -> None:
    old = {"state": "FAILURE", "error": {"type": "E", "message": "m"}, "traceback": "t"}
    new = {"state": "SUCCESS", "error": {"type": "E"}, "result": 1}
    patch = status.status_patch(old, new)
    assert patch == {"state": "SUCCESS", "error": {"type": "E", "message": None}, "result": 1,
                     "traceback": None}
    assert status.status_patch(new, new) == {}


def test_transition_events() -> None:
    st = {"state": "SUCCESS", "result": [1, 2], "runtimeSeconds": 0.5, "worker": "w"}
    assert status.transition_events("PENDING", st) == [
        ("Normal", "Succeeded", "returned [1, 2] in 0.500 s on w")]
    assert status.transition_events("PENDING", {"state": "STARTED", "worker": "w"}) == [
        ("Normal", "Started", "started on w")]
    failed = status.transition_events("STARTED", {"state": "FAILURE",
                                                  "error": {"type": "ValueError", "message": "boom"}})
    assert failed == [("Warning", "Failed", "ValueError: boom")]
    assert status.transition_events("SUCCESS", st) == []


def test_status_values_are_json() -> None:
    obs = status.observation_from_info(Info(result=float("nan")), now=NOW)
    assert obs is not None
    st = status.task_status({}, obs, task_id="i", generation=None, now=NOW)
    json.dumps(st, allow_nan=False)


def test_epoch_of_reads_back_what_rfc3339_writes_and_the_api_servers_timestamps() -> None:
    assert status.epoch_of(status.rfc3339(NOW)) == pytest.approx(NOW, abs=1e-6)
    assert status.epoch_of("1970-01-01T00:01:00Z") == 60.0
    assert status.epoch_of("1970-01-01T00:01:00") == 60.0  # no zone: UTC
    for unreadable in (None, "", "yesterday", 12):
        assert status.epoch_of(unreadable) is None
