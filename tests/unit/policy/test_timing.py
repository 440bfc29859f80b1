"""The shortest gap of a cron is judged from its real runs over a year in the zone: DST shortens
gaps that syntax does not show, and the split into wall-clock gaps and walks around each DST change
agrees with walking every run of the year."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from cronsim import CronSim
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.policy import timing
from reconciler.policy.timing import shortest_gap_minutes


def brute_force(cron: str, timezone: str) -> int:
    """Every run of the year, one by one (slow for frequent crons: only sparse ones here)."""
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo(timezone))
    runs = []
    for run in CronSim(cron, start - timedelta(minutes=1)):
        runs.append(run.astimezone(UTC))
        if run > start + timedelta(days=365):
            break
    return min(int((b - a).total_seconds() // 60) for a, b in pairwise(runs))


@settings(max_examples=12, deadline=None)
@given(st.sampled_from([n for n in range(1, 61) if 60 % n == 0]), st.sampled_from(["UTC", "Europe/Berlin"]))
def test_every_n_minutes_dividing_the_hour_is_n_apart(n: int, timezone: str) -> None:
    assert shortest_gap_minutes(f"*/{n} * * * *", timezone) == n


def test_spring_forward_brings_two_runs_an_hour_closer() -> None:
    # 01:30 CET and 03:30 CEST on the last Sunday of March are one real hour apart
    assert shortest_gap_minutes("30 1,3 * * *", "Europe/Berlin") == 60
    assert shortest_gap_minutes("30 1,3 * * *", "UTC") == 120
    assert shortest_gap_minutes("30 1,3 * * *", "Asia/Tokyo") == 120  # no DST


def test_a_half_hour_dst_zone_bends_gaps_by_thirty_minutes() -> None:
    # Lord Howe Island moves its clocks by 30 minutes
    assert shortest_gap_minutes("30 1,3 * * *", "Australia/Lord_Howe") == 90


def test_fall_back_repeats_an_hour_of_an_hourly_cron_an_hour_apart() -> None:
    assert shortest_gap_minutes("0 * * * *", "America/New_York") == 60


@pytest.mark.parametrize(
    ("cron", "minutes"),
    [
        ("0 9 * * 1", 7 * 1440),  # weekly
        ("0 0 1 * *", 28 * 1440),  # monthly: February to March
        ("0 0 29 2 *", 1461 * 1440),  # leap days only: four years
        ("0,59 1 * * *", 59),
        ("59 23 * * *", 1440),
        ("0 8,20 * * 1-5", 720),
        ("* * * * *", 1),
    ],
)
def test_gaps_of_sparse_and_dense_crons(cron: str, minutes: int) -> None:
    assert shortest_gap_minutes(cron, "UTC") == minutes


@pytest.mark.parametrize(
    ("cron", "timezone"),
    [
        ("30 1,3 * * *", "Europe/Berlin"),
        ("30 2 * * *", "Europe/Berlin"),
        ("0 1,2 * * 0", "America/New_York"),
        ("15 0,23 * * *", "Australia/Lord_Howe"),
        ("0 0,12 1,15 * *", "Europe/London"),
        ("45 1 * 3,10 *", "Europe/Berlin"),
    ],
)
def test_agrees_with_walking_every_run_of_the_year(cron: str, timezone: str) -> None:
    assert shortest_gap_minutes(cron, timezone) == brute_force(cron, timezone)


def test_a_cron_is_judged_once_per_zone() -> None:
    shortest_gap_minutes.cache_clear()
    assert shortest_gap_minutes("*/7 * * * *", "Europe/Berlin") == 4  # :56 to the next hour's :00
    assert shortest_gap_minutes.cache_info().misses == 1
    shortest_gap_minutes("*/7 * * * *", "Europe/Berlin")
    assert shortest_gap_minutes.cache_info().hits == 1


def test_a_cron_reviewed_late_in_the_year_meets_next_years_clock_change(monkeypatch: pytest.MonkeyPatch) -> None:
    # Europe/Berlin springs forward on 28 March 2027 (29 March in 2026): judged in 2026, that night counts
    def judged_from(year: int) -> None:
        monkeypatch.setattr(timing, "_judged_from", lambda: (year, 1, 1))
        for value in vars(timing).values():
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()

    judged_from(2026)
    assert timing.shortest_gap_minutes("30 1,3 28 3 *", "Europe/Berlin") == 60
    judged_from(2028)  # 26 March 2028, 25 March 2029: the 28th is an ordinary night
    assert timing.shortest_gap_minutes("30 1,3 28 3 *", "Europe/Berlin") == 120
    judged_from(date.today().year)
