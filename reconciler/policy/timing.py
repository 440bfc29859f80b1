"""How often a cron fires: the shortest gap between two of its real runs in a time zone, over this
calendar year and the next.

Judged from run times, not syntax: `30 1,3 * * *` looks two hours apart, but in Europe/Berlin the
night the clocks spring forward its runs are one real hour apart. Walking a year of runs one by one
takes seconds for `*/5 * * * *` (100,000 runs), so the year is split into what repeats and what does
not: away from a DST change, a gap is its wall-clock gap, which the cron's times of day and its
matching days give at once; around each DST change the real runs are walked (cronsim) and their gaps
measured in UTC. Cached per (cron, zone): a workspace repeats its crons.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from cronsim import CronSim

# What is judged: this calendar year and the next, so that a verdict holds all year (it changes on
# 1 January at most) and a cron reviewed in December is judged by the DST dates it will meet next.
_JUDGED = timedelta(days=2 * 365 + 1)


def _judged_from() -> tuple[int, int, int]:
    return (date.today().year, 1, 1)


_DAY = 1440


@cache
def shortest_gap_minutes(cron: str, timezone: str) -> int:
    """The fewest whole minutes between two consecutive runs of `cron` (five crontab fields) in
    `timezone`, over a year of real runs, DST changes included. 1 as soon as it is found to be 1."""
    minute, hour, *days = cron.split()
    times = _times_of_day(minute, hour)
    if len(times) > 1 and (intra := min(b - a for a, b in pairwise(times))) <= 1:
        return 1
    shortest = _wall_clock_gap(times, _day_gap(" ".join(days)))
    for changed in _offset_changes(timezone):
        shortest = min(shortest, _real_gap_around(cron, changed))
    if len(times) > 1:
        shortest = min(shortest, intra)
    return max(1, shortest)


def _times_of_day(minute: str, hour: str) -> list[int]:
    """The minutes of the day the cron runs at, in order (in UTC: every day has each once)."""
    day = datetime(2000, 1, 1, tzinfo=UTC)
    runs = _through(
        CronSim(f"{minute} {hour} * * *", day - timedelta(minutes=1)), day + timedelta(hours=23, minutes=59)
    )
    return [r.hour * 60 + r.minute for r in runs[:-1]]  # the last: the next day's first


@cache  # crons share their day fields (`* * *`) far more than their times
def _day_gap(days: str) -> int:
    """The fewest days between two consecutive days the cron runs on (its day-of-month, month and
    day-of-week fields), over a year and up to the first such day after it."""
    start = datetime(*_judged_from(), tzinfo=UTC) - timedelta(minutes=1)
    # through the first day after the year: one a year or more away (29 February) still makes a gap
    runs = CronSim(f"0 0 {days}", start)
    matched = _through(runs, start + _JUDGED)
    matched += [r for r in [next(runs, None)] if r is not None and len(matched) < 2]
    gaps = [(b - a).days for a, b in pairwise(matched)]
    return min(gaps, default=100 * 366)


def _wall_clock_gap(times: list[int], day_gap: int) -> int:
    """The shortest gap away from DST changes: between two runs of a day, or from a day's last run
    to the first run of the next day it runs on."""
    between_days = day_gap * _DAY - times[-1] + times[0]
    return min([between_days, *(b - a for a, b in pairwise(times))])


@cache
def _offset_changes(timezone: str) -> tuple[datetime, ...]:
    """Roughly when the zone's UTC offset changes in the year (to the day): where DST bends gaps."""
    start = datetime(*_judged_from(), tzinfo=ZoneInfo(timezone))
    days = [start + timedelta(days=day) for day in range(_JUDGED.days + 1)]
    return tuple(b - timedelta(days=1) for a, b in pairwise(days) if a.utcoffset() != b.utcoffset())


def _real_gap_around(cron: str, changed: datetime) -> int:
    """The shortest real gap between the cron's runs from the last run before the day the offset
    changed to the first run two days after: the runs walked, their gaps measured in UTC."""
    before = next(CronSim(cron, changed, reverse=True), changed)
    runs = _through(CronSim(cron, before - timedelta(minutes=1)), changed + timedelta(days=2))
    gaps = [_minutes_between(a, b) for a, b in pairwise(runs)]
    return min(gaps, default=100 * 366 * _DAY)


def _minutes_between(earlier: datetime, later: datetime) -> int:
    return int((later.astimezone(UTC) - earlier.astimezone(UTC)).total_seconds() // 60)


def _through(runs: Iterator[datetime], end: datetime) -> list[datetime]:
    """The runs up to `end`, and the first one after it (when the cron runs again at all)."""
    out = []
    for run in runs:
        out.append(run)
        if run > end:
            break
    return out
