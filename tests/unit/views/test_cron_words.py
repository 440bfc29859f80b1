"""Time as reviewers read it (reconciler.views.cron_words): next runs in a zone, DST warnings that say
what cronsim really does at a clock change, and the plan line that shows them. The `timezone` config
key and the plan through the CLI are in tests/integration/test_timezone_in_config_and_plan.py."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.core.model import FieldDiff
from reconciler.views import cron_words, plan_words

NOW = datetime(2026, 12, 7, 6, 0, tzinfo=UTC)  # a Monday; 07:00 in Berlin, 01:00 in New York
ZONES_WITH_DST = ("Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago")
ZONES_WITHOUT = ("UTC", "Asia/Tokyo", "Asia/Kolkata", "America/Sao_Paulo")


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cron_words, "now", lambda: NOW)


def walls(runs: tuple[datetime, ...]) -> list[str]:
    return [f"{r:%Y-%m-%d %H:%M %Z}" for r in runs]


# ---- next runs ----


@pytest.mark.parametrize(
    ("expression", "zone", "expected"),
    [
        ("0 8 * * 1", "UTC", ["2026-12-07 08:00 UTC", "2026-12-14 08:00 UTC", "2026-12-21 08:00 UTC"]),
        ("0 8 * * 1", "Europe/Berlin", ["2026-12-07 08:00 CET", "2026-12-14 08:00 CET", "2026-12-21 08:00 CET"]),
        ("0 8 * * 1", "America/New_York", ["2026-12-07 08:00 EST", "2026-12-14 08:00 EST", "2026-12-21 08:00 EST"]),
        ("0 7 * * *", "Europe/Berlin", ["2026-12-08 07:00 CET", "2026-12-09 07:00 CET", "2026-12-10 07:00 CET"]),
        ("30 0 1 * *", "Asia/Tokyo", ["2027-01-01 00:30 JST", "2027-02-01 00:30 JST", "2027-03-01 00:30 JST"]),
    ],
)
def test_next_runs_are_counted_from_now_in_the_zone(expression: str, zone: str, expected: list[str]) -> None:
    # 07:00 in Berlin is now, so today's 07:00 has passed: runs are strictly later than now
    assert walls(cron_words.next_runs(expression, zone)) == expected


def test_the_line_names_weekdays_and_the_zone() -> None:
    assert cron_words.when_line("0 8 * * 1", "Europe/Berlin") == (
        "next: Mon 2026-12-07 08:00, Mon 2026-12-14 08:00, Mon 2026-12-21 08:00 Europe/Berlin"
    )
    assert cron_words.when_line("0 8 * * 1", "Nowhere/Atlantis") == ""  # a hand-edited saved plan: no crash
    assert cron_words.when_line("not a cron", "UTC") == ""


def test_next_runs_cross_the_clock_changes_as_cronsim_runs_them() -> None:
    spring = datetime(2027, 3, 27, 12, tzinfo=UTC)
    assert walls(cron_words.next_runs("30 2 * * *", "Europe/Berlin", after=spring)) == [
        "2027-03-28 03:00 CEST",  # 02:30 does not exist that night
        "2027-03-29 02:30 CEST",
        "2027-03-30 02:30 CEST",
    ]
    autumn = datetime(2027, 11, 6, 12, tzinfo=UTC)
    assert walls(cron_words.next_runs("30 1 * * *", "America/New_York", after=autumn)) == [
        "2027-11-07 01:30 EDT",  # once, the first of the two 01:30s
        "2027-11-08 01:30 EST",
        "2027-11-09 01:30 EST",
    ]
    assert walls(cron_words.next_runs("*/30 1 * * *", "America/New_York", 4, after=autumn)) == [
        "2027-11-07 01:00 EDT",
        "2027-11-07 01:30 EDT",
        "2027-11-07 01:00 EST",
        "2027-11-07 01:30 EST",
    ]


def test_runs_read_as_the_wall_clock_shows_them() -> None:
    night = datetime(2027, 9, 4, 12, tzinfo=UTC)  # Santiago skips 00:00-01:00 on Sunday 2027-09-05
    runs = cron_words.next_runs("*/15 0 * * 0", "America/Santiago", 2, after=night)
    assert walls(runs) == ["2027-09-05 01:00 -03", "2027-09-12 00:00 -03"]
    assert runs[0] == datetime(2027, 9, 5, 4, tzinfo=UTC)


def test_a_now_inside_a_repeated_hour_never_yields_a_run_already_past() -> None:
    # 02:20 CET, the second 02:20 of 2027-10-31 in Berlin: the day's 02:30 ran an hour ago (in CEST)
    second_pass = datetime(2027, 10, 31, 1, 20, tzinfo=UTC)
    runs = cron_words.next_runs("30 2 * * *", "Europe/Berlin", after=second_pass)
    assert walls(runs)[0] == "2027-11-01 02:30 CET"
    assert all(r > second_pass for r in runs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    minute=st.integers(0, 59),
    hour=st.integers(0, 23),
    zone=st.sampled_from(ZONES_WITH_DST + ZONES_WITHOUT),
    offset=st.integers(0, 366 * 24 * 60),
)
def test_next_runs_are_later_than_now_increasing_and_at_the_cron_time_or_a_warned_date(
    minute: int, hour: int, zone: str, offset: int
) -> None:
    after = NOW + timedelta(minutes=offset)
    expression = f"{minute} {hour} * * *"
    runs = cron_words.next_runs(expression, zone, 5, after=after)
    assert len(runs) == 5 and runs[0] > after
    assert all(a.astimezone(UTC) < b.astimezone(UTC) for a, b in pairwise(runs))
    warned = {
        m.group(1)
        for w in cron_words.dst_warnings(expression, zone, after=after)
        for m in [re.search(r" on (\d{4}-\d\d-\d\d) ", w)]
        if m
    }
    for run in runs:
        if (run.hour, run.minute) != (hour, minute):  # moved by a clock change: only on a date we warned of
            assert f"{run:%Y-%m-%d}" in warned, (expression, zone, run)


# ---- DST warnings ----


@pytest.mark.parametrize(
    ("expression", "zone", "expected"),
    [
        (
            "30 2 * * *",
            "Europe/Berlin",
            [
                "02:30 is skipped on 2027-03-28 (clocks go forward 02:00 -> 03:00): runs at 03:00 instead",
                "02:30 happens twice on 2027-10-31 (clocks go back 03:00 -> 02:00): runs once, at 02:30 CEST",
            ],
        ),
        (
            "30 2 * * *",
            "America/New_York",
            ["02:30 is skipped on 2027-03-14 (clocks go forward 02:00 -> 03:00): runs at 03:00 instead"],
        ),
        (
            "30 1 * * *",
            "America/New_York",
            ["01:30 happens twice on 2027-11-07 (clocks go back 02:00 -> 01:00): runs once, at 01:30 EDT"],
        ),
        (
            "*/30 2 * * *",  # not a fixed time: cronsim runs it at every real instant that matches
            "Europe/Berlin",
            [
                "02:00, 02:30 are skipped on 2027-03-28 (clocks go forward 02:00 -> 03:00): they do not run",
                "02:00, 02:30 happen twice on 2027-10-31 (clocks go back 03:00 -> 02:00): runs twice each",
            ],
        ),
        (
            "0,30 2 * * 0",  # Sundays: both changes are on Sundays in Europe
            "Europe/Berlin",
            [
                "02:00, 02:30 are skipped on 2027-03-28 (clocks go forward 02:00 -> 03:00): runs once at 03:00 instead",
                "02:00, 02:30 happen twice on 2027-10-31 (clocks go back 03:00 -> 02:00): runs once each, in CEST",
            ],
        ),
        (
            "0 */2 * * *",
            "Europe/Berlin",
            [
                "02:00 is skipped on 2027-03-28 (clocks go forward 02:00 -> 03:00): it does not run",
                "02:00 happens twice on 2027-10-31 (clocks go back 03:00 -> 02:00): runs twice",
            ],
        ),
        (
            "15 2 * * *",  # a 30-minute change
            "Australia/Lord_Howe",
            ["02:15 is skipped on 2027-10-03 (clocks go forward 02:00 -> 02:30): runs at 02:30 instead"],
        ),
        (
            "0 0 * * *",  # the change at midnight
            "America/Santiago",
            ["00:00 is skipped on 2027-09-05 (clocks go forward 00:00 -> 01:00): runs at 01:00 instead"],
        ),
        (
            "*/15 0 * * 0",  # cronsim names the instant after the gap "00:00 -04", a time that does not exist
            "America/Santiago",
            [
                "00:00, 00:15, 00:30, 00:45 are skipped on 2027-09-05 (clocks go forward 00:00 -> 01:00): "
                "runs once at 01:00 instead"
            ],
        ),
        ("30 2 * * 1", "Europe/Berlin", []),  # Mondays: never on a change night
        ("30 2 * * *", "Europe/London", []),  # London changes at 01:00 (spring) and 02:00 (autumn)
        ("*/15 * * * *", "Europe/Berlin", []),  # every hour: the rhythm holds in real time
        ("30 * * * *", "America/New_York", []),
        ("0 8 * * 1", "Europe/Berlin", []),
    ],
)
def test_dst_warnings_say_what_happens(expression: str, zone: str, expected: list[str]) -> None:
    assert list(cron_words.dst_warnings(expression, zone)) == expected


@pytest.mark.parametrize("zone", ZONES_WITHOUT)
@pytest.mark.parametrize("expression", ["30 2 * * *", "30 1 * * *", "0 0 * * *", "*/30 2 * * *"])
def test_no_dst_warning_where_clocks_never_change(zone: str, expression: str) -> None:
    assert cron_words.clock_changes(zone) == ()
    assert cron_words.dst_warnings(expression, zone) == ()


def test_the_look_ahead_is_one_year_from_now() -> None:
    late = datetime(2027, 4, 1, tzinfo=UTC)  # past the spring change: the next one is a year on
    assert list(cron_words.dst_warnings("30 2 * * *", "Europe/Berlin", after=late)) == [
        "02:30 happens twice on 2027-10-31 (clocks go back 03:00 -> 02:00): runs once, at 02:30 CEST",
        "02:30 is skipped on 2028-03-26 (clocks go forward 02:00 -> 03:00): runs at 03:00 instead",
    ]
    assert [c.at for c in cron_words.clock_changes("Europe/Berlin")] == [
        datetime(2027, 3, 28, 1, tzinfo=UTC),
        datetime(2027, 10, 31, 1, tzinfo=UTC),
    ]


# The oracle: cronsim's own runs over the year, grouped by local date, against what the fields name.
# Every date on which they differ, or on which a named time exists twice, must be warned of, and
# the warning must say what the runs show.

_MINUTES = st.one_of(st.integers(0, 59).map(str), st.sampled_from(["*/15", "*/30", "0,30", "10,40"]))
_HOURS = st.one_of(st.integers(0, 23).map(str), st.sampled_from(["1-3", "*/2", "2,3", "0,1", "23", "*"]))
_DAYS = st.sampled_from(["*", "0", "0,6", "1-5"])


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(minute=_MINUTES, hour=_HOURS, dow=_DAYS, zone=st.sampled_from(ZONES_WITH_DST))
def test_dst_warnings_match_what_a_years_runs_show(minute: str, hour: str, dow: str, zone: str) -> None:
    expression = f"{minute} {hour} * * {dow}"
    if hour == "*":  # every hour: cronsim keeps the rhythm in real time, nothing to warn of
        assert cron_words.dst_warnings(expression, zone) == ()
        return
    tz = ZoneInfo(zone)
    end = NOW + cron_words.LOOKAHEAD
    runs: list[datetime] = []
    for run in cron_words._runs(expression, tz, NOW):
        if run.astimezone(UTC) >= end:
            break
        runs.append(run)
    by_day: dict[date, Counter[str]] = {}
    for run in runs:
        by_day.setdefault(run.date(), Counter())[f"{run:%H:%M}"] += 1
    warnings = {
        m.group(2): m
        for w in cron_words.dst_warnings(expression, zone)
        for m in [re.match(r"(.+?) (?:is|are|happens|happen) (?:skipped|twice) on (\S+) \(.*?\): (.*)", w)]
        if m
    }
    affected = set()
    for change in cron_words.clock_changes(zone):
        lo, hi = change.window
        named = cron_words._wall_matches(expression, lo, hi)
        day = lo.date()
        key = f"{day:%Y-%m-%d}"
        if not named:
            continue
        affected.add(key)
        assert key in warnings, (expression, zone, change)
        said, outcome = warnings[key].group(1), warnings[key].group(3)
        assert said == cron_words._times(named)
        seen = by_day.get(day, Counter())
        times = [f"{w:%H:%M}" for w in named]
        if change.forward:
            assert all(t not in seen for t in times)  # they do not exist
            midnight = datetime.combine(day, datetime.min.time())
            fields_name = {
                f"{w:%H:%M}" for w in cron_words._wall_matches(expression, midnight, midnight + timedelta(1))
            }
            extra = {t for t in seen if t not in fields_name}  # runs the fields do not name: moved by the change
            instead = re.fullmatch(r"runs (?:once )?at (.+) instead", outcome)
            if instead:
                assert extra == set(instead.group(1).split(", "))
                assert outcome.startswith("runs once") == (len(extra) < len(named))
            else:
                assert outcome in ("it does not run", "they do not run") and not extra
        elif outcome.startswith("runs twice"):
            assert all(seen[t] == 2 for t in times)
        else:
            assert outcome.startswith("runs once") and all(seen[t] == 1 for t in times)
    assert set(warnings) == affected


# ---- the plan line ----


def test_the_cron_note_shows_words_next_runs_and_dst_for_new_and_changed_crons() -> None:
    created = plan_words.cron_note(FieldDiff("schedule.repeat", None, "30 2 * * *"), "Europe/Berlin")
    assert created == (
        "  (At 02:30; next: Tue 2026-12-08 02:30, Wed 2026-12-09 02:30, Thu 2026-12-10 02:30 Europe/Berlin; "
        "DST: 02:30 is skipped on 2027-03-28 (clocks go forward 02:00 -> 03:00): runs at 03:00 instead; "
        "DST: 02:30 happens twice on 2027-10-31 (clocks go back 03:00 -> 02:00): runs once, at 02:30 CEST)"
    )
    changed = plan_words.cron_note(FieldDiff("schedule.repeat", "0 8 * * 1", "0 9 * * 1-5"), "America/New_York")
    assert changed == (
        "  (At 08:00, only on Monday -> At 09:00, Monday through Friday; "
        "next: Mon 2026-12-07 09:00, Tue 2026-12-08 09:00, Wed 2026-12-09 09:00 America/New_York)"
    )
    assert "\n" not in created + changed
    # a deleted cron is not going to run: its words only
    assert plan_words.cron_note(FieldDiff("schedule.repeat", "0 8 * * 1", None), "Europe/Berlin") == (
        "  (At 08:00, only on Monday)"
    )
    assert plan_words.cron_note(FieldDiff("title", None, "0 8 * * 1"), "UTC") == ""
    assert plan_words.cron_note(FieldDiff("schedule.repeat", None, "0 8 * * 1"), "Nowhere/Atlantis") == (
        "  (At 08:00, only on Monday)"
    )


def test_the_default_render_reads_the_pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    diff = FieldDiff("schedule.repeat", None, "0 8 * * *")
    assert "next: Mon 2026-12-07 08:00," in plan_words.cron_note(diff)
    monkeypatch.setattr(cron_words, "now", lambda: datetime(2030, 1, 1, 9, tzinfo=UTC))
    assert "next: Wed 2030-01-02 08:00, Thu 2030-01-03 08:00, Fri 2030-01-04 08:00 UTC)" in plan_words.cron_note(diff)


def test_one_process_reads_the_clock_once() -> None:
    # a plan printed and written with --out is rendered twice: both must count from the same instant
    first = cron_words._system_now()
    assert cron_words._system_now() is first and first.tzinfo is UTC
