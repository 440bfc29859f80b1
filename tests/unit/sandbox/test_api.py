"""The Holistics API sandbox, exercised over real HTTP with `requests`."""

from __future__ import annotations

import copy
import email.utils
import json
import math
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from ruamel.yaml import YAML

from reconciler.kinds.schedules.models import DEST_TYPES, DataScheduleSpec
from reconciler.sandbox import Sandbox
from reconciler.sandbox.command import sandbox as main
from reconciler.sandbox.faults import RateLimiter
from reconciler.sandbox.seed import load_seed
from reconciler.spec import dest_branches
from tests.helpers import REPO

ROOT = REPO


class Client:
    """Thin `requests` wrapper: the sandbox's key on every call, paths relative to /api/v2."""

    def __init__(self, sb: Sandbox, key: str | None = None) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.session.headers["X-Holistics-Key"] = key if key is not None else sb.key

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.sb.base_url + path, timeout=5, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.session.post(self.sb.base_url + path, timeout=kw.pop("timeout", 5), **kw)

    def put(self, path: str, **kw: Any) -> requests.Response:
        return self.session.put(self.sb.base_url + path, timeout=5, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.session.delete(self.sb.base_url + path, timeout=5, **kw)


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[Client]:
    c = Client(sandbox)
    yield c
    c.session.close()


@pytest.fixture
def example(example_sandbox: Sandbox) -> Iterator[Client]:
    c = Client(example_sandbox)
    yield c
    c.session.close()


def new_schedule(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Weekly sales",
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dynamic_filter_presets": [
            {"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["EMEA"]}}
        ],
        "dest": {
            "type": "EmailDest",
            "title": "Sales for {{$today}}",
            "recipients": ["sales@example.com"],
            "options": {"include_header": True, "attachment_formats": ["pdf", "csv"]},
        },
    }
    body.update(changes)
    return body


def assert_error(resp: requests.Response, status: int, type_: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["type"] == type_
    assert isinstance(body["message"], str) and body["message"]
    return body


# ---- listing and pagination ----


def test_list_first_page_defaults(example: Client) -> None:
    resp = example.get("/data_schedules")
    assert resp.status_code == 200
    body = resp.json()
    ids = [s["id"] for s in body["data_schedules"]]
    assert len(ids) == 20 and ids == sorted(ids)  # default limit 20, id_asc
    assert body["total_count"] == 41
    assert body["cursors"]["previous"] is None
    assert isinstance(body["cursors"]["next"], str)


def test_cursors_walk_every_schedule_forward_and_back(example: Client, example_sandbox: Sandbox) -> None:
    everything = [s["id"] for s in example_sandbox.control.schedules()]
    pages: list[list[int]] = []
    params: dict[str, Any] = {"limit": 7}
    while True:
        body = example.get("/data_schedules", params=params).json()
        assert body["total_count"] == 41
        pages.append([s["id"] for s in body["data_schedules"]])
        assert (body["cursors"]["previous"] is None) == (len(pages) == 1)
        if body["cursors"]["next"] is None:
            break
        params["after"] = body["cursors"]["next"]
    assert [i for page in pages for i in page] == everything
    assert len(pages) == math.ceil(41 / 7) and len(pages[-1]) == 41 % 7

    # back from the last page with `before`, page by page
    back: list[list[int]] = [pages[-1]]
    cursor = body["cursors"]["previous"]
    while cursor is not None:
        body = example.get("/data_schedules", params={"limit": 7, "before": cursor}).json()
        back.append([s["id"] for s in body["data_schedules"]])
        cursor = body["cursors"]["previous"]
    assert back[::-1] == pages  # 35 = 5 x 7, so the pages line up from either end


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "", "1.5"])
def test_limit_out_of_bounds_is_invalid_parameter(example: Client, limit: str) -> None:
    assert_error(example.get("/data_schedules", params={"limit": limit}), 400, "InvalidParameterError")


@pytest.mark.parametrize(("limit", "count"), [("1", 1), ("100", 41)])
def test_limit_bounds_inclusive(example: Client, limit: str, count: int) -> None:
    assert len(example.get("/data_schedules", params={"limit": limit}).json()["data_schedules"]) == count


def test_page_offset_paging_overrides_cursors(example: Client, example_sandbox: Sandbox) -> None:
    everything = [s["id"] for s in example_sandbox.control.schedules()]
    first = example.get("/data_schedules", params={"limit": 10}).json()
    body = example.get("/data_schedules", params={"limit": 10, "page": 3, "after": first["cursors"]["next"]}).json()
    assert [s["id"] for s in body["data_schedules"]] == everything[20:30]
    assert body["cursors"]["previous"] and body["cursors"]["next"]
    beyond = example.get("/data_schedules", params={"limit": 10, "page": 9}).json()
    assert beyond["data_schedules"] == [] and beyond["total_count"] == 41
    assert_error(example.get("/data_schedules", params={"page": "0"}), 400, "InvalidParameterError")


def test_sort_desc_and_by_title(example: Client, example_sandbox: Sandbox) -> None:
    everything = [s["id"] for s in example_sandbox.control.schedules()]
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 15, "sort": "id_desc"}
    while True:
        body = example.get("/data_schedules", params=params).json()
        seen += [s["id"] for s in body["data_schedules"]]
        if not body["cursors"]["next"]:
            break
        params["after"] = body["cursors"]["next"]
    assert seen == everything[::-1]

    titles = [
        s["title"]
        for s in example.get("/data_schedules", params={"limit": 100, "sort": "title_asc"}).json()["data_schedules"]
    ]
    assert titles == sorted(titles, key=str.lower)
    assert_error(example.get("/data_schedules", params={"sort": "newest"}), 400, "InvalidParameterError")
    # valid for Holistics, but the sandbox says plainly that it does not do it
    assert_error(example.get("/data_schedules", params={"sort": "last_run_asc"}), 400, "InvalidParameterError")


def test_cursor_from_another_sort_or_garbage_is_rejected(example: Client) -> None:
    by_title = example.get("/data_schedules", params={"limit": 5, "sort": "title_asc"}).json()
    assert_error(
        example.get("/data_schedules", params={"after": by_title["cursors"]["next"]}), 400, "InvalidParameterError"
    )
    assert_error(example.get("/data_schedules", params={"after": "!!not-a-cursor"}), 400, "InvalidParameterError")


def test_filters(example: Client, example_sandbox: Sandbox) -> None:
    everything = example_sandbox.control.schedules()
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"source_type": "QueryReport"}, lambda s: s["source_type"] == "QueryReport"),
        ({"source_id": 1234}, lambda s: s["source_id"] == 1234),
        ({"dest_type": "GsheetDest"}, lambda s: s["dest"]["type"] == "GsheetDest"),
        (
            {"source_type": "Dashboard", "dest_type": "SlackDest"},
            lambda s: s["source_type"] == "Dashboard" and s["dest"]["type"] == "SlackDest",
        ),
    ]
    for params, keep in cases:
        body = example.get("/data_schedules", params={**params, "limit": 100}).json()
        expected = [s["id"] for s in everything if keep(s)]
        assert expected, params
        assert [s["id"] for s in body["data_schedules"]] == expected
        assert body["total_count"] == len(expected)
    for bad in ({"dest_type": "CarrierPigeon"}, {"source_type": "Widget"}, {"source_id": "x"}):
        assert_error(example.get("/data_schedules", params=bad), 400, "InvalidParameterError")


# ---- create, read, update, delete ----


def test_create_assigns_ids_and_fills_defaults(client: Client, sandbox: Sandbox) -> None:
    sent = new_schedule()
    del sent["title"]
    sent["id"] = 99
    sent["schedule"]["is_archived"] = True
    sent["dynamic_filter_presets"][0]["id"] = 5
    resp = client.post("/data_schedules", json={"data_schedule": sent})
    assert resp.status_code == 201
    created = resp.json()["data_schedule"]
    assert created["id"] != 99
    assert created["title"] is None
    assert created["schedule"] == {"repeat": "0 8 * * 1", "paused": False, "is_archived": False}
    preset = created["dynamic_filter_presets"][0]
    assert preset["id"] != 5 and isinstance(preset["id"], int)
    assert preset["public_hidden"] is False
    assert preset["preset_condition"] == {"operator": "is", "values": ["EMEA"], "modifier": None}
    assert created["dest"] == {**sent["dest"]}  # kept as sent (title, recipients, options)
    assert client.get(f"/data_schedules/{created['id']}").json() == {"data_schedule": created}
    assert sandbox.control.schedules() == [created]


def test_create_without_presets_gets_empty_list_and_nullable_dest_fields(client: Client) -> None:
    sent = new_schedule(dynamic_filter_presets=None)
    del sent["dynamic_filter_presets"]
    sent["dest"] = {"type": "SlackDest", "slack_channels": [{"id": "C1", "name": "general", "type": "public_channel"}]}
    created = client.post("/data_schedules", json={"data_schedule": sent}).json()["data_schedule"]
    assert created["dynamic_filter_presets"] == []
    assert created["dest"] == {**sent["dest"], "title": None, "message": None}


def test_email_dest_is_accepted_despite_the_ambiguous_oneof(client: Client) -> None:
    # a strict oneOf validator rejects every EmailDest (it also matches EmailSubscriptionDest)
    assert client.post("/data_schedules", json={"data_schedule": new_schedule()}).status_code == 201


def test_ids_increase_and_are_never_reused(client: Client) -> None:
    first = client.post("/data_schedules", json={"data_schedule": new_schedule()}).json()["data_schedule"]
    assert client.delete(f"/data_schedules/{first['id']}").status_code == 200
    second = client.post("/data_schedules", json={"data_schedule": new_schedule()}).json()["data_schedule"]
    assert second["id"] > first["id"]
    assert second["dynamic_filter_presets"][0]["id"] > first["dynamic_filter_presets"][0]["id"]


def test_concurrent_creates_get_distinct_ids(client: Client, sandbox: Sandbox) -> None:
    ids: list[int] = []
    lock = threading.Lock()

    def create() -> None:
        resp = requests.post(
            f"{sandbox.base_url}/data_schedules",
            json={"data_schedule": new_schedule()},
            headers={"X-Holistics-Key": sandbox.key},
            timeout=5,
        )
        with lock:
            ids.append(resp.json()["data_schedule"]["id"])

    threads = [threading.Thread(target=create) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 16
    assert sorted(ids) == [s["id"] for s in sandbox.control.schedules()]


def test_put_replaces_the_whole_object(example: Client, example_sandbox: Sandbox) -> None:
    before = example.get("/data_schedules/4804").json()["data_schedule"]
    assert len(before["dynamic_filter_presets"]) == 2
    replacement: dict[str, Any] = {
        "source_type": "QueryReport",
        "source_id": 5301,
        "schedule": {"repeat": "0 9 * * *", "paused": True},
        "dest": {
            "type": "GsheetDest",
            "sheet_url": "https://docs.google.com/spreadsheets/d/x/edit",
            "sheet_title": "T",
        },
    }
    resp = example.put("/data_schedules/4804", json={"data_schedule": replacement})
    assert resp.status_code == 200
    after = resp.json()["data_schedule"]
    assert after == {
        "id": 4804,
        "title": None,  # not sent: a full replace, nothing kept from before
        **{k: v for k, v in replacement.items() if k != "schedule"},
        "schedule": {**replacement["schedule"], "is_archived": False},
        "dynamic_filter_presets": [],
    }
    assert example.get("/data_schedules/4804").json()["data_schedule"] == after


def test_put_gives_resent_presets_new_ids(example: Client) -> None:
    current = example.get("/data_schedules/4804").json()["data_schedule"]
    old_ids = {p["id"] for p in current["dynamic_filter_presets"]}
    updated = example.put("/data_schedules/4804", json={"data_schedule": current}).json()["data_schedule"]
    new_ids = {p["id"] for p in updated["dynamic_filter_presets"]}
    assert new_ids.isdisjoint(old_ids) and len(new_ids) == 2
    strip = [{k: v for k, v in p.items() if k != "id"} for p in current["dynamic_filter_presets"]]
    assert [{k: v for k, v in p.items() if k != "id"} for p in updated["dynamic_filter_presets"]] == strip


def test_delete_then_404(example: Client) -> None:
    resp = example.delete("/data_schedules/4801")
    assert resp.status_code == 200 and isinstance(resp.json()["message"], str)
    assert_error(example.get("/data_schedules/4801"), 404, "BaseError")
    assert_error(example.delete("/data_schedules/4801"), 404, "BaseError")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/data_schedules/999999"),
        ("PUT", "/data_schedules/999999"),
        ("DELETE", "/data_schedules/999999"),
        ("POST", "/data_schedules/999999/submit_execute"),
        ("GET", "/jobs/999999"),
        ("GET", "/jobs/999999/logs"),
        ("GET", "/dashboards/999999"),
        ("GET", "/query_reports/999999"),
        ("GET", "/no_such_thing"),
    ],
)
def test_unknown_ids_and_routes_are_404(example: Client, method: str, path: str) -> None:
    resp = example.session.request(
        method, example.sb.base_url + path, json={"data_schedule": new_schedule()}, timeout=5
    )
    assert_error(resp, 404, "BaseError")


def test_non_integer_id_is_invalid_parameter(example: Client) -> None:
    assert_error(example.get("/data_schedules/abc"), 400, "InvalidParameterError")
    assert_error(example.get("/jobs/1.5"), 400, "InvalidParameterError")


# ---- auth ----


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_bad_or_missing_key_is_401(example_sandbox: Sandbox, key: str | None) -> None:
    headers = {} if key is None else {"X-Holistics-Key": key}
    resp = requests.get(f"{example_sandbox.base_url}/data_schedules", headers=headers, timeout=5)
    body = assert_error(resp, 401, "AuthError")
    assert set(body) == {"type", "message"}
    if key:
        assert key not in resp.text  # what was sent is never echoed


# ---- validation ----


def test_record_error_per_field(client: Client, sandbox: Sandbox) -> None:
    bad = new_schedule(source_id=424242)
    del bad["schedule"]["paused"]
    bad["dest"] = {"type": "EmailDest", "options": {"include_header": "yes"}}
    bad["dynamic_filter_presets"] = [
        {"dynamic_filter_id": 7, "preset_condition": {"operator": "between", "values": [1]}}
    ]
    resp = client.post("/data_schedules", json={"data_schedule": bad})
    record = assert_error(resp, 422, "RecordError")["record"]
    assert set(record) >= {
        "schedule.paused",
        "dest.recipients",
        "dest.options.include_header",
        "dynamic_filter_presets.0.preset_condition.values",
    }
    assert all(isinstance(m, str) for msgs in record.values() for m in msgs)
    assert sandbox.control.schedules() == []


def test_record_error_for_unknown_source_and_filter(client: Client) -> None:
    missing = client.post("/data_schedules", json={"data_schedule": new_schedule(source_id=9)})
    assert assert_error(missing, 422, "RecordError")["record"] == {"source_id": ["Dashboard 9 does not exist"]}
    wrong_kind = client.post("/data_schedules", json={"data_schedule": new_schedule(source_type="QueryReport")})
    assert "source_id" in assert_error(wrong_kind, 422, "RecordError")["record"]
    foreign_filter = new_schedule()
    foreign_filter["dynamic_filter_presets"][0]["dynamic_filter_id"] = 41  # a Finance dashboard filter
    resp = client.post("/data_schedules", json={"data_schedule": foreign_filter})
    assert set(assert_error(resp, 422, "RecordError")["record"]) == {"dynamic_filter_presets.0.dynamic_filter_id"}
    by_uname = new_schedule()
    by_uname["dynamic_filter_presets"][0]["dynamic_filter_id"] = "region"
    assert client.post("/data_schedules", json={"data_schedule": by_uname}).status_code == 201


def test_put_is_validated_too(example: Client) -> None:
    resp = example.put("/data_schedules/4801", json={"data_schedule": {"title": "only a title"}})
    assert set(assert_error(resp, 422, "RecordError")["record"]) >= {"source_type", "source_id", "dest", "schedule"}


@pytest.mark.parametrize("data", [b"{not json", b"", b'{"schedule": {}}', b'{"data_schedule": [1]}', b"[]"])
def test_malformed_bodies_are_invalid_parameter(client: Client, data: bytes) -> None:
    resp = client.post("/data_schedules", data=data, headers={"Content-Type": "application/json"})
    assert_error(resp, 400, "InvalidParameterError")


# ---- jobs ----


def test_job_runs_queued_running_success(example: Client) -> None:
    job = example.post("/data_schedules/4812/submit_execute").json()["job"]
    assert job["status"] == "queued" and isinstance(job["id"], int)
    statuses = [example.get(f"/jobs/{job['id']}").json()["job"]["status"] for _ in range(3)]
    assert statuses == ["running", "success", "success"]
    final = example.get(f"/jobs/{job['id']}").json()["job"]
    assert final["last_error_log"] is None and final["start_time"] and final["end_time"]
    logs = example.get(f"/jobs/{job['id']}/logs").json()["job_logs"]
    assert logs and {entry["level"] for entry in logs} == {"INFO"}
    assert all(set(entry) == {"level", "message", "timestamp"} for entry in logs)


def test_job_failure_when_told(example: Client, example_sandbox: Sandbox) -> None:
    example_sandbox.control.fail_jobs(4803)
    job = example.post("/data_schedules/4803/submit_execute").json()["job"]
    example.get(f"/jobs/{job['id']}")
    failed = example.get(f"/jobs/{job['id']}").json()["job"]
    assert failed["status"] == "failure"
    assert "channel_not_found" in failed["last_error_log"]
    errors = [e for e in example.get(f"/jobs/{job['id']}/logs").json()["job_logs"] if e["level"] == "ERROR"]
    assert [e["message"] for e in errors] == [failed["last_error_log"]]
    # other schedules are unaffected
    other = example.post("/data_schedules/4812/submit_execute").json()["job"]
    example.get(f"/jobs/{other['id']}")
    assert example.get(f"/jobs/{other['id']}").json()["job"]["status"] == "success"


def test_already_existed_while_a_job_is_unfinished(example: Client) -> None:
    first = example.post("/data_schedules/4801/submit_execute").json()["job"]
    second = example.post("/data_schedules/4801/submit_execute").json()["job"]
    assert second["status"] == "already_existed"
    assert second["existing_job_id"] == first["id"] and second["id"] != first["id"]
    assert example.get(f"/jobs/{second['id']}").json()["job"]["status"] == "already_existed"
    example.get(f"/jobs/{first['id']}")  # running: still a duplicate
    assert example.post("/data_schedules/4801/submit_execute").json()["job"]["status"] == "already_existed"
    example.get(f"/jobs/{first['id']}")  # success: a new run may start
    assert example.post("/data_schedules/4801/submit_execute").json()["job"]["status"] == "queued"


# ---- sources ----


def test_dashboards_and_reports_from_seed(example: Client) -> None:
    dashboard = example.get("/dashboards/1234").json()["dashboard"]
    assert dashboard["id"] == 1234 and dashboard["title"] and dashboard["url"].startswith("https://")
    region = next(f for f in dashboard["dynamic_filters"] if f["id"] == 7)
    assert region["uname"] == "region" and region["definition"]["filter_type"] == "string"
    assert {"label", "filter_type"} <= set(region["definition"])
    report = example.get("/query_reports/5301").json()["query_report"]
    assert report["id"] == 5301 and report["title"]
    assert_error(example.get("/dashboards/5301"), 404, "BaseError")


# ---- rate limit ----


def test_rate_limit_429_with_retry_after_seconds() -> None:
    with Sandbox(seed="empty", rate_limit=(3, 60)) as sb:
        c = Client(sb)
        assert [c.get("/data_schedules").status_code for _ in range(3)] == [200, 200, 200]
        for _ in range(5):  # control calls are neither limited nor counted
            assert requests.get(f"{sb.url}/_sandbox/config", timeout=5).status_code == 200
        resp = c.get("/data_schedules")
        assert_error(resp, 429, "RateLimitExceedError")
        assert 1 <= int(resp.headers["Retry-After"]) <= 60
        sb.control.set_rate_limit(None)
        assert c.get("/data_schedules").status_code == 200


def test_rate_limit_retry_after_as_http_date() -> None:
    with Sandbox(seed="empty", rate_limit=(1, 30), retry_after="http-date") as sb:
        c = Client(sb)
        assert c.get("/data_schedules").status_code == 200
        resp = c.get("/data_schedules")
        assert resp.status_code == 429
        when = email.utils.parsedate_to_datetime(resp.headers["Retry-After"])
        wait = (when - datetime.now(UTC)).total_seconds()
        assert 0 < wait <= 32


def test_rate_limiter_window_frees_slots() -> None:
    now = [100.0]
    limiter = RateLimiter(2, 60, clock=lambda: now[0])
    assert limiter.acquire() is None
    now[0] += 10
    assert limiter.acquire() is None
    assert limiter.acquire() == pytest.approx(50)  # the first stamp leaves the window in 50 s
    now[0] += 50
    assert limiter.acquire() is None  # refused requests did not count
    assert limiter.acquire() == pytest.approx(10)


def test_holistics_rate_limit_preset(sandbox: Sandbox) -> None:
    sandbox.control.use_holistics_rate_limit()
    assert sandbox.control.config()["rate_limit"] == {"count": 120, "window_seconds": 60.0}


# ---- faults ----


def test_fault_before_store_leaves_state_untouched(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="POST", path="/data_schedules", status=500, when="before")
    assert_error(client.post("/data_schedules", json={"data_schedule": new_schedule()}), 500, "InternalHolisticsError")
    assert sandbox.control.schedules() == []
    assert client.post("/data_schedules", json={"data_schedule": new_schedule()}).status_code == 201  # used up
    assert sandbox.control.faults() == []


def test_fault_after_store_the_write_happened(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="POST", path="/data_schedules", status=503, when="after")
    assert_error(client.post("/data_schedules", json={"data_schedule": new_schedule()}), 503, "MaintenanceError")
    stored = sandbox.control.schedules()
    assert len(stored) == 1 and stored[0]["title"] == "Weekly sales"


def test_dropped_connection_after_store(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="POST", path="/data_schedules", drop=True, when="after")
    with pytest.raises(requests.ConnectionError):
        client.post("/data_schedules", json={"data_schedule": new_schedule()})
    assert len(sandbox.control.schedules()) == 1
    assert sandbox.control.requests()[-1] == {"method": "POST", "path": "/data_schedules", "query": {}, "status": None}


def test_dropped_connection_before_store(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="*", path="/data_schedules", drop=True)
    with pytest.raises(requests.ConnectionError):
        client.post("/data_schedules", json={"data_schedule": new_schedule()})
    assert sandbox.control.schedules() == []
    assert client.get("/data_schedules").status_code == 200  # a fresh connection works


def test_timeout_fault_stores_then_answers_too_late(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="POST", path="/data_schedules", status=None, delay_ms=2000, when="after")
    with pytest.raises(requests.ReadTimeout):
        client.post("/data_schedules", json={"data_schedule": new_schedule()}, timeout=0.3)
    assert len(sandbox.control.schedules()) == 1


def test_fault_patterns_methods_and_counts(example: Client, example_sandbox: Sandbox) -> None:
    example_sandbox.control.add_fault(method="GET", path=r"^/data_schedules/\d+$", status=502, count=2)
    example_sandbox.control.add_fault(method="GET", path="/jobs/*", status=429)
    assert example.get("/data_schedules").status_code == 200  # the list does not match the regex
    assert [example.get("/data_schedules/4801").status_code for _ in range(3)] == [502, 502, 200]
    limited = example.get("/jobs/1")
    assert_error(limited, 429, "RateLimitExceedError")
    assert limited.headers["Retry-After"] == "1"
    assert example.get("/jobs/1").status_code == 404
    stays = example_sandbox.control.add_fault(method="DELETE", path="*", status=403, count=None)
    assert [example.delete("/data_schedules/4801").status_code for _ in range(3)] == [403] * 3
    assert example_sandbox.control.faults() == [stays.to_dict()]
    example_sandbox.control.clear_faults()
    assert example.delete("/data_schedules/4801").status_code == 200


def test_invalid_faults_are_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.control.add_fault(status=None)  # neither a status, a drop nor a delay
    with pytest.raises(ValueError):
        sandbox.control.add_fault(when="during")  # type: ignore[arg-type]


def test_latency_is_added(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.set_latency(150)
    started = time.monotonic()
    client.get("/data_schedules")
    assert time.monotonic() - started >= 0.15
    sandbox.control.set_latency(0)


def test_faults_from_constructor() -> None:
    with Sandbox(seed="empty", faults=[{"method": "GET", "path": "/data_schedules", "status": 500}]) as sb:
        c = Client(sb)
        assert [c.get("/data_schedules").status_code for _ in range(2)] == [500, 200]


# ---- error shape ----


def test_wrapped_error_shape(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.set_error_shape("wrapped")
    body = client.get("/data_schedules/1").json()
    assert set(body) == {"error"} and body["error"]["type"] == "BaseError"
    assert body["error"]["message"] and body["error"]["debug_id"]
    invalid = client.post("/data_schedules", json={"data_schedule": new_schedule(source_id=9)}).json()
    assert invalid["error"]["type"] == "RecordError" and invalid["error"]["record"]["source_id"]
    sandbox.control.set_error_shape("flat")
    assert set(client.get("/data_schedules/1").json()) == {"type", "message"}


# ---- request log ----


def test_request_log(client: Client, sandbox: Sandbox) -> None:
    client.get("/data_schedules", params={"limit": 5})
    client.get("/data_schedules/77")
    requests.get(f"{sandbox.url}/_sandbox/state", timeout=5)  # not logged
    assert sandbox.control.requests() == [
        {"method": "GET", "path": "/data_schedules", "query": {"limit": "5"}, "status": 200},
        {"method": "GET", "path": "/data_schedules/77", "query": {}, "status": 404},
    ]
    sandbox.control.clear_requests()
    assert sandbox.control.requests() == []


# ---- the key never leaks ----


def test_key_never_in_responses_or_logs() -> None:
    key = "sbx-SECRET-8f1c2d"
    lines: list[str] = []
    with Sandbox(key=key, seed="example", rate_limit=(30, 60), echo=lines.append) as sb:
        sb.control.add_fault(method="GET", path="/data_schedules/4801", status=500)
        sb.control.add_fault(method="GET", path="/data_schedules/4802", drop=True)
        good, bad = Client(sb), Client(sb, key=key + "x")
        answers = [
            good.get("/data_schedules", params={"limit": 100}),
            good.get("/data_schedules", params={"api_key": key}),  # a client that put it in the URL
            good.get("/data_schedules/4801"),
            good.get("/data_schedules/4803"),
            good.get("/data_schedules/9"),
            good.post("/data_schedules", json={"data_schedule": {"source_type": key}}),
            good.post("/data_schedules/4803/submit_execute"),
            bad.get("/data_schedules"),
            requests.get(f"{sb.url}/_sandbox/requests", timeout=5),
            requests.get(f"{sb.url}/_sandbox/config", timeout=5),
            requests.get(f"{sb.url}/_sandbox/state", timeout=5),
        ]
        with pytest.raises(requests.ConnectionError):
            good.get("/data_schedules/4802")
        sb.control.set_rate_limit(1, 60)
        answers.append(good.get("/data_schedules"))
        answers.append(good.get("/data_schedules"))
        assert answers[-1].status_code == 429
        log = json.dumps(sb.control.requests())
    assert answers[5].status_code == 422 and "[redacted]" in answers[5].text  # quoted back, but scrubbed
    for resp in answers:
        assert key not in resp.text and all(key not in v for v in resp.headers.values())
    assert key not in log and "[redacted]" in log
    assert lines and all(key not in line for line in lines)


# ---- control endpoint over HTTP ----


def test_control_endpoint_over_http(client: Client, sandbox: Sandbox) -> None:
    control = f"{sandbox.url}/_sandbox"
    routes = requests.get(control, timeout=5).json()["routes"]
    assert any("/_sandbox/faults" in r for r in routes)

    seeded = requests.put(
        f"{control}/state", json={"data_schedules": [new_schedule(id=500), new_schedule()]}, timeout=5
    )
    assert seeded.status_code == 200
    ids = [s["id"] for s in seeded.json()["data_schedules"]]
    assert ids[0] == 500 and ids[1] > 500
    assert [s["id"] for s in requests.get(f"{control}/state", timeout=5).json()["data_schedules"]] == ids
    added = requests.post(f"{control}/schedules", json={"data_schedule": new_schedule(title="added")}, timeout=5)
    assert added.status_code == 201 and added.json()["data_schedule"]["id"] > ids[1]
    rejected = requests.put(f"{control}/state", json={"data_schedules": [{"title": "x"}]}, timeout=5)
    assert_error(rejected, 400, "InvalidParameterError")
    assert requests.put(f"{control}/state?validate=false", json=[{"id": 3, "title": "odd"}], timeout=5).ok

    fault = requests.post(
        f"{control}/faults", json={"method": "GET", "path": "/data_schedules/*", "status": 500}, timeout=5
    )
    assert fault.status_code == 201
    assert len(requests.get(f"{control}/faults", timeout=5).json()["faults"]) == 1
    assert requests.delete(f"{control}/faults", timeout=5).ok
    assert client.get("/data_schedules/3").status_code == 200
    assert_error(
        requests.post(f"{control}/faults", json={"status": 500, "bogus": 1}, timeout=5), 400, "InvalidParameterError"
    )

    config = requests.put(
        f"{control}/config",
        json={"latency_ms": 5, "rate_limit": "2/60", "error_shape": "wrapped", "retry_after": "http-date"},
        timeout=5,
    )
    assert config.json() == {
        "latency_ms": 5,
        "rate_limit": {"count": 2, "window_seconds": 60.0},
        "retry_after": "http-date",
        "error_shape": "wrapped",
        "server_like": False,
        "strict_input": False,
        "immutable_source": False,
        "list_metadata": True,
    }
    assert client.get("/data_schedules/424").json()["error"]["type"] == "BaseError"
    assert client.get("/data_schedules").status_code == 200
    assert client.get("/data_schedules").status_code == 429
    requests.put(f"{control}/config", json={"latency_ms": 0, "rate_limit": None, "error_shape": "flat"}, timeout=5)
    assert client.get("/data_schedules").status_code == 200

    assert len(requests.get(f"{control}/requests", timeout=5).json()["requests"]) == 5
    assert requests.delete(f"{control}/requests", timeout=5).ok
    assert requests.get(f"{control}/requests", timeout=5).json()["requests"] == []

    assert requests.post(f"{control}/jobs/fail", json={"schedule_id": 3}, timeout=5).ok
    job = client.post("/data_schedules/3/submit_execute").json()["job"]
    client.get(f"/jobs/{job['id']}")
    assert client.get(f"/jobs/{job['id']}").json()["job"]["status"] == "failure"
    assert requests.get(f"{control}/jobs", timeout=5).json()["jobs"][0]["id"] == job["id"]
    assert requests.get(f"{control}/nothing", timeout=5).status_code == 404


def test_put_schedules_keeps_ids_and_counters_only_rise(sandbox: Sandbox) -> None:
    stored = sandbox.control.put_schedules([new_schedule(id=40), new_schedule()])
    assert [s["id"] for s in stored] == [40, 41]
    stored = sandbox.control.put_schedules([new_schedule(id=7)])
    assert sandbox.control.add_schedule(new_schedule())["id"] == 42  # 41 was handed out once already
    with pytest.raises(ValueError, match="duplicate id"):
        sandbox.control.put_schedules([new_schedule(id=7), new_schedule(id=7)])
    with pytest.raises(ValueError, match="source_id"):
        sandbox.control.add_schedule(new_schedule(source_id=1))


# ---- lifecycle and persistence ----


def test_state_file_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "sandbox.json"
    with Sandbox(seed="empty", state_file=path) as sb:
        c = Client(sb)
        created = c.post("/data_schedules", json={"data_schedule": new_schedule()}).json()["data_schedule"]
        job = c.post(f"/data_schedules/{created['id']}/submit_execute").json()["job"]
        c.get(f"/jobs/{job['id']}")
        sb.control.fail_jobs(created["id"])
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    with Sandbox(seed="example", state_file=path) as sb:  # the file wins over the seed
        c = Client(sb)
        assert sb.control.schedules() == [created]
        assert c.get(f"/jobs/{job['id']}").json()["job"]["status"] == "failure"  # fail flag kept too
        again = c.post("/data_schedules", json={"data_schedule": new_schedule()}).json()["data_schedule"]
        assert again["id"] > created["id"]
        newer_job = c.post(f"/data_schedules/{created['id']}/submit_execute").json()["job"]
        assert newer_job["id"] > job["id"]


def test_corrupt_state_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{}")
    with pytest.raises(ValueError, match="state file"):
        Sandbox(state_file=path)


def test_stop_cuts_keep_alive_connections() -> None:
    sb = Sandbox(seed="empty").start()
    c = Client(sb)
    assert c.get("/data_schedules").status_code == 200
    sb.stop()
    with pytest.raises(requests.ConnectionError):
        c.get("/data_schedules")
    sb.stop()  # idempotent


def test_seed_file(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"data_schedules": [new_schedule(id=12)]}))
    with Sandbox(seed=seed) as sb:
        assert [s["id"] for s in sb.control.schedules()] == [12]
        assert Client(sb).get("/dashboards/1234").status_code == 200  # the example's dashboards by default
    seed.write_text(json.dumps({"data_schedules": [new_schedule(source_id=1)]}))
    with pytest.raises(ValueError, match="invalid seed"):
        Sandbox(seed=seed)


# ---- the example workspace ----


def test_example_seed_is_realistic_and_valid() -> None:
    workspace = load_seed("example")
    schedules = workspace.data_schedules
    assert 35 <= len(schedules) <= 45
    assert {s["dest"]["type"] for s in schedules} == set(dest_branches())  # every type the spec has
    assert any(s["schedule"]["paused"] for s in schedules)
    assert sum(1 for s in schedules if s["dynamic_filter_presets"]) >= 8
    assert len({s["schedule"]["repeat"] for s in schedules}) >= 10
    slack = [c for s in schedules if s["dest"]["type"] == "SlackDest" for c in s["dest"]["slack_channels"]]
    assert all(set(c) == {"id", "name", "type"} for c in slack)
    assert len(workspace.dashboards) >= 3 and all(d["dynamic_filters"] for d in workspace.dashboards)
    assert len(workspace.query_reports) >= 3
    for schedule in schedules:  # everything the seed holds is what the YAML format can express
        entry = copy.deepcopy(schedule)
        del entry["schedule"]["is_archived"]
        for preset in entry["dynamic_filter_presets"]:
            del preset["id"]
        DataScheduleSpec.model_validate(entry)
    assert load_seed("empty").data_schedules == [] and load_seed(None).dashboards == workspace.dashboards


def _managed_part(remote: Any, desired: Any) -> Any:
    """The part of `remote` the YAML entry writes (recursively for objects; lists whole)."""
    if isinstance(desired, dict) and isinstance(remote, dict):
        return {k: _managed_part(remote.get(k), v) for k, v in desired.items()}
    return remote


def _comparable(schedule: dict[str, Any]) -> dict[str, Any]:
    """Presets without their server ids, and with the spec's defaults spelled out."""
    out = copy.deepcopy(schedule)
    presets = out.get("dynamic_filter_presets") or []
    for preset in presets:
        preset.pop("id", None)
        preset.setdefault("public_hidden", False)
        preset["preset_condition"].setdefault("modifier", None)
    return out


def test_schedules_examples_match_the_seed() -> None:
    seed = {s["id"]: s for s in load_seed("example").data_schedules}
    entries: dict[str, dict[str, Any]] = {}
    files = sorted((ROOT / "schedules").glob("*.yml"))
    assert 2 <= len(files) <= 5
    merges = 0
    for file in files:
        text = file.read_text()
        merges += text.count("<<: *")
        for key, entry in YAML(typ="safe").load(text).get("schedules", {}).items():
            assert key not in entries, f"{key} declared twice"
            entries[key] = entry
    assert merges >= 1
    unchanged, updated, created = set(), set(), []
    for key, entry in entries.items():
        spec = DataScheduleSpec.model_validate(entry)
        fields = _comparable(spec.api_fields())
        if spec.id is None:
            created.append(key)
            continue
        assert spec.id in seed, key
        if _managed_part(_comparable(seed[spec.id]), fields) == fields:
            unchanged.add(spec.id)
        else:
            updated.add(spec.id)
    assert updated == {4803, 4805, 4828}
    assert unchanged == {4801, 4812, 4813, 4814, 4815, 4816, 4820, 4823}
    assert len(created) == 4
    assert {e["dest"]["type"] for e in entries.values()} == set(DEST_TYPES)  # every type the YAML can hold


def test_examples_apply_cleanly_to_the_sandbox(example: Client) -> None:
    # every new entry is something the sandbox accepts as it stands
    for file in sorted((ROOT / "schedules").glob("*.yml")):
        for entry in YAML(typ="safe").load(file.read_text()).get("schedules", {}).values():
            if "id" not in entry:
                body = DataScheduleSpec.model_validate(entry).api_fields()
                assert example.post("/data_schedules", json={"data_schedule": body}).status_code == 201


# ---- command line ----


def test_cli_runs_until_interrupted() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.sandbox",
            "--port",
            "0",
            "--seed",
            "empty",
            "--key",
            "k1",
            "--rate-limit",
            "120/60",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline().strip()
        base_url = banner.rsplit(" ", 1)[-1]
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/api/v2")
        assert "k1" in proc.stdout.readline()
        resp = requests.get(f"{base_url}/data_schedules", headers={"X-Holistics-Key": "k1"}, timeout=5)
        assert resp.json()["total_count"] == 0
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "stopped" in out and "k1" not in out.split("Press Ctrl-C")[-1]


def test_cli_rejects_a_bad_rate_limit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--rate-limit", "lots", "--port", "0"])
    assert exc.value.code == 2
    assert "N/S" in capsys.readouterr().err


def test_a_fault_given_the_full_api_path_fires(sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="GET", path="/api/v2/data_schedules", status=503, count=1)
    response = requests.get(sandbox.base_url + "/data_schedules", headers={"X-Holistics-Key": sandbox.key}, timeout=10)
    assert response.status_code == 503


README_STYLE_ENTRY = """\
title: Weekly sales
source_type: Dashboard
source_id: 1234
schedule: {repeat: "0 8 * * 1"}
dest:
  type: EmailDest
  recipients: [sales@example.com]
"""


@pytest.mark.parametrize("route", ["schedules", "state"])
def test_the_control_routes_take_a_schedule_as_the_yaml_has_it(sandbox: Sandbox, route: str) -> None:
    # an entry as the README writes it: `schedule.paused` left out, false by the YAML's default
    entry = YAML(typ="safe").load(README_STYLE_ENTRY)
    if route == "schedules":
        resp = requests.post(f"{sandbox.url}/_sandbox/schedules", json=entry, timeout=5)
    else:
        resp = requests.put(f"{sandbox.url}/_sandbox/state", json={"data_schedules": [entry]}, timeout=5)
    assert resp.status_code in (200, 201), resp.text
    (stored,) = sandbox.control.schedules()
    assert stored["schedule"] == {"repeat": "0 8 * * 1", "paused": False, "is_archived": False}
    assert DataScheduleSpec.model_validate(entry).api_fields()["schedule"] == {"repeat": "0 8 * * 1", "paused": False}
