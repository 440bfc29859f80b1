"""`HolisticsClient`: the endpoints each kind needs (list, get, create, update, delete, submit, by
the kind's path and wrapper), jobs and sources, over one thread-safe session.

The pieces it is built from, each in its own module: `urls` (where the key may be sent), `rates`
(pacing shared by the workers), `transport` (one attempt, classified), `retry` (whether and how long
to wait before another), `failures` (what the final outcome means: a reply or an exception),
`listing` (reading every schedule, from both ends of the list at once).
`cancel()` stops the client: a request not yet sent raises `Cancelled`, and a wait (a retry's, the
rate limiter's) ends at once, so a background listing no longer needed stops promptly.
The API key lives only here and in the `X-Holistics-Key` header of requests this client builds:
never on a shared session, in a URL, or in `str()`/`repr()` of the client, its events or its errors.
Should a server echo it back, it is out of everything before anyone sees it: `failures.settle` hands
on only redacted replies and redacted exceptions, and every event is redacted too (see `redact`).
"""

from __future__ import annotations

import builtins
import functools
import random
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Self

import requests
from requests.adapters import HTTPAdapter

from reconciler import __version__
from reconciler.kinds import Kind
from reconciler.remote.client import listing
from reconciler.remote.client.errors import (
    APIError,
    AuthError,
    Cancelled,
    ConfigError,
    NamesUnavailable,
    UnexpectedResponse,
)
from reconciler.remote.client.failures import Reply, settle
from reconciler.remote.client.rates import RateLimiter
from reconciler.remote.client.redact import Redactor
from reconciler.remote.client.retry import RetryPolicy, retry_event
from reconciler.remote.client.transport import NeverSent, Params, Timeout, Transport
from reconciler.remote.client.urls import REGIONS, check_base_url

KEY_HEADER: Final = "X-Holistics-Key"


# The package's own version, not the installed metadata's: the same in a checkout, an editable
# install (whose metadata is as old as the install) and a wheel.
DEFAULT_USER_AGENT: Final = f"holistics-schedules/{__version__}"


def _checked_key(api_key: str) -> str:
    if not api_key or not api_key.strip():
        raise ConfigError("an API key is required")
    if not all(" " < ch <= "~" for ch in api_key.strip()):
        # said without echoing it: an HTTP library error would quote the whole header value
        raise ConfigError(
            "the API key has characters an HTTP header cannot carry (a line break, a space, "
            "non-ASCII); check how it was copied"
        )
    return api_key.strip()


def _pooled_session(pool_maxsize: int) -> requests.Session:
    session = requests.Session()
    # Retries are ours (urllib3's would retry POSTs blindly); pool fits the apply workers.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(16, pool_maxsize), max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class HolisticsClient:
    """Thread-safe client for the parts of Holistics API v2 that the kinds need."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: Timeout = (5.0, 30.0),
        max_retries: int = 4,
        retry_after_cap: float = 60.0,
        backoff_base: float = 0.5,
        rate_limiter: RateLimiter | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        on_event: Callable[[str], None] | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        pool_maxsize: int = 16,
    ) -> None:
        key = _checked_key(api_key)
        if max_retries < 0:
            raise ConfigError("max_retries must be >= 0")
        checked_url = check_base_url(base_url)
        self.__key = key
        self._redact = Redactor(key)
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_after_cap = retry_after_cap
        self.backoff_base = backoff_base
        self.user_agent = user_agent
        self._sleep = sleep
        self._on_event = on_event
        self._held_events: list[str] | None = None  # see hold_events
        self._events_lock = threading.Lock()
        # Even without a rate, a shared limiter lets one thread's 429 pause the others.
        self.rate_limiter = rate_limiter if rate_limiter is not None else RateLimiter(None, sleep=sleep)
        # cancel() sets this and every stop event a group of requests brought (see _request)
        self._cancelled = threading.Event()
        self._cancel_lock = threading.Lock()
        self._linked_stops: weakref.WeakSet[threading.Event] = weakref.WeakSet()
        self._owns_session = session is None
        self._session = session if session is not None else _pooled_session(pool_maxsize)
        try:
            self._transport = Transport(self._session, checked_url)
        except requests.RequestException:  # what check_base_url lets by but requests cannot parse
            self.close()
            raise ConfigError(
                f"base URL {self._redact.text(checked_url)!r} is not a usable URL; check its host and port"
            ) from None
        self._count_lock = threading.Lock()
        self._request_count = 0
        self._random = random.Random()

    # -- bookkeeping -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """Where every request goes: fixed at construction, with the environment resolved for it."""
        return self._transport.base_url

    @property
    def request_count(self) -> int:
        """HTTP requests actually sent (attempts that got past connecting), retries included."""
        with self._count_lock:
            return self._request_count

    def _count(self) -> None:
        with self._count_lock:
            self._request_count += 1

    def __repr__(self) -> str:
        return f"HolisticsClient(base_url={self._redact.text(self.base_url)!r}, api_key='***')"

    def cancel(self) -> None:
        """Stop this client for good: every request not yet sent raises `Cancelled`, and every wait (a
        retry's backoff, a Retry-After, the rate limiter) ends now. A request already sent is answered
        as usual. Thread-safe; calling it again does nothing more."""
        with self._cancel_lock:
            self._cancelled.set()
            for stop in list(self._linked_stops):
                stop.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- endpoints ---------------------------------------------------------------------------------

    def list(
        self, kind: Kind, *, early: listing.Early | None = None, **filters: str | int | Sequence[str]
    ) -> Iterator[dict[str, Any]]:
        """Every item of `kind` matching `filters`, following `cursors.next` (sent as `after`).

        Filters are the spec's query parameters (source_type, source_id, dest_type, sort, ...);
        `limit` defaults to the maximum, 100. Offset paging (`page`) and `before` are not supported
        because they cannot be combined with following `after` cursors.

        Without a `sort`, the list is read from both ends at once (ascending, and `sort=id_desc` in a
        second thread) until the two walks meet, and comes in ascending id order, each item once,
        as one walk gives it; where the server does not support that, it is one walk (see `listing`).
        The first page is read alone, and so is a one-page workspace. The ascending walk's items
        come as they are read, the descending walk's after them (`early` sees every page as it is
        read: `listing.list_schedules`).
        """
        for name in ("page", "before"):
            if name in filters:
                raise ValueError(f"list follows `after` cursors; {name!r} is not supported")
        yield from listing.list_schedules(
            functools.partial(self._list_page, kind),
            {"limit": 100, **filters},
            sorts=kind.listing_sorts,
            **({"early": early} if early is not None else {}),
        )

    def _list_page(self, kind: Kind, params: listing.ListParams, stop: threading.Event | None) -> listing.Page:
        reply = self._request("GET", kind.path, params=params, stop=stop)
        data = self._json_object(reply, "GET", kind.path)
        return listing.Page(self._list_field(data, kind.list_key, "GET", kind.path), data, reply.redacted)

    def get(self, kind: Kind, item_id: int) -> dict[str, Any]:
        path = f"{kind.path}/{int(item_id)}"
        return self._object_field(self._request_json("GET", path), kind.wrapper, "GET", path)

    def create(self, kind: Kind, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a new item. Raises OutcomeUnknown when it may or may not have been created."""
        data = self._request_json("POST", kind.path, json={kind.wrapper: dict(body)})
        return self._object_field(data, kind.wrapper, "POST", kind.path)

    def update(self, kind: Kind, item_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the whole item (the API has no PATCH)."""
        path = f"{kind.path}/{int(item_id)}"
        data = self._request_json("PUT", path, json={kind.wrapper: dict(body)})
        return self._object_field(data, kind.wrapper, "PUT", path)

    def delete(self, kind: Kind, item_id: int) -> None:
        self._request("DELETE", f"{kind.path}/{int(item_id)}")

    def submit(self, kind: Kind, item_id: int) -> dict[str, Any]:
        """Run a saved item now; returns the `job` object to poll with get_job()."""
        path = f"{kind.path}/{int(item_id)}/submit_execute"
        return self._object_field(self._request_json("POST", path), "job", "POST", path)

    def get_job(self, job_id: int) -> dict[str, Any]:
        path = f"/jobs/{int(job_id)}"
        return self._object_field(self._request_json("GET", path), "job", "GET", path)

    def get_job_logs(self, job_id: int) -> builtins.list[dict[str, Any]]:
        path = f"/jobs/{int(job_id)}/logs"
        return builtins.list(self._list_field(self._request_json("GET", path), "job_logs", "GET", path))

    def get_dashboard(self, dashboard_id: int) -> dict[str, Any]:
        path = f"/dashboards/{int(dashboard_id)}"
        return self._object_field(self._request_json("GET", path), "dashboard", "GET", path)

    def dashboards_metadata(self) -> builtins.list[dict[str, Any]]:
        """Every dashboard's `id`, `title`, `uname` (None on canvas ones), `project_id` and `version`, in
        one request. Raises NamesUnavailable where the endpoint is not offered or not allowed."""
        path = "/dashboards/list_metadata"
        try:
            data = self._request_json("GET", path)
        except APIError as exc:
            if exc.status in NamesUnavailable.STATUSES:
                raise NamesUnavailable(exc.status) from None
            raise
        items = self._list_field(data, "dashboards_metadata", "GET", path)
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), int):
                raise UnexpectedResponse(
                    f"GET {path}: an item of 'dashboards_metadata' has no integer id",
                    status=200,
                    method="GET",
                    path=path,
                )
        return items

    def get_query_report(self, report_id: int) -> dict[str, Any]:
        path = f"/query_reports/{int(report_id)}"
        return self._object_field(self._request_json("GET", path), "query_report", "GET", path)

    # -- response shapes ---------------------------------------------------------------------------

    @staticmethod
    def _object_field(data: dict[str, Any], key: str, method: str, path: str) -> dict[str, Any]:
        value = data.get(key)
        if not isinstance(value, dict):
            raise UnexpectedResponse(
                f"{method} {path}: response has no {key!r} object", status=200, method=method, path=path
            )
        return value

    @staticmethod
    def _list_field(data: dict[str, Any], key: str, method: str, path: str) -> builtins.list[dict[str, Any]]:
        value = data.get(key)
        if not isinstance(value, list):
            raise UnexpectedResponse(
                f"{method} {path}: response has no {key!r} list", status=200, method=method, path=path
            )
        return value

    def _request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return self._json_object(self._request(method, path, **kwargs), method, path)

    @staticmethod
    def _json_object(reply: Reply, method: str, path: str) -> dict[str, Any]:
        if not isinstance(reply.data, dict):
            raise UnexpectedResponse(
                f"{method} {path}: expected a JSON object, got {reply.gist!r}",
                status=reply.status,
                method=method,
                path=path,
            )
        return reply.data

    # -- the retry loop ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
        stop: threading.Event | None = None,
    ) -> Reply:
        """One request, retried as the policy says. `stop`: an event that ends it like `cancel()` does
        (raising Cancelled before a send, waking a wait), for a group of requests stopped together."""
        halt = self._halt_event(stop)
        headers = {KEY_HEADER: self.__key, "Accept": "application/json", "User-Agent": self.user_agent}
        # from the attributes at each call, so they stay the one truth (and may still be changed)
        policy = RetryPolicy(self.max_retries, self.backoff_base, self.retry_after_cap)
        attempt = 0  # retries done so far
        while True:
            self._raise_if_halted(halt, method, path)
            self.rate_limiter.acquire(halt)
            self._raise_if_halted(halt, method, path)
            outcome = self._transport.send(
                method, path, params=params, json=json, headers=headers, timeout=self.timeout
            )
            if not isinstance(outcome, NeverSent):
                self._count()
            decision = policy.decide(method, outcome, attempt, self._random)
            if decision.shared:
                self.rate_limiter.backoff(decision.wait)  # the next acquire() of every thread waits
            if not decision.retry:
                try:
                    return settle(method, path, outcome, attempt + 1, self._redact)
                except AuthError as exc:
                    region = next((name for name, url in REGIONS.items() if url == self.base_url), None)
                    where = f"{self.base_url} (region {region})" if region else self.base_url
                    raise exc.sent_to(self._redact.text(where)) from None
            attempt += 1
            self._raise_if_halted(halt, method, path)  # cancelled while it was answered: no retry to announce
            self._event(retry_event(method, path, outcome, decision, attempt, self.max_retries))
            if not decision.shared:
                self._pause(decision.wait, halt)

    def _event(self, text: str) -> None:
        if self._on_event is None:
            return
        with self._events_lock:
            if self._held_events is not None:
                self._held_events.append(self._redact.text(text))
                return
        self._on_event(self._redact.text(text))

    def hold_events(self) -> None:
        """Keep retry and wait events back until `release_events`: reads started before the input is
        known to be valid must not speak before the input's own problems are said."""
        with self._events_lock:
            if self._held_events is None:
                self._held_events = []

    def release_events(self, *, show: bool) -> None:
        """Say the events kept back, in order (or, `show=False`, drop them: the reads they were about
        were cancelled and decide nothing), and say later ones as they come."""
        with self._events_lock:
            held, self._held_events = self._held_events or [], None
        if show and self._on_event is not None:
            for text in held:
                self._on_event(text)

    # -- cancelling ----------------------------------------------------------------------------------

    def _halt_event(self, stop: threading.Event | None) -> threading.Event:
        """The event that stops this request: the client's own, or `stop`, which cancel() sets too."""
        if stop is None:
            return self._cancelled
        with self._cancel_lock:
            self._linked_stops.add(stop)
            if self._cancelled.is_set():
                stop.set()
        return stop

    @staticmethod
    def _raise_if_halted(halt: threading.Event, method: str, path: str) -> None:
        if halt.is_set():
            raise Cancelled(method=method, path=path)

    def _pause(self, seconds: float, halt: threading.Event) -> None:
        """Sleep before a retry: on `halt` with the default sleep, so a cancel wakes it; an injected
        sleep (a test's clock) is called as given."""
        if self._sleep is time.sleep:
            halt.wait(seconds)
        else:
            self._sleep(seconds)
