"""Unit tests for celeriac.schedules: Celery crontab semantics, DST rule, catch-up, entries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from celeriac.schedules import (
    FireDecision,
    Schedule,
    ScheduleEntry,
    at,
    crontab,
    decide_fire,
    due_runs,
    every,
    from_spec,
    get_timezone,
    parse_beat_schedule,
    parse_entry,
    schedule,
    schedule_from,
    wall_to_utc,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def local(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=tz)


def ticks(sched: Schedule, start: datetime, count: int, tz: Any = UTC) -> list[datetime]:
    out: list[datetime] = []
    t: datetime | None = start
    for _ in range(count):
        assert t is not None
        t = sched.next_after(t, tz)
        assert t is not None
        out.append(t)
    return out


def hhmm(times: list[datetime], tz: ZoneInfo) -> list[str]:
    """Render instants as 'UTC / local' for readable DST assertions."""
    return [f"{t:%d %H:%M}Z={t.astimezone(tz):%H:%M %Z}" for t in times]


# --------------------------------------------------------------------------- crontab fields


@pytest.mark.parametrize(
    ("kwargs", "expr"),
    [
        ({}, "* * * * *"),
        ({"minute": 0, "hour": "*/3"}, "0 */3 * * *"),
        ({"minute": [30, 0]}, "0,30 * * * *"),
        ({"minute": {45, 15}}, "15,45 * * * *"),
        ({"minute": range(0, 60, 20)}, "0,20,40 * * * *"),
        ({"minute": "0,30", "hour": "8-17/2"}, "0,30 8-17/2 * * *"),
        ({"day_of_week": "mon-fri"}, "* * * * mon-fri"),
        ({"day_of_week": "Monday,Friday"}, "* * * * mon,fri"),
        ({"day_of_month": 1, "month_of_year": "*/3"}, "* * 1 */3 *"),
        ({"minute": None, "hour": None}, "* * * * *"),
    ],
)
def test_crontab_translates_celery_arguments_to_a_cron_expression(
    kwargs: dict[str, Any], expr: str
) -> None:
    assert crontab(**kwargs).expr == expr


def test_crontab_positional_order_is_celerys() -> None:
    # Celery: crontab(minute, hour, day_of_week, day_of_month, month_of_year)
    assert crontab(5, 4, 3, 2, 1).expr == "5 4 2 1 3"


def test_every_three_hours_on_the_hour() -> None:
    got = ticks(crontab(minute=0, hour="*/3"), utc(2026, 1, 1, 1, 0), 4)
    assert got == [utc(2026, 1, 1, 3), utc(2026, 1, 1, 6), utc(2026, 1, 1, 9), utc(2026, 1, 1, 12)]


def test_quarter_hours_and_lists() -> None:
    assert ticks(crontab(minute="*/15"), utc(2026, 1, 1, 10, 7), 3) == [
        utc(2026, 1, 1, 10, 15),
        utc(2026, 1, 1, 10, 30),
        utc(2026, 1, 1, 10, 45),
    ]
    assert ticks(crontab(minute="0,30", hour=9), utc(2026, 1, 1, 9, 0), 3) == [
        utc(2026, 1, 1, 9, 30),
        utc(2026, 1, 2, 9, 0),
        utc(2026, 1, 2, 9, 30),
    ]


def test_weekdays_only() -> None:
    # 2026-01-02 is a Friday.
    got = ticks(crontab(minute=0, hour=8, day_of_week="mon-fri"), utc(2026, 1, 2, 9), 2)
    assert got == [utc(2026, 1, 5, 8), utc(2026, 1, 6, 8)]


def test_day_of_week_zero_is_sunday_and_names_match_numbers() -> None:
    assert crontab(minute=0, hour=0, day_of_week=0).next_after(utc(2026, 1, 1), UTC) == utc(
        2026, 1, 4
    )  # Sunday
    assert crontab(day_of_week="sun") == crontab(day_of_week=0) == crontab(day_of_week="Sunday")
    sunday = crontab(minute=0, hour=0, day_of_week="sunday").next_after(utc(2026, 1, 1), UTC)
    assert sunday == utc(2026, 1, 4)


def test_wrapping_ranges_wrap_like_celery() -> None:
    weekend = crontab(minute=0, hour=0, day_of_week="fri-mon")
    days = [t.isoweekday() % 7 for t in ticks(weekend, utc(2026, 1, 1), 8)]
    assert set(days) == {5, 6, 0, 1}
    nights = crontab(minute=0, hour="22-2")
    assert [t.hour for t in ticks(nights, utc(2026, 1, 1, 12), 5)] == [22, 23, 0, 1, 2]


def test_day_of_month_and_day_of_week_are_anded_like_celery() -> None:
    # Celery: a day must match BOTH fields (first Monday of the month here). Vixie cron would
    # OR them and also fire on the 1st-7th whatever the weekday.
    first_monday = crontab(minute=0, hour=0, day_of_week="mon", day_of_month="1-7")
    assert ticks(first_monday, utc(2026, 1, 1), 3) == [
        utc(2026, 1, 5),
        utc(2026, 2, 2),
        utc(2026, 3, 2),
    ]
    assert crontab.from_string("0 0 1-7 * mon") == first_monday
    assert ticks(crontab.from_string("0 0 13 * fri"), utc(2026, 1, 1), 2) == [
        utc(2026, 2, 13),
        utc(2026, 3, 13),
    ]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"minute": 60}, "minute"),
        ({"minute": "60"}, "minute"),
        ({"minute": "*/0"}, "minute"),
        ({"minute": ""}, "minute"),
        ({"minute": "1-2-3"}, "minute"),
        ({"minute": 3.5}, "minute"),
        ({"minute": True}, "minute"),
        ({"minute": []}, "minute"),
        ({"minute": ["0"]}, "minute"),
        ({"hour": 24}, "hour"),
        ({"hour": "25"}, "hour"),
        ({"day_of_week": 7}, "day_of_week"),
        ({"day_of_week": "funday"}, "day_of_week"),
        ({"day_of_week": "8"}, "day_of_week"),
        ({"day_of_month": 0}, "day_of_month"),
        ({"day_of_month": "32"}, "day_of_month"),
        ({"month_of_year": 13}, "month_of_year"),
        ({"month_of_year": "0"}, "month_of_year"),
    ],
)
def test_invalid_fields_raise_value_error_naming_the_field(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        crontab(**kwargs)


def test_a_crontab_that_never_fires_is_refused() -> None:
    with pytest.raises(ValueError, match="never fires"):
        crontab(day_of_month=30, month_of_year=2)


def test_from_string_and_macros() -> None:
    assert crontab.from_string("*/5 * * * *") == crontab(minute="*/5")
    assert crontab.from_string("  0 9 * * 1-5 ") == crontab(minute=0, hour=9, day_of_week="1-5")
    assert crontab.from_string("@daily") == crontab(minute=0, hour=0)
    assert crontab.from_string("@hourly") == crontab(minute=0)
    for bad in ["* * * *", "0 0 * * * *", "", "@sometimes"]:
        with pytest.raises(ValueError, match="5 fields"):
            crontab.from_string(bad)
    with pytest.raises(ValueError, match="day_of_week"):
        crontab.from_string("0 0 * * 9")


def test_crontab_equality_hash_repr() -> None:
    assert crontab(minute=0) == crontab(minute="0")
    assert crontab(minute="*/15") == crontab(minute=[0, 15, 30, 45])
    assert crontab(day_of_week="mon-fri") == crontab(day_of_week=range(1, 6))
    assert crontab(hour="*") == crontab(hour="0-23")
    assert crontab.from_string("0 0 * * mon#2") != crontab.from_string("0 0 * * mon")
    assert hash(crontab(minute=0)) == hash(crontab.from_string("0 * * * *"))
    assert crontab(minute=0) != crontab(minute=1)
    assert crontab(minute=0) != every(60)
    assert repr(crontab(minute=0, hour="*/3")) == "<crontab: 0 */3 * * * (m/h/dM/MY/d)>"


# --------------------------------------------------------------------- next_after basics


def test_next_after_is_strictly_after_and_utc() -> None:
    quarter = crontab(minute="*/15")
    assert quarter.next_after(utc(2026, 1, 1, 10, 0), UTC) == utc(2026, 1, 1, 10, 15)
    got = quarter.next_after(local(BERLIN, 2026, 1, 1, 10, 59, 59), BERLIN)
    assert got == utc(2026, 1, 1, 10, 0)
    assert got.tzinfo is UTC


def test_cron_fields_are_read_in_the_entry_timezone() -> None:
    nine = crontab(minute=0, hour=9)
    assert nine.next_after(utc(2026, 1, 1), SHANGHAI) == utc(2026, 1, 1, 1)  # UTC+8
    assert nine.next_after(utc(2026, 1, 1), NEW_YORK) == utc(2026, 1, 1, 14)  # UTC-5
    assert nine.next_after(utc(2026, 7, 1), NEW_YORK) == utc(2026, 7, 1, 13)  # UTC-4


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        crontab().next_after(datetime(2026, 1, 1), UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        every(5).next_after(datetime(2026, 1, 1), UTC)
    with pytest.raises(ValueError, match="now"):
        decide_fire(every(5), None, datetime(2026, 1, 1), UTC)


# ------------------------------------------------------------------------------ intervals


def test_every_is_elapsed_time_anchored_at_the_last_run() -> None:
    thirty = every(30)
    assert thirty.next_after(utc(2026, 1, 1, 0, 0, 10), UTC) == utc(2026, 1, 1, 0, 0, 40)
    assert thirty.latest_between(utc(2026, 1, 1), utc(2026, 1, 1, 0, 1, 45), UTC) == utc(
        2026, 1, 1, 0, 1, 30
    )
    assert thirty.latest_between(utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 29), UTC) is None
    assert every(timedelta(minutes=2)).seconds == 120.0


def test_every_ignores_dst() -> None:
    hourly = every(timedelta(hours=1))
    got = ticks(hourly, local(BERLIN, 2026, 10, 25, 1, 30), 3, BERLIN)
    assert [t - got[0] for t in got] == [timedelta(0), timedelta(hours=1), timedelta(hours=2)]
    assert got[0] == utc(2026, 10, 25, 0, 30)


def test_celery_schedule_alias() -> None:
    assert schedule(run_every=timedelta(seconds=30)) == every(30)
    assert schedule(10.5).run_every == timedelta(seconds=10.5)
    with pytest.raises(ValueError, match="relative"):
        schedule(30, relative=True)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "30", timedelta(0)])
def test_every_rejects_non_positive_or_odd_intervals(bad: Any) -> None:
    with pytest.raises(ValueError, match="interval"):
        every(bad)


# ------------------------------------------------------------------------------- one-offs


def test_at_fires_once() -> None:
    once = at(utc(2026, 5, 1, 12))
    assert once.next_after(utc(2026, 5, 1), UTC) == utc(2026, 5, 1, 12)
    assert once.next_after(utc(2026, 5, 1, 12), UTC) is None
    assert once.latest_between(utc(2026, 5, 1), utc(2026, 5, 2), UTC) == utc(2026, 5, 1, 12)
    assert once.latest_between(utc(2026, 5, 1, 12), utc(2026, 5, 2), UTC) is None


def test_naive_at_is_wall_clock_in_the_entry_timezone() -> None:
    once = at(datetime(2026, 5, 1, 12))
    assert once.instant(SHANGHAI) == utc(2026, 5, 1, 4)
    assert once.instant(BERLIN) == utc(2026, 5, 1, 10)
    assert at(datetime(2026, 3, 29, 2, 30)).instant(BERLIN) == utc(2026, 3, 29, 1)  # gap
    with pytest.raises(ValueError, match="datetime"):
        at("2026-05-01")  # type: ignore[arg-type]


# ------------------------------------------------------------------------- spec and from()


@pytest.mark.parametrize(
    ("sched", "spec"),
    [
        (crontab(minute="*/5"), {"cron": "*/5 * * * *"}),
        (crontab(minute=0, hour=9, day_of_week="mon-fri"), {"cron": "0 9 * * mon-fri"}),
        (every(30), {"every": 30.0}),
        (every(timedelta(milliseconds=1500)), {"every": 1.5}),
        (at(utc(2026, 1, 1)), {"at": "2026-01-01T00:00:00+00:00"}),
        (at(datetime(2026, 1, 1, 8, 30)), {"at": "2026-01-01T08:30:00"}),
    ],
)
def test_spec_round_trips_through_json(sched: Schedule, spec: dict[str, Any]) -> None:
    assert sched.to_spec() == spec
    wire = json.loads(json.dumps(sched.to_spec()))
    assert from_spec(wire) == sched
    assert Schedule.from_spec(wire) == sched


def test_from_spec_accepts_z_suffix_and_int_seconds() -> None:
    assert from_spec({"at": "2026-01-01T00:00:00Z"}) == at(utc(2026, 1, 1))
    assert from_spec({"every": 5}) == every(5)


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({}, "exactly one"),
        ({"cron": "* * * * *", "every": 5}, "exactly one"),
        ({"every": "5"}, "'every'"),
        ({"every": True}, "'every'"),
        ({"every": 0}, "interval"),
        ({"cron": 5}, "'cron'"),
        ({"cron": "* * *"}, "5 fields"),
        ({"at": "tomorrow"}, "'at'"),
        ({"at": 17}, "'at'"),
        ({"crontab": "* * * * *"}, "unknown key"),
        (["cron"], "exactly one"),
    ],
)
def test_from_spec_errors(spec: Any, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        from_spec(spec)


def test_schedule_from_accepts_what_users_write() -> None:
    cron = crontab(minute=0)
    assert schedule_from(cron) is cron
    assert schedule_from(timedelta(minutes=1)) == every(60)
    assert schedule_from(30) == every(30)
    assert schedule_from(2.5) == every(2.5)
    assert schedule_from("*/5 * * * *") == crontab(minute="*/5")
    assert schedule_from(at(utc(2026, 1, 1))) == at(utc(2026, 1, 1))
    assert schedule_from(utc(2026, 1, 1)) == at(utc(2026, 1, 1))
    assert schedule_from({"every": 10}) == every(10)
    for bad in [None, True, [1, 2], object()]:
        with pytest.raises(ValueError, match="schedule must be"):
            schedule_from(bad)


# -------------------------------------------------------------------- daylight saving rule


def test_wall_to_utc_maps_gaps_to_their_end_and_folds_to_the_first_pass() -> None:
    assert wall_to_utc(datetime(2026, 3, 29, 1, 59), BERLIN) == utc(2026, 3, 29, 0, 59)
    assert wall_to_utc(datetime(2026, 3, 29, 2, 0), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert wall_to_utc(datetime(2026, 3, 29, 2, 59, 59), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert wall_to_utc(datetime(2026, 3, 29, 3, 0), BERLIN) == utc(2026, 3, 29, 1, 0)
    assert wall_to_utc(datetime(2026, 10, 25, 2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)
    assert wall_to_utc(datetime(2026, 3, 8, 2, 30), NEW_YORK) == utc(2026, 3, 8, 7, 0)
    assert wall_to_utc(datetime(2026, 11, 1, 1, 30), NEW_YORK) == utc(2026, 11, 1, 5, 30)
    assert wall_to_utc(datetime(2026, 1, 1, 2, 30), UTC) == utc(2026, 1, 1, 2, 30)


@pytest.mark.parametrize(
    ("tz", "cron", "start", "end", "expected"),
    [
        # Europe/Berlin spring forward 2026-03-29 02:00 CET -> 03:00 CEST: 02:30 fires at 03:00.
        (
            BERLIN,
            "30 2 * * *",
            utc(2026, 3, 27),
            utc(2026, 3, 31),
            [
                "27 01:30Z=02:30 CET",
                "28 01:30Z=02:30 CET",
                "29 01:00Z=03:00 CEST",
                "30 00:30Z=02:30 CEST",
            ],
        ),
        # Europe/Berlin fall back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30 fires once, first pass.
        (
            BERLIN,
            "30 2 * * *",
            utc(2026, 10, 24),
            utc(2026, 10, 27),
            ["24 00:30Z=02:30 CEST", "25 00:30Z=02:30 CEST", "26 01:30Z=02:30 CET"],
        ),
        # America/New_York spring forward 2026-03-08 02:00 EST -> 03:00 EDT.
        (
            NEW_YORK,
            "30 2 * * *",
            utc(2026, 3, 7),
            utc(2026, 3, 10),
            ["07 07:30Z=02:30 EST", "08 07:00Z=03:00 EDT", "09 06:30Z=02:30 EDT"],
        ),
        # America/New_York fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 fires once.
        (
            NEW_YORK,
            "30 1 * * *",
            utc(2026, 10, 31),
            utc(2026, 11, 3),
            ["31 05:30Z=01:30 EDT", "01 05:30Z=01:30 EDT", "02 06:30Z=01:30 EST"],
        ),
    ],
)
def test_daily_run_in_a_dst_transition_is_neither_skipped_nor_doubled(
    tz: ZoneInfo, cron: str, start: datetime, end: datetime, expected: list[str]
) -> None:
    sched = crontab.from_string(cron)
    assert hhmm(due_runs(sched, start, end, tz), tz) == expected
    assert hhmm(due_runs(sched, start, end, tz, limit=50), tz) == expected


def test_hourly_across_spring_forward_fires_every_existing_hour_once() -> None:
    runs = due_runs(crontab(minute=0), utc(2026, 3, 28, 23, 30), utc(2026, 3, 29, 3, 30), BERLIN)
    assert hhmm(runs, BERLIN) == [
        "29 00:00Z=01:00 CET",
        "29 01:00Z=03:00 CEST",  # 02:00 does not exist: merged into 03:00
        "29 02:00Z=04:00 CEST",
        "29 03:00Z=05:00 CEST",
    ]


def test_hourly_across_fall_back_fires_the_repeated_hour_once() -> None:
    runs = due_runs(crontab(minute=0), utc(2026, 10, 24, 23, 30), utc(2026, 10, 25, 3, 30), BERLIN)
    assert hhmm(runs, BERLIN) == [
        "25 00:00Z=02:00 CEST",
        "25 02:00Z=03:00 CET",  # 02:00 CET (01:00Z) is the same wall time again: not fired
        "25 03:00Z=04:00 CET",
    ]


def test_quarter_hours_collapse_in_the_gap_and_run_first_pass_only_in_the_fold() -> None:
    quarter = crontab(minute="*/15")
    spring = due_runs(quarter, utc(2026, 3, 29, 0, 40), utc(2026, 3, 29, 1, 20), BERLIN)
    assert hhmm(spring, BERLIN) == [
        "29 00:45Z=01:45 CET",
        "29 01:00Z=03:00 CEST",
        "29 01:15Z=03:15 CEST",
    ]
    fall = due_runs(quarter, utc(2026, 10, 24, 23, 50), utc(2026, 10, 25, 2, 20), BERLIN)
    assert hhmm(fall, BERLIN) == [
        "25 00:00Z=02:00 CEST",
        "25 00:15Z=02:15 CEST",
        "25 00:30Z=02:30 CEST",
        "25 00:45Z=02:45 CEST",
        "25 02:00Z=03:00 CET",
        "25 02:15Z=03:15 CET",
    ]
    ny_fall = due_runs(quarter, utc(2026, 11, 1, 5, 50), utc(2026, 11, 1, 7, 5), NEW_YORK)
    assert hhmm(ny_fall, NEW_YORK) == ["01 07:00Z=02:00 EST"]  # 05:50Z is 01:50 EDT


def test_looking_from_inside_the_repeated_hour() -> None:
    quarter = crontab(minute="*/15")
    second_pass = utc(2026, 10, 25, 1, 20)
    assert hhmm([second_pass], BERLIN) == ["25 01:20Z=02:20 CET"]
    assert quarter.next_after(second_pass, BERLIN) == utc(2026, 10, 25, 2, 0)
    assert quarter.latest_between(utc(2026, 10, 24), second_pass, BERLIN) == utc(
        2026, 10, 25, 0, 45
    )


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK])
@pytest.mark.parametrize("day", [(2026, 3, 8), (2026, 3, 29), (2026, 10, 25), (2026, 11, 1)])
@pytest.mark.parametrize("cron", ["*/15 * * * *", "0 * * * *", "30 1,2 * * *", "7 */2 * * *"])
def test_backward_and_forward_listing_agree_around_transitions(
    tz: ZoneInfo, day: tuple[int, int, int], cron: str
) -> None:
    sched = crontab.from_string(cron)
    start = datetime(*day, tzinfo=UTC) - timedelta(hours=2)
    for hours in (3, 7):
        end = start + timedelta(hours=hours, minutes=7)
        forward = due_runs(sched, start, end, tz)
        assert due_runs(sched, start, end, tz, limit=1000) == forward
        assert forward == sorted(set(forward))


@pytest.mark.parametrize(
    ("tz", "day", "fires"),
    [
        (BERLIN, (2026, 3, 29), 23),
        (BERLIN, (2026, 10, 25), 24),
        (NEW_YORK, (2026, 3, 8), 23),
        (NEW_YORK, (2026, 11, 1), 24),
    ],
)
def test_a_beat_following_next_due_fires_each_wall_clock_hour_once(
    tz: ZoneInfo, day: tuple[int, int, int], fires: int
) -> None:
    sched = crontab(minute=0)
    start = datetime(*day, tzinfo=tz) - timedelta(minutes=1)
    end = start + timedelta(days=1)
    decision = decide_fire(sched, None, start, tz)
    last, now, fired = decision.new_last_run, decision.next_due, []
    while now is not None and now < end:
        decision = decide_fire(sched, last, now, tz)
        assert decision.fire and not decision.missed
        fired.append(decision.scheduled_for)
        last, now = decision.new_last_run, decision.next_due
    assert len(fired) == fires
    assert len({t.astimezone(tz).replace(tzinfo=None) for t in fired if t}) == fires


# ---------------------------------------------------------------------------- due_runs


def test_due_runs_window_is_open_closed() -> None:
    quarter = crontab(minute="*/15")
    assert due_runs(quarter, utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 45), UTC) == [
        utc(2026, 1, 1, 10, 15),
        utc(2026, 1, 1, 10, 30),
        utc(2026, 1, 1, 10, 45),
    ]
    assert due_runs(quarter, utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 45), UTC, limit=2) == [
        utc(2026, 1, 1, 10, 30),
        utc(2026, 1, 1, 10, 45),
    ]
    assert due_runs(quarter, utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 45), UTC, limit=0) == []
    assert due_runs(every(10), utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 35), UTC) == [
        utc(2026, 1, 1, 0, 0, 10),
        utc(2026, 1, 1, 0, 0, 20),
        utc(2026, 1, 1, 0, 0, 30),
    ]
    assert due_runs(every(10), utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 35), UTC, limit=1) == [
        utc(2026, 1, 1, 0, 0, 30)
    ]


def test_due_runs_for_a_new_entry_owes_nothing_but_a_passed_one_off() -> None:
    now = utc(2026, 1, 1, 12)
    assert due_runs(crontab(), None, now, UTC) == []
    assert due_runs(every(1), None, now, UTC) == []
    assert due_runs(at(utc(2026, 1, 1, 11)), None, now, UTC) == [utc(2026, 1, 1, 11)]
    assert due_runs(at(utc(2026, 1, 1, 13)), None, now, UTC) == []


# ------------------------------------------------------------------------- decide_fire


def test_nothing_due_yet() -> None:
    d = decide_fire(crontab(minute=0), utc(2026, 1, 1, 10), utc(2026, 1, 1, 10, 30), UTC)
    assert d == FireDecision(False, None, [], utc(2026, 1, 1, 11), None)


def test_on_time_tick_fires() -> None:
    d = decide_fire(crontab(minute=0), utc(2026, 1, 1, 10), utc(2026, 1, 1, 11, 0, 0, 300), UTC)
    assert d == FireDecision(
        True, utc(2026, 1, 1, 11), [], utc(2026, 1, 1, 12), utc(2026, 1, 1, 11)
    )


def test_catch_up_once_fires_one_run_for_the_whole_missed_window() -> None:
    d = decide_fire(crontab(minute=0), utc(2026, 1, 1, 10), utc(2026, 1, 1, 14, 20), UTC)
    assert d.fire and d.scheduled_for == utc(2026, 1, 1, 14)
    assert d.missed == [utc(2026, 1, 1, 11), utc(2026, 1, 1, 12), utc(2026, 1, 1, 13)]
    assert d.next_due == utc(2026, 1, 1, 15)
    assert d.new_last_run == utc(2026, 1, 1, 14)
    # A restart that reads back new_last_run does not fire again.
    again = decide_fire(crontab(minute=0), d.new_last_run, utc(2026, 1, 1, 14, 21), UTC)
    assert not again.fire and not again.missed


def test_catch_up_once_for_intervals_keeps_the_grid() -> None:
    d = decide_fire(every(60), utc(2026, 1, 1), utc(2026, 1, 1, 0, 5, 30), UTC)
    assert d.scheduled_for == utc(2026, 1, 1, 0, 5)
    assert len(d.missed) == 4
    assert d.next_due == utc(2026, 1, 1, 0, 6)


def test_starting_deadline_reports_late_runs_as_missed() -> None:
    hourly = crontab(minute=0)
    late = decide_fire(hourly, utc(2026, 1, 1, 10), utc(2026, 1, 1, 12, 10), UTC, 300)
    assert not late.fire and late.scheduled_for is None
    assert late.missed == [utc(2026, 1, 1, 11), utc(2026, 1, 1, 12)]
    assert late.new_last_run == utc(2026, 1, 1, 12)
    assert late.next_due == utc(2026, 1, 1, 13)
    in_time = decide_fire(hourly, utc(2026, 1, 1, 10), utc(2026, 1, 1, 12, 5), UTC, 300)
    assert in_time.fire and in_time.scheduled_for == utc(2026, 1, 1, 12)
    assert in_time.missed == [utc(2026, 1, 1, 11)]


def test_catch_up_all_fires_each_missed_tick_oldest_first() -> None:
    hourly = crontab(minute=0)
    last: datetime | None = utc(2026, 1, 1, 10)
    now = utc(2026, 1, 1, 13, 30)
    fired = []
    for _ in range(10):
        d = decide_fire(hourly, last, now, UTC, catch_up="all")
        if not d.fire:
            break
        fired.append(d.scheduled_for)
        last = d.new_last_run
    assert fired == [utc(2026, 1, 1, 11), utc(2026, 1, 1, 12), utc(2026, 1, 1, 13)]
    assert d.next_due == utc(2026, 1, 1, 14)


def test_catch_up_all_with_deadline_skips_only_overdue_ticks() -> None:
    d = decide_fire(every(60), utc(2026, 1, 1), utc(2026, 1, 1, 0, 5, 30), UTC, 150, "all")
    assert d.missed == [utc(2026, 1, 1, 0, 1), utc(2026, 1, 1, 0, 2)]
    assert d.fire and d.scheduled_for == utc(2026, 1, 1, 0, 3)  # on the grid, within 150 s
    assert d.next_due == utc(2026, 1, 1, 0, 4)  # <= now: call again at once
    none_listed = decide_fire(
        every(60), utc(2026, 1, 1), utc(2026, 1, 1, 0, 5, 30), UTC, 150, "all", max_missed=0
    )
    assert none_listed.scheduled_for == utc(2026, 1, 1, 0, 3) and none_listed.missed_truncated
    all_late = decide_fire(every(60), utc(2026, 1, 1), utc(2026, 1, 1, 0, 5, 30), UTC, 10, "all")
    assert not all_late.fire and len(all_late.missed) == 5
    assert all_late.new_last_run == utc(2026, 1, 1, 0, 5)


def test_catch_up_none_only_fires_on_time() -> None:
    hourly = crontab(minute=0)
    on_time = decide_fire(
        hourly, utc(2026, 1, 1, 8), utc(2026, 1, 1, 10, 0, 2), UTC, catch_up="none"
    )
    assert on_time.fire and on_time.scheduled_for == utc(2026, 1, 1, 10)
    assert on_time.missed == [utc(2026, 1, 1, 9)]
    late = decide_fire(hourly, utc(2026, 1, 1, 8), utc(2026, 1, 1, 10, 5), UTC, catch_up="none")
    assert not late.fire and late.missed == [utc(2026, 1, 1, 9), utc(2026, 1, 1, 10)]
    assert late.new_last_run == utc(2026, 1, 1, 10) and late.next_due == utc(2026, 1, 1, 11)
    strict = decide_fire(hourly, utc(2026, 1, 1, 9), utc(2026, 1, 1, 10, 0, 2), UTC, 1, "none")
    assert not strict.fire


def test_missed_list_is_bounded_to_the_most_recent() -> None:
    d = decide_fire(crontab(), utc(2026, 1, 1), utc(2026, 1, 2), UTC, max_missed=5)
    assert d.scheduled_for == utc(2026, 1, 2)
    assert d.missed == [utc(2026, 1, 1, 23, 55 + i) for i in range(5)]
    assert d.missed_truncated


def test_new_entries_owe_nothing() -> None:
    now = utc(2026, 1, 1, 10, 7)
    cron = decide_fire(crontab(minute="*/15"), None, now, UTC)
    assert cron == FireDecision(False, None, [], utc(2026, 1, 1, 10, 15), now)
    interval = decide_fire(every(30), None, now, UTC)
    assert interval == FireDecision(False, None, [], now + timedelta(seconds=30), now)
    # The caller stores new_last_run as the anchor; the first tick then fires.
    first = decide_fire(crontab(minute="*/15"), cron.new_last_run, utc(2026, 1, 1, 10, 15), UTC)
    assert first.fire and first.scheduled_for == utc(2026, 1, 1, 10, 15)


def test_new_one_off_entries() -> None:
    now = utc(2026, 1, 1, 12)
    future = decide_fire(at(utc(2026, 1, 1, 13)), None, now, UTC)
    assert future == FireDecision(False, None, [], utc(2026, 1, 1, 13), now)
    passed = decide_fire(at(utc(2026, 1, 1, 11)), None, now, UTC)
    assert passed == FireDecision(True, utc(2026, 1, 1, 11), [], None, utc(2026, 1, 1, 11))
    within = decide_fire(at(utc(2026, 1, 1, 11, 59)), None, now, UTC, starting_deadline_s=60)
    assert within.fire
    too_late = decide_fire(at(utc(2026, 1, 1, 11)), None, now, UTC, starting_deadline_s=60)
    assert too_late == FireDecision(False, None, [utc(2026, 1, 1, 11)], None, utc(2026, 1, 1, 11))
    spent = decide_fire(at(utc(2026, 1, 1, 11)), utc(2026, 1, 1, 11), now, UTC)
    assert spent == FireDecision(False, None, [], None, None)
    anchored = decide_fire(at(utc(2026, 1, 1, 11)), utc(2026, 1, 1, 10), now, UTC)
    assert anchored.fire and anchored.next_due is None


def test_last_run_ahead_of_a_skewed_clock_fires_nothing() -> None:
    d = decide_fire(crontab(minute=0), utc(2026, 1, 1, 12), utc(2026, 1, 1, 11, 30), UTC)
    assert d == FireDecision(False, None, [], utc(2026, 1, 1, 13), None)


def test_decide_fire_argument_errors() -> None:
    args = (crontab(), utc(2026, 1, 1), utc(2026, 1, 1, 1), UTC)
    with pytest.raises(ValueError, match="catch_up"):
        decide_fire(*args, catch_up="some")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="starting_deadline_s"):
        decide_fire(*args, starting_deadline_s=-1)
    with pytest.raises(ValueError, match="last_run"):
        decide_fire(crontab(), datetime(2026, 1, 1), utc(2026, 1, 1, 1), UTC)
    with pytest.raises(ValueError, match="max_missed"):
        decide_fire(*args, max_missed=-1)


def test_a_month_of_downtime_is_decided_quickly() -> None:
    # Bounded work: only the latest MAX_MISSED_REPORTED ticks are walked, not 44,640.
    d = decide_fire(crontab(), utc(2026, 1, 1), utc(2026, 2, 1, 0, 0, 30), BERLIN)
    assert d.fire and d.scheduled_for == utc(2026, 2, 1) and d.missed_truncated
    assert len(d.missed) == 100


# ---------------------------------------------------------------------------- entries


def test_parse_entry_full() -> None:
    entry = parse_entry(
        "nightly-report",
        {
            "task": "reports.nightly",
            "schedule": crontab(minute=30, hour=2),
            "args": [1, 2],
            "kwargs": {"fmt": "pdf"},
            "options": {"queue": "reports", "priority": 5, "expires": 3600},
            "timezone": "Europe/Berlin",
            "enabled": False,
            "concurrency_policy": "Forbid",
            "starting_deadline_s": 600,
            "catch_up": "none",
        },
    )
    assert entry == ScheduleEntry(
        name="nightly-report",
        task="reports.nightly",
        schedule=crontab(minute=30, hour=2),
        args=(1, 2),
        kwargs={"fmt": "pdf"},
        options={"queue": "reports", "priority": 5, "expires": 3600},
        timezone="Europe/Berlin",
        enabled=False,
        concurrency_policy="forbid",
        starting_deadline_s=600.0,
        catch_up="none",
    )
    assert entry.zone() == BERLIN


def test_parse_entry_minimal_celery_style() -> None:
    entry = parse_entry("add-every-30", {"task": "tasks.add", "schedule": 30.0, "args": (16, 16)})
    assert entry.schedule == every(30)
    assert entry.args == (16, 16) and entry.kwargs == {} and entry.options == {}
    assert entry.timezone is None and entry.enabled and entry.concurrency_policy == "allow"
    assert entry.starting_deadline_s is None and entry.catch_up == "once"
    assert entry.zone("Asia/Shanghai") == SHANGHAI
    assert parse_entry("t", {"task": "t", "schedule": "*/5 * * * *"}).schedule == crontab(
        minute="*/5"
    )


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"schedule": 5}, "missing required key 'task'"),
        ({"task": "t"}, "missing required key 'schedule'"),
        ({"task": "", "schedule": 5}, "'task'"),
        ({"task": "t", "schedule": [1, 2]}, "bad 'schedule'"),
        ({"task": "t", "schedule": "* * *"}, "bad 'schedule'"),
        ({"task": "t", "schedule": 5, "queue": "q", "retries": 1}, r"\['queue', 'retries'\]"),
        ({"task": "t", "schedule": 5, "args": "ab"}, "'args'"),
        ({"task": "t", "schedule": 5, "kwargs": [1]}, "'kwargs'"),
        ({"task": "t", "schedule": 5, "options": "q"}, "'options'"),
        ({"task": "t", "schedule": 5, "timezone": "Mars/Olympus"}, "'timezone'"),
        ({"task": "t", "schedule": 5, "enabled": "yes"}, "'enabled'"),
        ({"task": "t", "schedule": 5, "concurrency_policy": "queue"}, "'concurrency_policy'"),
        ({"task": "t", "schedule": 5, "starting_deadline_s": -1}, "'starting_deadline_s'"),
        ({"task": "t", "schedule": 5, "starting_deadline_s": True}, "'starting_deadline_s'"),
        ({"task": "t", "schedule": 5, "catch_up": "twice"}, "'catch_up'"),
        ({"task": "t", "schedule": 5, "relative": True}, "'relative'"),
    ],
)
def test_parse_entry_errors_name_the_entry_and_the_key(raw: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError, match="'my-entry'") as info:
        parse_entry("my-entry", raw)
    assert info.match(needle)


def test_parse_entry_rejects_non_dicts_and_bad_names() -> None:
    with pytest.raises(ValueError, match="must be a dict"):
        parse_entry("x", ["task"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty"):
        parse_entry("", {"task": "t", "schedule": 5})


def test_parse_beat_schedule() -> None:
    entries = parse_beat_schedule(
        {
            "a": {"task": "t.a", "schedule": timedelta(seconds=10)},
            "b": {"task": "t.b", "schedule": crontab(minute=0, hour=7, day_of_week=1)},
        }
    )
    assert list(entries) == ["a", "b"]
    assert entries["b"].schedule.next_after(utc(2026, 1, 1), UTC) == utc(2026, 1, 5, 7)
    assert parse_beat_schedule(None) == {}
    with pytest.raises(ValueError, match="'b'"):
        parse_beat_schedule({"b": {"task": "t"}})


def test_get_timezone() -> None:
    assert get_timezone("America/New_York") == NEW_YORK
    for bad in ["", "Nowhere/Special", "../etc/passwd"]:
        with pytest.raises(ValueError, match="timezone"):
            get_timezone(bad)
