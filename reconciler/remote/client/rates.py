"""Pacing: how fast the client may send, shared by every worker thread of one client.

`parse_rate` is the one reader of rate texts ("120/60", "none") for the CLI, the config file and the
sandbox, so a text means the same everywhere. `RateLimiter` enforces such a quota client-side, and
holds every thread back after a 429, because one worker's 429 means the others would get one too.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from typing import Final

from reconciler.remote.client.errors import ConfigError

_OFF: Final = frozenset({"none", "off", "0"})


def parse_rate(text: str) -> tuple[int, float] | None:
    """`"N/S"` -> `(N, S)`: at most N requests in any S seconds (e.g. "120/60", "10/0.5").

    `"none"`, `"off"` or `"0"` -> None: no pacing. A bare `"N"` is refused as ambiguous (the client
    once read it per second and the sandbox per minute); every other mistake is refused too. Each
    refusal is a ConfigError whose message says "rate limit" and shows the N/S form.
    """
    if text.strip().lower() in _OFF:
        return None
    count, slash, seconds = text.partition("/")
    if not slash and count.strip().isdigit():
        n = count.strip()
        raise ConfigError(
            f"rate limit {text!r} is ambiguous without a window: give N/S, e.g. {n}/60 "
            f"for at most {n} requests per minute, or none"
        )
    try:
        n_requests, window = int(count), float(seconds)
    except ValueError:
        raise ConfigError(f"rate limit {text!r}: expected N/S, e.g. 120/60, or none") from None
    # nan compares false with everything and inf would never let a second request go: both refused
    if n_requests < 1 or not math.isfinite(window) or window <= 0:
        raise ConfigError(f"rate limit {text!r}: N and S must be positive (S a finite number of seconds)")
    return n_requests, window


class RateLimiter:
    """A token bucket shared by every thread of one client, plus a shared pause after 429s.

    Works by reservation (GCRA): `acquire()` books the next free slot under the lock and then sleeps
    outside it, exactly once. Not polling the clock keeps it correct with an injected fake `sleep`.
    With `rate_per_second=None` there is no bucket, but a pause set by `backoff()` still applies, so a
    429 seen by one worker holds back all of them.
    """

    def __init__(
        self,
        rate_per_second: float | None = None,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        min_rate: float = 0.1,
        recovery_seconds: float = 60.0,
        window: tuple[int, float] | None = None,
    ) -> None:
        if rate_per_second is not None and not (math.isfinite(rate_per_second) and rate_per_second > 0):
            raise ConfigError("rate_per_second must be positive and finite (or None for no limit)")
        if window is not None and not (window[0] >= 1 and math.isfinite(window[1]) and window[1] > 0):
            raise ConfigError("a rate window must be N >= 1 requests per a positive, finite S seconds")
        if burst < 1:
            raise ConfigError("burst must be at least 1")
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.min_rate = min_rate
        self.recovery_seconds = recovery_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = float("-inf")  # theoretical arrival time of the next request
        self._paused_until = float("-inf")
        self._reduced_rate: float | None = None  # rate right after the last backoff
        self._reduced_at = 0.0  # when recovery from it starts (end of that pause)
        # a quota of N requests per S seconds, counted over a sliding window as servers count it:
        # the start times of the last N requests; the next may start S after the oldest of them
        self.window = window
        self._starts: collections.deque[float] = collections.deque()

    @classmethod
    def from_text(cls, text: str) -> RateLimiter:
        """A limiter for a rate text (see `parse_rate`): a burst of N, then N per S seconds; or none."""
        quota = parse_rate(text)
        return cls(None) if quota is None else cls(None, window=quota)

    def current_rate(self) -> float | None:
        with self._lock:
            return self._rate_at(self._clock())

    def _rate_at(self, now: float) -> float | None:
        nominal = self.rate_per_second
        if nominal is None or self._reduced_rate is None:
            return nominal
        # Additive recovery: back to nominal `recovery_seconds` after the pause, so the API is probed
        # gently instead of hit at full rate again right away.
        elapsed = max(0.0, now - self._reduced_at)
        rate = self._reduced_rate + (nominal - self._reduced_rate) * elapsed / self.recovery_seconds
        if rate >= nominal:
            self._reduced_rate = None
            return nominal
        return rate

    def acquire(self, wake: threading.Event | None = None) -> None:
        """Book this thread's slot and wait for it. With the default sleep and a `wake` event, the wait
        is on that event, so setting it (a cancel) ends the wait at once; an injected sleep is called."""
        with self._lock:
            now = self._clock()
            start = self._book_window(self._book_bucket(max(now, self._paused_until)))
            wait = start - now
        if wait > 0:
            if wake is not None and self._sleep is time.sleep:
                wake.wait(wait)
            else:
                self._sleep(wait)

    def _book_bucket(self, start: float) -> float:
        """The earliest start the token bucket allows from `start`; books it. Called under the lock."""
        rate = self._rate_at(start)
        if rate is None:
            return start
        interval = 1.0 / rate
        tat = max(self._tat, start)
        self._tat = tat + interval
        return max(start, tat - (self.burst - 1) * interval)

    def _book_window(self, start: float) -> float:
        """The earliest start the N-per-S window allows from `start`; books it. Called under the lock."""
        if self.window is None:
            return start
        count, seconds = self.window
        if len(self._starts) >= count:
            # a margin: the server counts arrivals, which a loaded machine may delay by tens of ms
            start = max(start, self._starts[-count] + seconds * 1.02 + 0.1)
        self._starts.append(start)
        while len(self._starts) > count:
            self._starts.popleft()
        return start

    def backoff(self, seconds: float) -> None:
        """After a 429: nobody sends before now+seconds, and the rate is halved (down to `min_rate`)."""
        with self._lock:
            now = self._clock()
            until = now + max(0.0, seconds)
            self._paused_until = max(self._paused_until, until)
            current = self._rate_at(now)
            if current is not None:
                self._reduced_rate = max(min(self.min_rate, current), current / 2)
                self._reduced_at = self._paused_until
                # Forget the burst credit earned before the 429.
                self._tat = max(self._tat, self._paused_until)

    def __repr__(self) -> str:
        return f"RateLimiter(rate_per_second={self.rate_per_second!r}, burst={self.burst})"
