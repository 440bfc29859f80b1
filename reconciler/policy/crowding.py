"""How many deliveries of a workspace start at the same minute, and which nearby minute is quiet.

Holistics asks users to spread cron times: many deliveries at one minute trip spam filters and load
the database. `max_same_minute` bounds them; the plan says the count for every new or changed
delivery and suggests a quiet minute when it is crowded.

What "start at the same minute" means. A start is a minute of local wall-clock time on a date, in the
configured zone (Holistics runs a workspace's crons in one zone, so the same local minute is the same
instant for all of them; a clock change moves every delivery alike). Two deliveries start at the same
minute when they have a start in common within the horizon: the 52 weeks from the Monday of the
reference week. A year, not a week, so that a monthly cron counts where it really starts:
`0 9 1 * *` (the 1st) shares 09:00 with a daily `0 9 * * *` and, on the Mondays that are a 1st, with a
weekly `0 9 * * 1`; but it never shares a start with `0 9 15 * *` (the 15th), although both are
"09:00". A delivery's crowd is the busiest of its starts: the most OTHER deliveries starting at one of
its dates and minutes. Paused deliveries do not start. On the (at most two) days the clock changes, a
start in the skipped or repeated hour is counted at its wall-clock minute (cronsim would move or
repeat it; a one-day effect the year's count does not need).

Fast for a workspace of 12,000 deliveries: a cron is the product of its time part (minutes, hours)
and its day part (day of month, month, weekday), each read once per distinct expression (cached);
per minute of the day, deliveries are grouped by their set of days (a handful of distinct sets: daily,
weekdays, the 1st...), and a minute's counts are built once, when first asked, as bit masks of the days
that have each count.

    start_minutes   the minutes of the week (0 = Monday 00:00) a cron starts at, over the horizon
    Crowding        a workspace's starts; `crowd(delivery)`, `others_at(...)` and `quiet_minute(...)`
    crowds          per delivery, its `Crowd`: the minute, how many others start then, a quiet minute
    week_hours      7 x 24: how many deliveries start in each hour of each weekday (for `audit`)
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

HORIZON_DAYS = 364  # 52 weeks: every weekday of every month, and each weekday as often as the next
MINUTES_A_DAY = 24 * 60
# Without a policy's `max_same_minute`, the plan still calls a minute crowded above this many
# deliveries, and suggests a quiet one.
DEFAULT_CROWDED = 5


@dataclass(frozen=True, slots=True)  # a plan holds one per entry (20,000 of them at 20,000 schedules)
class Delivery:
    """A schedule or alert as far as starting goes. `key`: its YAML key when managed, else None."""

    kind: str
    id: int | None
    key: str | None
    cron: str
    paused: bool = False


@dataclass(frozen=True)
class Starts:
    """When one cron starts over the horizon: on the days set in `days` (bit i: the horizon's day i)
    at each minute of the day in `times`."""

    days: int
    times: tuple[int, ...]

    def day_indexes(self) -> tuple[int, ...]:
        return _indexes(self.days)


@dataclass(frozen=True)
class Crowd:
    """A delivery's busiest start: its minute of the day, how many other deliveries start then (on
    the busiest of its days), and a nearby quiet minute when that is more than the limit allows."""

    minute: int
    others: int
    quiet: int | None = None

    @property
    def at(self) -> str:
        return clock(self.minute)

    @property
    def quiet_at(self) -> str | None:
        return None if self.quiet is None else clock(self.quiet)

    @property
    def sentence(self) -> str:
        """`starts at 09:00 with 14 other deliveries; 09:07 is quiet`."""
        said = f"starts at {self.at} with {self.others} other deliver{'y' if self.others == 1 else 'ies'}"
        return said + (f"; {self.quiet_at} is quiet" if self.quiet_at else "")


def clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def reference_monday(today: date) -> date:
    return today - timedelta(days=today.weekday())


def today_in(timezone: str) -> date:
    """Today's date in the zone (the one impure helper here: callers that want a fixed horizon pass
    their own date)."""
    return datetime.now(ZoneInfo(timezone)).date()


@lru_cache(maxsize=4096)
def starts(cron: str, first_day: date) -> Starts | None:
    """The cron's starts over the horizon from `first_day`; None when cronsim cannot read it (the
    YAML's validation says why; a remote item's cron is the server's business)."""
    if len(cron.split()) != 5:  # Holistics' crontab fields (cronsim would also take seconds)
        return None
    try:
        parsed = CronSim(cron, datetime(2000, 1, 1))
    except (CronSimError, ValueError):
        return None
    times = tuple(sorted(h * 60 + m for h in parsed.hours for m in parsed.minutes))
    return Starts(_days(" ".join(cron.split()[2:]), first_day), times)


@lru_cache(maxsize=1024)
def _days(day_part: str, first_day: date) -> int:
    """The horizon's days a day part (`1 * *`, `* * MON-FRI`) matches, as bits: computed once per
    distinct day part, which a workspace has few of."""
    parsed = CronSim(f"0 0 {day_part}", datetime(2000, 1, 1))
    mask = 0
    for i in range(HORIZON_DAYS):
        day = first_day + timedelta(days=i)
        if day.month in parsed.months and parsed.match_day(day):
            mask |= 1 << i
    return mask


@lru_cache(maxsize=1024)
def _indexes(mask: int) -> tuple[int, ...]:
    return tuple(i for i in range(HORIZON_DAYS) if mask >> i & 1)


def start_minutes(cron: str, timezone: str, *, today: date | None = None) -> frozenset[int]:
    """The minutes of the week (0 = Monday 00:00, local time in `timezone`) at which `cron` starts at
    least once over the horizon from this week (or `today`'s week)."""
    return _week_minutes(cron, reference_monday(today or today_in(timezone)))


@lru_cache(maxsize=4096)
def _week_minutes(cron: str, first: date) -> frozenset[int]:
    found = starts(cron, first)
    if found is None:
        return frozenset()
    weekdays = {(first + timedelta(days=i)).weekday() for i in found.day_indexes()}
    return frozenset(d * MINUTES_A_DAY + t for d in weekdays for t in found.times)


class Crowding:
    """The starts of a workspace's deliveries (paused ones left out), counted per date and minute."""

    def __init__(
        self,
        deliveries: Iterable[Delivery],
        timezone: str,
        *,
        today: date | None = None,
        counted: Counter[str] | None = None,
    ) -> None:
        """`counted`: more deliveries, as how many start at each cron (paused ones not counted)."""
        self.first_day = reference_monday(today or today_in(timezone))
        # minute of the day -> {set of days: how many deliveries start at that minute on those days}
        self._groups: dict[int, Counter[int]] = {}
        # a workspace has a few hundred distinct crons for thousands of deliveries: each counted once
        crons = Counter(counted) if counted is not None else Counter()
        crons.update(d.cron for d in deliveries if not d.paused)
        for cron, n in crons.items():
            found = starts(cron, self.first_day)
            if found is not None:
                for minute in found.times:
                    self._groups.setdefault(minute, Counter())[found.days] += n
        self._per_day: dict[int, list[tuple[int, int]]] = {}
        self._crowds: dict[tuple[Starts, int, bool], Crowd] = {}  # deliveries of one cron share theirs
        self._loads: dict[tuple[int, int], list[tuple[int, list[int]]]] = {}

    def starts_of(self, delivery: Delivery) -> Starts | None:
        return None if delivery.paused else starts(delivery.cron, self.first_day)

    def _levels(self, minute: int) -> list[tuple[int, int]]:
        """How many deliveries start at `minute`, busiest first, each with the days (bits) it is so."""
        levels = self._per_day.get(minute)
        if levels is None:
            # the horizon's days split by which groups start on them, as bit masks: a handful of parts
            parts = {(1 << HORIZON_DAYS) - 1: 0}  # days -> how many start on each of them
            for mask, n in self._groups.get(minute, {}).items():
                split: dict[int, int] = {}
                for days, count in parts.items():
                    for part, more in ((days & mask, n), (days & ~mask, 0)):
                        if part:
                            split[part] = count + more
                parts = split
            by_count: dict[int, int] = {}
            for days, count in parts.items():
                by_count[count] = by_count.get(count, 0) | days
            levels = self._per_day[minute] = sorted(by_count.items(), reverse=True)
        return levels

    def busiest(self, minute: int, days: int) -> int:
        """The most deliveries starting at `minute` on one of `days` (itself included, if counted)."""
        groups = self._groups.get(minute)
        if not groups or not days:
            return 0
        if len(groups) == 1:  # the usual case: everything at this minute runs on the same days
            mask, n = next(iter(groups.items()))
            return n if mask & days else 0
        return next((n for n, having in self._levels(minute) if having & days), 0)

    def others_at(self, found: Starts, minute: int, *, counted: bool = True) -> int:
        """How many OTHER deliveries start at `minute` on the busiest of `found`'s days; `counted`:
        the delivery of `found` is among the workspace's (it is subtracted where it starts)."""
        own = 1 if counted and minute in found.times else 0
        return max(0, self.busiest(minute, found.days) - own)

    def crowd(self, delivery: Delivery, limit: int = DEFAULT_CROWDED, *, counted: bool = True) -> Crowd | None:
        """Its busiest start, and a quiet minute when more than `limit` would start then; None when
        it never starts (paused, an unreadable cron, no day in the horizon)."""
        found = self.starts_of(delivery)
        if found is None or not found.days or not found.times:
            return None
        crowd = self._crowds.get((found, limit, counted))
        if crowd is None:
            crowd = self._crowds[found, limit, counted] = self._crowd(found, limit, counted=counted)
        return crowd

    def _crowd(self, found: Starts, limit: int, *, counted: bool) -> Crowd:
        others, minute = max((self.others_at(found, t, counted=counted), -t) for t in found.times)
        quiet = self.quiet_minute(found, -minute, limit) if others + 1 > limit else None
        return Crowd(-minute, others, quiet)

    def quiet_minute(self, found: Starts, minute: int, limit: int) -> int:
        """The nearest minute of the same day (the same hour first, later before earlier at the same
        distance) where the delivery would start with at most `limit` deliveries in all; when no minute
        is that quiet, the nearest of the least busy ones. Never one of its own other starts (moving
        there would merge the two)."""
        own = set(found.times)
        for _, minutes in self._by_load(found.days, limit):
            nearest = _nearest(minutes, minute, own)
            if nearest is not None:
                return nearest
        return minute

    def _by_load(self, days: int, limit: int) -> list[tuple[int, list[int]]]:
        """The minutes of the day, sorted, grouped: first every quiet one (fewer than `limit` others
        start there on the busiest of `days`), then the busier ones, least busy first."""
        cached = self._loads.get((days, limit))
        if cached is None:
            groups: dict[int, list[int]] = {}
            for m in range(MINUTES_A_DAY):
                load = self.busiest(m, days)
                groups.setdefault(-1 if load + 1 <= limit else load, []).append(m)
            cached = self._loads[days, limit] = sorted(groups.items())
        return cached


def _nearest(minutes: list[int], minute: int, own: set[int]) -> int | None:
    """Of the sorted `minutes` (less `own`), the one nearest to `minute` in its hour, else in the day;
    later before earlier at the same distance."""
    hour = minute // 60 * 60
    lo, hi = bisect_left(minutes, hour), bisect_left(minutes, hour + 60)
    same_hour = [m for m in minutes[lo:hi] if m not in own]
    if same_hour:
        return min(same_hour, key=lambda m: (abs(m - minute), m < minute))
    at = bisect_left(minutes, minute)
    later = next((m for m in minutes[at:] if m not in own), None)
    earlier = next((m for m in reversed(minutes[:at]) if m not in own), None)
    if later is None or earlier is None:
        return later if earlier is None else earlier
    return later if later - minute <= minute - earlier else earlier


def crowds(
    deliveries: Sequence[Delivery], timezone: str, limit: int = DEFAULT_CROWDED, *, today: date | None = None
) -> dict[int, Crowd]:
    """Per delivery (its index in `deliveries`) that starts at all, its `Crowd` among the others."""
    workspace = Crowding(deliveries, timezone, today=today)
    found = {i: workspace.crowd(d, limit) for i, d in enumerate(deliveries)}
    return {i: c for i, c in found.items() if c is not None}


def week_hours(deliveries: Iterable[Delivery], timezone: str, *, today: date | None = None) -> list[list[int]]:
    """7 rows (Monday first) of 24 hours: how many deliveries start at least once in that hour of that
    weekday over the horizon (local time in `timezone`; paused ones left out)."""
    grid = [[0] * 24 for _ in range(7)]
    for delivery in deliveries:
        if delivery.paused:
            continue
        minutes = start_minutes(delivery.cron, timezone, today=today)
        for day, hour in {(m // MINUTES_A_DAY, m % MINUTES_A_DAY // 60) for m in minutes}:
            grid[day][hour] += 1
    return grid
