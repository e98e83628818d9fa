"""decide/schedules as plain functions: registry spec, durations, status, history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from celeriac_operator.decide import schedules

NOW = datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class State:
    last_run: datetime | None = datetime(2026, 12, 1, 9, 59, 59, tzinfo=UTC)
    next_run: datetime | None = datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC)
    last_task_id: str | None = "t-1"
    last_state: str | None = "PENDING"
    run_count: int = 7


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25),
                                            ("1d", 86400), ("1.5s", 1.5)])
def test_every_durations(text: str, seconds: float) -> None:
    assert schedules.parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5x", "s", "1h 30m", "0s"])
def test_bad_durations_name_the_field(text: str) -> None:
    with pytest.raises(schedules.InvalidScheduleSpec, match=r"spec\.every"):
        schedules.parse_every(text)


def test_registry_spec_maps_every_field() -> None:
    spec = {"task": "tasks.add", "args": [1], "kwargs": {"b": 2}, "queue": "q", "priority": 3,
            "expiresSeconds": 30, "schedule": "@hourly", "timeZone": "Europe/Paris", "suspend": True,
            "concurrencyPolicy": "Forbid", "startingDeadlineSeconds": 20, "catchUp": "None"}
    assert schedules.registry_spec(spec) == {
        "task": "tasks.add", "args": [1], "kwargs": {"b": 2},
        "options": {"queue": "q", "priority": 3, "expires": 30.0},
        "schedule": {"cron": "@hourly"}, "timezone": "Europe/Paris", "enabled": False,
        "concurrency_policy": "forbid", "starting_deadline_s": 20.0, "catch_up": "none",
    }
    every = schedules.registry_spec({"task": "t", "every": "1s"})
    assert every["schedule"] == {"every": 1.0} and every["enabled"] is True
    assert every["timezone"] == "UTC" and every["catch_up"] == "once"


def test_schedule_xor_every() -> None:
    for spec in ({"task": "t"}, {"task": "t", "every": "1s", "schedule": "* * * * *"}):
        with pytest.raises(schedules.InvalidScheduleSpec, match="exactly one"):
            schedules.registry_spec(spec)


def test_the_registry_accepts_what_the_mapping_writes() -> None:
    # The runtime's own parser of registry specs (the record format is the contract).
    import json

    from celeriac.beat.records import spec_to_entry

    for spec in ({"task": "t", "every": "90s", "priority": 1},
                 {"task": "t", "schedule": "*/5 * * * *", "timeZone": "Europe/Paris",
                  "concurrencyPolicy": "Replace", "catchUp": "All"}):
        entry, _ = spec_to_entry("ns/x", json.dumps(schedules.registry_spec(spec)))
        assert entry.task == "t"


def test_status_from_state() -> None:
    st = schedules.schedule_status({}, State(), live_state="SUCCESS", last_finished_at=NOW - 0.5,
                                   suspended=False, synced=True, sync_error=None, generation=2, now=NOW)
    assert st["lastScheduleTime"] == "2026-12-01T09:59:59.000000Z"
    assert st["nextScheduleTime"] == "2026-12-01T10:00:01.000000Z"
    assert st["lastTaskId"] == "t-1" and st["lastState"] == "SUCCESS" and st["runCount"] == 7
    assert st["lastSuccessfulTime"] == "2026-12-01T09:59:59.500000Z"
    assert st["observedGeneration"] == 2
    conds = {c["type"]: (c["status"], c["reason"]) for c in st["conditions"]}
    assert conds == {"Synced": ("True", "Applied"), "Suspended": ("False", "Active")}
    paused = schedules.schedule_status(st, State(), live_state=None, suspended=True, synced=True,
                                       sync_error=None, generation=3, now=NOW + 1)
    assert "nextScheduleTime" not in paused
    conds = {c["type"]: c for c in paused["conditions"]}
    assert conds["Suspended"]["status"] == "True"
    assert conds["Synced"]["lastTransitionTime"] == "2026-12-01T10:00:00.000000Z"  # held
    bad = schedules.schedule_status({}, None, live_state=None, suspended=False, synced=False,
                                    sync_error="spec.every: bad", generation=1, now=NOW)
    assert {c["type"]: c["message"] for c in bad["conditions"]}["Synced"] == "spec.every: bad"
    assert "observedGeneration" not in bad


def test_history_keeps_the_newest_and_never_unfinished() -> None:
    runs = [schedules.RunTask(f"s-{i}", state, float(i)) for i, state in enumerate(
        ["SUCCESS", "SUCCESS", "FAILURE", "SUCCESS", "REVOKED", None, "SUCCESS", "FAILURE"])]
    assert schedules.history_to_delete(runs, successful_limit=3, failed_limit=1) == ["s-0", "s-4", "s-2"]
    assert schedules.history_to_delete(runs, successful_limit=0, failed_limit=0) == [
        "s-6", "s-3", "s-1", "s-0", "s-7", "s-4", "s-2"]


def test_run_task_body_is_owned_and_mirrors_the_run() -> None:
    sched = {"metadata": {"name": "nightly", "namespace": "ns", "uid": "u-1"},
             "spec": {"task": "t", "args": [1], "queue": "q", "every": "1s"}}
    name = schedules.run_task_name("nightly", datetime(2026, 12, 1, 10, tzinfo=UTC), 3)
    assert name == f"nightly-{int(NOW)}"
    body = schedules.run_task_body(sched, task_id="tid", name=name, api_version="celeriac.dev/v1alpha1")
    assert body["metadata"]["annotations"]["celeriac.dev/task-id"] == "tid"
    assert body["metadata"]["labels"] == {"celeriac.dev/schedule": "nightly"}
    assert body["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert body["spec"] == {"task": "t", "args": [1], "kwargs": {}, "queue": "q"}
    assert len(schedules.run_task_name("x" * 300, None, 12)) <= 253
