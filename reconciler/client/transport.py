"""Sending one HTTP request, and classifying what came of it: answered, never sent, or maybe sent.

Retries hinge on that distinction: a request that never left this machine (refused connection, DNS
failure, connect timeout) may be sent again even when it is a POST; one that may have reached the
server (read timeout, reset, dropped connection) may not, unless it is idempotent. Nothing here
retries, waits or raises.

Where the key may go is decided here: redirects are never followed, so it cannot be replayed to
another host; plain http (allowed only to loopback) never goes through a proxy nor reads .netrc,
whatever the environment says, because a proxy would read the key in clear text. https keeps the
environment's proxies and CA bundle (corporate networks need them); the key then travels inside TLS.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.auth import AuthBase
from urllib3.exceptions import ConnectTimeoutError

Params = Mapping[str, str | int | Sequence[str]]
Timeout = float | tuple[float, float]


@dataclass(frozen=True)
class Answered:
    """The server answered, with any status. `received_at` is our clock when the answer arrived: what
    an HTTP-date Retry-After is measured against when the answer carries no Date of its own."""

    response: requests.Response
    received_at: datetime


@dataclass(frozen=True)
class NeverSent:
    """No connection was made, so the server cannot have seen the request. `host`: the one we tried."""

    error: requests.RequestException
    host: str = ""


@dataclass(frozen=True)
class MaybeSent:
    """The exchange failed after connecting: the server may have received and processed the request."""

    error: requests.RequestException
    host: str = ""


Outcome = Answered | NeverSent | MaybeSent


def send_once(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: Params | None,
    json: Any,
    headers: Mapping[str, str],
    timeout: Timeout,
) -> Outcome:
    """One attempt, without following redirects, classified.

    What `session.request` does, except that the environment (proxies, .netrc, CA bundle) is merged in
    only for https: for plain http the connection is always direct.
    """
    plain = urlsplit(url).scheme == "http"
    try:
        # an explicit no-op auth is how requests is told not to look in .netrc
        request = session.prepare_request(requests.Request(
            method, url, params=params, json=json, headers=headers, auth=_NO_AUTH if plain else None))
        if plain:
            proxies: MutableMapping[str, str] = {}
            stream, verify, cert = session.stream, session.verify, session.cert
        else:
            env = session.merge_environment_settings(request.url or url, {}, None, None, None)
            proxies, stream, verify, cert = env["proxies"], env["stream"], env["verify"], env["cert"]
        resp = session.send(request, timeout=timeout, allow_redirects=False, proxies=proxies, stream=stream,
                            verify=verify, cert=cert)
    except requests.RequestException as exc:
        host = urlsplit(url).hostname or ""
        return NeverSent(exc, host) if never_sent(exc) else MaybeSent(exc, host)
    return Answered(resp, _utcnow())


class _NoAuth(AuthBase):
    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request


_NO_AUTH: Final = _NoAuth()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def never_sent(exc: requests.RequestException) -> bool:
    """True when the connection was never established, so the server cannot have seen the request.

    requests wraps urllib3's errors: a refused connection or DNS failure is a NewConnectionError and a
    connect timeout a ConnectTimeoutError (NewConnectionError subclasses it), both inside MaxRetryError.
    Anything else (read timeout, reset, remote disconnect, SSL error mid-stream) may follow the send.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    return any(isinstance(cur, ConnectTimeoutError) for cur in _linked(exc))


def _linked(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it wraps, each once: in args, urllib3's `reason`, cause and context."""
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        stack.extend(a for a in cur.args if isinstance(a, BaseException))
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        stack.extend(linked for linked in (cur.__cause__, cur.__context__) if linked is not None)


# getaddrinfo's answers that a retry cannot change: the name does not exist, or has no address
_NO_SUCH_NAME: Final = frozenset(
    code for name in ("EAI_NONAME", "EAI_NODATA", "EAI_FAIL") if (code := getattr(socket, name, None)) is not None
)
_NameResolutionError: Final = getattr(urllib3.exceptions, "NameResolutionError", None)  # urllib3 >= 2


@dataclass(frozen=True)
class Unresolved:
    """The host name could not be resolved. `permanent`: the resolver said it does not exist (a typo
    in a region or base URL), as opposed to a resolver that failed for now."""

    reason: str
    permanent: bool


def unresolved(exc: BaseException) -> Unresolved | None:
    """How resolving the host failed, if that is what `exc` (anywhere in its chain) says."""
    chain = list(_linked(exc))
    for cur in chain:
        if isinstance(cur, socket.gaierror):
            return Unresolved(cur.strerror or str(cur), cur.errno in _NO_SUCH_NAME)
    if _NameResolutionError is not None and any(isinstance(cur, _NameResolutionError) for cur in chain):
        return Unresolved("name resolution failed", False)
    return None


def describe(exc: requests.RequestException, host: str = "") -> str:
    """A transport fault in a few words, for messages and events."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.ReadTimeout):
        return "read timeout"
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        if (dns := unresolved(exc)) is not None:
            return f"could not resolve host {host or '?'} ({dns.reason})"
        if not never_sent(exc):
            return "connection dropped"
        refused = any(isinstance(cur, ConnectionRefusedError) or getattr(cur, "errno", None) == errno.ECONNREFUSED
                      for cur in _linked(exc))
        return "connection refused" if refused or "refused" in str(exc).lower() else "could not connect"
    return type(exc).__name__
