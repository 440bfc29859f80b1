"""The sandbox's `/api/v2` routes: data schedules (list, CRUD, submit_execute), jobs, dashboards and
query reports, and the error replies they answer with.

Parameters, enums and error bodies follow the official OpenAPI spec (through `reconciler.spec`), so a
client that works here works against Holistics. `ServerOptions` make it behave more like the real
(Rails) server than the spec's letter: extra read-only fields on every schedule, strict input, a
source that cannot be replaced. What happens around a route (the key, the rate limit, injected
faults, the request log) is `reconciler.sandbox.http`'s.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler import spec
from reconciler.sandbox.jobs import USER_ID
from reconciler.sandbox.records import NoSuchRecord, RecordRefused
from reconciler.sandbox.state import State
from reconciler.sandbox.validation import split_documented

API_PREFIX = "/api/v2"
SUPPORTED_SORT_FIELDS = ("id", "title", "destination", "source_title")

Query = Mapping[str, list[str]]


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    error: bool = False


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


def invalid(message: str) -> ApiError:
    return ApiError(400, "InvalidParameterError", message)


# ---- behaving like the real server rather than the spec's letter ----


@dataclass
class ServerOptions:
    """How the sandbox departs from answering with exactly the spec's fields.

    `server_like`: every schedule it returns carries fields the spec does not document (timestamps, a
    creator, a last run; one inside `dest` and inside each preset), as a Rails serializer adds them,
    and undocumented attributes in a request are ignored. `strict_input`: they are refused instead,
    422 RecordError per field, as strict parameters would (what a client that PUTs back what it read
    runs into). `immutable_source`: a PUT may not change `source_type`/`source_id` (Holistics' docs:
    an existing schedule's source cannot be replaced)."""

    server_like: bool = False
    strict_input: bool = False
    immutable_source: bool = False


IMMUTABLE_SOURCE = ("source_type", "source_id")
UNPERMITTED = "is not a permitted attribute (the spec does not document it)"
CREATOR = {"id": USER_ID, "name": "Sandbox Admin"}
DEST_RECORD_IDS = 900_000  # a dest's own record id: its schedule's id plus this


def as_served(schedule: Mapping[str, Any], stamps: Mapping[str, str | None]) -> dict[str, Any]:
    """A stored schedule as a server-like sandbox returns it: with the read-only fields a real server
    adds beside the spec's (the spec documents none of them, so a client must keep them out of its
    comparisons and bodies)."""
    out = copy.deepcopy(dict(schedule))
    out["created_at"] = stamps.get("created_at")
    out["updated_at"] = stamps.get("updated_at")
    out["creator"] = dict(CREATOR)
    out["last_run_at"] = stamps.get("last_run_at")
    if isinstance(out.get("schedule"), dict):
        out["schedule"]["next_run_at"] = stamps.get("updated_at")  # a timestamp; not read from the cron
    if isinstance(out.get("dest"), dict):
        out["dest"]["id"] = DEST_RECORD_IDS + int(out["id"])
    for preset in out.get("dynamic_filter_presets") or []:
        if isinstance(preset, dict):
            preset["data_schedule_id"] = out["id"]
    return out


# ---- request parameters ----


def one(query: Query, name: str) -> str | None:
    """A parameter's value (the last, when it is repeated)."""
    values = query.get(name)
    return values[-1] if values else None


def _int_param(query: Query, name: str, low: int, high: int | None = None) -> int | None:
    raw = one(query, name)
    if raw is None:
        return None
    bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
    if not re.fullmatch(r"[+-]?\d+", raw.strip()):
        raise invalid(f"Invalid parameter {name}: must be an integer {bounds}")
    value = int(raw)
    if value < low or (high is not None and value > high):
        raise invalid(f"Invalid parameter {name}: must be an integer {bounds}")
    return value


def _path_id(raw: str) -> int:
    if not re.fullmatch(r"\d+", raw):
        raise invalid(f"Invalid parameter id: must be an integer, got {raw!r}")
    return int(raw)


def _schedule_body(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise invalid("Missing parameter: data_schedule")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid("Request body is not valid JSON") from None
    if not isinstance(data, dict) or "data_schedule" not in data:
        raise invalid("Missing parameter: data_schedule")
    body = data["data_schedule"]
    if not isinstance(body, dict):
        raise invalid("Invalid parameter data_schedule: must be an object")
    return body


# ---- the list's order and cursors ----


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


def encode_cursor(key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, like: list[Any]) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid("Invalid cursor") from None
    if not (
        isinstance(key, list)
        and len(key) == len(like)
        and all(type(a) is type(b) for a, b in zip(key, like, strict=True))
    ):
        raise invalid("Invalid cursor (it belongs to another sort order)")
    return key


def _list_params(query: Query) -> tuple[Any, ...]:
    """The list's filters and sort, checked in the order Holistics reports them: (source_type,
    source_id, dest_type, search_term, sort)."""
    sort = one(query, "sort") or "id_asc"
    if sort not in _list_param_enum("sort"):
        raise invalid(f"Invalid parameter sort: must be one of {', '.join(_list_param_enum('sort'))}")
    if sort.rpartition("_")[0] not in SUPPORTED_SORT_FIELDS:
        raise invalid(f"sort={sort} is valid for Holistics but not supported by the sandbox")
    source_type = one(query, "source_type")
    if source_type is not None and source_type not in _list_param_enum("source_type"):
        raise invalid(f"Invalid parameter source_type: {source_type!r}")
    source_id = _int_param(query, "source_id", 0)
    dest_type = one(query, "dest_type")
    # the filter's enum leaves out GsheetDest, yet schedules have it: accept both lists
    if dest_type is not None and dest_type not in {*_list_param_enum("dest_type"), *spec.dest_branches()}:
        raise invalid(f"Invalid parameter dest_type: {dest_type!r}")
    # creator_roles: every sandbox schedule was made by the key's (admin) user, so it filters nothing
    return source_type, source_id, dest_type, one(query, "search_term"), sort


def _cursor_window(query: Query, keys: list[list[Any]], limit: int, desc: bool) -> tuple[int, int]:
    """[start, end) of the page the `after` / `before` cursors ask for."""

    def later(a: list[Any], b: list[Any]) -> bool:  # a comes after b in this order
        return a < b if desc else a > b

    after, before = one(query, "after"), one(query, "before")
    low, high = 0, len(keys)
    if after:
        boundary = decode_cursor(after, keys[0] if keys else [])
        # keys are in order, so "comes after the cursor" is False...False True...True
        low = bisect.bisect_left(keys, True, key=lambda k: later(k, boundary))
    if before:
        boundary = decode_cursor(before, keys[0] if keys else [])
        high = bisect.bisect_left(keys, True, key=lambda k: not later(boundary, k))
    if before and not after:  # the page just before the cursor
        return max(low, high - limit), high
    return low, min(high, low + limit)


# ---- the routes ----

_Ordered = tuple[list[dict[str, Any]], list[list[Any]]]  # a query's schedules in order, and their sort keys


class Api:
    """The `/api/v2` routes; `handle` answers one authenticated request."""

    def __init__(self, state: State, options: ServerOptions | None = None) -> None:
        self.state = state
        self.options = options if options is not None else ServerOptions()
        # per query (filters and sort) of the current snapshot: a client walking from both ends asks
        # for two orders in turn, and each must not sort all N again
        self._list_cache: tuple[list[dict[str, Any]], dict[tuple[Any, ...], _Ordered]] | None = None
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

    def handle(self, method: str, path: str, query: Query, body: bytes) -> Reply:
        path = path.rstrip("/") or "/"
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                try:
                    return handler(*match.groups(), query=query, body=body)
                except NoSuchRecord as exc:
                    raise ApiError(404, "BaseError", str(exc)) from None
                except RecordRefused as exc:
                    raise ApiError(422, "RecordError", str(exc), record=exc.record) from None
        raise ApiError(404, "BaseError", f"No route matches {method} {API_PREFIX}{path}")

    # data schedules

    def _ordered(self, snapshot: list[dict[str, Any]], params: tuple[Any, ...]) -> _Ordered:
        """The filtered, sorted schedules and their sort keys, computed once per state and query:
        paging through N schedules must not sort all N again for every page."""
        cache = self._list_cache
        if cache is None or cache[0] is not snapshot:
            cache = self._list_cache = (snapshot, {})
        found = cache[1].get(params)  # handler threads share the cache: one lookup, no check-then-get
        if found is not None:
            return found
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
        if len(cache[1]) >= 8:  # a few orders and filters at a time; not every query ever made
            cache[1].clear()
        cache[1][params] = (items, keys)
        return items, keys

    def list_schedules(self, *, query: Query, body: bytes) -> Reply:
        limit = _int_param(query, "limit", 1, 100) or 20
        page = _int_param(query, "page", 1)
        params = _list_params(query)
        items, keys = self._ordered(self.state.snapshot(), params)
        if page is not None:  # offset paging wins over cursors, as the spec says
            start = (page - 1) * limit
            end = min(start + limit, len(items))
        else:
            start, end = _cursor_window(query, keys, limit, desc=params[-1].rpartition("_")[2] == "desc")
        window = self._served(items[start:end]) if start < end else []
        cursors = {
            "previous": encode_cursor(keys[start]) if window and start > 0 else None,
            "next": encode_cursor(keys[end - 1]) if window and end < len(items) else None,
        }
        return Reply(200, {"data_schedules": window, "total_count": len(items), "cursors": cursors})

    def _served(self, schedules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.options.server_like:
            return [copy.deepcopy(s) for s in schedules]
        stamps = self.state.stamps([int(s["id"]) for s in schedules])
        return [as_served(s, stamps[int(s["id"])]) for s in schedules]

    def _one(self, schedule: dict[str, Any]) -> dict[str, Any]:
        return self._served([schedule])[0]

    def _permitted(self, body: dict[str, Any]) -> dict[str, Any]:
        """The request's attributes as the server reads them: undocumented ones refused (strict),
        ignored (server-like), or passed on for the spec's checks (the plain sandbox)."""
        if not (self.options.strict_input or self.options.server_like):
            return body
        documented, extras = split_documented(body)
        if extras and self.options.strict_input:
            raise RecordRefused({path: [UNPERMITTED] for path in extras})  # a 422 RecordError, per field
        return documented if self.options.server_like else body

    def create_schedule(self, *, query: Query, body: bytes) -> Reply:
        created = self.state.create(self._permitted(_schedule_body(body)))
        return Reply(201, {"data_schedule": self._one(created)})

    def get_schedule(self, ident: str, *, query: Query, body: bytes) -> Reply:
        return Reply(200, {"data_schedule": self._one(self.state.get_schedule(_path_id(ident)))})

    def update_schedule(self, ident: str, *, query: Query, body: bytes) -> Reply:
        schedule_id = _path_id(ident)
        self.state.get_schedule(schedule_id)  # an unknown id is 404 whatever the body
        sent = self._permitted(_schedule_body(body))
        fixed = IMMUTABLE_SOURCE if self.options.immutable_source else ()
        stored = self.state.replace(schedule_id, sent, immutable=fixed)
        return Reply(200, {"data_schedule": self._one(stored)})

    def delete_schedule(self, ident: str, *, query: Query, body: bytes) -> Reply:
        schedule_id = _path_id(ident)
        self.state.delete(schedule_id)
        return Reply(200, {"message": f"Data schedule {schedule_id} deleted"})

    def submit_execute(self, ident: str, *, query: Query, body: bytes) -> Reply:
        return Reply(200, {"job": self.state.submit_execute(_path_id(ident))})

    # jobs

    def get_job(self, ident: str, *, query: Query, body: bytes) -> Reply:
        job = self.state.advance_job(_path_id(ident))
        if (one(query, "include_source") or "").lower() != "true":
            job["source"] = None
        return Reply(200, {"job": job})

    def get_job_logs(self, ident: str, *, query: Query, body: bytes) -> Reply:
        return Reply(200, {"job_logs": self.state.job_logs(_path_id(ident))})

    # sources

    def get_dashboard(self, ident: str, *, query: Query, body: bytes) -> Reply:
        dashboard = self.state.dashboard(_path_id(ident))
        if dashboard is None:
            raise NoSuchRecord("Dashboard", ident)
        return Reply(200, {"dashboard": dashboard})

    def get_query_report(self, ident: str, *, query: Query, body: bytes) -> Reply:
        report = self.state.query_report(_path_id(ident))
        if report is None:
            raise NoSuchRecord("QueryReport", ident)
        return Reply(200, {"query_report": report})
