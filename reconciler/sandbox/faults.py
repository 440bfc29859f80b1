"""Faults the sandbox injects on demand: forced failures, a rate quota, and the request log."""

from __future__ import annotations

import fnmatch
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

When = Literal["before", "after", "late"]
WHENS: tuple[When, ...] = ("before", "after", "late")
HOLISTICS_RATE_LIMIT = (120, 60.0)  # what a public client reports: 120 requests per minute per user


@dataclass
class Fault:
    """The next `count` requests matching `method` and `path` misbehave.

    `path` is matched against the path after `/api/v2` (no query string): a pattern starting with `^` is
    a regular expression (`re.search`), anything else an fnmatch glob (so a plain path matches exactly).
    `when="before"` fails the request before it touches state; `when="after"` lets the change happen
    first, so the client cannot tell whether its write landed. `drop` closes the socket without an
    answer; `delay_ms` sleeps before answering (alone it just slows the answer, for client timeouts).
    `when="late"` is a gateway giving up while the server works on: the failure (`status`, or `drop`)
    goes out at once, and the request is carried out `delay_ms` after that answer (see `LateWrites`),
    so a client that looks again at once finds nothing. `count=None` keeps the fault until cleared.
    """

    method: str = "*"
    path: str = "*"
    status: int | None = 500
    drop: bool = False
    when: When = "before"
    count: int | None = 1
    delay_ms: int = 0

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        if self.path.startswith("/api/v2/"):  # the full path names the same thing: accept it
            self.path = self.path.removeprefix("/api/v2")
        if self.status is not None and not isinstance(self.status, int):
            raise ValueError(f"status must be an HTTP status code, got {self.status!r}")
        if self.when not in WHENS:
            raise ValueError(f"when must be one of {', '.join(WHENS)}, got {self.when!r}")
        if self.count is not None and self.count < 1:
            raise ValueError("count must be at least 1 (or None for a fault that stays)")
        if self.status is not None and not 100 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP status code, got {self.status}")
        if self.delay_ms < 0:
            raise ValueError("delay_ms must not be negative")
        if self.status is None and not self.drop and not self.delay_ms:
            raise ValueError("a fault needs a status, drop=True or a delay_ms")
        if self.when == "late" and self.status is None and not self.drop:
            raise ValueError("a late fault answers with a status or drop=True before the server does the work")
        if self.path.startswith("^"):
            re.compile(self.path)  # fail at registration, not on the request that hits it

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        known = {"method", "path", "status", "drop", "when", "count", "delay_ms"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        return cls(**dict(data))

    def matches(self, method: str, path: str) -> bool:
        if self.method not in ("*", method.upper()):
            return False
        if self.path.startswith("^"):
            return re.search(self.path, path) is not None
        return fnmatch.fnmatchcase(path, self.path)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Faults:
    """Registered faults, consumed first-registered first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def take(self, method: str, path: str, *whens: When) -> Fault | None:
        """The first fault registered for this request at one of these moments, used up by one."""
        with self._lock:
            for fault in self._faults:
                if fault.when in whens and fault.matches(method, path):
                    if fault.count is not None:
                        fault.count -= 1
                        if fault.count == 0:
                            self._faults.remove(fault)
                    return Fault(**{**fault.to_dict(), "count": 1})
        return None


class RateLimiter:
    """At most `count` requests in any `window` seconds (a sliding log; refused requests don't count)."""

    def __init__(self, count: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        if count < 1 or window <= 0:
            raise ValueError("a rate limit needs count >= 1 and window > 0")
        self.count = count
        self.window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._stamps: deque[float] = deque()

    def acquire(self) -> float | None:
        """None when the request may go ahead, else the seconds until the window frees a slot."""
        with self._lock:
            now = self._clock()
            while self._stamps and self._stamps[0] <= now - self.window:
                self._stamps.popleft()
            if len(self._stamps) >= self.count:
                return self._stamps[0] + self.window - now
            self._stamps.append(now)
            return None


def retry_after_seconds(wait: float) -> int:
    # whole seconds, rounded up, so a client that waits exactly this long is let through
    return max(1, math.ceil(wait))


class RequestLog:
    """What the API was asked, in order: `{method, path, query, status}`.

    `path` is relative to `/api/v2` (as fault patterns are), `query` maps each parameter to its last
    value (one equal to the key is redacted), and `status` is None for a dropped connection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []

    def append(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries.append(entry)

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e, query=dict(e["query"])) for e in self._entries]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# the outcome of a late write: (status, id of the schedule it stored or changed, if any)
LateOutcome = tuple[int, int | None]


@dataclass
class _LateWrite:
    method: str
    path: str
    delay_ms: int
    work: Callable[[], LateOutcome]
    state: Literal["pending", "running", "done", "cancelled"] = "pending"
    status: int | None = None
    id: int | None = None
    timer: threading.Timer | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "delay_ms": self.delay_ms,
            "state": self.state,
            "status": self.status,
            "id": self.id,
        }


class LateWrites:
    """Requests the server carries out after it answered them (faults with `when="late"`).

    Each is carried out once: when its `delay_ms` has passed, or at `release()`, whichever comes first.
    `wait()` blocks until none is pending, so a test learns that the late write landed without sleeping.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._writes: list[_LateWrite] = []
        self._closed = False  # the server stopped: a write registered now never happens

    def schedule(self, method: str, path: str, delay_ms: int, work: Callable[[], LateOutcome]) -> Callable[[], None]:
        """Register a write, pending from now on, and return what starts its clock: called once the
        answer is out, so the delay runs from the answer and a client holding its answer already
        finds the write listed."""
        write = _LateWrite(method, path, delay_ms, work)
        timer = threading.Timer(delay_ms / 1000, self._run, args=(write,))
        timer.daemon = True
        write.timer = timer
        with self._cond:
            if self._closed:
                write.state = "cancelled"
            self._writes.append(write)

        def start() -> None:
            with self._cond:
                if write.state == "pending":
                    timer.start()

        return start

    def _run(self, write: _LateWrite) -> None:
        with self._cond:
            if write.state != "pending":  # released, or cancelled, meanwhile
                return
            write.state = "running"
        status: int | None = None
        ident: int | None = None
        try:
            status, ident = write.work()
        finally:
            with self._cond:
                write.state, write.status, write.id = "done", status, ident
                self._cond.notify_all()

    def _pending(self) -> list[_LateWrite]:
        return [w for w in self._writes if w.state in ("pending", "running")]

    def release(self) -> int:
        """Carry out every pending write now, as if its delay had passed; returns how many there were."""
        with self._cond:
            pending = [w for w in self._writes if w.state == "pending"]
        for write in pending:
            if write.timer is not None:
                write.timer.cancel()
            self._run(write)
        self.wait(timeout=None)  # and those another thread had started
        return len(pending)

    def wait(self, timeout: float | None) -> bool:
        """Block until no write is pending; False when `timeout` seconds passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending(), timeout)

    def cancel(self) -> None:
        """Forget the writes not yet carried out, and any registered until `reopen()` (the server
        stopped before their time came)."""
        with self._cond:
            self._closed = True
            for write in self._writes:
                if write.state == "pending":
                    write.state = "cancelled"
                    if write.timer is not None:
                        write.timer.cancel()
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    def list(self) -> list[dict[str, Any]]:
        with self._cond:
            return [w.to_dict() for w in self._writes]
