"""Control of a running sandbox: `Control` in-process, and the same over HTTP at `/_sandbox/...`.

A test (or a user's CI) sets up remote state and injects latency, rate limits and failures here. The
HTTP routes are one table (`ROUTES`): the dispatch and the route list `GET /_sandbox` answers with
are both read from it, so a route cannot be served without being listed, or listed without being
served. Who may call the routes (loopback only) is `reconciler.sandbox.http`'s concern.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from reconciler.remote.client.errors import ConfigError
from reconciler.remote.client.rates import parse_rate
from reconciler.sandbox.api import ApiError, Query, Reply, ServerOptions, invalid, one
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

CONTROL_PREFIX = "/_sandbox"

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


MAX_WAIT_SECONDS = 60.0  # the longest a control request may block waiting for late writes


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
        """Extra read-only fields on every schedule, undocumented input ignored; strict input (422 on
        undocumented attributes) follows unless `strict_input` says otherwise."""
        self._settings.server.server_like = _flag("server_like", on)
        self.set_strict_input(on if strict_input is None else strict_input)

    def set_strict_input(self, on: bool) -> None:
        self._settings.server.strict_input = _flag("strict_input", on)

    def set_immutable_source(self, on: bool) -> None:
        self._settings.server.immutable_source = _flag("immutable_source", on)

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

    def jobs(self) -> list[dict[str, Any]]:
        return self._state.jobs()


# ---- the HTTP routes ----


@dataclass(frozen=True)
class _Request:
    data: Any  # the JSON body; None when there is none
    validate: bool  # False with ?validate=false: schedules are stored as sent


Handler = Callable[[Control, _Request], Reply]


@dataclass(frozen=True)
class Route:
    """One control route: served by the dispatch and shown in the route list, both from `ROUTES`."""

    method: str
    path: str  # after /_sandbox
    run: Handler
    body: str = ""  # what the request carries, as the route list shows it
    aliases: tuple[str, ...] = ()  # further methods answered alike, not listed

    def listing(self) -> str:
        return " ".join(part for part in (self.method, CONTROL_PREFIX + self.path, self.body) if part)


def _showing(key: str, read: Callable[[Control], list[dict[str, Any]]]) -> Handler:
    return lambda control, request: Reply(200, {key: read(control)})


def _clearing(clear: Callable[[Control], None], message: str) -> Handler:
    def run(control: Control, request: _Request) -> Reply:
        clear(control)
        return Reply(200, {"message": message})

    return run


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


def _set_rate_limit(control: Control, value: Any) -> None:
    limit = parse_rate_limit(value)
    if limit is None:
        control.set_rate_limit(None)
    else:
        control.set_rate_limit(*limit)


# applied in this order: a bad value stops there, and the settings before it stay applied
_SETTERS: dict[str, Callable[[Control, Any], None]] = {
    "latency_ms": lambda control, value: control.set_latency(int(value)),
    "rate_limit": _set_rate_limit,
    "retry_after": lambda control, value: control.set_retry_after_format(value),
    "error_shape": lambda control, value: control.set_error_shape(value),
    # server_like sets strict_input too, so strict_input comes after it
    "server_like": lambda control, value: control.set_server_like(value),
    "strict_input": lambda control, value: control.set_strict_input(value),
    "immutable_source": lambda control, value: control.set_immutable_source(value),
}


def _show_config(control: Control, request: _Request) -> Reply:
    return Reply(200, control.config())


def _set_config(control: Control, request: _Request) -> Reply:
    data = request.data
    if not isinstance(data, dict):
        raise invalid("expected a JSON object of settings")
    unknown = set(data) - set(_SETTERS)
    if unknown:
        raise invalid(f"unknown settings: {', '.join(sorted(unknown))}")
    for name, setter in _SETTERS.items():
        if name in data:
            setter(control, data[name])
    return Reply(200, control.config())


def _add_fault(control: Control, request: _Request) -> Reply:
    if not isinstance(request.data, dict):
        raise invalid("expected a JSON object describing the fault")
    return Reply(201, {"fault": control.register_fault(request.data).to_dict()})


def _wait_for_late_writes(control: Control, request: _Request) -> Reply:
    data = request.data if request.data is not None else {}
    if not isinstance(data, dict) or set(data) - {"timeout_seconds"}:
        raise invalid('expected {"timeout_seconds": S} or no body')
    timeout = data.get("timeout_seconds", 10)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 <= timeout <= MAX_WAIT_SECONDS:
        raise invalid(f"timeout_seconds must be a number from 0 to {MAX_WAIT_SECONDS:g}")
    if not control.wait_for_late_writes(float(timeout)):
        message = f"late writes still pending after {timeout} seconds"
        return Reply(408, {"type": "TimeoutError", "message": message, "late_writes": control.late_writes()})
    return Reply(200, {"late_writes": control.late_writes()})


def _release_late_writes(control: Control, request: _Request) -> Reply:
    released = control.release_late_writes()
    return Reply(200, {"released": released, "late_writes": control.late_writes()})


def _as_the_yaml_reads(item: Any) -> Any:
    """A schedule written as in the tool's YAML, with the default the YAML gives (`schedule.paused`
    false), so an entry copied from a schedule file is stored as apply would create it."""
    if isinstance(item, dict) and isinstance(item.get("schedule"), dict) and "paused" not in item["schedule"]:
        return {**item, "schedule": {**item["schedule"], "paused": False}}
    return item


def _put_state(control: Control, request: _Request) -> Reply:
    data = request.data
    items = data.get("data_schedules") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise invalid('expected {"data_schedules": [...]} or a list of schedules')
    items = [_as_the_yaml_reads(item) for item in items]
    return Reply(200, {"data_schedules": control.put_schedules(items, validate=request.validate)})


def _add_schedule(control: Control, request: _Request) -> Reply:
    data = request.data
    item = data.get("data_schedule", data) if isinstance(data, dict) else None
    if not isinstance(item, dict):
        raise invalid("expected a data schedule object")
    return Reply(201, {"data_schedule": control.add_schedule(_as_the_yaml_reads(item), validate=request.validate)})


def _fail_jobs(control: Control, request: _Request) -> Reply:
    data = request.data
    if not isinstance(data, dict) or not isinstance(data.get("schedule_id"), int):
        raise invalid('expected {"schedule_id": N, "fail": true}')
    control.fail_jobs(data["schedule_id"], bool(data.get("fail", True)))
    return Reply(200, {"message": "ok"})


_CONFIG_BODY = (
    "{latency_ms, rate_limit: {count, window_seconds} | 'N/S' | null, "
    "retry_after: seconds|http-date, error_shape: flat|wrapped, "
    "server_like: bool, strict_input: bool, immutable_source: bool}"
)

ROUTES = (
    Route("GET", "/config", _show_config),
    Route("PUT", "/config", _set_config, _CONFIG_BODY, aliases=("PATCH", "POST")),
    Route("GET", "/faults", _showing("faults", Control.faults)),
    Route("POST", "/faults", _add_fault, "{method, path, status, drop, when: before|after|late, count, delay_ms}"),
    Route("DELETE", "/faults", _clearing(Control.clear_faults, "faults cleared")),
    Route("GET", "/late_writes", _showing("late_writes", Control.late_writes)),
    Route("POST", "/late_writes/wait", _wait_for_late_writes, "{timeout_seconds} (blocks until none is pending)"),
    Route("POST", "/late_writes/release", _release_late_writes),
    Route("GET", "/requests", _showing("requests", Control.requests)),
    Route("DELETE", "/requests", _clearing(Control.clear_requests, "request log cleared")),
    Route("GET", "/state", _showing("data_schedules", Control.schedules)),
    Route("PUT", "/state", _put_state, "{data_schedules: [...]} (?validate=false to skip validation)"),
    Route("POST", "/schedules", _add_schedule, "{data_schedule}"),
    Route("GET", "/jobs", _showing("jobs", Control.jobs)),
    Route("POST", "/jobs/fail", _fail_jobs, "{schedule_id, fail: true|false}"),
)

# what `GET /_sandbox` answers with
CONTROL_ROUTES = [route.listing() for route in ROUTES]

_BY_REQUEST = {(method, route.path): route for route in ROUTES for method in (route.method, *route.aliases)}


def reply_to(control: Control, method: str, path: str, query: Query, raw: bytes) -> Reply:
    """The reply to one control request (`path` with its /_sandbox prefix). A request that cannot be
    carried out is a 400 that says why: the caller is a test, which needs to see it."""
    try:
        return _dispatch(control, method, path[len(CONTROL_PREFIX) :].rstrip("/"), query, raw)
    except ApiError as exc:
        return exc.reply()
    except (ValueError, TypeError, KeyError) as exc:
        return invalid(str(exc)).reply()


def _dispatch(control: Control, method: str, sub: str, query: Query, raw: bytes) -> Reply:
    data: Any = None
    if raw.strip():
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise invalid("Request body is not valid JSON") from None
    request = _Request(data, validate=(one(query, "validate") or "true").lower() != "false")
    if (method, sub) == ("GET", ""):
        return Reply(200, {"routes": CONTROL_ROUTES})
    route = _BY_REQUEST.get((method, sub))
    if route is None:
        raise ApiError(404, "BaseError", f"No control route {method} {CONTROL_PREFIX}{sub}")
    return route.run(control, request)
