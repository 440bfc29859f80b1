"""The client prepares its requests itself rather than through `Session.request` (see `transport.Transport`).

What that must not change: each request is the one requests' own preparation would send (URL encoding, body,
headers), the environment is read once per client and never per request, cookies still round-trip, and
threads sharing one client never see each other's headers or bodies. A base URL requests cannot parse is
refused when the client is made, not retried at every call.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import requests.sessions
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import ConfigError, HolisticsClient, RateLimiter
from reconciler.remote.client.api import KEY_HEADER
from tests.helpers import loopback_server

KEY = "hk_test_overhead_0123456789"
SCHEDULE = {
    "id": 7,
    "source_type": "Dashboard",
    "source_id": 1,
    "schedule": {"repeat": "0 4 * * *"},
    "dest": {"type": "EmailDest", "title": 'Café ☕ "weekly"', "recipients": ["a@example.com"]},
}
PROXY_VARS = (
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NETRC",
)


@dataclass(frozen=True)
class Sent:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None
    verify: Any
    proxies: dict[str, str]


class Recorder(BaseAdapter):
    """Records what it is asked to send and answers 200 with `answer(request)`. Thread-safe."""

    def __init__(self, answer: Callable[[requests.PreparedRequest], Any] | None = None) -> None:
        super().__init__()
        self.answer = answer or (lambda request: {"data_schedule": SCHEDULE})
        self.sent: list[Sent] = []
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
        body = request.body.encode() if isinstance(request.body, str) else request.body
        assert body is None or isinstance(body, bytes)
        with self._lock:
            self.sent.append(
                Sent(request.method or "", request.url or "", dict(request.headers), body, verify, dict(proxies or {}))
            )
            payload = json.dumps(self.answer(request)).encode()
        resp = requests.Response()
        resp.status_code, resp.request, resp.url = 200, request, request.url or ""
        resp._content = payload
        resp.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        return resp

    def close(self) -> None:
        pass


def recorded_client(base_url: str, adapter: Recorder) -> HolisticsClient:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return HolisticsClient(
        base_url, KEY, session=session, sleep=lambda s: None, rate_limiter=RateLimiter(None, sleep=lambda s: None)
    )


def as_requests_prepares(
    method: str, url: str, *, params: dict[str, Any] | None = None, json_body: Any = None, user_agent: str
) -> requests.PreparedRequest:
    """What `Session.request` would have sent (its environment lookups aside)."""
    session = requests.Session()
    session.trust_env = False
    headers = {KEY_HEADER: KEY, "Accept": "application/json", "User-Agent": user_agent}
    return session.prepare_request(requests.Request(method, url, params=params, json=json_body, headers=headers))


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def test_each_request_is_the_one_requests_would_prepare(clean_env: None) -> None:
    # an IDN host and a path that needs quoting: the base is prepared once, as requests prepares it
    base = "https://bücher.example/a b/api/v2"
    cursor = "a b&c=d/é%41~+"  # a server's cursor, sent back as `after`: every character that needs care

    def answer(request: requests.PreparedRequest) -> Any:
        if request.method == "GET" and "/data_schedules?" in (request.url or ""):
            first = "after=" not in (request.url or "")
            page = [SCHEDULE] if first else [{**SCHEDULE, "id": 8}]  # a schedule read twice would be an error
            return {"data_schedules": page, "cursors": {"next": cursor if first else None}}
        if "/jobs/" in (request.url or ""):
            return {"job_logs": []} if (request.url or "").endswith("/logs") else {"job": {"id": 3}}
        return {"data_schedule": SCHEDULE}

    adapter = Recorder(answer)
    client = recorded_client(base, adapter)
    body = {k: v for k, v in SCHEDULE.items() if k != "id"}
    list(client.list(SCHEDULES, source_type="Dashboard", source_id=12, dest_type=["EmailDest", "SlackDest"]))
    client.get(SCHEDULES, 7)
    client.update(SCHEDULES, 7, body)
    client.create(SCHEDULES, body)
    client.delete(SCHEDULES, 7)
    client.get_job_logs(3)
    root = "https://xn--bcher-kva.example/a%20b/api/v2"
    filters = {"limit": 100, "source_type": "Dashboard", "source_id": 12, "dest_type": ["EmailDest", "SlackDest"]}
    expected = [
        ("GET", "/data_schedules", filters, None),
        ("GET", "/data_schedules", {**filters, "after": cursor}, None),
        ("GET", "/data_schedules/7", None, None),
        ("PUT", "/data_schedules/7", None, {"data_schedule": body}),
        ("POST", "/data_schedules", None, {"data_schedule": body}),
        ("DELETE", "/data_schedules/7", None, None),  # no body: Content-Length 0, as requests sends
        ("GET", "/jobs/3/logs", None, None),
    ]
    assert len(adapter.sent) == len(expected)
    for sent, (method, path, params, json_body) in zip(adapter.sent, expected, strict=True):
        want = as_requests_prepares(
            method, base + path, params=params, json_body=json_body, user_agent=client.user_agent
        )
        assert (sent.method, sent.url, sent.body) == (want.method, want.url, want.body)
        assert sent.headers == dict(want.headers)
        assert sent.url.startswith(root)


def test_the_environment_is_read_once_per_client_and_netrc_never(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine secure.holistics.io login someone password hunter2\n")
    netrc.chmod(0o600)
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    lookups: list[str] = []
    real_lookup, real_netrc = requests.sessions.get_environ_proxies, requests.sessions.get_netrc_auth
    monkeypatch.setattr(
        requests.sessions,
        "get_environ_proxies",
        lambda url, no_proxy=None: lookups.append(url) or real_lookup(url, no_proxy),
    )
    monkeypatch.setattr(
        requests.sessions,
        "get_netrc_auth",
        lambda url, raise_errors=False: lookups.append("netrc") or real_netrc(url, raise_errors),
    )

    adapter = Recorder()
    client = recorded_client("https://secure.holistics.io/api/v2", adapter)
    for _ in range(5):
        client.get(SCHEDULES, 7)
    assert lookups == ["https://secure.holistics.io/api/v2"], "the environment is looked up once, at construction"
    assert {(s.verify, tuple(s.proxies.items())) for s in adapter.sent} == {
        (str(bundle), (("https", "http://proxy.corp.example:3128"),))
    }
    assert all("Authorization" not in s.headers for s in adapter.sent), ".netrc credentials were sent"

    # once per client, not once per process: a client made after the environment changed sees the change
    monkeypatch.setenv("HTTPS_PROXY", "http://other-proxy.corp.example:3128")
    later = Recorder()
    recorded_client("https://secure.holistics.io/api/v2", later).get(SCHEDULES, 7)
    assert later.sent[0].proxies == {"https": "http://other-proxy.corp.example:3128"}


def test_plain_http_never_looks_at_the_environment(clean_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.corp.example:3128")
    lookups: list[str] = []
    monkeypatch.setattr(requests.sessions, "get_environ_proxies", lambda *a, **k: lookups.append("proxies") or {})
    monkeypatch.setattr(requests.sessions, "get_netrc_auth", lambda *a, **k: lookups.append("netrc"))
    adapter = Recorder()
    client = recorded_client("http://127.0.0.1:9/api/v2", adapter)
    client.get(SCHEDULES, 7)
    client.update(SCHEDULES, 7, {"title": "x"})
    assert lookups == []
    assert [s.proxies for s in adapter.sent] == [{}, {}]


class _CookieHandler(http.server.BaseHTTPRequestHandler):
    cookies_seen: ClassVar[list[str | None]] = []

    def do_GET(self) -> None:
        type(self).cookies_seen.append(self.headers.get("Cookie"))
        payload = json.dumps({"data_schedule": SCHEDULE}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "lb=node-2; Path=/")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_cookies_a_server_sets_are_sent_back_as_requests_did() -> None:
    _CookieHandler.cookies_seen = []
    with loopback_server(_CookieHandler) as base, HolisticsClient(base, KEY) as client:
        client.get(SCHEDULES, 7)
        client.get(SCHEDULES, 7)
    assert _CookieHandler.cookies_seen == [None, "lb=node-2"]


def test_threads_sharing_a_client_never_see_each_others_headers_or_bodies(clean_env: None) -> None:
    def answer(request: requests.PreparedRequest) -> Any:
        schedule_id = int((request.url or "").rsplit("/", 1)[1])
        return {"data_schedule": {**SCHEDULE, "id": schedule_id}}

    adapter = Recorder(answer)
    client = recorded_client("https://secure.holistics.io/api/v2", adapter)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(40):
                schedule_id = worker * 1000 + i
                if i % 2:
                    client.update(SCHEDULES, schedule_id, {"title": f"t{schedule_id}" + "x" * worker})
                else:
                    assert client.get(SCHEDULES, schedule_id)["id"] == schedule_id
        except BaseException as exc:  # reported below: an assertion in a thread would otherwise be lost
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(adapter.sent) == 8 * 40
    for sent in adapter.sent:
        schedule_id = int(sent.url.rsplit("/", 1)[1])
        assert sent.headers[KEY_HEADER] == KEY
        if sent.method == "GET":
            assert sent.body is None and "Content-Length" not in sent.headers and "Content-Type" not in sent.headers
        else:
            assert sent.body is not None
            assert json.loads(sent.body)["data_schedule"]["title"] == f"t{schedule_id}" + "x" * (schedule_id // 1000)
            assert sent.headers["Content-Length"] == str(len(sent.body))


@pytest.mark.parametrize("base_url", ["http://localhost:99999/api/v2", "https://exa mple.com/api/v2"])
def test_a_base_url_requests_cannot_parse_is_refused_when_the_client_is_made(base_url: str) -> None:
    with pytest.raises(ConfigError, match="not a usable URL; check its host and port") as err:
        HolisticsClient(base_url, KEY)
    assert KEY not in str(err.value)
