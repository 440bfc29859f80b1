"""Words for reviewers: cron expressions as sentences, their next runs in the zone schedules run in,
and the clock changes that skip or repeat a run.

Pure functions of their arguments and of `now()`, the one clock they read: tests set
`describe.now` to a fixed instant, so rendered plans are deterministic without any environment.
Run times are cronsim's, which follows Debian cron at clock changes: a job at a fixed local time
that a spring-forward skips runs at the first minute after the gap, and one in an hour that
repeats runs once, at the first occurrence; any other job runs at every real instant its fields
match. Holistics does not document its own behaviour, so the warnings say what cronsim computes.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

DEFAULT_TIMEZONE = "UTC"
LOOKAHEAD = timedelta(days=366)  # DST warnings look a year ahead: every zone's changes, once each
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not %a: that follows the locale
_SCAN_STEP = timedelta(hours=2)  # no zone changes its clocks twice within two hours
_TWO_MINUTES = timedelta(minutes=2)
_MAX_RUNS_PER_CHANGE = 5000  # `* 2 * * *` has 120 runs around a change; a bound, not a limit in practice


@cache
def _system_now() -> datetime:
    # read once per process: a command renders one plan several times (the terminal, `--out`, the
    # markdown comment and the job summary), and each must show the same next runs
    return datetime.now(UTC)


now: Callable[[], datetime] = _system_now
"""The clock next runs and DST look-ahead count from: the moment the process first asks, so one
command's renders agree; tests replace it with a fixed instant."""


@cache
def cron_in_words(expression: str) -> str | None:
    """ "0 8 * * 1" -> "At 08:00, only on Monday"; None when the expression cannot be described."""
    from cron_descriptor import ExpressionDescriptor, Options  # only text and markdown plans need it

    options = Options()
    options.use_24hour_time_format = True
    try:
        return str(ExpressionDescriptor(expression, options).get_description())
    except Exception:  # cron-descriptor raises several unrelated types on bad input
        return None


# ---- time zones ----


class UnknownTimezone(ValueError):
    pass


# files in the zone directory that load but are not zone names: `localtime` is this machine's zone,
# so the same config would mean different zones on different machines; right/ counts leap seconds
_NOT_NAMES = frozenset({"localtime", "posixrules"})
_NOT_PREFIXES = ("posix/", "right/")


@cache
def zone(name: str) -> ZoneInfo:
    """The IANA zone `name` ("Europe/Berlin"), or UnknownTimezone saying what is wrong with it."""
    if name not in _NOT_NAMES and not name.startswith(_NOT_PREFIXES):
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # not found, not a key, not a zone file
            pass
    names = frozenset(available_timezones()) - _NOT_NAMES  # scanned only here: it reads the whole directory
    if not names:
        raise UnknownTimezone("no time zone database is installed here (pip install tzdata)")
    raise UnknownTimezone(f"{name!r} is not an IANA time zone name{_suggest(name, names)}")


def _suggest(name: str, names: frozenset[str]) -> str:
    folded = {n.casefold(): n for n in names}
    if name.strip().casefold() in folded:
        return f" (did you mean {folded[name.strip().casefold()]!r}?)"
    close = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else " (like 'Europe/Berlin' or 'UTC')"


# ---- next runs ----


def next_runs(
    expression: str, timezone: str = DEFAULT_TIMEZONE, count: int = 3, *, after: datetime | None = None
) -> tuple[datetime, ...]:
    """The next `count` times `expression` fires in `timezone` after `after` (default `now()`), as
    aware datetimes in that zone; () when cronsim cannot read the expression or the zone is unknown.

    Counted from the start of the current minute (crons have minutes, no seconds), which also makes
    the result cacheable: a plan repeats a few crons across hundreds of schedules."""
    start = _minute(after)
    try:
        return _next_runs(expression, timezone, count, start)
    except (UnknownTimezone, CronSimError):
        return ()


def _minute(after: datetime | None) -> datetime:
    instant = (after if after is not None else now()).astimezone(UTC)
    return instant.replace(second=0, microsecond=0)


@lru_cache(maxsize=4096)
def _next_runs(expression: str, timezone: str, count: int, start: datetime) -> tuple[datetime, ...]:
    out: list[datetime] = []
    for run in _runs(expression, zone(timezone), start):
        if len(out) == count:
            break
        out.append(run)
    return tuple(out)


def _runs(expression: str, tz: ZoneInfo, start: datetime) -> Iterator[datetime]:
    """cronsim's runs after the UTC instant `start`, in order, as aware datetimes in `tz`."""
    # cronsim iterates a fixed-time job in naive local time, so a start inside a repeated hour can
    # yield a run before it: keep only the runs that are really later. And it can name an instant
    # by a wall time that does not exist (00:00 -04 in Santiago the night clocks skip midnight):
    # through UTC, every run reads as the clock on the wall shows it.
    for run in CronSim(expression, start.astimezone(tz)):  # it stops after 50 years without a match
        instant = run.astimezone(UTC)
        if instant > start:
            yield instant.astimezone(tz)


def when_line(
    expression: str, timezone: str = DEFAULT_TIMEZONE, count: int = 3, *, after: datetime | None = None
) -> str:
    """ "next: Mon 2026-12-07 08:00, Mon 2026-12-14 08:00, Mon 2026-12-21 08:00 Europe/Berlin";
    "" when there are none to show."""
    runs = next_runs(expression, timezone, count, after=after)
    if not runs:
        return ""
    return "next: " + ", ".join(_stamp(r) for r in runs) + f" {timezone}"


def _stamp(moment: datetime) -> str:
    return f"{_DAYS[moment.weekday()]} {moment:%Y-%m-%d %H:%M}"


# ---- clock changes ----


@dataclass(frozen=True)
class ClockChange:
    """One change of a zone's UTC offset: at the UTC instant `at`, local clocks jump from
    `at + before` to `at + after` (02:00 -> 03:00 in spring, 03:00 -> 02:00 in autumn in Berlin)."""

    at: datetime
    before: timedelta
    after: timedelta

    @property
    def forward(self) -> bool:
        return self.after > self.before

    @property
    def wall_from(self) -> datetime:
        return (self.at + self.before).replace(tzinfo=None)

    @property
    def wall_to(self) -> datetime:
        return (self.at + self.after).replace(tzinfo=None)

    @property
    def window(self) -> tuple[datetime, datetime]:
        """The local wall times skipped (forward) or lived twice (back), as a half-open interval."""
        return (self.wall_from, self.wall_to) if self.forward else (self.wall_to, self.wall_from)

    def describe(self) -> str:
        way = "forward" if self.forward else "back"
        return f"clocks go {way} {self.wall_from:%H:%M} -> {self.wall_to:%H:%M}"


def clock_changes(timezone: str, start: datetime | None = None, span: timedelta = LOOKAHEAD) -> tuple[ClockChange, ...]:
    """The changes of `timezone`'s offset in the `span` after `start` (default `now()`), in order;
    () for UTC, zones without DST and unknown zones."""
    first = _minute(start)
    try:
        return _clock_changes(timezone, first.date(), span)
    except UnknownTimezone:
        return ()


@cache
def _clock_changes(timezone: str, day: date, span: timedelta) -> tuple[ClockChange, ...]:
    tz = zone(timezone)
    t = datetime.combine(day, time(), tzinfo=UTC)
    end = t + span
    found: list[ClockChange] = []
    offset = _offset(t, tz)
    while t < end:
        nxt = t + _SCAN_STEP
        new = _offset(nxt, tz)
        if new != offset:
            found.append(ClockChange(_bisect(t, nxt, tz), offset, new))
            offset = new
        t = nxt
    return tuple(found)


def _offset(instant: datetime, tz: ZoneInfo) -> timedelta:
    return instant.astimezone(tz).utcoffset() or timedelta()


def _bisect(lo: datetime, hi: datetime, tz: ZoneInfo) -> datetime:
    """The first second in (lo, hi] with hi's offset: the instant of the change."""
    target = _offset(hi, tz)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if _offset(mid, tz) == target:
            hi = mid
        else:
            lo = mid
    return hi


# ---- DST warnings ----


def dst_warnings(
    expression: str, timezone: str = DEFAULT_TIMEZONE, *, after: datetime | None = None
) -> tuple[str, ...]:
    """For each clock change in the year after `after` (default `now()`) that falls on a local time
    `expression` fires at, what happens then, e.g. "02:30 is skipped on 2027-03-28 (clocks go
    forward 02:00 -> 03:00): runs at 03:00 instead". () in UTC and zones without DST.

    A job that fires every hour (hour field `*`) gets none: cronsim runs it at every real hour, so
    its rhythm is unchanged across the change."""
    fields = expression.split()
    if len(fields) != 5 or fields[1] in ("*", "*/1"):
        return ()
    start = _minute(after)
    try:
        changes = _clock_changes(timezone, start.date(), LOOKAHEAD)
        return tuple(w for c in changes if c.at > start for w in [_warning(expression, timezone, c)] if w)
    except (UnknownTimezone, CronSimError):
        return ()


@lru_cache(maxsize=4096)
def _warning(expression: str, timezone: str, change: ClockChange) -> str:
    lo, hi = change.window
    nominal = _wall_matches(expression, lo, hi)
    if not nominal:
        return ""
    tz = zone(timezone)
    width = hi - lo + _TWO_MINUTES
    actual = _runs_between(expression, tz, change.at - width, change.at + width)
    day = f"{lo:%Y-%m-%d}"
    times = _times(nominal)
    one = len(nominal) == 1
    if change.forward:
        # cronsim moves a fixed-time job to the first minute after the gap, the instant of the change
        landed = [r for r in actual if change.at <= r.astimezone(UTC) <= change.at + timedelta(minutes=1)]
        moved = sorted({r.replace(tzinfo=None) for r in landed} - set(_wall_matches(expression, hi, hi + _TWO_MINUTES)))
        head = f"{times} {'is' if one else 'are'} skipped on {day} ({change.describe()})"
        if not moved:
            return f"{head}: {'it does' if one else 'they do'} not run"
        once = "" if len(moved) >= len(nominal) else "once "
        return f"{head}: runs {once}at {_times(moved)} instead"
    instants = {r.astimezone(UTC) for r in actual}
    counts = []
    for wall in nominal:
        occurrences = [wall.replace(tzinfo=tz, fold=f) for f in (0, 1)]
        counts.append([o for o in occurrences if o.astimezone(UTC) in instants])
    head = f"{times} {'happens' if one else 'happen'} twice on {day} ({change.describe()})"
    each = "" if one else " each"
    if all(len(c) == 2 for c in counts):
        return f"{head}: runs twice{each}"
    if all(len(c) == 1 for c in counts):
        if one:
            return f"{head}: runs once, at {counts[0][0]:%H:%M %Z}"
        zones = sorted({c[0].tzname() or "" for c in counts})
        return f"{head}: runs once each, in {'/'.join(zones)}"
    return f"{head}: runs " + ", ".join(f"{w:%H:%M} x{len(c)}" for w, c in zip(nominal, counts, strict=True))


def _wall_matches(expression: str, lo: datetime, hi: datetime) -> tuple[datetime, ...]:
    """The naive local wall times in [lo, hi) the expression's fields name, ignoring clock changes."""
    out: list[datetime] = []
    for wall in CronSim(expression, lo - timedelta(seconds=1)):
        if wall >= hi or len(out) >= _MAX_RUNS_PER_CHANGE:
            break
        out.append(wall)
    return tuple(out)


def _runs_between(expression: str, tz: ZoneInfo, lo: datetime, hi: datetime) -> list[datetime]:
    out: list[datetime] = []
    for run in _runs(expression, tz, lo.replace(second=0, microsecond=0) - timedelta(seconds=1)):
        if run.astimezone(UTC) >= hi or len(out) >= _MAX_RUNS_PER_CHANGE:
            break
        out.append(run)
    return out


def _times(walls: list[datetime] | tuple[datetime, ...]) -> str:
    shown = [f"{w:%H:%M}" for w in walls]
    if len(shown) > 4:
        return f"{shown[0]}, {shown[1]}, ..., {shown[-1]} ({len(shown)} times)"
    return ", ".join(shown)
