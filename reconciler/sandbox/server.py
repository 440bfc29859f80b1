"""A local stand-in for the Holistics API v2: a real HTTP server on loopback, with faults on demand.

Routes, fields, status codes and error bodies follow the official OpenAPI spec (through
`reconciler.spec`). Beside `/api/v2` it serves a control endpoint, `/_sandbox/...`, through which a
test (or a user's CI) sets up remote state and injects latency, rate limits and failures; the same
abilities are on `Sandbox.control` in-process. Control requests need no key, are only answered to
loopback clients, and are neither rate limited nor recorded in the request log.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import contextlib
import copy
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, get_args
from urllib.parse import parse_qs, urlsplit

from reconciler import spec
from reconciler.sandbox.faults import (
    HOLISTICS_RATE_LIMIT,
    Fault,
    Faults,
    RateLimiter,
    RequestLog,
    When,
    retry_after_seconds,
)
from reconciler.sandbox.seed import SeedArg, load_seed
from reconciler.sandbox.state import NotFound, RecordInvalid, State

API_PREFIX = "/api/v2"
CONTROL_PREFIX = "/_sandbox"
DEFAULT_KEY = "sandbox-key"
DEFAULT_PORT = 8765
REDACTED = "[redacted]"

ErrorShape = Literal["flat", "wrapped"]
RetryAfterFormat = Literal["seconds", "http-date"]

logger = logging.getLogger("reconciler.sandbox")

# the error `type` a status answers with when a fault forces it
_FAULT_ERROR_TYPES = {
    400: "InvalidParameterError",
    401: "AuthError",
    403: "PermissionDeniedError",
    422: "InvalidOperationError",
    429: "RateLimitExceedError",
    503: "MaintenanceError",
}


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        record: dict[str, list[str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.record = record
        self.headers = headers or {}

    def reply(self) -> Reply:
        body: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.record is not None:
            body["record"] = self.record
        return Reply(self.status, body, dict(self.headers), error=True)


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    error: bool = False


def _fault_error(status: int) -> ApiError:
    type_ = _FAULT_ERROR_TYPES.get(status, "InternalHolisticsError" if status >= 500 else "BaseError")
    headers = {"Retry-After": "1"} if status == 429 else {}
    return ApiError(status, type_, f"Sandbox fault: forced {status} response", headers=headers)


def _invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameterError", message)


# ---- settings and the control handle ----


@dataclass
class Settings:
    latency_ms: int = 0
    rate_limiter: RateLimiter | None = None
    retry_after: RetryAfterFormat = "seconds"
    error_shape: ErrorShape = "flat"


def _parse_rate_limit(value: Any) -> tuple[int, float] | None:
    """None, (count, seconds), {"count", "window_seconds"} or "N/S" (e.g. "120/60"; "N" means per minute)."""
    if value is None:
        return None
    if isinstance(value, str):
        count, _, window = value.partition("/")
        try:
            return int(count), float(window or 60)
        except ValueError:
            raise ValueError(f"rate limit must look like N/S (e.g. 120/60), got {value!r}") from None
    if isinstance(value, Mapping):
        return int(value["count"]), float(value.get("window_seconds", 60))
    if isinstance(value, Sequence) and len(value) == 2:
        return int(value[0]), float(value[1])
    raise ValueError(f"cannot read a rate limit from {value!r}")


class Control:
    """In-process control of a running sandbox; `/_sandbox/...` offers the same over HTTP."""

    def __init__(self, state: State, faults: Faults, log: RequestLog, settings: Settings) -> None:
        self._state = state
        self._faults = faults
        self._log = log
        self._settings = settings

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

    def config(self) -> dict[str, Any]:
        limiter = self._settings.rate_limiter
        return {
            "latency_ms": self._settings.latency_ms,
            "rate_limit": None if limiter is None else {"count": limiter.count, "window_seconds": limiter.window},
            "retry_after": self._settings.retry_after,
            "error_shape": self._settings.error_shape,
        }

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

    def clear_faults(self) -> None:
        self._faults.clear()

    def faults(self) -> list[dict[str, Any]]:
        return self._faults.list()

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


# ---- the API ----


def _list_param_enum(name: str) -> tuple[str, ...]:
    for param in spec.subset()["paths"]["/data_schedules"]["get"]["parameters"]:
        if param.get("name") == name:
            return tuple(param["schema"]["enum"])
    return ()


def _sort_key(state: State, field_name: str) -> Callable[[dict[str, Any]], list[Any]]:
    # every key ends in the id, so the order is total and a cursor names one position
    keys: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
        "id": lambda s: [s["id"]],
        "title": lambda s: [(s.get("title") or "").lower(), s["id"]],
        "destination": lambda s: [str((s.get("dest") or {}).get("type")), s["id"]],
        "source_title": lambda s: [state.source_title(s).lower(), s["id"]],
    }
    return keys[field_name]


SUPPORTED_SORT_FIELDS = ("id", "title", "destination", "source_title")


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, like: list[Any]) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _invalid("Invalid cursor") from None
    if not (
        isinstance(key, list)
        and len(key) == len(like)
        and all(type(a) is type(b) for a, b in zip(key, like, strict=True))
    ):
        raise _invalid("Invalid cursor (it belongs to another sort order)")
    return key


def _one(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _int_param(query: Mapping[str, list[str]], name: str, low: int, high: int | None = None) -> int | None:
    raw = _one(query, name)
    if raw is None:
        return None
    bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
    if not re.fullmatch(r"[+-]?\d+", raw.strip()):
        raise _invalid(f"Invalid parameter {name}: must be an integer {bounds}")
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise _invalid(f"Invalid parameter {name}: must be an integer {bounds}")
    return value


def _path_id(raw: str) -> int:
    if not re.fullmatch(r"\d+", raw):
        raise _invalid(f"Invalid parameter id: must be an integer, got {raw!r}")
    return int(raw)


def _schedule_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise _invalid("Missing parameter: data_schedule")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("Request body is not valid JSON") from None
    if not isinstance(data, dict) or "data_schedule" not in data:
        raise _invalid("Missing parameter: data_schedule")
    body = data["data_schedule"]
    if not isinstance(body, dict):
        raise _invalid("Invalid parameter data_schedule: must be an object")
    return body


class Api:
    """The `/api/v2` routes; `handle` answers one authenticated request."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._list_cache: tuple[Any, ...] | None = None
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Reply]]] = [
            ("GET", re.compile(r"/data_schedules"), self.list_schedules),
            ("POST", re.compile(r"/data_schedules"), self.create_schedule),
            ("GET", re.compile(r"/data_schedules/([^/]+)"), self.get_schedule),
            ("PUT", re.compile(r"/data_schedules/([^/]+)"), self.update_schedule),
            ("DELETE", re.compile(r"/data_schedules/([^/]+)"), self.delete_schedule),
            ("POST", re.compile(r"/data_schedules/([^/]+)/submit_execute"), self.submit_execute),
            ("GET", re.compile(r"/jobs/([^/]+)"), self.get_job),
            ("GET", re.compile(r"/jobs/([^/]+)/logs"), self.get_job_logs),
            ("GET", re.compile(r"/dashboards/([^/]+)"), self.get_dashboard),
            ("GET", re.compile(r"/query_reports/([^/]+)"), self.get_query_report),
        ]

    def handle(self, method: str, path: str, query: Mapping[str, list[str]], body: bytes) -> Reply:
        path = path.rstrip("/") or "/"
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                try:
                    return handler(*match.groups(), query=query, body=body)
                except NotFound as exc:
                    raise ApiError(404, "BaseError", str(exc)) from None
                except RecordInvalid as exc:
                    raise ApiError(422, "RecordError", str(exc), record=exc.record) from None
        raise ApiError(404, "BaseError", f"No route matches {method} {API_PREFIX}{path}")

    # data schedules

    def _ordered(
        self, snapshot: list[dict[str, Any]], params: tuple[Any, ...]
    ) -> tuple[list[dict[str, Any]], list[list[Any]]]:
        """The filtered, sorted schedules and their sort keys, computed once per state and query:
        paging through N schedules must not sort all N again for every page."""
        cached = self._list_cache
        if cached is not None and cached[0] is snapshot and cached[1] == params:
            return cached[2], cached[3]
        source_type, source_id, dest_type, term, sort = params
        items = list(snapshot)
        if source_type is not None:
            items = [s for s in items if s["source_type"] == source_type]
        if source_id is not None:
            items = [s for s in items if s["source_id"] == source_id]
        if dest_type is not None:
            items = [s for s in items if (s.get("dest") or {}).get("type") == dest_type]
        if term:
            items = [s for s in items if term.lower() in (s.get("title") or "").lower()]
        field_name, _, direction = sort.rpartition("_")
        key = _sort_key(self.state, field_name)
        items.sort(key=key, reverse=direction == "desc")
        keys = [key(s) for s in items]
        self._list_cache = (snapshot, params, items, keys)
        return items, keys

    def list_schedules(self, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        limit = _int_param(query, "limit", 1, 100) or 20
        page = _int_param(query, "page", 1)
        sort = _one(query, "sort") or "id_asc"
        if sort not in _list_param_enum("sort"):
            raise _invalid(f"Invalid parameter sort: must be one of {', '.join(_list_param_enum('sort'))}")
        field_name, _, direction = sort.rpartition("_")
        if field_name not in SUPPORTED_SORT_FIELDS:
            raise _invalid(f"sort={sort} is valid for Holistics but not supported by the sandbox")
        desc = direction == "desc"

        source_type = _one(query, "source_type")
        if source_type is not None and source_type not in _list_param_enum("source_type"):
            raise _invalid(f"Invalid parameter source_type: {source_type!r}")
        source_id = _int_param(query, "source_id", 0)
        dest_type = _one(query, "dest_type")
        # the filter's enum leaves out GsheetDest, yet schedules have it: accept both lists
        if dest_type is not None and dest_type not in {*_list_param_enum("dest_type"), *spec.dest_branches()}:
            raise _invalid(f"Invalid parameter dest_type: {dest_type!r}")
        term = _one(query, "search_term")
        # creator_roles: every sandbox schedule was made by the key's (admin) user, so it filters nothing
        items, keys = self._ordered(self.state.snapshot(), (source_type, source_id, dest_type, term, sort))

        def later(a: list[Any], b: list[Any]) -> bool:  # a comes after b in this order
            return a < b if desc else a > b

        if page is not None:  # offset paging wins over cursors, as the spec says
            start = (page - 1) * limit
            end = min(start + limit, len(items))
        else:
            after, before = _one(query, "after"), _one(query, "before")
            low, high = 0, len(items)
            if after:
                boundary = decode_cursor(after, keys[0] if keys else [])
                # keys are in order, so "comes after the cursor" is False...False True...True
                low = bisect.bisect_left(keys, True, key=lambda k: later(k, boundary))
            if before:
                boundary = decode_cursor(before, keys[0] if keys else [])
                high = bisect.bisect_left(keys, True, key=lambda k: not later(boundary, k))
            if before and not after:  # the page just before the cursor
                start, end = max(low, high - limit), high
            else:
                start, end = low, min(high, low + limit)
        window = [copy.deepcopy(s) for s in items[start:end]] if start < end else []
        cursors = {
            "previous": encode_cursor(keys[start]) if window and start > 0 else None,
            "next": encode_cursor(keys[end - 1]) if window and end < len(items) else None,
        }
        return Reply(200, {"data_schedules": window, "total_count": len(items), "cursors": cursors})

    def create_schedule(self, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        created = self.state.create(_schedule_body(body))
        return Reply(201, {"data_schedule": created})

    def get_schedule(self, ident: str, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        return Reply(200, {"data_schedule": self.state.get_schedule(_path_id(ident))})

    def update_schedule(self, ident: str, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        schedule_id = _path_id(ident)
        self.state.get_schedule(schedule_id)  # an unknown id is 404 whatever the body
        return Reply(200, {"data_schedule": self.state.replace(schedule_id, _schedule_body(body))})

    def delete_schedule(self, ident: str, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        schedule_id = _path_id(ident)
        self.state.delete(schedule_id)
        return Reply(200, {"message": f"Data schedule {schedule_id} deleted"})

    def submit_execute(self, ident: str, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        return Reply(200, {"job": self.state.submit_execute(_path_id(ident))})

    # jobs

    def get_job(self, ident: str, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        job = self.state.advance_job(_path_id(ident))
        if (_one(query, "include_source") or "").lower() != "true":
            job["source"] = None
        return Reply(200, {"job": job})

    def get_job_logs(self, ident: str, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        return Reply(200, {"job_logs": self.state.job_logs(_path_id(ident))})

    # sources

    def get_dashboard(self, ident: str, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        dashboard = self.state.dashboard(_path_id(ident))
        if dashboard is None:
            raise NotFound("Dashboard", ident)
        return Reply(200, {"dashboard": dashboard})

    def get_query_report(self, ident: str, *, query: Mapping[str, list[str]], body: bytes) -> Reply:
        report = self.state.query_report(_path_id(ident))
        if report is None:
            raise NotFound("QueryReport", ident)
        return Reply(200, {"query_report": report})


# ---- the HTTP server ----


@dataclass
class _Exchange:
    """One request as the handler read it, and how to answer it."""

    method: str
    path: str
    query: dict[str, list[str]]
    key: str  # the X-Holistics-Key header as sent ("" when absent)
    body: bytes
    client: str
    send: Callable[[Reply], None]
    drop: Callable[[], None]


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class _App:
    """What the handler threads share: state, settings, faults, and the request flow."""

    def __init__(
        self,
        key: str,
        state: State,
        settings: Settings,
        faults: Faults,
        log: RequestLog,
        echo: Callable[[str], None] | None,
    ) -> None:
        self.key = key
        self.state = state
        self.settings = settings
        self.faults = faults
        self.log = log
        self.echo = echo
        self.api = Api(state)
        self.control = Control(state, faults, log, settings)

    def shape(self, reply: Reply) -> Reply:
        if not reply.error:
            return reply
        # a validation message may quote what the client sent; the key never goes back out
        body = self._scrub(reply.body)
        if self.settings.error_shape == "wrapped":
            body = {"error": {**body, "debug_id": uuid.uuid4().hex}}
        return Reply(reply.status, body, reply.headers, error=True)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(self.key, REDACTED)
        if isinstance(value, dict):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def _redact(self, query: Mapping[str, list[str]]) -> dict[str, str]:
        return {k: REDACTED if v[-1] == self.key else v[-1] for k, v in query.items() if v}

    def serve_api(self, ex: _Exchange) -> None:
        inside = ex.path == API_PREFIX or ex.path.startswith(API_PREFIX + "/")
        path = (ex.path[len(API_PREFIX) :] or "/") if inside else ex.path
        entry: dict[str, Any] = {"method": ex.method, "path": path, "query": self._redact(ex.query), "status": None}

        def finish(reply: Reply, delay_ms: int = 0) -> None:
            # recorded before the answer goes out, so a client that has its answer sees it in the log
            entry["status"] = reply.status
            self.log.append(entry)
            if self.echo is not None:
                self.echo(f"{ex.method} {ex.path} -> {reply.status}")
            if delay_ms:
                time.sleep(delay_ms / 1000)
            ex.send(self.shape(reply))

        def cut(delay_ms: int) -> None:
            self.log.append(entry)
            if self.echo is not None:
                self.echo(f"{ex.method} {ex.path} -> connection dropped")
            if delay_ms:
                time.sleep(delay_ms / 1000)
            ex.drop()

        if self.settings.latency_ms:
            time.sleep(self.settings.latency_ms / 1000)
        if not inside:
            finish(ApiError(404, "BaseError", f"No route matches {ex.method} {ex.path}").reply())
            return
        if not hmac.compare_digest(ex.key.encode(), self.key.encode()):
            # never echo what was sent: it may be someone's real key
            finish(ApiError(401, "AuthError", "Invalid or missing API key (X-Holistics-Key)").reply())
            return
        limiter = self.settings.rate_limiter
        wait = limiter.acquire() if limiter is not None else None
        if wait is not None and limiter is not None:
            seconds = retry_after_seconds(wait)
            header = (
                formatdate(time.time() + seconds, usegmt=True)
                if self.settings.retry_after == "http-date"
                else str(seconds)
            )
            message = (
                f"Rate limit exceeded: {limiter.count} requests per {limiter.window:g} seconds; "
                f"retry after {seconds} seconds"
            )
            finish(ApiError(429, "RateLimitExceedError", message, headers={"Retry-After": header}).reply())
            return

        def answered_by(fault: Fault | None) -> bool:
            """Answer (or hang up) as the fault says; False when there is none or it only delays."""
            if fault is not None and fault.drop:
                cut(fault.delay_ms)
                return True
            if fault is not None and fault.status is not None:
                finish(_fault_error(fault.status).reply(), fault.delay_ms)
                return True
            return False

        fault = self.faults.take(ex.method, path, "before")
        if answered_by(fault):
            return
        if fault is not None:
            time.sleep(fault.delay_ms / 1000)  # a slow server, which then does the work
        try:
            reply = self.api.handle(ex.method, path, ex.query, ex.body)
        except ApiError as exc:
            reply = exc.reply()
        fault = self.faults.take(ex.method, path, "after")
        # after: the work is done and stored; the client just never learns it
        if answered_by(fault):
            return
        finish(reply, fault.delay_ms if fault is not None else 0)

    # ---- /_sandbox ----

    def serve_control(self, ex: _Exchange) -> None:
        if not _is_loopback(ex.client):
            ex.send(ApiError(403, "PermissionDeniedError", "The sandbox control endpoint is loopback only").reply())
            return
        try:
            reply = self._control(ex.method, ex.path[len(CONTROL_PREFIX) :].rstrip("/"), ex.query, ex.body)
        except ApiError as exc:
            reply = exc.reply()
        except (ValueError, TypeError, KeyError) as exc:
            reply = _invalid(str(exc)).reply()
        ex.send(reply)

    def _control(self, method: str, sub: str, query: Mapping[str, list[str]], raw: bytes) -> Reply:
        control = self.control
        data: Any = None
        if raw.strip():
            try:
                data = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise _invalid("Request body is not valid JSON") from None
        validate = (_one(query, "validate") or "true").lower() != "false"
        match method, sub:
            case "GET", "":
                return Reply(200, {"routes": CONTROL_ROUTES})
            case "GET", "/config":
                return Reply(200, control.config())
            case (("PUT" | "PATCH" | "POST"), "/config"):
                if not isinstance(data, dict):
                    raise _invalid("expected a JSON object of settings")
                unknown = set(data) - {"latency_ms", "rate_limit", "retry_after", "error_shape"}
                if unknown:
                    raise _invalid(f"unknown settings: {', '.join(sorted(unknown))}")
                if "latency_ms" in data:
                    control.set_latency(int(data["latency_ms"]))
                if "rate_limit" in data:
                    limit = _parse_rate_limit(data["rate_limit"])
                    if limit is None:
                        control.set_rate_limit(None)
                    else:
                        control.set_rate_limit(*limit)
                if "retry_after" in data:
                    control.set_retry_after_format(data["retry_after"])
                if "error_shape" in data:
                    control.set_error_shape(data["error_shape"])
                return Reply(200, control.config())
            case "GET", "/faults":
                return Reply(200, {"faults": control.faults()})
            case "POST", "/faults":
                if not isinstance(data, dict):
                    raise _invalid("expected a JSON object describing the fault")
                return Reply(201, {"fault": self.faults.add(Fault.from_dict(data)).to_dict()})
            case "DELETE", "/faults":
                control.clear_faults()
                return Reply(200, {"message": "faults cleared"})
            case "GET", "/requests":
                return Reply(200, {"requests": control.requests()})
            case "DELETE", "/requests":
                control.clear_requests()
                return Reply(200, {"message": "request log cleared"})
            case "GET", "/state":
                return Reply(200, {"data_schedules": control.schedules()})
            case "PUT", "/state":
                items = data.get("data_schedules") if isinstance(data, dict) else data
                if not isinstance(items, list):
                    raise _invalid('expected {"data_schedules": [...]} or a list of schedules')
                return Reply(200, {"data_schedules": control.put_schedules(items, validate=validate)})
            case "POST", "/schedules":
                item = data.get("data_schedule", data) if isinstance(data, dict) else None
                if not isinstance(item, dict):
                    raise _invalid("expected a data schedule object")
                return Reply(201, {"data_schedule": control.add_schedule(item, validate=validate)})
            case "GET", "/jobs":
                return Reply(200, {"jobs": control.jobs()})
            case "POST", "/jobs/fail":
                if not isinstance(data, dict) or not isinstance(data.get("schedule_id"), int):
                    raise _invalid('expected {"schedule_id": N, "fail": true}')
                control.fail_jobs(data["schedule_id"], bool(data.get("fail", True)))
                return Reply(200, {"message": "ok"})
        raise ApiError(404, "BaseError", f"No control route {method} {CONTROL_PREFIX}{sub}")


CONTROL_ROUTES = [
    "GET /_sandbox/config",
    "PUT /_sandbox/config {latency_ms, rate_limit: {count, window_seconds} | 'N/S' | null, "
    "retry_after: seconds|http-date, error_shape: flat|wrapped}",
    "GET /_sandbox/faults",
    "POST /_sandbox/faults {method, path, status, drop, when: before|after, count, delay_ms}",
    "DELETE /_sandbox/faults",
    "GET /_sandbox/requests",
    "DELETE /_sandbox/requests",
    "GET /_sandbox/state",
    "PUT /_sandbox/state {data_schedules: [...]} (?validate=false to skip validation)",
    "POST /_sandbox/schedules {data_schedule}",
    "GET /_sandbox/jobs",
    "POST /_sandbox/jobs/fail {schedule_id, fail: true|false}",
]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # don't join handler threads on close: a keep-alive client or a sleeping fault would block stop()
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: _App) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._open_lock:
            (self._open.add if open_ else self._open.discard)(conn)

    def close_connections(self) -> None:
        """Cut open keep-alive connections, so a stopped sandbox really stops answering."""
        with self._open_lock:
            conns, self._open = list(self._open), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "HolisticsSandbox/1"
    sys_version = ""
    timeout = 120  # idle keep-alive connections end eventually

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes; without this, Nagle's algorithm holds the body until
        # the client's delayed ACK (~40 ms a request on loopback)
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        # the stdlib writes every request line to stderr; the sandbox reports through its own echo
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        exchange = _Exchange(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            key=self.headers.get("X-Holistics-Key") or "",
            body=self.rfile.read(length) if length > 0 else b"",
            client=str(self.client_address[0]),
            send=self._send,
            drop=self._drop,
        )
        app = self.server.app
        try:
            if split.path == CONTROL_PREFIX or split.path.startswith(CONTROL_PREFIX + "/"):
                app.serve_control(exchange)
            else:
                app.serve_api(exchange)
        except Exception:
            logger.exception("sandbox: unhandled error on %s %s", self.command, split.path)
            self._send(ApiError(500, "InternalHolisticsError", "Internal error in the sandbox").reply())

    def _send(self, reply: Reply) -> None:
        payload = json.dumps(reply.body, ensure_ascii=False).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (a timeout test); nothing to tell it

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


# ---- the public handle ----


class Sandbox:
    """A Holistics API v2 sandbox on loopback.

    >>> with Sandbox(seed="example") as sb:
    ...     requests.get(f"{sb.base_url}/data_schedules", headers={"X-Holistics-Key": sb.key})
    """

    def __init__(
        self,
        key: str = DEFAULT_KEY,
        seed: SeedArg = "example",
        state_file: str | Path | None = None,
        latency_ms: int = 0,
        rate_limit: tuple[int, float] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        retry_after: RetryAfterFormat = "seconds",
        error_shape: ErrorShape = "flat",
        faults: Sequence[Fault | Mapping[str, Any]] = (),
        echo: Callable[[str], None] | None = None,
    ) -> None:
        if not key:
            raise ValueError("the sandbox needs a non-empty key")
        self.key = key
        self.host = host
        self._port = port
        state = State(load_seed(seed), Path(state_file) if state_file is not None else None)
        self._app = _App(key, state, Settings(), Faults(), RequestLog(), echo)
        self.control = self._app.control
        self.control.set_latency(latency_ms)
        if rate_limit is not None:
            self.control.set_rate_limit(*rate_limit)
        self.control.set_retry_after_format(retry_after)
        self.control.set_error_shape(error_shape)
        for fault in faults:
            self._app.faults.add(fault if isinstance(fault, Fault) else Fault.from_dict(fault))
        self._server: _Server | None = None
        self._bound_port: int | None = None
        self._thread: threading.Thread | None = None

    # addresses

    @property
    def port(self) -> int:
        """The bound port (still known after stop(), so a test can show where it was)."""
        if self._bound_port is None:
            raise RuntimeError("the sandbox is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def control_url(self) -> str:
        return self.url + CONTROL_PREFIX

    # lifecycle

    def _bind(self) -> _Server:
        if self._server is None:
            self._server = _Server((self.host, self._port), self._app)
            self._bound_port = int(self._server.server_address[1])
        return self._server

    def start(self) -> Sandbox:
        """Serve in a background thread; returns self."""
        if self._thread is not None:
            return self
        server = self._bind()
        # a short poll keeps stop() quick: shutdown() waits for the loop to notice
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="holistics-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C raises KeyboardInterrupt out of here)."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.close_connections()
            server.server_close()
            self._server = None

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join()
        server.close_connections()
        server.server_close()
        self._server, self._thread = None, None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# ---- command line ----


def serve(
    port: int = DEFAULT_PORT,
    seed: SeedArg = "example",
    key: str | None = None,
    state: str | Path | None = None,
    latency_ms: int = 0,
    rate_limit: str | tuple[int, float] | None = None,
    echo: Callable[[str], None] = print,
    host: str = "127.0.0.1",
) -> None:
    """Run a sandbox in the foreground until Ctrl-C (what `holistics-schedules sandbox` calls)."""
    sandbox = Sandbox(
        key=key or DEFAULT_KEY,
        seed=seed,
        state_file=state,
        latency_ms=latency_ms,
        rate_limit=_parse_rate_limit(rate_limit),
        host=host,
        port=port,
        echo=echo,
    )
    sandbox._bind()
    echo(f"Holistics API sandbox at {sandbox.base_url}")
    # the banner shows the key so the user can configure a client; request lines never carry it
    echo(f"  key:     {sandbox.key}  (header X-Holistics-Key)")
    echo(f"  control: {sandbox.control_url}")
    if state:
        echo(f"  state:   {state}")
    echo("Press Ctrl-C to stop.")
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        echo("Sandbox stopped.")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox", description="Run a local Holistics API v2 sandbox.")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: any)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--seed", default="example", help="example (default), empty, or a JSON file")
    parser.add_argument("--key", default=None, help=f"API key clients must send (default {DEFAULT_KEY})")
    parser.add_argument("--state", default=None, help="JSON file to keep the state in across restarts")
    parser.add_argument("--latency-ms", type=int, default=0, help="delay every API request by N ms")
    parser.add_argument("--rate-limit", default=None, metavar="N/S", help="N requests per S seconds, e.g. 120/60")
    args = parser.parse_args(argv)
    try:
        serve(args.port, args.seed, args.key, args.state, args.latency_ms, args.rate_limit, host=args.host)
    except (ValueError, OSError) as exc:
        parser.exit(2, f"sandbox: {exc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
