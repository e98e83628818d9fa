"""The schedule registry's JSON records (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from celeriac.beat import records
from celeriac.schedules import crontab, every, parse_entry

NOW = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)


def test_spec_round_trip() -> None:
    entry = parse_entry("r", {
        "task": "t.r", "schedule": crontab(minute="*/5", hour="9-17"), "args": (1, "a"),
        "kwargs": {"k": [1]}, "options": {"queue": "q", "priority": 3, "expires": timedelta(seconds=90)},
        "timezone": "Asia/Shanghai", "concurrency_policy": "Replace", "starting_deadline_s": 5,
        "catch_up": "all",
    })
    text = records.entry_to_spec(entry, source="api", now=NOW)
    raw = json.loads(text)
    assert raw["schedule"] == {"cron": "*/5 9-17 * * *"} and raw["options"]["expires"] == 90.0
    assert raw["updated_at"] == "2026-01-02T03:04:05.000678Z"
    back, _ = records.spec_to_entry("r", text)
    assert back.schedule == entry.schedule and back.args == (1, "a") and back.catch_up == "all"
    assert back.concurrency_policy == "replace" and back.timezone == "Asia/Shanghai"


def test_minimal_operator_spec_and_suspend_alias() -> None:
    entry, raw = records.spec_to_entry("op", json.dumps({"task": "t", "schedule": {"every": 30},
                                                          "suspend": True, "source": "operator"}))
    assert entry.schedule == every(30) and entry.enabled is False and raw["source"] == "operator"
    with pytest.raises(ValueError, match="'op'"):
        records.spec_to_entry("op", json.dumps({"task": "t", "schedule": {"cron": "61 * * * *"}}))
    with pytest.raises(ValueError, match="not JSON"):
        records.spec_to_entry("op", "{")


def test_state_round_trip_and_defaults() -> None:
    state = records.EntryState(last_run=NOW, next_run=NOW + timedelta(minutes=5), last_task_id="id",
                               last_state="PENDING", run_count=3, missed_count=1, schedule_key="k",
                               updated_at=NOW, token=7)
    assert records.state_from_json(records.state_to_json(state)) == state
    assert records.state_from_json(None) == records.EntryState()
    assert records.state_from_json("not json") == records.EntryState()


def test_iso_is_fixed_width_utc() -> None:
    a = records.iso(datetime(2026, 1, 1, tzinfo=UTC))
    b = records.iso(datetime(2026, 1, 1, 9, 0, 0, 1, tzinfo=UTC))
    assert a == "2026-01-01T00:00:00.000000Z" and len(a) == len(b or "") and (a < (b or ""))
    assert records.parse_iso(a) == datetime(2026, 1, 1, tzinfo=UTC)


def test_config_digest_changes_with_config_only() -> None:
    one = {"task": "t", "schedule": 30.0}
    assert records.config_digest(one) == records.config_digest({"task": "t", "schedule": timedelta(seconds=30)})
    assert records.config_digest(one) != records.config_digest({"task": "t", "schedule": 31.0})


def test_schedule_key_tracks_schedule_and_zone() -> None:
    a = parse_entry("a", {"task": "t", "schedule": "0 * * * *"})
    b = parse_entry("a", {"task": "t", "schedule": "0 * * * *", "timezone": "UTC"})
    assert records.schedule_key(a) != records.schedule_key(b)
    assert records.schedule_key(a) == records.schedule_key(parse_entry("a", {"task": "x", "schedule": "0 * * * *"}))
