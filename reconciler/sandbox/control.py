"""Control of a running sandbox in-process: `Control` (the same over HTTP at `/_sandbox/...` is
`controlroutes`').

A test (or a user's CI) sets up remote state (data schedules and data alerts) and injects latency,
rate limits and failures here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from reconciler.kinds.alerts import ALERTS
from reconciler.remote.client.errors import ConfigError
from reconciler.remote.client.rates import parse_rate
from reconciler.sandbox.api import ServerOptions
from reconciler.sandbox.faults import (
    HOLISTICS_RATE_LIMIT,
    Fault,
    Faults,
    LateWrites,
    RateLimiter,
    RequestLog,
    When,
)
from reconciler.sandbox.state import State

ErrorShape = Literal["flat", "wrapped"]
RetryAfterFormat = Literal["seconds", "http-date"]
# (method, path after /api/v2, query) of an API request about to be handled; see Control.set_api_hook
ApiHook = Callable[[str, str, dict[str, list[str]]], None]


@dataclass
class Settings:
    latency_ms: int = 0
    rate_limiter: RateLimiter | None = None
    retry_after: RetryAfterFormat = "seconds"
    error_shape: ErrorShape = "flat"
    server: ServerOptions = field(default_factory=ServerOptions)
    api_hook: ApiHook | None = None


def parse_rate_limit(value: Any) -> tuple[int, float] | None:
    """None, (count, seconds), {"count", "window_seconds"} or a text read as the client reads it
    (`client.rates.parse_rate`: "120/60", or "none")."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_rate(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    if isinstance(value, Mapping):
        return int(value["count"]), float(value.get("window_seconds", 60))
    if isinstance(value, Sequence) and len(value) == 2:
        return int(value[0]), float(value[1])
    raise ValueError(f"cannot read a rate limit from {value!r}")


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


class Control:
    """In-process control of a running sandbox; `/_sandbox/...` offers the same over HTTP."""

    def __init__(
        self, state: State, faults: Faults, log: RequestLog, settings: Settings, late: LateWrites | None = None
    ) -> None:
        self._state = state
        self._faults = faults
        self._log = log
        self._settings = settings
        self._late = late if late is not None else LateWrites()

    # latency, rate limit, response shapes
    def set_latency(self, ms: int) -> None:
        if ms < 0:
            raise ValueError("latency must not be negative")
        self._settings.latency_ms = int(ms)

    def set_rate_limit(self, count: int | None, window_seconds: float = 60.0) -> None:
        """`count` requests per `window_seconds`; None turns the limit off."""
        self._settings.rate_limiter = None if count is None else RateLimiter(count, window_seconds)

    def use_holistics_rate_limit(self) -> None:
        """The limit a public client reports for the real API: 120 requests per minute."""
        self.set_rate_limit(*HOLISTICS_RATE_LIMIT)

    def set_retry_after_format(self, fmt: RetryAfterFormat) -> None:
        if fmt not in get_args(RetryAfterFormat):
            raise ValueError(f"retry-after format must be one of {get_args(RetryAfterFormat)}")
        self._settings.retry_after = fmt

    def set_error_shape(self, shape: ErrorShape) -> None:
        """`flat`: `{type, message}` (the spec's BaseError); `wrapped`: `{"error": {type, message,
        debug_id}}` (the shape on the docs' errors page)."""
        if shape not in get_args(ErrorShape):
            raise ValueError(f"error shape must be one of {get_args(ErrorShape)}")
        self._settings.error_shape = shape

    # how far it behaves like the real server (see `api.ServerOptions`)
    def set_server_like(self, on: bool, strict_input: bool | None = None) -> None:
        """Extra read-only fields on every schedule and alert, undocumented input ignored; strict input (422 on
        undocumented attributes) follows unless `strict_input` says otherwise."""
        self._settings.server.server_like = _flag("server_like", on)
        self.set_strict_input(on if strict_input is None else strict_input)

    def set_strict_input(self, on: bool) -> None:
        self._settings.server.strict_input = _flag("strict_input", on)

    def set_immutable_source(self, on: bool) -> None:
        self._settings.server.immutable_source = _flag("immutable_source", on)

    def set_list_metadata(self, on: bool) -> None:
        """False: `GET /dashboards/list_metadata` answers 404, as an older deployment does."""
        self._settings.server.list_metadata = _flag("list_metadata", on)

    def config(self) -> dict[str, Any]:
        limiter = self._settings.rate_limiter
        server = self._settings.server
        return {
            "latency_ms": self._settings.latency_ms,
            "rate_limit": None if limiter is None else {"count": limiter.count, "window_seconds": limiter.window},
            "retry_after": self._settings.retry_after,
            "error_shape": self._settings.error_shape,
            "server_like": server.server_like,
            "strict_input": server.strict_input,
            "immutable_source": server.immutable_source,
            "list_metadata": server.list_metadata,
        }

    def set_api_hook(self, hook: ApiHook | None) -> None:
        """In-process only: call `hook(method, path, query)` for every API request that passed the key
        and rate checks, before faults and the route, in the request's handler thread. It may change
        the state (through this Control), change `query` (the route sees the change, the request log
        does not), or raise `ApiError` to answer with it: a test's way to act between two pages of a
        listing, or to play a server that ignores or refuses a parameter. None removes it."""
        self._settings.api_hook = hook

    # faults
    def add_fault(
        self,
        method: str = "POST",
        path: str = "/data_schedules",
        status: int | None = 500,
        drop: bool = False,
        when: When = "before",
        count: int | None = 1,
        delay_ms: int = 0,
    ) -> Fault:
        return self._faults.add(Fault(method, path, status, drop, when, count, delay_ms))

    def register_fault(self, fault: Fault | Mapping[str, Any]) -> Fault:
        """A fault given whole, or as its JSON fields (an unknown field is an error)."""
        return self._faults.add(fault if isinstance(fault, Fault) else Fault.from_dict(fault))

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        return self._faults.list()

    # late writes (faults with when="late")
    def late_writes(self) -> list[dict[str, Any]]:
        """Each late write: `{method, path, delay_ms, state: pending|running|done|cancelled, status, id}`
        (`status` and `id` are those of the request once carried out)."""
        return self._late.list()

    def wait_for_late_writes(self, timeout: float = 10.0) -> bool:
        """Block until every late write is carried out; False if `timeout` seconds passed first."""
        if timeout < 0:
            raise ValueError("timeout must not be negative")
        return self._late.wait(timeout)

    def release_late_writes(self) -> int:
        """Carry out every pending late write now, as if its delay had passed; returns how many."""
        return self._late.release()

    # request log
    def requests(self) -> list[dict[str, Any]]:
        return self._log.list()

    def clear_requests(self) -> None:
        self._log.clear()

    # remote state
    def schedules(self) -> list[dict[str, Any]]:
        return self._state.schedules()

    def put_schedules(self, schedules: Sequence[Mapping[str, Any]], validate: bool = True) -> list[dict[str, Any]]:
        return self._state.put_schedules(schedules, validate=validate)

    def add_schedule(self, schedule: Mapping[str, Any], validate: bool = True) -> dict[str, Any]:
        return self._state.add_schedule(schedule, validate=validate)

    def fail_jobs(self, schedule_id: int, fail: bool = True) -> None:
        self._state.fail_jobs(schedule_id, fail)

    def alerts(self) -> list[dict[str, Any]]:
        return self._state.alerts()

    def put_alerts(self, alerts: Sequence[Mapping[str, Any]], validate: bool = True) -> list[dict[str, Any]]:
        """Replace every data alert (schedules are left as they are); ids kept as `put_schedules` keeps them."""
        return self._state.put_alerts(alerts, validate=validate)

    def add_alert(self, alert: Mapping[str, Any], validate: bool = True) -> dict[str, Any]:
        return self._state.add_alert(alert, validate=validate)

    def fail_alert_jobs(self, alert_id: int, fail: bool = True) -> None:
        """The jobs of this alert (not of a schedule of the same id) end in failure."""
        self._state.fail_jobs(alert_id, fail, ALERTS)

    def jobs(self) -> list[dict[str, Any]]:
        return self._state.jobs()

    # dashboards (AML unames; see `dashboards`)
    def dashboards(self) -> list[dict[str, Any]]:
        """Every dashboard as stored, with its `uname` and `project_id` (null on canvas ones)."""
        return self._state.dashboards()

    def rename_dashboard(self, old_uname: str, new_uname: str, project_id: int | None = None) -> dict[str, Any]:
        """Rename a uname and publish, as AML does: the dashboard gets a NEW id under `new_uname` (its
        filters and widgets new ids, the filters their unames); the old id stays, uname and project
        null, so schedules on it keep pointing at it. `project_id` picks among several projects.
        Returns the new dashboard."""
        return self._state.rename_dashboard(old_uname, new_uname, project_id)

    def add_dashboard(self, dashboard: Mapping[str, Any]) -> dict[str, Any]:
        """Add a dashboard (e.g. one of a second AML project with a uname the first has: the
        ambiguous case). A missing id, filter or widget id is the next free one."""
        return self._state.add_dashboard(dashboard)
