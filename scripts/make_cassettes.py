"""Write the vcrpy cassettes under tests/unit/remote/cassettes/ from Holistics' OpenAPI spec.

Bodies come from the spec's own examples (components.examples) and schemas; error `type`s are checked
against the spec's BaseError enum so a cassette cannot invent one. Cassettes for situations a real
workspace cannot produce on demand (429, 5xx, 403) exist only in this generated form; the others can
be re-recorded against a real workspace (see tests/unit/remote/cassettes/README.md).

    python scripts/make_cassettes.py [--spec PATH] [NAME ...]   # default: every cassette
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from vcr.serializers import yamlserializer

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "tests/unit/remote/cassettes"
DEFAULT_SPEC = ROOT.parent / "shared/reference/holistics-openapi-v2.yml"
BASE = "https://secure.holistics.io/api/v2"
UA = "holistics-schedules/0.1.0"
DATE = "Tue, 19 May 2026 08:00:00 GMT"

Interaction = dict[str, Any]


class Spec:
    def __init__(self, path: Path) -> None:
        self.doc: dict[str, Any] = YAML(typ="safe").load(path.read_text())
        comps = self.doc["components"]
        self.error_types: set[str] = set(comps["schemas"]["BaseError"]["properties"]["type"]["enum"])
        self.job_statuses: set[str] = set(comps["schemas"]["JobStatus"]["properties"]["status"]["enum"])
        self.paths: dict[str, Any] = self.doc["paths"]

    def example(self, name: str) -> dict[str, Any]:
        value: dict[str, Any] = copy.deepcopy(self.doc["components"]["examples"][name]["value"])
        return value

    def check_error(self, body: dict[str, Any]) -> dict[str, Any]:
        inner = body.get("error", body)
        if inner["type"] not in self.error_types:
            raise SystemExit(f"error type {inner['type']!r} is not in the spec's BaseError enum")
        return body

    def check_operation(self, path: str, method: str, status: int) -> None:
        responses = self.paths[path][method.lower()]["responses"]
        if str(status) not in responses and status < 400:
            raise SystemExit(f"{method} {path} does not document a {status} answer")


# ---- building blocks -------------------------------------------------------------------------------

REASONS = {
    200: "OK",
    201: "Created",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def interaction(
    method: str,
    path: str,
    status: int,
    body: Any,
    *,
    request_body: Any = None,
    headers: dict[str, str] | None = None,
    text: str | None = None,
    content_type: str = "application/json; charset=utf-8",
) -> Interaction:
    req_headers = {"Accept": ["application/json"], "User-Agent": [UA], "X-Holistics-Key": ["REDACTED"]}
    raw_request = None
    if request_body is not None:
        raw_request = json.dumps(request_body)
        req_headers["Content-Type"] = ["application/json"]
    resp_headers = {"Content-Type": [content_type], "Date": [DATE]}
    for name, value in (headers or {}).items():
        resp_headers[name] = [value]
    return {
        "request": {"method": method, "uri": BASE + path, "body": raw_request, "headers": req_headers},
        "response": {
            "status": {"code": status, "message": REASONS[status]},
            "headers": resp_headers,
            "body": {"string": text if text is not None else json.dumps(body)},
        },
    }


def cursor(last_id: int) -> str:
    """An opaque cursor, shaped like the ones cursor-paginated Rails APIs hand out."""
    return base64.urlsafe_b64encode(json.dumps({"id": last_id}).encode()).decode().rstrip("=")


def schedule(spec: Spec, sid: int, *, sftp: bool = False, **changes: Any) -> dict[str, Any]:
    example = spec.example("DataScheduleSftpDest" if sftp else "DataScheduleEmailDest")
    body: dict[str, Any] = example["data_schedule"]
    body["id"] = sid
    body["title"] = f"Schedule {sid}"
    body["schedule"]["is_archived"] = False
    body.update(changes)
    return body


def new_schedule_body(spec: Spec) -> dict[str, Any]:
    """What tests/unit/remote/test_client.py sends to create: the spec's EmailDest example minus server-owned ids."""
    body: dict[str, Any] = spec.example("DataScheduleEmailDest")["data_schedule"]
    del body["id"]
    body["dynamic_filter_presets"] = []
    body["title"] = "holistics-schedules client test"
    body["dest"]["recipients"] = ["reports@example.com"]
    body["schedule"] = {"repeat": "0 4 * * *", "paused": False}
    return body


# ---- cassettes -------------------------------------------------------------------------------------


def list_pages(spec: Spec) -> list[Interaction]:
    """Three pages at limit=1; the last has cursors.next null."""
    spec.check_operation("/data_schedules", "GET", 200)
    ids = [11, 12, 13]
    out = []
    for i, sid in enumerate(ids):
        query = "?limit=1" + (f"&after={cursor(ids[i - 1])}" if i else "")
        page = {
            "data_schedules": [schedule(spec, sid, sftp=(sid == 12))],
            "total_count": len(ids),
            "cursors": {"previous": cursor(sid) if i else None, "next": cursor(sid) if i < len(ids) - 1 else None},
        }
        out.append(interaction("GET", "/data_schedules" + query, 200, page))
    return out


def list_empty_cursor(spec: Spec) -> list[Interaction]:
    """Two filtered pages; the last ends with cursors.next "" instead of null."""
    q = "?limit=100&source_type=Dashboard&source_id=1"
    first = {
        "data_schedules": [schedule(spec, 21)],
        "total_count": 2,
        "cursors": {"previous": None, "next": cursor(21)},
    }
    second = {"data_schedules": [schedule(spec, 22)], "total_count": 2, "cursors": {"previous": cursor(22), "next": ""}}
    return [
        interaction("GET", "/data_schedules" + q, 200, first),
        interaction("GET", f"/data_schedules{q}&after={cursor(21)}", 200, second),
    ]


def schedule_crud(spec: Spec) -> list[Interaction]:
    """create 201 -> get -> update (PUT, paused) -> delete -> get 404."""
    spec.check_operation("/data_schedules", "POST", 201)
    for method in ("GET", "PUT", "DELETE"):
        spec.check_operation("/data_schedules/{id}", method, 200)
    sid = 9001
    sent = new_schedule_body(spec)
    created = {**copy.deepcopy(sent), "id": sid}
    created["schedule"]["is_archived"] = False
    updated = copy.deepcopy(created)
    updated["schedule"]["paused"] = True
    put_body = copy.deepcopy(updated)
    del put_body["schedule"]["is_archived"]
    path = f"/data_schedules/{sid}"
    return [
        interaction("POST", "/data_schedules", 201, {"data_schedule": created}, request_body={"data_schedule": sent}),
        interaction("GET", path, 200, {"data_schedule": created}),
        interaction("PUT", path, 200, {"data_schedule": updated}, request_body={"data_schedule": put_body}),
        interaction("DELETE", path, 200, {"message": "Data schedule was deleted successfully"}),
        interaction(
            "GET",
            path,
            404,
            spec.check_error({"type": "BaseError", "message": f"Couldn't find DataSchedule with 'id'={sid}"}),
        ),
    ]


def auth_401(spec: Spec) -> list[Interaction]:
    return [
        interaction(
            "GET",
            "/data_schedules?limit=100",
            401,
            spec.check_error({"type": "AuthError", "message": "Invalid API key"}),
        )
    ]


def not_found_404(spec: Spec) -> list[Interaction]:
    return [
        interaction(
            "GET",
            "/data_schedules/999999999",
            404,
            spec.check_error({"type": "BaseError", "message": "Couldn't find DataSchedule with 'id'=999999999"}),
        )
    ]


def record_invalid_422(spec: Spec) -> list[Interaction]:
    """A RecordError with a `base` error and per-field errors."""
    sent = new_schedule_body(spec)
    sent["dest"]["recipients"] = ["not-an-email"]
    sent["schedule"]["repeat"] = "61 * * * *"
    body = spec.check_error(
        {
            "type": "RecordError",
            "message": "Validation failed: Recipients are invalid, Repeat is invalid",
            "record": {
                "base": ["Data schedule could not be saved"],
                "dest.recipients": ["not-an-email is not a valid email address"],
                "schedule.repeat": ["is not a valid cron expression"],
            },
        }
    )
    return [interaction("POST", "/data_schedules", 422, body, request_body={"data_schedule": sent})]


def forbidden_403(spec: Spec) -> list[Interaction]:
    """The docs' wrapped shape: {"error": {type, message, debug_id}}."""
    body = spec.check_error(
        {
            "error": {
                "type": "PermissionDeniedError",
                "message": "You do not have permission to update this data schedule",
                "debug_id": "d3b07384d113edec49eaa6238ad5ff00",
            }
        }
    )
    sent = {"data_schedule": schedule(spec, 12)}
    return [interaction("PUT", "/data_schedules/12", 403, body, request_body=sent)]


def invalid_params_400(spec: Spec) -> list[Interaction]:
    """The flat shape with `details`."""
    body = spec.check_error(
        {
            "type": "InvalidParameterError",
            "message": "sort does not have a valid value",
            "details": {
                "description": "sort must be one of id_asc, id_desc, ...",
                "docs": "https://docs.holistics.io/api",
            },
        }
    )
    return [interaction("GET", "/data_schedules?limit=100&sort=bogus", 400, body)]


def rate_limited_seconds(spec: Spec) -> list[Interaction]:
    """429 with Retry-After in seconds, then success, on a GET."""
    limited = spec.check_error({"type": "RateLimitExceedError", "message": "Rate limit exceeded"})
    ok = {"data_schedule": schedule(spec, 31)}
    return [
        interaction("GET", "/data_schedules/31", 429, limited, headers={"Retry-After": "2"}),
        interaction("GET", "/data_schedules/31", 200, ok),
    ]


def rate_limited_http_date(spec: Spec) -> list[Interaction]:
    """429 with Retry-After as an HTTP date (3 s after the Date header), then 201, on a POST."""
    limited = spec.check_error({"type": "RateLimitExceedError", "message": "Rate limit exceeded"})
    sent = new_schedule_body(spec)
    created = {**copy.deepcopy(sent), "id": 9002}
    return [
        interaction(
            "POST",
            "/data_schedules",
            429,
            limited,
            request_body={"data_schedule": sent},
            headers={"Retry-After": "Tue, 19 May 2026 08:00:03 GMT"},
        ),
        interaction("POST", "/data_schedules", 201, {"data_schedule": created}, request_body={"data_schedule": sent}),
    ]


def server_error_retry(spec: Spec) -> list[Interaction]:
    """GET: a proxy's HTML 502, then a wrapped-shape 500, then 200."""
    wrapped_500 = spec.check_error(
        {"error": {"type": "InternalHolisticsError", "message": "Internal error", "debug_id": "0f1e2d3c"}}
    )
    html = "<html><head><title>502 Bad Gateway</title></head><body>bad gateway</body></html>"
    return [
        interaction("GET", "/data_schedules/41", 502, None, text=html, content_type="text/html"),
        interaction("GET", "/data_schedules/41", 500, wrapped_500),
        interaction("GET", "/data_schedules/41", 200, {"data_schedule": schedule(spec, 41)}),
    ]


def server_error_exhausted(spec: Spec) -> list[Interaction]:
    """503 MaintenanceError three times (a client with max_retries=2 then gives up)."""
    body = spec.check_error({"type": "MaintenanceError", "message": "Holistics is under maintenance"})
    return [interaction("DELETE", "/data_schedules/51", 503, body) for _ in range(3)]


def jobs_and_sources(spec: Spec) -> list[Interaction]:
    """submit_execute -> job -> logs, plus the dashboard and query report a schedule can point at."""
    spec.check_operation("/data_schedules/{id}/submit_execute", "POST", 200)
    assert {"queued", "success"} <= spec.job_statuses
    job = {
        "id": 7001,
        "user_id": 3,
        "start_time": "2026-05-19T08:00:01Z",
        "end_time": "2026-05-19T08:00:09Z",
        "cancellable": False,
        "last_error_log": None,
        "status": "success",
    }
    logs = [
        {"level": "INFO", "message": "Job started", "timestamp": "2026-05-19T08:00:01Z"},
        {"level": "INFO", "message": "Email sent to 2 recipients", "timestamp": "2026-05-19T08:00:09Z"},
    ]
    return [
        interaction(
            "POST",
            "/data_schedules/11/submit_execute",
            200,
            {"job": {"id": 7001, "status": "queued", "existing_job_id": None}},
        ),
        interaction("GET", "/jobs/7001", 200, {"job": job}),
        interaction("GET", "/jobs/7001/logs", 200, {"job_logs": logs}),
        interaction(
            "GET",
            "/dashboards/1",
            200,
            {"dashboard": {"id": 1, "title": "Sales overview", "owner_id": 3, "version": 4}},
        ),
        interaction(
            "GET", "/query_reports/2", 200, {"query_report": {"id": 2, "title": "Orders by day", "owner_id": 3}}
        ),
        interaction("GET", "/dashboards/5", 404, None, text="Not Found", content_type="text/plain"),
    ]


CASSETTES: dict[str, Callable[[Spec], list[Interaction]]] = {
    fn.__name__: fn
    for fn in (
        list_pages,
        list_empty_cursor,
        schedule_crud,
        auth_401,
        not_found_404,
        record_invalid_422,
        forbidden_403,
        invalid_params_400,
        rate_limited_seconds,
        rate_limited_http_date,
        server_error_retry,
        server_error_exhausted,
        jobs_and_sources,
    )
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", type=Path, default=DEFAULT_SPEC)
    parser.add_argument("names", nargs="*", metavar="NAME", help=", ".join(CASSETTES))
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(CASSETTES)
    if unknown:
        parser.error(f"unknown cassette(s): {', '.join(sorted(unknown))}")
    spec = Spec(args.spec)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name in args.names or CASSETTES:
        interactions = CASSETTES[name](spec)
        (OUT_DIR / f"{name}.yaml").write_text(yamlserializer.serialize({"version": 1, "interactions": interactions}))
        print(f"wrote tests/unit/remote/cassettes/{name}.yaml ({len(interactions)} interactions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
