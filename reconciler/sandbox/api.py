"""The sandbox's `/api/v2` routes: data schedules and data alerts (list, CRUD, submit_execute), jobs,
dashboards and query reports. The replies and errors are `replies`', the listings `listing`'s.

Parameters, enums and error bodies follow the official OpenAPI spec (through `reconciler.spec`), so a
client that works here works against Holistics. `ServerOptions` make it behave more like the real
(Rails) server than the spec's letter: extra read-only fields on every record, strict input, a
source that cannot be replaced. What happens around a route (the key, the rate limit, injected
faults, the request log) is `reconciler.sandbox.http`'s.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from reconciler.kinds import Kind
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.known import KINDS
from reconciler.kinds.schedules import SCHEDULES
from reconciler.sandbox.dashboards import as_served as dashboard_as_served
from reconciler.sandbox.jobs import USER_ID
from reconciler.sandbox.listing import Listings, decode_cursor, encode_cursor
from reconciler.sandbox.records import NoSuchRecord, RecordRefused
from reconciler.sandbox.replies import ApiError, Query, Reply, invalid, one, path_id
from reconciler.sandbox.state import State
from reconciler.sandbox.validation import split_documented

API_PREFIX = "/api/v2"

# the names tests and the control endpoint import from here
__all__ = [
    "API_PREFIX",
    "Api",
    "ApiError",
    "Query",
    "Reply",
    "ServerOptions",
    "decode_cursor",
    "encode_cursor",
    "invalid",
    "one",
]


# ---- behaving like the real server rather than the spec's letter ----


@dataclass
class ServerOptions:
    """How the sandbox departs from answering with exactly the spec's fields.

    `server_like`: every schedule and alert it returns carries fields the spec does not document
    (timestamps, a creator, a last run; one inside `dest`, inside each preset and each alert
    condition), as a Rails serializer adds them, and undocumented attributes in a request are ignored.
    `strict_input`: they are refused instead, 422 RecordError per field, as strict parameters would
    (what a client that PUTs back what it read runs into). `immutable_source`: a PUT may not change
    `source_type`/`source_id` (Holistics' docs: an existing schedule's source cannot be replaced).
    `list_metadata`: False answers `GET /dashboards/list_metadata` with a 404, as a deployment from
    before it (or a key not allowed it) does."""

    server_like: bool = False
    strict_input: bool = False
    immutable_source: bool = False
    list_metadata: bool = True


UNPERMITTED = "is not a permitted attribute (the spec does not document it)"
CREATOR = {"id": USER_ID, "name": "Sandbox Admin"}
# a dest's own record id: its schedule's (or alert's) id plus this; the two tables' ids differ
DEST_RECORD_IDS = {"schedules": 900_000, "alerts": 950_000}


def as_served(record: Mapping[str, Any], stamps: Mapping[str, str | None], kind: Kind = SCHEDULES) -> dict[str, Any]:
    """A stored schedule (or alert) as a server-like sandbox returns it: with the read-only fields a
    real server adds beside the spec's (the spec documents none of them, so a client must keep them
    out of its comparisons and bodies). Parts point back at their record: `data_schedule_id`,
    `data_alert_id`."""
    owner_field = f"{kind.wrapper}_id"
    out = copy.deepcopy(dict(record))
    out["created_at"] = stamps.get("created_at")
    out["updated_at"] = stamps.get("updated_at")
    out["creator"] = dict(CREATOR)
    out["last_run_at"] = stamps.get("last_run_at")
    if kind is ALERTS:
        out["owner_id"] = USER_ID
        out["last_run_status"] = None if stamps.get("last_run_at") is None else "not_triggered"
    if isinstance(out.get("schedule"), dict):
        out["schedule"]["next_run_at"] = stamps.get("updated_at")  # a timestamp; not read from the cron
    if isinstance(out.get("dest"), dict):
        out["dest"]["id"] = DEST_RECORD_IDS[kind.yaml_key] + int(out["id"])
    for name in ("dynamic_filter_presets", "viz_conditions"):
        for part in out.get(name) or []:
            if isinstance(part, dict):
                part[owner_field] = out["id"]
    return out


def _body(raw: bytes, wrapper: str) -> dict[str, Any]:
    if not raw.strip():
        raise invalid(f"Missing parameter: {wrapper}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise invalid("Request body is not valid JSON") from None
    if not isinstance(data, dict) or wrapper not in data:
        raise invalid(f"Missing parameter: {wrapper}")
    body = data[wrapper]
    if not isinstance(body, dict):
        raise invalid(f"Invalid parameter {wrapper}: must be an object")
    return body


# ---- the routes ----

Route = tuple[str, re.Pattern[str], Callable[..., Reply]]


class Api:
    """The `/api/v2` routes; `handle` answers one authenticated request. Every kind (data schedules,
    data alerts) has the same routes at its own path, served by the same handlers given the kind."""

    def __init__(self, state: State, options: ServerOptions | None = None) -> None:
        self.state = state
        self.options = options if options is not None else ServerOptions()
        self.listings = Listings(state)
        self._routes: list[Route] = [route for kind in KINDS for route in self._routes_of(kind)]
        self._routes += [
            ("GET", re.compile(r"/jobs/([^/]+)"), self.get_job),
            ("GET", re.compile(r"/jobs/([^/]+)/logs"), self.get_job_logs),
            # before /dashboards/{id}, which would read "list_metadata" as an id
            ("GET", re.compile(r"/dashboards/list_metadata"), self.list_dashboards_metadata),
            ("GET", re.compile(r"/dashboards/([^/]+)"), self.get_dashboard),
            ("GET", re.compile(r"/query_reports/([^/]+)"), self.get_query_report),
        ]

    def _routes_of(self, kind: Kind) -> list[Route]:
        path = re.escape(kind.path)
        return [
            ("GET", re.compile(path), partial(self.list_records, kind)),
            ("POST", re.compile(path), partial(self.create_record, kind)),
            ("GET", re.compile(rf"{path}/([^/]+)"), partial(self.get_record, kind)),
            ("PUT", re.compile(rf"{path}/([^/]+)"), partial(self.update_record, kind)),
            ("DELETE", re.compile(rf"{path}/([^/]+)"), partial(self.delete_record, kind)),
            ("POST", re.compile(rf"{path}/([^/]+)/submit_execute"), partial(self.submit_execute, kind)),
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

    # data schedules and data alerts

    def list_records(self, kind: Kind, *, query: Query, body: bytes) -> Reply:
        return Reply(200, self.listings.page(kind, query, partial(self._served, kind)))

    def _served(self, kind: Kind, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not self.options.server_like:
            return [copy.deepcopy(r) for r in records]
        stamps = self.state.stamps([int(r["id"]) for r in records], kind)
        return [as_served(r, stamps[int(r["id"])], kind) for r in records]

    def _one(self, kind: Kind, record: dict[str, Any]) -> dict[str, Any]:
        return self._served(kind, [record])[0]

    def _permitted(self, kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
        """The request's attributes as the server reads them: undocumented ones refused (strict),
        ignored (server-like), or passed on for the spec's checks (the plain sandbox)."""
        if not (self.options.strict_input or self.options.server_like):
            return body
        documented, extras = split_documented(body, kind.schema)
        if extras and self.options.strict_input:
            # a 422 RecordError, per field
            raise RecordRefused({path: [UNPERMITTED] for path in extras}, kind.noun)
        return documented if self.options.server_like else body

    def create_record(self, kind: Kind, *, query: Query, body: bytes) -> Reply:
        created = self.state.create(self._permitted(kind, _body(body, kind.wrapper)), kind=kind)
        return Reply(201, {kind.wrapper: self._one(kind, created)})

    def get_record(self, kind: Kind, ident: str, *, query: Query, body: bytes) -> Reply:
        return Reply(200, {kind.wrapper: self._one(kind, self.state.get(path_id(ident), kind))})

    def update_record(self, kind: Kind, ident: str, *, query: Query, body: bytes) -> Reply:
        record_id = path_id(ident)
        self.state.get(record_id, kind)  # an unknown id is 404 whatever the body
        sent = self._permitted(kind, _body(body, kind.wrapper))
        fixed = kind.immutable if self.options.immutable_source else ()
        stored = self.state.replace(record_id, sent, immutable=fixed, kind=kind)
        return Reply(200, {kind.wrapper: self._one(kind, stored)})

    def delete_record(self, kind: Kind, ident: str, *, query: Query, body: bytes) -> Reply:
        record_id = path_id(ident)
        self.state.delete(record_id, kind)
        return Reply(200, {"message": f"Data {kind.noun} {record_id} deleted"})

    def submit_execute(self, kind: Kind, ident: str, *, query: Query, body: bytes) -> Reply:
        return Reply(200, {"job": self.state.submit_execute(path_id(ident), kind)})

    # jobs

    def get_job(self, ident: str, *, query: Query, body: bytes) -> Reply:
        job = self.state.advance_job(path_id(ident))
        if (one(query, "include_source") or "").lower() != "true":
            job["source"] = None
        return Reply(200, {"job": job})

    def get_job_logs(self, ident: str, *, query: Query, body: bytes) -> Reply:
        return Reply(200, {"job_logs": self.state.job_logs(path_id(ident))})

    # sources

    def get_dashboard(self, ident: str, *, query: Query, body: bytes) -> Reply:
        dashboard = self.state.dashboard(path_id(ident))
        if dashboard is None:
            raise NoSuchRecord("Dashboard", ident)
        return Reply(200, {"dashboard": dashboard_as_served(dashboard)})

    def list_dashboards_metadata(self, *, query: Query, body: bytes) -> Reply:
        if not self.options.list_metadata:
            raise ApiError(404, "BaseError", f"No route matches GET {API_PREFIX}/dashboards/list_metadata")
        return Reply(200, {"dashboards_metadata": self.state.dashboards_metadata(query)})

    def get_query_report(self, ident: str, *, query: Query, body: bytes) -> Reply:
        report = self.state.query_report(path_id(ident))
        if report is None:
            raise NoSuchRecord("QueryReport", ident)
        return Reply(200, {"query_report": report})
