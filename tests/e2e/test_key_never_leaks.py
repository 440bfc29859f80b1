"""Never a leaked key: whatever a server or proxy echoes, the API key reaches no output, and it is sent
nowhere but the configured host.

An independent fake of the API (http.server on 127.0.0.1, in a thread) echoes the key in every place a
response can carry it: a non-JSON body, an HTML error page, the reason phrase, a debug_id, a redirect's
Location, a cursor, record keys, a title inside a listing, URL-encoded, upper-cased, \\u-escaped, cut
off by a message's length limit, inside a malformed status line. For each, no exception (text, repr,
attributes, cause, traceback), no event and no returned datum holds any form of the key; the real CLI
run against the same fake prints it in neither stdout nor stderr. Plain http never goes through a proxy
(nor reads .netrc); https still does, and still honours the CA bundle settings.
"""

from __future__ import annotations

import html
import http.server
import json
import socket
import threading
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, quote_plus, unquote, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import MaxRetryError, NameResolutionError

from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import (
    HolisticsClient,
    HolisticsError,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    RateLimiter,
    RecordInvalid,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from reconciler.sandbox import Sandbox
from tests.helpers import REPO, cli

ROOT = REPO
# '/', '+', '=' and '~' make its URL-encoded, form-encoded and JSON-escaped forms all differ from it
KEY = "hk_leak/Zq9+Xw=7Tr~4mPv2Lk8s"
PROXY_VARS = (
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
)


def forms(secret: str) -> list[str]:
    """What the key could be shown as: itself, encoded, escaped, in another case, or a long piece of it."""
    piece = secret[4:20]
    found = []
    for s in (secret, piece):
        found += [
            s,
            quote(s, safe=""),
            quote(s),
            quote_plus(s),
            s.replace("/", "\\/"),
            "".join(f"\\u{ord(c):04x}" for c in s),
        ]
    return sorted({f.lower() for f in found})


FORMS = forms(KEY)


def leaks(text: str) -> list[str]:
    """The forms of the key `text` shows, also once decoded as a reader might, or read on a terminal
    (which shows control and format characters as nothing)."""
    visible = "".join(c for c in text if c in "\t\n\r" or unicodedata.category(c) not in ("Cc", "Cf"))
    views = {text, visible, html.unescape(visible), unquote(visible), unquote(html.unescape(visible))}
    return sorted({f for view in views for f in FORMS if f in view.lower()})


# ---------------------------------------------------------------------------------------------------
# The fake API


@dataclass
class Answer:
    status: int = 200
    body: Any = None  # bytes/str as is, anything else as JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None
    raw: bytes | None = None  # written to the socket verbatim instead (a broken HTTP answer)


Route = Callable[[dict[str, list[str]]], Answer]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]


class FakeAPI:
    """Answers `routes[(method, path)]` (path without /api/v2 and query); records every request."""

    def __init__(self, routes: Mapping[tuple[str, str], Route | Answer]) -> None:
        self.routes = dict(routes)
        self.seen: list[Seen] = []
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 5  # a stuck client cannot hold the server thread

            def handle_one(self) -> None:
                parts = urlsplit(self.path)
                path = parts.path.removeprefix("/api/v2")
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                api.seen.append(Seen(self.command, path, parse_qs(parts.query), dict(self.headers.items())))
                route = api.routes.get((self.command, path))
                if route is None:
                    answer = Answer(404, {"type": "NotFoundError", "message": f"no route {path}"})
                else:
                    answer = route if isinstance(route, Answer) else route(parse_qs(parts.query))
                if answer.raw is not None:
                    self.wfile.write(answer.raw)
                    self.close_connection = True
                    return
                if isinstance(answer.body, bytes):
                    payload = answer.body
                elif isinstance(answer.body, str):
                    payload = answer.body.encode()
                else:
                    payload = b"" if answer.body is None else json.dumps(answer.body).encode()
                headers = {"Content-Type": "application/json", **answer.headers}
                if answer.body is None:
                    headers.pop("Content-Type")
                self.send_response(answer.status, answer.reason)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v2"

    def __enter__(self) -> FakeAPI:
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def page(schedules: list[Any], next_cursor: str | None = None) -> Answer:
    return Answer(200, {"data_schedules": schedules, "total_count": len(schedules), "cursors": {"next": next_cursor}})


def schedule(ident: int = 5, **fields: Any) -> dict[str, Any]:
    return {
        "id": ident,
        "title": "Weekly",
        "source_type": "Dashboard",
        "source_id": 1,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dest": {"type": "EmailDest", "title": "t", "recipients": ["a@example.com"]},
        **fields,
    }


def u_escaped(text: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in text)


# ---------------------------------------------------------------------------------------------------
# Gathering every string a caller could show


def _exception_strings(exc: BaseException, seen: set[int]) -> Iterator[str]:
    yield str(exc)
    yield repr(exc)
    yield "".join(traceback.format_exception(exc))  # what HOLISTICS_DEBUG=1 prints
    yield from strings_of(exc.args, seen)
    yield from strings_of(vars(exc), seen)
    for linked in (exc.__cause__, exc.__context__):
        if linked is not None:
            yield from strings_of(linked, seen)


def strings_of(obj: Any, seen: set[int] | None = None) -> Iterator[str]:
    """Every string reachable from `obj`: texts, reprs, exception attributes, causes, dict keys."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, bytes):
        yield obj.decode("utf-8", "replace")
    elif isinstance(obj, Mapping):
        for k, v in obj.items():
            yield from strings_of(k, seen)
            yield from strings_of(v, seen)
    elif isinstance(obj, list | tuple | set | frozenset):
        for item in obj:
            yield from strings_of(item, seen)
    elif isinstance(obj, BaseException):
        yield from _exception_strings(obj, seen)
    elif obj is not None:
        yield repr(obj)


@dataclass
class Outcome:
    result: Any
    error: BaseException | None
    events: list[str]

    def texts(self) -> list[str]:
        out = [*self.events, *strings_of(self.result), *strings_of(self.error)]
        if self.result is not None:
            out.append(json.dumps(self.result, ensure_ascii=False, default=repr))
        return out


def call(base_url: str, fn: Callable[[HolisticsClient], Any], **kwargs: Any) -> Outcome:
    events: list[str] = []
    kwargs.setdefault("max_retries", 1)
    client = HolisticsClient(
        base_url,
        KEY,
        sleep=lambda s: None,
        on_event=events.append,
        rate_limiter=RateLimiter(None, sleep=lambda s: None),
        **kwargs,
    )
    try:
        return Outcome(fn(client), None, events)
    except HolisticsError as exc:
        return Outcome(None, exc, events)
    finally:
        client.close()


# ---------------------------------------------------------------------------------------------------
# Each place a response can carry the key


@dataclass(frozen=True)
class Case:
    routes: Mapping[tuple[str, str], Route | Answer]
    act: Callable[[HolisticsClient], Any]
    raises: type[BaseException] | None = None


GET1 = ("GET", "/data_schedules/1")
LIST = ("GET", "/data_schedules")
POST = ("POST", "/data_schedules")


def get1(c: HolisticsClient) -> Any:
    return c.get(SCHEDULES, 1)


def list_all(c: HolisticsClient) -> Any:
    return list(c.list(SCHEDULES))


def create(c: HolisticsClient) -> Any:
    return c.create(SCHEDULES, {"title": "x"})


def cursor_pages(first: str, then: str | None) -> Route:
    return lambda q: page([schedule(1)], first) if "after" not in q else page([schedule(2)], then)


CASES: dict[str, Case] = {
    "2xx text body": Case(
        {GET1: Answer(200, f"welcome {KEY}", {"Content-Type": "text/plain"})}, get1, UnexpectedResponse
    ),
    "2xx JSON string": Case({GET1: Answer(200, json.dumps(f"session {KEY}"))}, get1, UnexpectedResponse),
    "2xx HTML page": Case(
        {GET1: Answer(200, f"<html><body>{KEY}</body></html>", {"Content-Type": "text/html"}, reason=f"OK {KEY}")},
        get1,
        UnexpectedResponse,
    ),
    "2xx empty body, key as reason": Case({GET1: Answer(200, None, reason=f"OK {KEY}")}, get1, UnexpectedResponse),
    "2xx deep JSON": Case({GET1: Answer(200, "[" * 100_000 + json.dumps(KEY))}, get1, UnexpectedResponse),
    "HTML error page": Case(
        {GET1: Answer(502, f"<html><p>gateway for {KEY}</p></html>", {"Content-Type": "text/html"})}, get1, ServerError
    ),
    "HTML page sent as text": Case(
        {GET1: Answer(500, f"<html><p>{KEY}</p></html>", {"Content-Type": "text/plain"})}, get1, ServerError
    ),
    "error reason phrase": Case({GET1: Answer(404, None, reason=f"Not Found {KEY}")}, get1, NotFound),
    "reason under a JSON body": Case({GET1: Answer(404, {"debug_id": None}, reason=f"Nope {KEY}")}, get1, NotFound),
    "debug_id": Case(
        {GET1: Answer(404, {"type": "NotFoundError", "message": "gone", "debug_id": KEY})}, get1, NotFound
    ),
    "wrapped debug_id after a POST": Case(
        {POST: Answer(500, {"error": {"type": "InternalHolisticsError", "message": KEY, "debug_id": KEY}})},
        create,
        OutcomeUnknown,
    ),
    "type and details": Case(
        {GET1: Answer(404, {"type": KEY, "message": "m", "details": {"description": KEY}})}, get1, NotFound
    ),
    "Location of a 302": Case(
        {GET1: Answer(302, "", {"Location": f"https://evil.example/steal?k={KEY}"})}, get1, UnexpectedResponse
    ),
    "URL-encoded Location of a 307": Case(
        {GET1: Answer(307, "", {"Location": f"/x?k={quote(KEY, safe='')}"})}, get1, UnexpectedResponse
    ),
    "cursor": Case({LIST: cursor_pages(KEY, None)}, list_all, UnexpectedResponse),
    "looping cursor that embeds the key": Case(
        {LIST: cursor_pages(f"c-{KEY}", f"c-{KEY}")}, list_all, UnexpectedResponse
    ),
    "looping URL-encoded cursor": Case(
        {LIST: lambda q: page([schedule()], f"c={quote(KEY, safe='')}")}, list_all, UnexpectedResponse
    ),
    "record keys and messages": Case(
        {
            POST: Answer(
                422, {"type": "RecordError", "message": "bad", "record": {KEY: [f"{KEY} is taken"], "base": KEY}}
            )
        },
        create,
        RecordInvalid,
    ),
    "title inside a listing": Case(
        {
            LIST: page(
                [
                    schedule(5, title=f"Weekly {KEY}"),
                    schedule(6, dest={"type": "EmailDest", "title": KEY, "recipients": [f"{KEY}@example.com"]}),
                    schedule(7, **{KEY: True, "extra": {KEY: [KEY]}}),
                ]
            )
        },
        list_all,
    ),
    "URL-encoded key in data and errors": Case(
        {
            LIST: page(
                [
                    schedule(5, title=quote(KEY, safe="")),
                    schedule(6, title=quote_plus(KEY)),
                    schedule(7, title=quote(KEY)),
                ]
            )
        },
        list_all,
    ),
    "URL-encoded key in an error": Case(
        {GET1: Answer(403, {"type": "PermissionDeniedError", "message": f"k={quote(KEY, safe='').lower()}"})},
        get1,
        HolisticsError,
    ),
    "key inside \\u-escaped JSON": Case(
        {GET1: Answer(200, '{"data_schedule": {"id": 1, "title": "' + u_escaped(KEY) + '"}}')}, get1
    ),
    "\\u-escaped key in an error": Case(
        {POST: Answer(422, '{"type": "RecordError", "message": "' + u_escaped(KEY) + '", "record": {}}')},
        create,
        RecordInvalid,
    ),
    "\\/-escaped key in data": Case(
        {GET1: Answer(200, '{"data_schedule": {"id": 1, "title": "' + KEY.replace("/", "\\/") + '"}}')}, get1
    ),
    "job logs": Case(
        {
            ("GET", "/jobs/3/logs"): Answer(
                200, '{"job_logs": [{"message": "' + u_escaped(f"auth {KEY}") + f'", "{KEY}": 1}}]}}'
            )
        },
        lambda c: c.get_job_logs(3),
    ),
    "upper-cased key": Case(
        {GET1: Answer(401, {"type": "AuthenticationError", "message": KEY.upper()})}, get1, HolisticsError
    ),
    "key cut off by the message limit": Case(
        {GET1: Answer(404, {"type": "NotFoundError", "message": "x" * 270 + KEY + "y" * 50})}, get1, NotFound
    ),
    "non-JSON body cut off by the limit": Case(
        {GET1: Answer(404, "y" * 272 + KEY + "z" * 50, {"Content-Type": "text/plain"})}, get1, NotFound
    ),
    "Retry-After of a 429": Case(
        {GET1: Answer(429, {"type": "RateLimitError", "message": KEY}, {"Retry-After": KEY})}, get1, RateLimited
    ),
    "half URL-encoded key": Case(
        {GET1: Answer(200, {"data_schedule": {"id": 1, "title": KEY[:9] + quote(KEY[9:], safe="")}})}, get1
    ),
    "HTML numeric entities": Case(
        {GET1: Answer(404, "".join(f"&#{ord(c)};" for c in KEY), {"Content-Type": "text/plain"})}, get1, NotFound
    ),
    "zero-width spaces inside": Case(
        {GET1: Answer(200, {"data_schedule": {"id": 1, "title": "\u200b".join(KEY)}})}, get1
    ),
    "UTF-16 body read as UTF-8": Case(
        {GET1: Answer(200, json.dumps({"data_schedule": {"title": KEY}}).encode("utf-16"))}, get1, UnexpectedResponse
    ),
    "UTF-16 body without a charset": Case(
        {
            GET1: Answer(
                200, json.dumps({"data_schedule": {"id": 1, "title": KEY}}).encode("utf-16-le"), {"Content-Type": ""}
            )
        },
        get1,
    ),
    "unknown charset": Case(
        {
            GET1: Answer(
                200,
                json.dumps({"data_schedule": {"id": 1, "title": KEY}}),
                {"Content-Type": "application/json; charset=bogus"},
            )
        },
        get1,
    ),
    "malformed status line": Case({GET1: Answer(raw=f"HTTP/1.1 2OO {KEY}\r\n\r\n".encode())}, get1, TransportError),
    "malformed status line after a POST": Case(
        {POST: Answer(raw=f"HTTP/1.1 {KEY}\r\n".encode())}, create, OutcomeUnknown
    ),
    "header line without a colon": Case(
        {GET1: Answer(raw=f"HTTP/1.1 200 OK\r\n{KEY}\r\nContent-Length: 0\r\n\r\n".encode())}, get1, HolisticsError
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_key_the_server_echoes_is_never_shown(name: str) -> None:
    case = CASES[name]
    with FakeAPI(case.routes) as api:
        outcome = call(api.base_url, case.act)
    if case.raises is None:
        assert outcome.error is None, outcome.error
        assert outcome.result is not None
    else:
        assert isinstance(outcome.error, case.raises), outcome.error
    assert api.seen, "the fake was asked"
    assert all(s.headers.get("X-Holistics-Key") == KEY for s in api.seen), "the key was sent (in its header)"
    for text in outcome.texts():
        assert not leaks(text), f"{name}: the key shows in {text[:400]!r}"


def test_a_key_the_user_put_in_the_base_url_is_not_shown_either() -> None:
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{port.getsockname()[1]}/{KEY}/api/v2"
    port.close()  # nothing listens: refused
    outcome = call(base, get1, max_retries=0)
    assert isinstance(outcome.error, TransportError)
    client = HolisticsClient(base, KEY)
    for text in [*outcome.texts(), repr(client), str(client)]:
        assert not leaks(text), text


def test_redacted_data_says_where_the_key_was_and_keeps_everything_else() -> None:
    listing = [schedule(5, title=f"Weekly {KEY} report"), schedule(6, **{KEY: "v"})]
    with FakeAPI({LIST: page(listing)}) as api:
        got = call(api.base_url, list_all).result
    assert got[0]["title"] == "Weekly *** report"
    assert got[1]["***"] == "v" and got[0]["dest"] == listing[0]["dest"]


def test_a_listing_without_the_key_is_returned_as_sent() -> None:
    """The cheap path: no form of the key in the text, so nothing is walked or changed."""
    listing = [schedule(i, title=f'T {i} \u00e9\u2028 <&> \\ "q"') for i in range(1, 300)]
    with FakeAPI({LIST: page(listing)}) as api:
        assert call(api.base_url, list_all).result == listing


def test_a_cursor_holding_the_key_is_never_sent_back() -> None:
    with FakeAPI({LIST: cursor_pages(f"{KEY}-page2", None)}) as api:
        outcome = call(api.base_url, list_all)
    assert isinstance(outcome.error, UnexpectedResponse)
    assert "cursor" in str(outcome.error)
    assert len(api.seen) == 1 and "after" not in api.seen[0].query


# ---------------------------------------------------------------------------------------------------
# The key goes to the configured host only


@contextmanager
def listener() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback port that records whatever connects to it (a would-be proxy or another host)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(0.05)
    got: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    got.append(conn.recv(65536))
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", got
    finally:
        stop.set()
        thread.join(timeout=5)
        sock.close()


def test_nothing_steers_the_key_to_another_host() -> None:
    with listener() as (other, got):
        to_other = f"{other}/api/v2/data_schedules?after=x"
        routes: dict[tuple[str, str], Route | Answer] = {
            GET1: Answer(307, "", {"Location": to_other}),
            ("GET", "/data_schedules/2"): Answer(503, {"type": "x"}, {"Location": to_other, "Retry-After": "0"}),
            ("GET", "/data_schedules/3"): Answer(429, {"type": "x"}, {"Location": to_other, "Retry-After": "0"}),
            ("PUT", "/data_schedules/4"): Answer(308, "", {"Location": to_other}),
            LIST: cursor_pages(to_other, f"//{other.removeprefix('http://')}/api/v2"),
            ("GET", "/jobs/1"): Answer(
                200, {"job": {"id": 1}}, {"Content-Location": to_other, "Link": f"<{to_other}>"}
            ),
        }
        with FakeAPI(routes) as api:
            for act in (
                get1,
                lambda c: c.get(SCHEDULES, 2),
                lambda c: c.get(SCHEDULES, 3),
                lambda c: c.update(SCHEDULES, 4, {}),
                list_all,
                lambda c: c.get_job(1),
            ):
                call(api.base_url, act)
        assert got == [], "a request went to another host"
        after = [s.query["after"][0] for s in api.seen if "after" in s.query]
        assert to_other in after, "a URL as cursor is only ever a parameter to the configured host"


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)


def test_plain_http_ignores_every_proxy_variable_and_netrc(
    no_proxy_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\ndefault login any password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with listener() as (proxy, got), FakeAPI({GET1: Answer(200, {"data_schedule": schedule(1)})}) as api:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY"):
            monkeypatch.setenv(name, proxy)
        outcome = call(api.base_url, get1)
        session = requests.Session()
        session.proxies = {"http": proxy, "all": proxy}  # a caller's session with proxies of its own
        call(api.base_url, get1, session=session)
    assert outcome.error is None and got == [], "plain http went through a proxy"
    assert len(api.seen) == 2
    assert all("Authorization" not in s.headers for s in api.seen), ".netrc was read for plain http"


class RecordingAdapter(BaseAdapter):
    """Records the settings requests would connect with, and answers 200."""

    def __init__(self) -> None:
        super().__init__()
        self.settings: list[dict[str, Any]] = []

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        self.settings.append(
            {"verify": verify, "proxies": dict(proxies or {}), "auth": request.headers.get("Authorization")}
        )
        resp = requests.Response()
        resp.status_code, resp.request, resp.url = 200, request, request.url or ""
        resp._content = json.dumps({"data_schedule": schedule(1)}).encode()
        resp.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        return resp

    def close(self) -> None:
        pass


def test_https_keeps_honouring_proxies_and_the_ca_bundle(
    no_proxy_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bundle = tmp_path / "corp-ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp.example:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    adapter = RecordingAdapter()
    session = requests.Session()
    session.mount("https://", adapter)
    assert call("https://secure.holistics.io/api/v2", get1, session=session).error is None
    assert adapter.settings == [
        {"verify": str(bundle), "proxies": {"https": "http://proxy.corp.example:3128"}, "auth": None}
    ]


def test_https_really_connects_through_the_proxy_without_showing_it_the_key(
    no_proxy_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with listener() as (proxy, got):
        monkeypatch.setenv("HTTPS_PROXY", proxy)
        outcome = call("https://secure.holistics.io/api/v2", get1, max_retries=0)
    assert isinstance(outcome.error, TransportError)
    assert len(got) == 1 and got[0].startswith(b"CONNECT secure.holistics.io:443 ")
    assert KEY.encode() not in got[0], "only the TLS tunnel, which the proxy cannot read, carries the key"


# ---------------------------------------------------------------------------------------------------
# A host that does not resolve


def _resolves_nowhere_fast(host: str) -> str | None:
    """None when `host` fails to resolve within a second, else why the test cannot run here."""
    result: list[BaseException | object] = []
    thread = threading.Thread(target=lambda: result.append(_lookup(host)), daemon=True)
    thread.start()
    thread.join(2)
    if not result:
        return "this machine's resolver blocks instead of failing"
    if not isinstance(result[0], socket.gaierror):
        return f"this machine's resolver answers for {host}: {result[0]!r}"
    return None


def _lookup(host: str) -> BaseException | object:
    try:
        return socket.getaddrinfo(host, 443)
    except OSError as exc:
        return exc


UNRESOLVABLE = "no-such-workspace.invalid"  # the reserved TLD: resolves nowhere, no query leaves a sane resolver


def test_an_unresolvable_host_fails_fast_and_says_so() -> None:
    if why := _resolves_nowhere_fast(UNRESOLVABLE):
        pytest.skip(why)
    sleeps: list[float] = []
    client = HolisticsClient(
        f"https://{UNRESOLVABLE}/api/v2", KEY, sleep=sleeps.append, rate_limiter=RateLimiter(None, sleep=sleeps.append)
    )
    started = time.monotonic()
    with pytest.raises(TransportError) as err:
        list(client.list(SCHEDULES))
    assert time.monotonic() - started < 2.0
    assert sleeps == [], "a name that does not exist is not retried"
    text = str(err.value)
    assert f"could not resolve host {UNRESOLVABLE}" in text and "region or base URL" in text, text
    for raw in ("connection refused", "HTTPSConnectionPool", "NameResolutionError", "object at 0x"):
        assert raw not in text


def resolver_error(code: int, text: str) -> requests.ConnectionError:
    """What requests raises when getaddrinfo fails (urllib3 raises NameResolutionError from the gaierror)."""
    gai = socket.gaierror(code, text)
    reason = NameResolutionError("h.example", None, gai)  # type: ignore[arg-type]
    reason.__cause__ = gai
    return requests.ConnectionError(MaxRetryError(None, "/api/v2/data_schedules", reason))  # type: ignore[arg-type]


def test_a_temporary_resolver_failure_is_retried() -> None:
    temporary = resolver_error(socket.EAI_AGAIN, "Temporary failure in name resolution")

    class Flaky(RecordingAdapter):
        def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
            if not self.settings:
                self.settings.append({})
                raise temporary
            return super().send(request, *args, **kwargs)

    adapter = Flaky()
    session = requests.Session()
    session.mount("https://", adapter)
    outcome = call("https://h.example/api/v2", get1, session=session)
    assert outcome.error is None and len(adapter.settings) == 2
    assert outcome.events and "could not resolve host h.example" in outcome.events[0]
    assert "Temporary failure" in outcome.events[0]


def test_a_name_that_does_not_exist_is_not_retried() -> None:
    adapter = FailingAdapter(resolver_error(socket.EAI_NONAME, "Name or service not known"))
    session = requests.Session()
    session.mount("https://", adapter)
    outcome = call("https://h.example/api/v2", get1, session=session, max_retries=4)
    assert isinstance(outcome.error, TransportError) and not isinstance(outcome.error, OutcomeUnknown)
    assert adapter.calls == 1 and outcome.events == []
    assert str(outcome.error).startswith("GET /data_schedules/1 failed: could not resolve host h.example")


class FailingAdapter(BaseAdapter):
    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error, self.calls = error, 0

    def send(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.calls += 1
        raise self.error

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------------
# The real CLI


def project(tmp_path: Path) -> Path:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "a.yml").write_text(
        "schedules:\n"
        "  weekly:\n"
        "    source_type: Dashboard\n"
        "    source_id: 1251\n"
        "    schedule: {repeat: '0 8 * * 1'}\n"
        "    dest: {type: EmailDest, recipients: [a@example.com]}\n",
        encoding="utf-8",
    )
    return tmp_path


DASHBOARD = ("GET", "/dashboards/1251")
CLI_CASES: dict[str, dict[tuple[str, str], Route | Answer]] = {
    "titles": {
        LIST: page(
            [
                schedule(5, title=f"Weekly {KEY}"),
                schedule(
                    6,
                    **{
                        KEY: 1,
                        "dest": {
                            "type": "EmailDest",
                            "title": u_escaped(KEY),
                            "recipients": [f"{quote(KEY)}@example.com"],
                        },
                    },
                ),
            ]
        ),
        DASHBOARD: Answer(
            200, {"dashboard": {"id": 1, "title": f"Sales {KEY}", "dynamic_filters": [{"id": KEY, "name": KEY}]}}
        ),
    },
    "a schedule whose id is the key": {LIST: page([schedule(5), {**schedule(6), "id": KEY}])},
    "odd shapes": {
        LIST: page([schedule(5, source_type=KEY, dest={"type": KEY}, schedule=KEY)]),
        DASHBOARD: Answer(200, {"dashboard": KEY}),
    },
    "text listing": {LIST: Answer(200, f"key={KEY}", {"Content-Type": "text/plain"})},
    # 4xx rather than 5xx here: the CLI's retries would really wait (the client-level cases cover 5xx)
    "HTML error page": {LIST: Answer(403, f"<html>{KEY}</html>", {"Content-Type": "text/html"}, reason=KEY)},
    "cursor": {LIST: cursor_pages(KEY, None), DASHBOARD: Answer(200, {"dashboard": {"id": 1}})},
    "malformed header": {
        LIST: Answer(raw=f"HTTP/1.1 200 OK\r\nX: 1\r\n{KEY}\r\nContent-Length: 2\r\n\r\n{{}}".encode())
    },
    "debug_id": {LIST: Answer(404, {"type": "NotFoundError", "message": KEY, "debug_id": KEY})},
    "apply, and a 422 echoing the key": {
        LIST: page([]),
        DASHBOARD: Answer(200, {"dashboard": {"id": 1251}}),
        POST: Answer(422, {"type": "RecordError", "message": KEY, "record": {KEY: [KEY], "dest.title": [KEY]}}),
    },
}


@pytest.mark.parametrize("name", list(CLI_CASES))
def test_the_cli_never_prints_an_echoed_key(tmp_path: Path, name: str) -> None:
    cwd = project(tmp_path)
    command = ["apply", "--auto-approve", "-v"] if name.startswith("apply") else ["plan", "-v"]
    with FakeAPI(CLI_CASES[name]) as api:
        result = cli(None, *command, cwd=cwd, base_url=api.base_url, key=KEY, drop_env=PROXY_VARS, timeout=60)
    assert api.seen, result.stderr
    assert command[0] != "apply" or any(s.method == "POST" for s in api.seen), result.stderr
    assert "Traceback" not in result.stderr
    for where, text in (("stdout", result.stdout), ("stderr", result.stderr)):
        assert not leaks(text), f"{name}: the key shows on {where}: {text!r}"
    written = [p for p in cwd.rglob("*") if p.is_file()]
    assert all(not leaks(p.read_text(errors="replace")) for p in written)


def test_the_cli_sends_nothing_to_a_proxy_for_plain_http(tmp_path: Path) -> None:
    cwd = project(tmp_path)
    with listener() as (proxy, got), Sandbox(key=KEY, seed="empty") as sb:
        proxies = {"HTTP_PROXY": proxy, "http_proxy": proxy, "ALL_PROXY": proxy, "all_proxy": proxy}
        result = cli(
            None, "plan", "-v", cwd=cwd, base_url=sb.base_url, key=KEY, drop_env=PROXY_VARS, env=proxies, timeout=60
        )
        served = sb.control.requests()
    assert result.returncode == 0, result.stderr
    assert got == [], "the proxy got a request"
    assert served, "the sandbox was asked directly"
    assert not leaks(result.stdout + result.stderr)


def test_the_cli_says_an_unresolvable_host_is_one(tmp_path: Path) -> None:
    if why := _resolves_nowhere_fast(UNRESOLVABLE):
        pytest.skip(why)
    started = time.monotonic()
    result = cli(
        None,
        "plan",
        cwd=project(tmp_path),
        base_url=f"https://{UNRESOLVABLE}/api/v2",
        key=KEY,
        drop_env=PROXY_VARS,
        timeout=60,
    )
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    assert f"could not resolve host {UNRESOLVABLE}" in result.stderr and "region or base URL" in result.stderr
    assert "connection refused" not in result.stderr and "Traceback" not in result.stderr
    assert not leaks(result.stdout + result.stderr)


def test_a_cause_keeps_its_type_but_not_the_key_nor_the_request() -> None:
    """apply tells a timeout from other unknown outcomes by the cause's type; the original exception
    holds the request, and so the key's header, and is not kept."""
    prepared = requests.Request(
        "POST", "https://h.example/api/v2/data_schedules", headers={"X-Holistics-Key": KEY}
    ).prepare()
    adapter = FailingAdapter(requests.ReadTimeout(f"read timed out ({quote(KEY)})", request=prepared))
    session = requests.Session()
    session.mount("https://", adapter)
    outcome = call("https://h.example/api/v2", create, session=session)
    err = outcome.error
    assert isinstance(err, OutcomeUnknown) and isinstance(err.cause, requests.ReadTimeout)
    assert err.__cause__ is err.cause and err.cause.request is None
    assert "read timed out (***)" in str(err)
    for text in outcome.texts():
        assert not leaks(text), text
