"""Sending one HTTP request, and classifying what came of it: answered, never sent, or maybe sent.

Retries hinge on that distinction: a request that never left this machine (refused connection, DNS
failure, connect timeout) may be sent again even when it is a POST; one that may have reached the
server (read timeout, reset, dropped connection) may not, unless it is idempotent. Nothing here
retries, waits or raises; redirects are never followed, so the API key cannot be replayed elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
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
    """No connection was made, so the server cannot have seen the request."""

    error: requests.RequestException


@dataclass(frozen=True)
class MaybeSent:
    """The exchange failed after connecting: the server may have received and processed the request."""

    error: requests.RequestException


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
    """One attempt, without following redirects, classified."""
    try:
        resp = session.request(method, url, params=params, json=json, headers=headers,
                               timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        return NeverSent(exc) if never_sent(exc) else MaybeSent(exc)
    return Answered(resp, _utcnow())


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


def describe(exc: requests.RequestException) -> str:
    """A transport fault in a few words, for messages and events."""
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.ReadTimeout):
        return "read timeout"
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused" if never_sent(exc) else "connection dropped"
    return type(exc).__name__
