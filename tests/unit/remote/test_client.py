"""Tests of reconciler.remote.client: recorded HTTP (vcrpy cassettes) plus requests-level fakes and loopback sockets.

Replay (the default) runs against tests/unit/remote/cassettes/ with record_mode "none". With HOLISTICS_RECORD=1 and
HOLISTICS_API_KEY set, the cassettes in RECORDABLE are re-recorded against the real API (record_mode
"all"); see tests/unit/remote/cassettes/README.md. No test ever really sleeps: waits go to an injected fake clock.
"""

from __future__ import annotations

import http.client
import http.server
import json
import os
import random
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import vcr
import yaml
from requests.adapters import BaseAdapter, HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from reconciler import spec
from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import (
    REGIONS,
    APIError,
    AuthError,
    ConfigError,
    HolisticsClient,
    HolisticsError,
    InvalidParameters,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    RateLimiter,
    RecordInvalid,
    ServerError,
    TransportError,
    UnexpectedResponse,
    is_loopback,
    resolve_base_url,
)
from reconciler.sandbox.validation import validate_data_schedule
from tests.helpers import loopback_server

CASSETTES = Path(__file__).parent / "cassettes"
TEST_KEY = "hk_test_9f8e7d6c5b4a39281706"  # a fake key: must never be written to a cassette
BASE = REGIONS["apac"]
RECORDING = os.environ.get("HOLISTICS_RECORD") == "1" and bool(os.environ.get("HOLISTICS_API_KEY"))
# Cassettes a real workspace can reproduce on demand; the others (429, 5xx, 403, ...) are generated only.
RECORDABLE = frozenset({"list_pages", "schedule_crud", "auth_401", "not_found_404", "record_invalid_422"})


# ---------------------------------------------------------------------------------------------------
# Shared fakes


class FakeClock:
    """A monotonic clock whose sleep() records the wait and advances time instead of blocking."""

    def __init__(self, advance: bool = True) -> None:
        self.now = 1000.0
        self.advance = advance
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if self.advance:
                self.now += seconds


def make_client(
    base_url: str = BASE, key: str = TEST_KEY, *, clock: FakeClock | None = None, **kwargs: Any
) -> tuple[HolisticsClient, FakeClock, list[str]]:
    clock = clock or FakeClock()
    events: list[str] = []
    kwargs.setdefault("rate_limiter", RateLimiter(clock=clock.time, sleep=clock.sleep))
    client = HolisticsClient(base_url, key, sleep=clock.sleep, on_event=events.append, **kwargs)
    return client, clock, events


Scripted = tuple[int, Any, dict[str, str]] | BaseException


class FakeAdapter(BaseAdapter):
    """Answers from a script: (status, body, headers) tuples or exceptions to raise. Thread-safe."""

    def __init__(self, *script: Scripted, repeat_last: bool = False) -> None:
        super().__init__()
        self.script = list(script)
        self.repeat_last = repeat_last
        self.calls: list[requests.PreparedRequest] = []
        self.timeouts: list[Any] = []
        self._lock = threading.Lock()

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        with self._lock:
            self.calls.append(request)
            self.timeouts.append(timeout)
            item = self.script[0] if self.repeat_last and len(self.script) == 1 else self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        status, body, headers = item
        resp = requests.Response()
        resp.status_code = status
        resp.reason = http.client.responses.get(status, "")
        resp.request = request
        resp.url = request.url or ""
        if isinstance(body, bytes | str):
            resp._content = body.encode() if isinstance(body, str) else body
            ctype = "text/plain"
        else:
            resp._content = json.dumps(body).encode()
            ctype = "application/json"
        resp.headers = CaseInsensitiveDict({"Content-Type": ctype, **headers})
        return resp

    def close(self) -> None:
        pass

    @property
    def methods(self) -> list[str]:
        return [c.method or "" for c in self.calls]


def fake_client(
    *script: Scripted, repeat_last: bool = False, **kwargs: Any
) -> tuple[HolisticsClient, FakeAdapter, FakeClock, list[str]]:
    adapter = FakeAdapter(*script, repeat_last=repeat_last)
    session = requests.Session()
    session.mount("https://", adapter)
    client, clock, events = make_client(session=session, **kwargs)
    return client, adapter, clock, events


def ok(body: Any, status: int = 200, **headers: str) -> tuple[int, Any, dict[str, str]]:
    return status, body, headers


def refused() -> requests.ConnectionError:
    """What requests raises when nothing listens: the request never left this machine."""
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111] Connection refused")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, "/api/v2/data_schedules", reason))  # type: ignore[arg-type]


def dropped() -> requests.ConnectionError:
    """What requests raises when the server closes the socket after reading the request."""
    cause = http.client.RemoteDisconnected("Remote end closed connection without response")
    return requests.ConnectionError(ProtocolError("Connection aborted.", cause))


SCHEDULE = {
    "id": 7,
    "source_type": "Dashboard",
    "source_id": 1,
    "schedule": {"repeat": "0 4 * * *", "paused": False},
    "dest": {"type": "EmailDest", "title": "t", "recipients": ["a@example.com"]},
}
NEW_BODY = {k: v for k, v in SCHEDULE.items() if k != "id"}


# ---------------------------------------------------------------------------------------------------
# Cassettes


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    # Real answers may carry session cookies; they are not needed for replay.
    for name in list(response["headers"]):
        if name.lower() in ("set-cookie", "authorization"):
            del response["headers"][name]
    return response


def cassette_vcr(library: Path = CASSETTES, record_mode: str = "none") -> vcr.VCR:
    return vcr.VCR(
        cassette_library_dir=str(library),
        record_mode=record_mode,
        # Host is left out so cassettes recorded in any region replay against the default base URL.
        match_on=("method", "path", "query"),
        filter_headers=[("X-Holistics-Key", "REDACTED")],
        before_record_response=_scrub_response,
        decode_compressed_response=True,
    )


@dataclass
class Replay:
    client: HolisticsClient
    clock: FakeClock
    events: list[str]
    cassette: Any
    live: bool
    sent: list[requests.PreparedRequest] = field(default_factory=list)

    def sent_query(self, i: int) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.sent[i].url or "").query)

    def sent_json(self, i: int) -> Any:
        body = self.sent[i].body
        return json.loads(body) if body else None


@contextmanager
def replay(
    name: str, *, key: str | None = None, all_played: bool = True, recordable: bool = True, **client_kwargs: Any
) -> Iterator[Replay]:
    live = RECORDING and recordable and name in RECORDABLE
    if live:
        base = resolve_base_url(None, os.environ.get("HOLISTICS_BASE_URL"))
        key = key or os.environ["HOLISTICS_API_KEY"]
    else:
        base = BASE
        key = key or TEST_KEY
    session = requests.Session()
    sent: list[requests.PreparedRequest] = []
    session.hooks["response"].append(lambda r, *a, **kw: sent.append(r.request))
    clock = FakeClock()
    events: list[str] = []
    if live:  # a real API must really be waited for
        client = HolisticsClient(base, key, session=session, on_event=events.append)
    else:
        client = HolisticsClient(
            base,
            key,
            session=session,
            sleep=clock.sleep,
            on_event=events.append,
            rate_limiter=RateLimiter(clock=clock.time, sleep=clock.sleep),
            **client_kwargs,
        )
    with cassette_vcr(record_mode="all" if live else "none").use_cassette(f"{name}.yaml") as cass:
        ctx = Replay(client, clock, events, cass, live, sent)
        yield ctx
    if not live and all_played:
        assert cass.all_played, f"{name}: some recorded interactions were not used"
    client.close()


def cursor_chain(ctx: Replay) -> None:
    """Each page after the first was asked for with the previous page's cursors.next as `after`."""
    responses = [json.loads(r["body"]["string"]) for r in ctx.cassette.responses]
    for i in range(1, len(ctx.sent)):
        assert ctx.sent_query(i)["after"] == [responses[i - 1]["cursors"]["next"]]
    assert "after" not in ctx.sent_query(0)
    assert responses[len(ctx.sent) - 1]["cursors"]["next"] in (None, "")


def test_list_follows_cursors_across_three_pages_until_null() -> None:
    with replay("list_pages") as ctx:
        schedules = list(ctx.client.list(SCHEDULES, limit=1))
        cursor_chain(ctx)
        assert all(ctx.sent_query(i)["limit"] == ["1"] for i in range(len(ctx.sent)))
        assert {r.method for r in ctx.sent} == {"GET"}
        assert ctx.client.request_count == len(ctx.sent) == len(schedules)
        if not ctx.live:
            assert [s["id"] for s in schedules] == [11, 12, 13]
            assert [ctx.sent_query(i).get("after") for i in range(3)] == [None, ["eyJpZCI6IDExfQ"], ["eyJpZCI6IDEyfQ"]]


def test_list_stops_at_empty_string_cursor_and_sends_filters() -> None:
    with replay("list_empty_cursor") as ctx:
        schedules = list(ctx.client.list(SCHEDULES, source_type="Dashboard", source_id=1))
        assert [s["id"] for s in schedules] == [21, 22]
        cursor_chain(ctx)
        assert ctx.sent_query(1) == {
            "limit": ["100"],
            "source_type": ["Dashboard"],
            "source_id": ["1"],
            "after": ["eyJpZCI6IDIxfQ"],
        }
        assert ctx.client.request_count == 2


def test_list_is_lazy() -> None:
    # Replay only: recording here would overwrite list_pages with a single page.
    with replay("list_pages", all_played=False, recordable=False) as ctx:
        first = next(iter(ctx.client.list(SCHEDULES, limit=1)))
        assert "id" in first
        assert ctx.client.request_count == 1


def _crud_body() -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "holistics-schedules client test",
        "source_type": "Dashboard",
        "source_id": int(os.environ.get("HOLISTICS_RECORD_DASHBOARD_ID", "1")),
        "schedule": {"repeat": "0 4 * * *", "paused": False},
        "dynamic_filter_presets": [],
        "dest": {
            "type": "EmailDest",
            "title": "Sale report for {{$today}}",
            "recipients": [os.environ.get("HOLISTICS_RECORD_RECIPIENT", "reports@example.com")],
            "options": {
                "preview": True,
                "include_header": True,
                "include_report_link": True,
                "include_filters": False,
                "dont_send_when_empty": True,
                "body_text": "Report",
                "attachment_formats": ["pdf", "csv"],
            },
        },
    }
    assert validate_data_schedule(body) == {}
    return body


def test_schedule_create_get_update_delete() -> None:
    if RECORDING and "HOLISTICS_RECORD_DASHBOARD_ID" not in os.environ:
        pytest.skip("recording schedule_crud needs HOLISTICS_RECORD_DASHBOARD_ID")
    body = _crud_body()
    with replay("schedule_crud") as ctx:
        c = ctx.client
        created = c.create(SCHEDULES, body)
        sid = created["id"]
        assert ctx.sent[0].method == "POST" and ctx.sent_json(0) == {"data_schedule": body}
        assert created["dest"]["recipients"] == body["dest"]["recipients"]

        fetched = c.get(SCHEDULES, sid)
        assert fetched["id"] == sid and fetched["schedule"]["paused"] is False

        update = {**body, "schedule": {"repeat": "0 4 * * *", "paused": True}}
        updated = c.update(SCHEDULES, sid, update)
        assert ctx.sent[2].method == "PUT" and ctx.sent_json(2) == {"data_schedule": update}
        assert updated["schedule"]["paused"] is True

        c.delete(SCHEDULES, sid)
        assert ctx.sent[3].method == "DELETE"
        with pytest.raises(NotFound) as err:
            c.get(SCHEDULES, sid)
        assert err.value.status == 404
        assert f"data schedule {sid} was not found" in str(err.value)
        assert c.request_count == 5
        if not ctx.live:
            assert sid == 9001


def test_401_rejected_key() -> None:
    bad = "definitely-not-a-valid-key"
    with replay("auth_401", key=bad) as ctx, pytest.raises(AuthError) as err:
        list(ctx.client.list(SCHEDULES))
    assert err.value.status == 401 and err.value.error_type == "AuthError"
    # names where the key went: a key of one region is rejected by the others
    assert str(err.value).startswith(f"the API key was rejected by {ctx.client.base_url}")
    assert "(AuthError" in str(err.value)
    assert bad not in str(err.value) and bad not in repr(err.value)
    assert ctx.client.request_count == 1  # never retried


def test_404_says_what_was_not_found() -> None:
    with replay("not_found_404") as ctx, pytest.raises(NotFound) as err:
        ctx.client.get(SCHEDULES, 999999999)
    assert str(err.value).startswith("data schedule 999999999 was not found (GET /data_schedules/999999999")
    assert (err.value.method, err.value.path) == ("GET", "/data_schedules/999999999")


def test_422_record_error_per_field() -> None:
    body = _crud_body()
    body["dest"]["recipients"] = ["not-an-email"]
    body["schedule"] = {"repeat": "61 * * * *", "paused": False}
    with replay("record_invalid_422") as ctx:
        try:
            created = ctx.client.create(SCHEDULES, body)
        except (RecordInvalid, InvalidParameters) as exc:
            err: APIError = exc
        else:  # only possible while recording; do not leave it behind
            ctx.client.delete(SCHEDULES, created["id"])
            pytest.fail("the API accepted an invalid schedule")
        assert ctx.client.request_count == 1
    if not ctx.live:
        assert isinstance(err, RecordInvalid)
        assert err.status == 422 and err.error_type == "RecordError"
        assert err.record == {
            "base": ["Data schedule could not be saved"],
            "dest.recipients": ["not-an-email is not a valid email address"],
            "schedule.repeat": ["is not a valid cron expression"],
        }
        assert "schedule.repeat: is not a valid cron expression" in str(err)
        assert str(err).startswith("the data schedule was rejected by POST /data_schedules (RecordError")


def test_403_wrapped_error_shape_names_method_and_path() -> None:
    with replay("forbidden_403") as ctx, pytest.raises(PermissionDenied) as err:
        ctx.client.update(SCHEDULES, 12, SCHEDULE)
    e = err.value
    assert (e.status, e.error_type, e.debug_id) == (403, "PermissionDeniedError", "d3b07384d113edec49eaa6238ad5ff00")
    assert e.api_message == "You do not have permission to update this data schedule"
    assert str(e).startswith("permission denied for PUT /data_schedules/12 (PermissionDeniedError: You do")
    assert ctx.client.request_count == 1


def test_400_flat_error_shape_with_details() -> None:
    with replay("invalid_params_400") as ctx, pytest.raises(InvalidParameters) as err:
        list(ctx.client.list(SCHEDULES, sort="bogus"))
    assert err.value.error_type == "InvalidParameterError"
    assert "sort does not have a valid value - sort must be one of" in str(err.value)
    assert ctx.client.request_count == 1


def test_429_retry_after_seconds_then_success() -> None:
    with replay("rate_limited_seconds") as ctx:
        assert ctx.client.get(SCHEDULES, 31)["id"] == 31
        assert ctx.clock.sleeps == [2.0]
        assert ctx.events == ["429 on GET /data_schedules/31, waiting 2.0s (Retry-After), retry 1/4"]
        assert ctx.client.request_count == 2


def test_429_retry_after_http_date_then_post_succeeds() -> None:
    # A 429 was not processed, so even a create is retried; the date is measured from the Date header.
    with replay("rate_limited_http_date") as ctx:
        assert ctx.client.create(SCHEDULES, NEW_BODY)["id"] == 9002
        assert ctx.clock.sleeps == [3.0]
        assert [r.method for r in ctx.sent] == ["POST", "POST"]


def test_5xx_on_get_retried_then_success() -> None:
    with replay("server_error_retry") as ctx:
        assert ctx.client.get(SCHEDULES, 41)["id"] == 41
        assert ctx.client.request_count == 3
        assert len(ctx.clock.sleeps) == 2
        assert 0 <= ctx.clock.sleeps[0] <= 0.5 and 0 <= ctx.clock.sleeps[1] <= 1.0  # full jitter
        assert ctx.events[0].startswith("502 on GET /data_schedules/41, retry 1/4 in")


def test_5xx_retries_exhausted_raise_server_error() -> None:
    with replay("server_error_exhausted", max_retries=2) as ctx, pytest.raises(ServerError) as err:
        ctx.client.delete(SCHEDULES, 51)
    e = err.value
    assert (e.status, e.error_type, e.attempts) == (503, "MaintenanceError", 3)
    assert str(e) == (
        "server error 503 on DELETE /data_schedules/51 after 3 attempts "
        "(MaintenanceError: Holistics is under maintenance)"
    )
    assert ctx.client.request_count == 3


def test_jobs_dashboards_reports_and_non_json_error() -> None:
    with replay("jobs_and_sources") as ctx:
        c = ctx.client
        job = c.submit(SCHEDULES, 11)
        assert job == {"id": 7001, "status": "queued", "existing_job_id": None}
        assert ctx.sent[0].body is None  # the saved schedule runs as is
        assert c.get_job(7001)["status"] == "success"
        assert [log["level"] for log in c.get_job_logs(7001)] == ["INFO", "INFO"]
        assert c.get_dashboard(1)["title"] == "Sales overview"
        assert c.get_query_report(2)["title"] == "Orders by day"
        with pytest.raises(NotFound) as err:
            c.get_dashboard(5)
        assert (err.value.error_type, err.value.api_message) == ("HTTP 404", "Not Found")
        assert str(err.value) == "dashboard 5 was not found (GET /dashboards/5: HTTP 404: Not Found)"


def _cassette_files() -> list[Path]:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert len(files) >= 13
    return files


def test_no_cassette_contains_a_key() -> None:
    secrets = [TEST_KEY, "definitely-not-a-valid-key"]
    if os.environ.get("HOLISTICS_API_KEY"):
        secrets.append(os.environ["HOLISTICS_API_KEY"])
    for path in _cassette_files():
        text = path.read_text()
        for secret in secrets:
            assert secret not in text, f"{path.name} contains an API key"
        for item in yaml.safe_load(text)["interactions"]:
            headers = {k.lower(): v for k, v in item["request"]["headers"].items()}
            assert headers["x-holistics-key"] == ["REDACTED"], path.name
            assert "authorization" not in headers
            assert not {"set-cookie"} & {k.lower() for k in item["response"]["headers"]}


def test_cassette_bodies_agree_with_the_spec() -> None:
    error_types = set(spec.enum_of("BaseError", "type"))
    for path in _cassette_files():
        for item in yaml.safe_load(path.read_text())["interactions"]:
            try:
                body = json.loads(item["response"]["body"]["string"])
            except ValueError:
                continue  # the non-JSON cases
            schedules = list(body.get("data_schedules", []))
            if "data_schedule" in body:
                schedules.append(body["data_schedule"])
            for schedule in schedules:
                assert validate_data_schedule(schedule) == {}, (path.name, schedule.get("id"))
            if "data_schedules" in body:  # the list answer's required keys
                assert {"data_schedules", "total_count", "cursors"} <= body.keys()
            if item["response"]["status"]["code"] >= 400:
                assert body.get("error", body)["type"] in error_types, path.name


class _EchoKeyHandler(http.server.BaseHTTPRequestHandler):
    seen_keys: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).seen_keys.append(self.headers.get("X-Holistics-Key"))
        payload = json.dumps({"data_schedule": SCHEDULE}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "_session=abc; HttpOnly")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_recording_redacts_the_key(tmp_path: Path) -> None:
    """The recording pipeline itself (same VCR config as re-recording) never writes the key."""
    _EchoKeyHandler.seen_keys = []
    with loopback_server(_EchoKeyHandler) as base:
        client = HolisticsClient(base, TEST_KEY)
        with cassette_vcr(tmp_path, record_mode="all").use_cassette("probe.yaml"):
            assert client.get(SCHEDULES, 7)["id"] == 7
        client.close()
    assert _EchoKeyHandler.seen_keys == [TEST_KEY]  # it was sent...
    text = (tmp_path / "probe.yaml").read_text()
    assert TEST_KEY not in text and "REDACTED" in text  # ...but not recorded
    assert "_session=abc" not in text


# ---------------------------------------------------------------------------------------------------
# Retry policy with requests-level fakes


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(lambda: ok({"error": {"type": "InternalHolisticsError", "message": "boom"}}, 500), id="500"),
        pytest.param(lambda: ok("<html>bad gateway</html>", 502), id="502-html"),
        pytest.param(lambda: requests.ReadTimeout("read timed out"), id="read-timeout"),
        pytest.param(dropped, id="dropped"),
        pytest.param(lambda: requests.ConnectionError(ConnectionResetError(104, "reset by peer")), id="reset"),
    ],
)
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.create(SCHEDULES, NEW_BODY), id="create"),
        pytest.param(lambda c: c.submit(SCHEDULES, 7), id="submit_execute"),
    ],
)
def test_post_fault_after_send_is_outcome_unknown_and_sent_once(
    fault: Callable[[], Scripted], call: Callable[[HolisticsClient], Any]
) -> None:
    client, adapter, clock, _ = fake_client(fault(), ok({"data_schedule": SCHEDULE}, 201))
    with pytest.raises(OutcomeUnknown) as err:
        call(client)
    assert adapter.methods == ["POST"]
    assert client.request_count == 1
    assert clock.sleeps == []
    e = err.value
    assert isinstance(e, TransportError) and e.method == "POST" and e.cause is not None
    assert e.path.startswith("/data_schedules")
    assert "may or may not have taken effect" in str(e)


def test_post_500_outcome_unknown_keeps_the_server_error() -> None:
    client, *_ = fake_client(ok({"type": "InternalHolisticsError", "message": "boom"}, 500))
    with pytest.raises(OutcomeUnknown) as err:
        client.create(SCHEDULES, NEW_BODY)
    assert err.value.status == 500
    assert isinstance(err.value.cause, ServerError) and err.value.cause.api_message == "boom"


@pytest.mark.parametrize(
    "never_sent",
    [
        pytest.param(refused, id="refused"),
        pytest.param(lambda: requests.ConnectTimeout("connect timed out"), id="connect-timeout"),
    ],
)
def test_post_not_sent_is_retried(never_sent: Callable[[], BaseException]) -> None:
    client, adapter, clock, events = fake_client(never_sent(), never_sent(), ok({"data_schedule": SCHEDULE}, 201))
    assert client.create(SCHEDULES, NEW_BODY)["id"] == 7
    assert adapter.methods == ["POST"] * 3
    assert client.request_count == 1  # only the one that got through counts as sent
    assert len(clock.sleeps) == 2
    assert events[0].startswith("connect")  # "connection refused on POST ..." / "connect timeout on POST ..."


def test_post_429_is_retried() -> None:
    limited = ok({"type": "RateLimitExceedError", "message": "slow down"}, 429, **{"Retry-After": "1.5"})
    client, adapter, clock, _ = fake_client(limited, ok({"job": {"id": 1, "status": "queued"}}))
    assert client.submit(SCHEDULES, 3)["id"] == 1
    assert adapter.methods == ["POST", "POST"] and clock.sleeps == [1.5]


def test_get_500_twice_then_200_sends_three_requests() -> None:
    boom = ok({"type": "InternalHolisticsError", "message": "boom"}, 500)
    client, adapter, clock, events = fake_client(boom, boom, ok({"data_schedule": SCHEDULE}))
    assert client.get(SCHEDULES, 7)["id"] == 7
    assert client.request_count == 3 and len(adapter.calls) == 3
    assert len(clock.sleeps) == 2 and len(events) == 2


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_idempotent_methods_retry_transport_faults(method: str) -> None:
    answer = ok({"data_schedule": SCHEDULE} if method != "DELETE" else {"message": "deleted"})
    client, adapter, _, _ = fake_client(requests.ReadTimeout("slow"), dropped(), answer)
    if method == "GET":
        client.get(SCHEDULES, 7)
    elif method == "PUT":
        client.update(SCHEDULES, 7, SCHEDULE)
    else:
        client.delete(SCHEDULES, 7)
    assert adapter.methods == [method] * 3


def test_retries_exhausted_raise_server_error() -> None:
    client, adapter, clock, _ = fake_client(
        ok({"type": "InternalHolisticsError", "message": "x"}, 500), repeat_last=True, max_retries=3
    )
    with pytest.raises(ServerError) as err:
        client.get(SCHEDULES, 7)
    assert err.value.attempts == 4 and len(adapter.calls) == 4 and client.request_count == 4
    assert len(clock.sleeps) == 3


def test_transport_retries_exhausted_raise_transport_error_not_outcome_unknown() -> None:
    client, adapter, _, _ = fake_client(dropped(), dropped(), dropped(), max_retries=2)
    with pytest.raises(TransportError) as err:
        client.get(SCHEDULES, 7)
    assert not isinstance(err.value, OutcomeUnknown)
    assert len(adapter.calls) == 3
    assert "GET /data_schedules/7 failed after 3 attempts: connection dropped" in str(err.value)


def test_full_jitter_bounds_and_cap() -> None:
    boom = ok({"type": "InternalHolisticsError", "message": "x"}, 500)
    client, _, clock, _ = fake_client(boom, repeat_last=True, max_retries=8, backoff_base=1.0, retry_after_cap=10.0)
    client._random = random.Random(1)
    with pytest.raises(ServerError):
        client.get(SCHEDULES, 7)
    assert len(clock.sleeps) == 8
    for attempt, wait in enumerate(clock.sleeps):
        assert 0 <= wait <= min(10.0, 2**attempt)
    assert len(set(clock.sleeps)) == 8  # jittered, not a fixed ladder


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get(SCHEDULES, 7), id="GET"),
        pytest.param(lambda c: c.create(SCHEDULES, NEW_BODY), id="POST"),
    ],
)
def test_4xx_other_than_429_never_retried(status: int, call: Callable[[HolisticsClient], Any]) -> None:
    client, adapter, clock, _ = fake_client(ok({"type": "BaseError", "message": "no"}, status), repeat_last=True)
    with pytest.raises(APIError) as err:
        call(client)
    assert err.value.status == status and len(adapter.calls) == 1 and clock.sleeps == []


def test_429_exhausted_raises_rate_limited() -> None:
    limited = ok({"type": "RateLimitExceedError", "message": "slow down"}, 429, **{"Retry-After": "1"})
    client, adapter, _, _ = fake_client(limited, repeat_last=True, max_retries=2)
    with pytest.raises(RateLimited) as err:
        list(client.list(SCHEDULES))
    assert len(adapter.calls) == 3 and err.value.attempts == 3
    assert str(err.value) == ("rate limited on GET /data_schedules after 3 attempts (RateLimitExceedError: slow down)")


def test_429_without_retry_after_backs_off_exponentially() -> None:
    limited = ok({"type": "RateLimitExceedError", "message": "slow down"}, 429)
    client, _, clock, events = fake_client(limited, limited, limited, ok({"data_schedule": SCHEDULE}), backoff_base=1.0)
    client.get(SCHEDULES, 7)
    for attempt, wait in enumerate(clock.sleeps):
        assert 2**attempt / 2 <= wait <= 2**attempt  # never zero: the pause is shared
    assert all("(backoff)" in e for e in events)


def test_retry_after_is_capped() -> None:
    limited = ok({"type": "RateLimitExceedError", "message": "x"}, 429, **{"Retry-After": "3600"})
    client, _, clock, events = fake_client(limited, ok({"data_schedule": SCHEDULE}), retry_after_cap=60.0)
    client.get(SCHEDULES, 7)
    assert clock.sleeps == [60.0]
    assert events == ["429 on GET /data_schedules/7, waiting 60.0s (Retry-After 3600s, capped), retry 1/4"]


def test_retry_after_http_date_without_date_header_uses_local_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from reconciler.remote.client import transport as client_module

    monkeypatch.setattr(client_module, "_utcnow", lambda: datetime(2026, 5, 19, 8, 0, 0, tzinfo=UTC))
    limited = ok(
        {"type": "RateLimitExceedError", "message": "x"}, 429, **{"Retry-After": "Tue, 19 May 2026 08:00:04 GMT"}
    )
    client, _, clock, _ = fake_client(limited, ok({"data_schedule": SCHEDULE}))
    client.get(SCHEDULES, 7)
    assert clock.sleeps == [4.0]


def test_redirects_are_not_followed() -> None:
    client, adapter, _, _ = fake_client(ok("", 301, Location="https://elsewhere.example/api/v2/x"))
    with pytest.raises(UnexpectedResponse, match="unexpected redirect"):
        client.get(SCHEDULES, 7)
    assert len(adapter.calls) == 1


def test_success_with_unusable_body() -> None:
    client, *_ = fake_client(ok("<html>maintenance</html>"), ok({"something": "else"}))
    with pytest.raises(UnexpectedResponse, match="expected a JSON object"):
        client.get(SCHEDULES, 7)
    with pytest.raises(UnexpectedResponse, match="no 'data_schedule' object"):
        client.get(SCHEDULES, 7)


def test_list_refuses_a_repeated_cursor() -> None:
    page = ok({"data_schedules": [SCHEDULE], "total_count": 9, "cursors": {"next": "same"}})
    client, adapter, _, _ = fake_client(page, repeat_last=True)
    with pytest.raises(UnexpectedResponse, match="twice"):
        list(client.list(SCHEDULES))
    assert len(adapter.calls) == 2
    with pytest.raises(ValueError, match="page"):
        list(client.list(SCHEDULES, page=2))


@pytest.mark.parametrize(
    ("body", "error_type", "api_message", "record"),
    [
        (
            {"type": "RecordError", "message": "bad", "record": {"title": ["is too long"], "base": "oops"}},
            "RecordError",
            "bad",
            {"title": ["is too long"], "base": ["oops"]},
        ),
        (
            {"error": {"type": "RecordError", "message": "bad", "debug_id": "abc"}, "record": {"x": ["y"]}},
            "RecordError",
            "bad",
            {"x": ["y"]},
        ),
        ("plain text failure", "HTTP 422", "plain text failure", {}),
        ("", "HTTP 422", "Unprocessable Entity", {}),
        ([1, 2], "HTTP 422", "[1, 2]", {}),
        ({"message": "no type"}, "HTTP 422", "no type", {}),
    ],
)
def test_error_body_shapes(body: Any, error_type: str, api_message: str, record: dict[str, list[str]]) -> None:
    raw = json.dumps(body) if isinstance(body, list) else body
    client, *_ = fake_client(ok(raw, 422))
    with pytest.raises(RecordInvalid) as err:
        client.create(SCHEDULES, NEW_BODY)
    assert (err.value.error_type, err.value.api_message, err.value.record) == (error_type, api_message, record)


def test_key_travels_only_in_its_header_with_timeouts() -> None:
    client, adapter, _, _ = fake_client(ok({"data_schedules": [], "total_count": 0, "cursors": {"next": None}}))
    list(client.list(SCHEDULES))
    sent = adapter.calls[0]
    assert sent.headers["X-Holistics-Key"] == TEST_KEY
    assert TEST_KEY not in (sent.url or "")
    assert sent.headers["User-Agent"].startswith("holistics-schedules/")
    assert adapter.timeouts == [(5.0, 30.0)]
    assert "X-Holistics-Key" not in client._session.headers  # a caller's session is not tainted


def test_key_never_in_str_or_repr_of_client_exceptions_or_events() -> None:
    echo = {"type": "AuthError", "message": f"key {TEST_KEY} is revoked", "record": {TEST_KEY: [TEST_KEY]}}
    client, _, _, events = fake_client(
        ok(echo, 401),
        ok(echo, 403),
        ok(echo, 404),
        ok(echo, 422),
        ok(echo, 500),
        requests.ReadTimeout(f"timeout {TEST_KEY}"),
        ok(echo, 429),
        ok(echo, 500),
        refused(),
        refused(),
        max_retries=1,
    )
    calls: list[Callable[[], object]] = [
        lambda: client.get(SCHEDULES, 1),
        lambda: client.get(SCHEDULES, 1),
        lambda: client.get(SCHEDULES, 1),
        lambda: client.create(SCHEDULES, NEW_BODY),
        lambda: client.create(SCHEDULES, NEW_BODY),
        lambda: client.create(SCHEDULES, NEW_BODY),
        lambda: client.get(SCHEDULES, 1),
        lambda: client.get_job(1),
    ]
    raised: list[BaseException] = []
    for call in calls:
        with pytest.raises(HolisticsError) as err:
            call()
        raised.append(err.value)
    assert {type(e) for e in raised} >= {
        AuthError,
        PermissionDenied,
        NotFound,
        RecordInvalid,
        OutcomeUnknown,
        ServerError,
        TransportError,
    }
    for text in [repr(client), str(client), *events, *map(str, raised), *map(repr, raised)]:
        assert TEST_KEY not in text
    assert repr(client) == f"HolisticsClient(base_url={BASE!r}, api_key='***')"
    with pytest.raises(ConfigError) as cfg:
        HolisticsClient(f"http://example.com/{TEST_KEY}", TEST_KEY)
    assert TEST_KEY not in str(cfg.value)


def test_request_count_is_thread_safe() -> None:
    client, adapter, _, _ = fake_client(ok({"data_schedule": SCHEDULE}), repeat_last=True)
    threads = [threading.Thread(target=lambda: [client.get(SCHEDULES, 7) for _ in range(25)]) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.request_count == len(adapter.calls) == 400


def test_own_session_is_pooled_for_workers_and_closed() -> None:
    with HolisticsClient(BASE, TEST_KEY) as client:
        adapter = client._session.get_adapter(BASE)
        assert isinstance(adapter, HTTPAdapter)
        assert adapter._pool_maxsize >= 16  # type: ignore[attr-defined]
        assert adapter.max_retries.total == 0  # retries are the client's, not urllib3's


# ---------------------------------------------------------------------------------------------------
# Real sockets on loopback: the classification of faults matches what requests/urllib3 really raise


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connecting is refused


@pytest.mark.parametrize(
    ("error", "words"),
    [
        pytest.param(refused(), "connection refused", id="refused"),
        pytest.param(
            requests.ConnectionError(
                MaxRetryError(
                    None,
                    "/x",
                    NewConnectionError(  # type: ignore[arg-type]
                        None, "Failed to establish a new connection: [Errno 101] Network is unreachable"
                    ),
                )
            ),  # type: ignore[arg-type]
            "could not connect",
            id="unreachable",
        ),
        pytest.param(dropped(), "connection dropped", id="dropped"),
        pytest.param(requests.ReadTimeout("read timed out"), "read timeout", id="read-timeout"),
    ],
)
def test_transport_faults_are_named_for_what_happened(error: requests.RequestException, words: str) -> None:
    from reconciler.remote.client.transport import describe

    assert describe(error, "h.example") == words


def test_loopback_refused_post_is_retried_then_transport_error() -> None:
    client, clock, events = make_client(f"http://127.0.0.1:{_free_port()}/api/v2", max_retries=2)
    with pytest.raises(TransportError) as err:
        client.create(SCHEDULES, NEW_BODY)
    assert not isinstance(err.value, OutcomeUnknown)
    assert client.request_count == 0 and len(clock.sleeps) == 2
    assert events[0].startswith("connection refused on POST /data_schedules, retry 1/2")


@contextmanager
def raw_server(reply: Callable[[socket.socket], None]) -> Iterator[tuple[str, list[bytes]]]:
    """Accepts connections, reads one request each, then lets `reply` misbehave."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                received.append(conn.recv(65536))
                reply(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/api/v2", received
    finally:
        stop.set()
        thread.join()
        listener.close()


def test_loopback_drop_after_post_is_outcome_unknown_and_get_is_retried() -> None:
    with raw_server(lambda conn: None) as (base, received):  # close without answering
        client, _, _ = make_client(base, max_retries=2)
        with pytest.raises(OutcomeUnknown, match="connection dropped"):
            client.create(SCHEDULES, NEW_BODY)
        assert len(received) == 1 and received[0].startswith(b"POST /api/v2/data_schedules")
        with pytest.raises(TransportError):
            client.get(SCHEDULES, 7)
        assert len(received) == 4


def test_loopback_read_timeout_after_post_is_outcome_unknown() -> None:
    release = threading.Event()

    def hang(conn: socket.socket) -> None:
        release.wait(5)

    with raw_server(hang) as (base, received):
        client, _, _ = make_client(base, timeout=(1.0, 0.2))
        try:
            with pytest.raises(OutcomeUnknown, match="read timeout"):
                client.submit(SCHEDULES, 7)
        finally:
            release.set()
        assert len(received) == 1


# ---------------------------------------------------------------------------------------------------
# RateLimiter


def test_rate_limiter_without_rate_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock.time, sleep=clock.sleep)
    for _ in range(100):
        limiter.acquire()
    assert clock.sleeps == []


def test_token_bucket_spaces_requests_after_the_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, burst=3, clock=clock.time, sleep=clock.sleep)
    for _ in range(6):
        limiter.acquire()
    assert clock.sleeps == [0.5, 0.5, 0.5]
    clock.now += 10  # idle refills the burst
    limiter.acquire()
    limiter.acquire()
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_backoff_pauses_every_thread_and_halves_the_rate() -> None:
    clock = FakeClock(advance=False)  # all threads see the same instant
    limiter = RateLimiter(10.0, clock=clock.time, sleep=clock.sleep)
    limiter.backoff(5.0)
    assert limiter.current_rate() == 5.0
    threads = [threading.Thread(target=limiter.acquire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Each thread reserved its own slot after the pause, spaced at the lowered rate.
    assert sorted(clock.sleeps) == pytest.approx([5.0 + 0.2 * i for i in range(8)])


def test_backoff_without_rate_still_pauses_other_threads() -> None:
    clock = FakeClock(advance=False)
    limiter = RateLimiter(None, clock=clock.time, sleep=clock.sleep)
    limiter.backoff(3.0)
    threads = [threading.Thread(target=limiter.acquire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.sleeps == [3.0] * 4


def test_rate_floors_and_recovers_slowly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(2.0, clock=clock.time, sleep=clock.sleep, min_rate=0.25, recovery_seconds=60.0)
    for _ in range(10):
        limiter.backoff(0.0)
    assert limiter.current_rate() == 0.25
    clock.now += 30
    assert limiter.current_rate() == pytest.approx(0.25 + 1.75 / 2)
    clock.now += 30
    assert limiter.current_rate() == 2.0


def test_client_429_pauses_other_threads_through_the_shared_limiter() -> None:
    clock = FakeClock(advance=False)
    limiter = RateLimiter(None, clock=clock.time, sleep=clock.sleep)
    limited = ok({"type": "RateLimitExceedError", "message": "x"}, 429, **{"Retry-After": "2"})
    client, _, _, _ = fake_client(limited, ok({"data_schedule": SCHEDULE}), clock=clock, rate_limiter=limiter)
    client.get(SCHEDULES, 7)
    assert clock.sleeps == [2.0]  # the 429'd request waited...
    other = threading.Thread(target=limiter.acquire)
    other.start()
    other.join()
    assert clock.sleeps == [2.0, 2.0]  # ...and so does any other worker until the pause is over


def test_rate_limiter_rejects_nonsense() -> None:
    with pytest.raises(ConfigError):
        RateLimiter(0)
    with pytest.raises(ConfigError):
        RateLimiter(1.0, burst=0)
    for rate in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ConfigError):
            RateLimiter(rate)
    for window in ((10, float("nan")), (10, float("inf")), (10, 0.0), (0, 60.0)):
        with pytest.raises(ConfigError):
            RateLimiter(None, window=window)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("LocalHost", True),
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("127.255.255.254", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("0:0:0:0:0:0:0:1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:127.9.9.9", True),
        ("example.com", False),
        ("10.0.0.1", False),
        ("192.168.1.1", False),
        ("0.0.0.0", False),
        ("::", False),
        ("::ffff:10.0.0.1", False),
        ("128.0.0.1", False),
        ("localhost.example.com", False),
        ("127.0.0.1.nip.io", False),
        ("127.1", False),
        ("2130706433", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    """Plain http (the key in clear text) is allowed only where this says True: when in doubt, False."""
    assert is_loopback(host) is expected


# ---------------------------------------------------------------------------------------------------
# resolve_base_url


@pytest.mark.parametrize(
    ("region", "base_url", "expected"),
    [
        (None, None, "https://secure.holistics.io/api/v2"),
        ("apac", None, "https://secure.holistics.io/api/v2"),
        ("EU", None, "https://eu.holistics.io/api/v2"),
        ("us", None, "https://us.holistics.io/api/v2"),
        ("eu", "https://holistics.internal.example/api/v2/", "https://holistics.internal.example/api/v2"),
        (None, "http://localhost:8080/api/v2", "http://localhost:8080/api/v2"),
        (None, "http://127.0.0.5:9000/api/v2", "http://127.0.0.5:9000/api/v2"),
        (None, "http://[::1]:9000/api/v2", "http://[::1]:9000/api/v2"),
    ],
)
def test_resolve_base_url(region: str | None, base_url: str | None, expected: str) -> None:
    assert resolve_base_url(region, base_url) == expected


@pytest.mark.parametrize(
    ("region", "base_url", "match"),
    [
        ("mars", None, "unknown region 'mars': use one of apac, eu, us"),
        (None, "http://secure.holistics.io/api/v2", "refusing plain http to secure.holistics.io"),
        (None, "http://10.0.0.1/api/v2", "refusing plain http"),
        (None, "http://localhost.evil.example/api/v2", "refusing plain http"),
        (None, "ftp://secure.holistics.io/api/v2", "absolute http"),
        (None, "secure.holistics.io/api/v2", "absolute http"),
        (None, "https://user:pw@secure.holistics.io/api/v2", "credentials"),
    ],
)
def test_resolve_base_url_refuses(region: str | None, base_url: str | None, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve_base_url(region, base_url)


def test_client_checks_its_base_url_and_key() -> None:
    with pytest.raises(ConfigError, match="plain http"):
        HolisticsClient("http://secure.holistics.io/api/v2", TEST_KEY)
    with pytest.raises(ConfigError, match="API key"):
        HolisticsClient(BASE, " ")
