"""Control of a running sandbox over HTTP, at `/_sandbox/...`: what `Control` offers in-process.

The HTTP routes are one table (`ROUTES`): the dispatch and the route list `GET /_sandbox` answers with
are both read from it, so a route cannot be served without being listed, or listed without being
served. Who may call the routes (loopback only) is `reconciler.sandbox.http`'s concern.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.control import Control, parse_rate_limit
from reconciler.sandbox.replies import ApiError, Query, Reply, invalid, one

CONTROL_PREFIX = "/_sandbox"
MAX_WAIT_SECONDS = 60.0  # the longest a control request may block waiting for late writes


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
    "list_metadata": lambda control, value: control.set_list_metadata(value),
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
    """A schedule or alert written as in the tool's YAML, with the defaults the YAML gives
    (`schedule.paused` false; an alert's `dynamic_filter_presets` none), so an entry copied from a
    schedule file is stored as apply would create it."""
    if isinstance(item, dict) and isinstance(item.get("schedule"), dict) and "paused" not in item["schedule"]:
        item = {**item, "schedule": {**item["schedule"], "paused": False}}
    return item


def _as_the_yaml_reads_alert(item: Any) -> Any:
    item = _as_the_yaml_reads(item)
    if isinstance(item, dict) and "dynamic_filter_presets" not in item:
        item = {**item, "dynamic_filter_presets": []}
    return item


def _items(data: Any, key: str) -> Any:
    return data.get(key) if isinstance(data, dict) else data


def _put_state(control: Control, request: _Request) -> Reply:
    """Every schedule replaced, and every alert too when the body has `data_alerts`."""
    data = request.data
    items = _items(data, "data_schedules")
    if not isinstance(items, list):
        raise invalid('expected {"data_schedules": [...]} or a list of schedules')
    alerts = data.get("data_alerts") if isinstance(data, dict) else None
    if alerts is not None and not isinstance(alerts, list):
        raise invalid("data_alerts must be a list of alerts")
    body = {"data_schedules": control.put_schedules([_as_the_yaml_reads(i) for i in items], validate=request.validate)}
    if alerts is not None:
        body["data_alerts"] = control.put_alerts(
            [_as_the_yaml_reads_alert(i) for i in alerts], validate=request.validate
        )
    return Reply(200, body)


def _put_alerts(control: Control, request: _Request) -> Reply:
    items = _items(request.data, "data_alerts")
    if not isinstance(items, list):
        raise invalid('expected {"data_alerts": [...]} or a list of alerts')
    stored = control.put_alerts([_as_the_yaml_reads_alert(i) for i in items], validate=request.validate)
    return Reply(200, {"data_alerts": stored})


def _one_item(data: Any, wrapper: str) -> dict[str, Any]:
    item = data.get(wrapper, data) if isinstance(data, dict) else None
    if not isinstance(item, dict):
        raise invalid(f"expected a {wrapper.replace('_', ' ')} object")
    return item


def _add_schedule(control: Control, request: _Request) -> Reply:
    item = _as_the_yaml_reads(_one_item(request.data, "data_schedule"))
    return Reply(201, {"data_schedule": control.add_schedule(item, validate=request.validate)})


def _add_alert(control: Control, request: _Request) -> Reply:
    item = _as_the_yaml_reads_alert(_one_item(request.data, "data_alert"))
    return Reply(201, {"data_alert": control.add_alert(item, validate=request.validate)})


def _fail_jobs(control: Control, request: _Request) -> Reply:
    data = request.data
    if isinstance(data, dict) and isinstance(data.get("alert_id"), int) and "schedule_id" not in data:
        control.fail_alert_jobs(data["alert_id"], bool(data.get("fail", True)))
        return Reply(200, {"message": "ok"})
    if not isinstance(data, dict) or not isinstance(data.get("schedule_id"), int):
        raise invalid('expected {"schedule_id": N, "fail": true} or {"alert_id": N, "fail": true}')
    control.fail_jobs(data["schedule_id"], bool(data.get("fail", True)))
    return Reply(200, {"message": "ok"})


def _rename_dashboard(control: Control, request: _Request) -> Reply:
    data = request.data
    if not isinstance(data, dict) or not isinstance(data.get("from"), str) or not isinstance(data.get("to"), str):
        raise invalid('expected {"from": OLD_UNAME, "to": NEW_UNAME, "project_id"?: N}')
    project_id = data.get("project_id")
    if project_id is not None and (not isinstance(project_id, int) or isinstance(project_id, bool)):
        raise invalid("project_id must be an integer")
    return Reply(200, {"dashboard": control.rename_dashboard(data["from"], data["to"], project_id)})


def _add_dashboard(control: Control, request: _Request) -> Reply:
    return Reply(201, {"dashboard": control.add_dashboard(_one_item(request.data, "dashboard"))})


_CONFIG_BODY = (
    "{latency_ms, rate_limit: {count, window_seconds} | 'N/S' | null, "
    "retry_after: seconds|http-date, error_shape: flat|wrapped, "
    "server_like: bool, strict_input: bool, immutable_source: bool, list_metadata: bool}"
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
    Route(
        "PUT", "/state", _put_state, "{data_schedules: [...], data_alerts?: [...]} (?validate=false to skip validation)"
    ),
    Route("POST", "/schedules", _add_schedule, "{data_schedule}"),
    Route("GET", "/alerts", _showing("data_alerts", Control.alerts)),
    Route("PUT", "/alerts", _put_alerts, "{data_alerts: [...]} (?validate=false to skip validation)"),
    Route("POST", "/alerts", _add_alert, "{data_alert}"),
    Route("GET", "/jobs", _showing("jobs", Control.jobs)),
    Route("POST", "/jobs/fail", _fail_jobs, "{schedule_id | alert_id, fail: true|false}"),
    Route("GET", "/dashboards", _showing("dashboards", Control.dashboards)),
    Route("POST", "/dashboards", _add_dashboard, "{dashboard} (id, filter and widget ids: the next free ones)"),
    Route("POST", "/dashboards/rename", _rename_dashboard, "{from, to, project_id?} (a new id, as AML publishes)"),
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
