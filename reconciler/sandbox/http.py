"""The sandbox's HTTP side: the server and handler, and what happens to an API request around its
route: latency, the key, the rate limit, a test's hook, injected faults (forced errors, dropped
connections, delays), the request log and the error shape.

The server tracks its open connections so that stopping it really stops it (keep-alive clients and
sleeping faults would otherwise hold on). Control requests need no key, are answered to loopback
clients only, and are neither delayed, rate limited nor logged.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from reconciler.kinds.known import KINDS
from reconciler.remote.client.urls import is_loopback
from reconciler.sandbox.api import API_PREFIX, Api, ApiError, Reply
from reconciler.sandbox.control import Control, Settings
from reconciler.sandbox.controlroutes import CONTROL_PREFIX, reply_to
from reconciler.sandbox.faults import Fault, Faults, LateOutcome, LateWrites, RequestLog, retry_after_seconds
from reconciler.sandbox.state import State

REDACTED = "[redacted]"
WRAPPERS = frozenset(kind.wrapper for kind in KINDS)

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


def _fault_error(status: int) -> ApiError:
    type_ = _FAULT_ERROR_TYPES.get(status, "InternalHolisticsError" if status >= 500 else "BaseError")
    headers = {"Retry-After": "1"} if status == 429 else {}
    return ApiError(status, type_, f"Sandbox fault: forced {status} response", headers=headers)


@dataclass
class Exchange:
    """One request as the handler read it, and how to answer it."""

    method: str
    path: str
    query: dict[str, list[str]]
    key: str  # the X-Holistics-Key header as sent ("" when absent)
    body: bytes
    client: str
    send: Callable[[Reply], None]
    drop: Callable[[], None]


class App:
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
        self.late = LateWrites()
        self.api = Api(state, settings.server)
        self.control = Control(state, faults, log, settings, self.late)

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
        if isinstance(value, dict):  # keys too: a record names the fields a client sent
            return {self._scrub(k): self._scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        return value

    def redact(self, query: Mapping[str, list[str]]) -> dict[str, str]:
        return {k: REDACTED if v[-1] == self.key else v[-1] for k, v in query.items() if v}

    def serve_api(self, ex: Exchange) -> None:
        call = _Call(self, ex)
        _pause(self.settings.latency_ms)
        refusal = self._refusal(ex, call.inside) or self._hooked(ex, call.path)
        if refusal is not None:
            call.finish(refusal.reply())
            return
        fault = self.faults.take(ex.method, call.path, "before", "late")
        if fault is not None and fault.when == "late":
            # the gateway gives up (or hangs up) now; the server carries the request out afterwards
            start_clock = self.late.schedule(
                ex.method, call.path, fault.delay_ms, lambda: self._carry_out(ex, call.path)
            )
            call.settle(fault, delay_ms=0)
            start_clock()
            return
        if call.settle(fault):
            return
        if fault is not None:
            time.sleep(fault.delay_ms / 1000)  # a slow server, which then does the work
        try:
            reply = self.api.handle(ex.method, call.path, ex.query, ex.body)
        except ApiError as exc:
            reply = exc.reply()
        fault = self.faults.take(ex.method, call.path, "after")
        # after: the work is done and stored; the client just never learns it
        if call.settle(fault):
            return
        call.finish(reply, fault.delay_ms if fault is not None else 0)

    def _carry_out(self, ex: Exchange, path: str) -> LateOutcome:
        """A late write: the request handled as if it had just arrived, its answer sent to no one."""
        try:
            reply = self.api.handle(ex.method, path, ex.query, ex.body)
        except ApiError as exc:
            reply = exc.reply()
        except Exception:
            logger.exception("sandbox: unhandled error in a late %s %s", ex.method, path)
            return 500, None
        if self.echo is not None:
            self.echo(f"{ex.method} {ex.path} -> {reply.status} (late: carried out after its answer)")
        # the schedule or alert it stored or changed (the wrapper says which kind)
        record = next((v for k, v in reply.body.items() if k in WRAPPERS and isinstance(v, dict)), None)
        ident = record.get("id") if record is not None else None
        return reply.status, ident if isinstance(ident, int) else None

    def _refusal(self, ex: Exchange, inside: bool) -> ApiError | None:
        """Why the request is turned away before any fault or route sees it, if it is."""
        if not inside:
            return ApiError(404, "BaseError", f"No route matches {ex.method} {ex.path}")
        if not hmac.compare_digest(ex.key.encode(), self.key.encode()):
            # never echo what was sent: it may be someone's real key
            return ApiError(401, "AuthError", "Invalid or missing API key (X-Holistics-Key)")
        return self._rate_limited()

    def _hooked(self, ex: Exchange, path: str) -> ApiError | None:
        """What a test's hook (Control.set_api_hook) answers instead of the route, if anything."""
        hook = self.settings.api_hook
        if hook is None:
            return None
        try:
            hook(ex.method, path, ex.query)
        except ApiError as exc:
            return exc
        return None

    def _rate_limited(self) -> ApiError | None:
        limiter = self.settings.rate_limiter
        wait = limiter.acquire() if limiter is not None else None
        if wait is None or limiter is None:
            return None
        seconds = retry_after_seconds(wait)
        header = (
            formatdate(time.time() + seconds, usegmt=True) if self.settings.retry_after == "http-date" else str(seconds)
        )
        message = (
            f"Rate limit exceeded: {limiter.count} requests per {limiter.window:g} seconds; "
            f"retry after {seconds} seconds"
        )
        return ApiError(429, "RateLimitExceedError", message, headers={"Retry-After": header})

    def serve_control(self, ex: Exchange) -> None:
        if not is_loopback(ex.client):
            ex.send(ApiError(403, "PermissionDeniedError", "The sandbox control endpoint is loopback only").reply())
            return
        ex.send(reply_to(self.control, ex.method, ex.path, ex.query, ex.body))


class _Call:
    """One API request on its way out: logged, echoed, then answered or hung up on, once."""

    def __init__(self, app: App, ex: Exchange) -> None:
        self.app = app
        self.ex = ex
        self.inside = ex.path == API_PREFIX or ex.path.startswith(API_PREFIX + "/")
        # relative to /api/v2, as fault patterns and the request log are
        self.path = (ex.path[len(API_PREFIX) :] or "/") if self.inside else ex.path
        self.entry: dict[str, Any] = {
            "method": ex.method,
            "path": self.path,
            "query": app.redact(ex.query),
            "status": None,
        }

    def finish(self, reply: Reply, delay_ms: int = 0) -> None:
        # recorded before the answer goes out, so a client that has its answer sees it in the log
        self.entry["status"] = reply.status
        self._record(str(reply.status))
        _pause(delay_ms)
        self.ex.send(self.app.shape(reply))

    def cut(self, delay_ms: int) -> None:
        self._record("connection dropped")
        _pause(delay_ms)
        self.ex.drop()

    def settle(self, fault: Fault | None, delay_ms: int | None = None) -> bool:
        """Answer (or hang up) as the fault says, after its delay unless `delay_ms` is given; False
        when there is no fault or it only delays."""
        if fault is None:
            return False
        wait = fault.delay_ms if delay_ms is None else delay_ms
        if fault.drop:
            self.cut(wait)
            return True
        if fault.status is not None:
            self.finish(_fault_error(fault.status).reply(), wait)
            return True
        return False

    def _record(self, outcome: str) -> None:
        self.app.log.append(self.entry)
        if self.app.echo is not None:
            self.app.echo(f"{self.ex.method} {self.ex.path} -> {outcome}")


def _pause(delay_ms: int) -> None:
    if delay_ms:
        time.sleep(delay_ms / 1000)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # don't join handler threads on close: a keep-alive client or a sleeping fault would block stop()
    block_on_close = False
    # the stdlib's backlog of 5 drops the connections of a burst of parallel clients beyond it: the
    # kernel retries a dropped SYN only after a second, or the client sees a reset
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App) -> None:
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
    server: Server
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
        exchange = Exchange(
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
