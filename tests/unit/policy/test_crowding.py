"""When crons start and how many deliveries share a start: days (a year, so monthly crons count where
they really start), paused deliveries, local time across a clock change, the quiet-minute suggestion,
the week-by-hour grid, and the speed a workspace of 12,000 deliveries needs."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.policy.crowding import (
    Crowd,
    Crowding,
    Delivery,
    crowds,
    start_minutes,
    starts,
    week_hours,
)

MONDAY = date(2026, 12, 7)  # the horizon's first day in these tests (a Monday)


def delivery(cron: str, *, paused: bool = False, key: str | None = None) -> Delivery:
    return Delivery("schedules", None, key, cron, paused)


def others(*crons: str, limit: int = 100) -> list[int]:
    found = crowds([delivery(c) for c in crons], "UTC", limit, today=MONDAY)
    return [found[i].others for i in range(len(crons))]


def test_daily_crons_at_the_same_minute_share_it_and_a_minute_apart_do_not() -> None:
    assert others("0 9 * * *", "0 9 * * *", "1 9 * * *") == [1, 1, 0]


def test_a_monthly_cron_shares_the_minute_with_a_daily_one_but_not_with_another_day_of_the_month() -> None:
    # the 1st and the 15th never start together, although both are "09:00"; each meets the daily one,
    # and the daily one never meets both on one day
    assert others("0 9 1 * *", "0 9 15 * *", "0 9 * * *") == [1, 1, 1]


def test_a_monthly_cron_meets_a_weekly_one_on_the_mondays_that_are_a_first() -> None:
    # Mondays the 1st happen within a year: on such a day the daily, the 1st and the Monday all start
    assert others("0 9 1 * *", "0 9 * * 1", "0 9 * * *") == [2, 2, 2]


def test_weekday_and_weekend_crons_never_meet() -> None:
    assert others("0 9 * * 1-5", "0 9 * * 6,0", "0 9 * * *") == [1, 1, 1]


def test_paused_deliveries_do_not_start() -> None:
    deliveries = [delivery("0 9 * * *"), delivery("0 9 * * *", paused=True), delivery("0 9 * * *")]
    found = crowds(deliveries, "UTC", today=MONDAY)
    assert found[0].others == 1 and 1 not in found
    assert week_hours(deliveries, "UTC", today=MONDAY)[0][9] == 2


def test_a_cron_with_several_times_is_judged_at_its_busiest() -> None:
    assert crowds([delivery("0 9,17 * * *"), delivery("0 17 * * *"), delivery("0 17 * * 1")], "UTC", today=MONDAY)[
        0
    ] == Crowd(17 * 60, 2)


def test_an_unreadable_cron_starts_nowhere() -> None:
    assert starts("not a cron", MONDAY) is None
    assert crowds([delivery("61 9 * * *"), delivery("0 9 * * *")], "UTC", today=MONDAY) == {1: Crowd(540, 0)}


def test_starts_are_local_wall_clock_minutes_across_a_clock_change() -> None:
    # Berlin moves from CEST to CET on 25 October 2026: 09:00 stays 09:00 (it is 07:00 UTC before, 08:00 after)
    autumn = date(2026, 10, 19)
    assert start_minutes("0 9 * * *", "Europe/Berlin", today=autumn) == frozenset(day * 1440 + 540 for day in range(7))
    grid = week_hours([delivery("0 9 * * *"), delivery("30 9 * * 0")], "Europe/Berlin", today=autumn)
    assert grid[6][9] == 2 and grid[0][9] == 1 and sum(map(sum, grid)) == 8
    # both at 09:00 Berlin time share the minute on both sides of the change
    both = crowds([delivery("0 9 * * 0"), delivery("0 9 * * *")], "Europe/Berlin", today=autumn)
    assert both[0].others == 1


def test_the_quiet_minute_is_the_nearest_in_the_same_hour_later_first() -> None:
    crowded = [delivery("0 9 * * *")] * 4 + [delivery("1 9 * * *")] * 3
    found = crowds(crowded, "UTC", 3, today=MONDAY)
    assert found[0] == Crowd(540, 3, quiet=542)  # 09:01 holds 3 already: 09:02 is the nearest quiet one
    assert found[0].sentence == "starts at 09:00 with 3 other deliveries; 09:02 is quiet"
    assert found[4] == Crowd(541, 2)  # 3 in all: not over the limit of 3, no suggestion


def test_the_quiet_minute_prefers_the_same_hour_over_a_nearer_minute_of_another() -> None:
    busy = [delivery("1-58 9 * * *")] * 3 + [delivery("59 9 * * *")] * 4
    # 09:01 to 09:58 are full; 10:00 is a minute away, 09:00 59 minutes: the same hour wins
    found = crowds(busy, "UTC", 3, today=MONDAY)
    assert found[3] == Crowd(9 * 60 + 59, 3, quiet=9 * 60)


def test_when_no_minute_is_quiet_the_least_busy_nearest_is_suggested() -> None:
    everywhere = [delivery("* * * * *")] * 3 + [delivery("0 9 * * *")] * 2 + [delivery("1 9 * * *")]
    found = crowds(everywhere, "UTC", 1, today=MONDAY)
    assert found[3] == Crowd(540, 4, quiet=542)  # 3 everywhere, 4 at 09:01: 09:02 is the least busy nearest


def test_the_quiet_minute_is_never_one_of_its_own_starts() -> None:
    workspace = Crowding([delivery("0,1 9 * * *")] + [delivery("0 9 * * *")] * 3, "UTC", today=MONDAY)
    found = starts("0,1 9 * * *", workspace.first_day)
    assert found is not None
    assert workspace.quiet_minute(found, 540, 2) == 542


def test_week_hours_counts_each_delivery_once_per_hour_it_starts_in() -> None:
    grid = week_hours([delivery("0,30 9 * * 1-5"), delivery("0 9 1 * *"), delivery("0 18 * * 6")], "UTC", today=MONDAY)
    assert len(grid) == 7 and all(len(row) == 24 for row in grid)
    assert [row[9] for row in grid] == [2, 2, 2, 2, 2, 1, 1]  # the 1st falls on every weekday in a year
    assert grid[5][18] == 1 and sum(map(sum, grid)) == 13


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0, 15, 30]), st.sampled_from([8, 9]), st.sampled_from(["*", "1-5", "1", "6,0"])),
        min_size=1,
        max_size=12,
    ),
    st.integers(min_value=1, max_value=6),
)
def test_counts_agree_with_a_day_by_day_count_and_the_quiet_minute_is_quiet(
    crons: list[tuple[int, int, str]], limit: int
) -> None:
    deliveries = [delivery(f"{m} {h} * * {dow}") for m, h, dow in crons]
    found = crowds(deliveries, "UTC", limit, today=MONDAY)
    days = [starts(d.cron, MONDAY) for d in deliveries]
    for i, crowd in found.items():
        mine = days[i]
        assert mine is not None
        # the naive count: per day of the horizon, how many others start at the same minute that day
        naive = max(
            sum(
                1
                for j, other in enumerate(days)
                if j != i and other and minute in other.times and other.days >> day & 1
            )
            for minute in mine.times
            for day in mine.day_indexes()
        )
        assert crowd.others == naive
        assert (crowd.quiet is not None) == (crowd.others + 1 > limit)
        if crowd.quiet is not None:
            moved = Crowding(deliveries, "UTC", today=MONDAY)
            assert moved.others_at(mine, crowd.quiet) + 1 <= limit or all(
                moved.others_at(mine, m) >= moved.others_at(mine, crowd.quiet)
                for m in range(1440)
                if m not in mine.times
            )


def test_a_workspace_of_twelve_thousand_gets_a_crowd_each() -> None:
    # its speed is bench.policy's (docs/BENCHMARKS-policy.md), not a timed test's
    rng = random.Random(21)
    days = ["* * *", "* * 1-5", "* * 1", "1 * *", "15 * *"]
    workspace = [
        delivery(f"{rng.choice([0, 0, 15, 30, rng.randrange(60)])} {rng.randrange(6, 12)} {rng.choice(days)}")
        for _ in range(10_000)
    ]
    workspace += [delivery(f"{rng.randrange(60)} * * * *") for _ in range(2000)]
    found = crowds(workspace, "UTC", 5, today=date(2027, 3, 1))
    assert len(found) == 12_000
    same = Counter(d.cron for d in workspace)  # the same cron shares every start: a floor for each count
    assert all(found[i].others >= same[d.cron] - 1 for i, d in enumerate(workspace))


FIELD = st.one_of(
    st.sampled_from(["*", "*/5", "1-5", "L", "5L", "MON#2", "99", "-1", "1,", "?", "LW", "*/0", "JAN", "mon-fri", "7"]),
    st.text(max_size=4),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(FIELD, min_size=0, max_size=7).map(" ".join))
def test_any_cron_from_the_server_is_read_or_starts_nowhere_never_an_error(cron: str) -> None:
    found = starts(cron, MONDAY)
    assert found is None or all(0 <= t < 1440 for t in found.times)
    assert crowds([delivery(cron), delivery("0 9 * * *")], "UTC", today=MONDAY)[1].others in (0, 1)


def test_a_cron_with_seconds_is_not_holistics_and_starts_nowhere() -> None:
    assert starts("0 0 9 * * *", MONDAY) is None
