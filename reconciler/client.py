"""Typed HTTP client for the Holistics API v2 (data schedules, jobs, and the sources they point at).

Design points, each of which exists because `apply` runs several workers against a rate-limited API:

* One `requests.Session` with a connection pool sized for those workers; the client is thread-safe.
* The API key travels only in the `X-Holistics-Key` header of requests this client builds (never on a
  shared session, never in a URL, never in `str()`/`repr()` of the client or of any exception), and
  redirects are not followed so the header cannot be replayed to another host.
* Retries follow idempotency: GET/PUT/DELETE retry 5xx and transport faults with full-jitter backoff;
  POST retries only what provably was not processed (429, refused connections) and otherwise raises
  `OutcomeUnknown` so the caller can re-list and adopt instead of creating a duplicate.
* A 429 pauses every thread sharing the client's `RateLimiter`, and lowers its rate for a while.
"""

from __future__ import annotations

import collections
import email.utils
import ipaddress
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from importlib import metadata
from types import TracebackType
from typing import Any, Final, Self
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError

__all__ = [
    "REGIONS",
    "APIError",
    "AuthError",
    "ConfigError",
    "HolisticsClient",
    "HolisticsError",
    "InvalidParameters",
    "NotFound",
    "OutcomeUnknown",
    "PermissionDenied",
    "RateLimited",
    "RateLimiter",
    "RecordInvalid",
    "ServerError",
    "TransportError",
    "UnexpectedResponse",
    "resolve_base_url",
]

REGIONS: Final[Mapping[str, str]] = {
    "apac": "https://secure.holistics.io/api/v2",
    "eu": "https://eu.holistics.io/api/v2",
    "us": "https://us.holistics.io/api/v2",
}
DEFAULT_REGION: Final = "apac"
KEY_HEADER: Final = "X-Holistics-Key"
_IDEMPOTENT: Final = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})
_MESSAGE_MAX: Final = 300


def _package_version() -> str:
    try:
        return metadata.version("holistics-schedules")
    except metadata.PackageNotFoundError:
        return "0+unknown"


DEFAULT_USER_AGENT: Final = f"holistics-schedules/{_package_version()}"


# --------------------------------------------------------------------------------------------------
# Exceptions


class HolisticsError(Exception):
    """Base of every error this client raises. Messages are meant for humans and never hold the key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(HolisticsError):
    """The client was configured wrongly (unknown region, plain http to a remote host, ...)."""


class UnexpectedResponse(HolisticsError):
    """A 2xx/3xx answer this client cannot use (not JSON, a missing key, a redirect, a looping cursor)."""

    def __init__(self, message: str, *, status: int, method: str, path: str) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path


class TransportError(HolisticsError):
    """No usable HTTP answer: connection refused or reset, DNS failure, timeout (after any retries)."""

    def __init__(self, message: str, *, method: str, path: str, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.path = path
        self.cause = cause


class OutcomeUnknown(TransportError):
    """A non-idempotent request (POST) may have reached the server, and we cannot tell if it took effect.

    Never retried, because retrying a create can make a duplicate; re-read the server state instead.
    `status` is the HTTP status when a 5xx answer came back, else None (timeout, reset, drop).
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        cause: BaseException | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message, method=method, path=path, cause=cause)
        self.status = status


class APIError(HolisticsError):
    """The API answered with an error status. `record` holds RecordError field errors (field -> msgs)."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str,
        api_message: str,
        method: str,
        path: str,
        record: dict[str, list[str]] | None = None,
        debug_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.api_message = api_message
        self.method = method
        self.path = path
        self.record: dict[str, list[str]] = record or {}
        self.debug_id = debug_id
        self.attempts = attempts

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, error_type={self.error_type!r}, "
            f"method={self.method!r}, path={self.path!r}, message={self.message!r})"
        )


class InvalidParameters(APIError):
    """400: the request's parameters were not accepted."""


class AuthError(APIError):
    """401: the API key was rejected."""


class PermissionDenied(APIError):
    """403: the key's user may not do this."""


class NotFound(APIError):
    """404: the object does not exist or is not visible to the key's user."""


class RecordInvalid(APIError):
    """422: the object was rejected (RecordError: see `record`) or the operation is invalid."""


class RateLimited(APIError):
    """429 after every retry was spent."""


class ServerError(APIError):
    """5xx on an idempotent request after every retry was spent."""


_STATUS_CLASSES: Final[Mapping[int, type[APIError]]] = {
    400: InvalidParameters,
    401: AuthError,
    403: PermissionDenied,
    404: NotFound,
    422: RecordInvalid,
    429: RateLimited,
}


def _error_class(status: int) -> type[APIError]:
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, APIError)


# --------------------------------------------------------------------------------------------------
# Base URL


HOLISTICS_RATE_LIMIT = "120/60"  # reported per user; the spec gives no number


def default_rate_limit(base_url: str) -> str | None:
    """Holistics' own hosts are paced to stay under their reported quota; other hosts (the sandbox,
    a proxy) are not, and 429s are still honoured everywhere."""
    host = urlsplit(base_url).hostname or ""
    return HOLISTICS_RATE_LIMIT if host == "holistics.io" or host.endswith(".holistics.io") else None


def resolve_base_url(region: str | None, base_url: str | None) -> str:
    """The API root to use: `base_url` (full URL including /api/v2) wins over `region` (default apac).

    Plain http is refused unless the host is loopback, because the key would travel in clear text.
    """
    if base_url:
        return _check_base_url(base_url.strip())
    name = (region or DEFAULT_REGION).strip().lower()
    try:
        return REGIONS[name]
    except KeyError:
        valid = ", ".join(REGIONS)
        raise ConfigError(f"unknown region {region!r}: use one of {valid}, or give a base URL") from None


def _check_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL {url!r} must be an absolute http(s) URL such as {REGIONS['apac']}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigError(f"base URL {parts.scheme}://{parts.hostname}/... must not carry credentials, "
                          "a query or a fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"refusing plain http to {parts.hostname}: the API key would be sent unencrypted "
            "(http is allowed only for loopback hosts such as 127.0.0.1 or localhost)"
        )
    if not parts.path.rstrip("/").endswith("/api/v2"):
        # without it every request 404s, which would read as "schedule not found"
        raise ConfigError(f"base URL {url!r} must be the API root, ending in /api/v2 (e.g. {REGIONS['apac']})")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# --------------------------------------------------------------------------------------------------
# Rate limiting


class RateLimiter:
    """A token bucket shared by every thread of one client, plus a shared pause after 429s.

    Works by reservation (GCRA): `acquire()` books the next free slot under the lock and then sleeps
    outside it, exactly once. Not polling the clock keeps it correct with an injected fake `sleep`.
    With `rate_per_second=None` there is no bucket, but a pause set by `backoff()` still applies, so a
    429 seen by one worker holds back all of them.
    """

    def __init__(
        self,
        rate_per_second: float | None = None,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        *,
        min_rate: float = 0.1,
        recovery_seconds: float = 60.0,
        window: tuple[int, float] | None = None,
    ) -> None:
        if rate_per_second is not None and rate_per_second <= 0:
            raise ConfigError("rate_per_second must be positive (or None for no limit)")
        if burst < 1:
            raise ConfigError("burst must be at least 1")
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.min_rate = min_rate
        self.recovery_seconds = recovery_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tat = float("-inf")  # theoretical arrival time of the next request
        self._paused_until = float("-inf")
        self._reduced_rate: float | None = None  # rate right after the last backoff
        self._reduced_at = 0.0  # when recovery from it starts (end of that pause)
        # a quota of N requests per S seconds, counted over a sliding window as servers count it:
        # the start times of the last N requests; the next may start S after the oldest of them
        self.window = window
        self._starts: collections.deque[float] = collections.deque()

    @classmethod
    def from_text(cls, text: str) -> RateLimiter:
        """`"N/S"`: at most N requests per S seconds (a burst of N, then N/S a second); `"none"`."""
        if text.strip().lower() in ("none", "off", "0"):
            return cls(None)
        count, _, seconds = text.partition("/")
        try:
            n, window = int(count), float(seconds or 1)
        except ValueError:
            raise ConfigError(f"rate limit {text!r}: expected N/S, e.g. 120/60, or none") from None
        if n < 1 or window <= 0:
            raise ConfigError(f"rate limit {text!r}: N and S must be positive")
        return cls(None, window=(n, window))

    def current_rate(self) -> float | None:
        with self._lock:
            return self._rate_at(self._clock())

    def _rate_at(self, now: float) -> float | None:
        nominal = self.rate_per_second
        if nominal is None or self._reduced_rate is None:
            return nominal
        # Additive recovery: back to nominal `recovery_seconds` after the pause, so the API is probed
        # gently instead of hit at full rate again right away.
        elapsed = max(0.0, now - self._reduced_at)
        rate = self._reduced_rate + (nominal - self._reduced_rate) * elapsed / self.recovery_seconds
        if rate >= nominal:
            self._reduced_rate = None
            return nominal
        return rate

    def acquire(self) -> None:
        with self._lock:
            now = self._clock()
            start = max(now, self._paused_until)
            rate = self._rate_at(start)
            if rate is not None:
                interval = 1.0 / rate
                tat = max(self._tat, start)
                start = max(start, tat - (self.burst - 1) * interval)
                self._tat = tat + interval
            if self.window is not None:
                count, seconds = self.window
                if len(self._starts) >= count:
                    # a margin: the server counts arrivals, which a loaded machine may delay by tens of ms
                    start = max(start, self._starts[-count] + seconds * 1.02 + 0.1)
                self._starts.append(start)
                while len(self._starts) > count:
                    self._starts.popleft()
            wait = start - now
        if wait > 0:
            self._sleep(wait)

    def backoff(self, seconds: float) -> None:
        """After a 429: nobody sends before now+seconds, and the rate is halved (down to `min_rate`)."""
        with self._lock:
            now = self._clock()
            until = now + max(0.0, seconds)
            self._paused_until = max(self._paused_until, until)
            current = self._rate_at(now)
            if current is not None:
                self._reduced_rate = max(min(self.min_rate, current), current / 2)
                self._reduced_at = self._paused_until
                # Forget the burst credit earned before the 429.
                self._tat = max(self._tat, self._paused_until)

    def __repr__(self) -> str:
        return f"RateLimiter(rate_per_second={self.rate_per_second!r}, burst={self.burst})"


# --------------------------------------------------------------------------------------------------
# The client

Params = Mapping[str, str | int | Sequence[str]]


class HolisticsClient:
    """Thread-safe client for the parts of Holistics API v2 that data schedules need."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float | tuple[float, float] = (5.0, 30.0),
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
        if not api_key or not api_key.strip():
            raise ConfigError("an API key is required")
        if not all(" " < ch <= "~" for ch in api_key.strip()):
            # said without echoing it: an HTTP library error would quote the whole header value
            raise ConfigError("the API key has characters an HTTP header cannot carry (a line break, a space, "
                              "non-ASCII); check how it was copied")
        if max_retries < 0:
            raise ConfigError("max_retries must be >= 0")
        self.base_url = _check_base_url(base_url)
        self.__key = api_key.strip()
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_after_cap = retry_after_cap
        self.backoff_base = backoff_base
        self.user_agent = user_agent
        self._sleep = sleep
        self._on_event = on_event
        # Even without a rate, a shared limiter lets one thread's 429 pause the others.
        self.rate_limiter = rate_limiter if rate_limiter is not None else RateLimiter(None, sleep=sleep)
        self._owns_session = session is None
        if session is None:
            session = requests.Session()
            # Retries are ours (urllib3's would retry POSTs blindly); pool fits the apply workers.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(16, pool_maxsize), max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self._session = session
        self._count_lock = threading.Lock()
        self._request_count = 0
        self._random = random.Random()

    # -- bookkeeping -------------------------------------------------------------------------------

    @property
    def request_count(self) -> int:
        """HTTP requests actually sent (attempts that got past connecting), retries included."""
        with self._count_lock:
            return self._request_count

    def _count(self) -> None:
        with self._count_lock:
            self._request_count += 1

    def __repr__(self) -> str:
        return f"HolisticsClient(base_url={self.base_url!r}, api_key='***')"

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

    def list_schedules(self, **filters: str | int | Sequence[str]) -> Iterator[dict[str, Any]]:
        """Every data schedule matching `filters`, following `cursors.next` (sent as `after`).

        Filters are the spec's query parameters (source_type, source_id, dest_type, sort, ...);
        `limit` defaults to the maximum, 100. Offset paging (`page`) and `before` are not supported
        because they cannot be combined with following `after` cursors.
        """
        for name in ("page", "before"):
            if name in filters:
                raise ValueError(f"list_schedules follows `after` cursors; {name!r} is not supported")
        params: dict[str, str | int | Sequence[str]] = {"limit": 100, **filters}
        seen: set[str] = set()
        while True:
            data = self._request_json("GET", "/data_schedules", params=params)
            yield from self._list_field(data, "data_schedules", "GET", "/data_schedules")
            cursors = data.get("cursors")
            nxt = cursors.get("next") if isinstance(cursors, dict) else None
            if nxt is None or nxt == "":  # the spec ends with null; one client also saw ""
                return
            cursor = str(nxt)
            if cursor in seen:  # a server bug must not turn into an endless loop
                raise UnexpectedResponse(
                    f"GET /data_schedules returned cursor {cursor!r} twice; stopping to avoid a loop",
                    status=200, method="GET", path="/data_schedules",
                )
            seen.add(cursor)
            params["after"] = cursor

    def list_schedules_all(self, **filters: str | int | Sequence[str]) -> list[dict[str, Any]]:
        return list(self.list_schedules(**filters))

    def get_schedule(self, schedule_id: int) -> dict[str, Any]:
        path = f"/data_schedules/{int(schedule_id)}"
        return self._object_field(self._request_json("GET", path), "data_schedule", "GET", path)

    def create_schedule(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST a new schedule. Raises OutcomeUnknown when it may or may not have been created."""
        data = self._request_json("POST", "/data_schedules", json={"data_schedule": dict(body)})
        return self._object_field(data, "data_schedule", "POST", "/data_schedules")

    def update_schedule(self, schedule_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        """PUT the whole schedule (the API has no PATCH)."""
        path = f"/data_schedules/{int(schedule_id)}"
        data = self._request_json("PUT", path, json={"data_schedule": dict(body)})
        return self._object_field(data, "data_schedule", "PUT", path)

    def delete_schedule(self, schedule_id: int) -> None:
        self._request("DELETE", f"/data_schedules/{int(schedule_id)}")

    def submit_execute(self, schedule_id: int) -> dict[str, Any]:
        """Run a saved schedule now; returns the `job` object to poll with get_job()."""
        path = f"/data_schedules/{int(schedule_id)}/submit_execute"
        return self._object_field(self._request_json("POST", path), "job", "POST", path)

    def get_job(self, job_id: int) -> dict[str, Any]:
        path = f"/jobs/{int(job_id)}"
        return self._object_field(self._request_json("GET", path), "job", "GET", path)

    def get_job_logs(self, job_id: int) -> list[dict[str, Any]]:
        path = f"/jobs/{int(job_id)}/logs"
        return list(self._list_field(self._request_json("GET", path), "job_logs", "GET", path))

    def get_dashboard(self, dashboard_id: int) -> dict[str, Any]:
        path = f"/dashboards/{int(dashboard_id)}"
        return self._object_field(self._request_json("GET", path), "dashboard", "GET", path)

    def get_query_report(self, report_id: int) -> dict[str, Any]:
        path = f"/query_reports/{int(report_id)}"
        return self._object_field(self._request_json("GET", path), "query_report", "GET", path)

    # -- response shapes ---------------------------------------------------------------------------

    @staticmethod
    def _object_field(data: dict[str, Any], key: str, method: str, path: str) -> dict[str, Any]:
        value = data.get(key)
        if not isinstance(value, dict):
            raise UnexpectedResponse(f"{method} {path}: response has no {key!r} object",
                                     status=200, method=method, path=path)
        return value

    @staticmethod
    def _list_field(data: dict[str, Any], key: str, method: str, path: str) -> list[dict[str, Any]]:
        value = data.get(key)
        if not isinstance(value, list):
            raise UnexpectedResponse(f"{method} {path}: response has no {key!r} list",
                                     status=200, method=method, path=path)
        return value

    def _request_json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        resp = self._request(method, path, **kwargs)
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UnexpectedResponse(
                f"{method} {path}: expected a JSON object, got {_snippet(resp)!r}",
                status=resp.status_code, method=method, path=path,
            )
        return data

    # -- the retry loop ----------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json: Any = None,
    ) -> requests.Response:
        url = self.base_url + path
        headers = {
            KEY_HEADER: self.__key,
            "Accept": "application/json",
            "User-Agent": self.user_agent,
        }
        idempotent = method in _IDEMPOTENT
        attempt = 0  # retries done so far
        while True:
            self.rate_limiter.acquire()
            try:
                resp = self._session.request(
                    method, url, params=params, json=json, headers=headers,
                    timeout=self.timeout, allow_redirects=False,
                )
            except requests.RequestException as exc:
                sent = not _never_sent(exc)
                if sent:
                    self._count()
                if not sent or idempotent:
                    if attempt < self.max_retries:
                        wait = self._jitter(attempt)
                        attempt += 1
                        self._event(f"{_describe_exc(exc)} on {method} {path}, "
                                    f"retry {attempt}/{self.max_retries} in {wait:.1f}s")
                        self._sleep(wait)
                        continue
                    raise TransportError(
                        f"{method} {path} failed after {attempt + 1} attempts: {_describe_exc(exc)} "
                        f"({self._scrub(str(exc))})",
                        method=method, path=path, cause=exc,
                    ) from exc
                raise OutcomeUnknown(
                    f"{method} {path}: {_describe_exc(exc)} after the request was sent; it may or may "
                    f"not have taken effect ({self._scrub(str(exc))})",
                    method=method, path=path, cause=exc,
                ) from exc

            self._count()
            status = resp.status_code
            if status < 300:
                return resp
            if 300 <= status < 400:
                where = resp.headers.get("Location", "?")
                raise UnexpectedResponse(
                    f"{method} {path}: unexpected redirect ({status}) to {where}; check the region or "
                    "base URL (redirects are not followed so the API key stays on this host)",
                    status=status, method=method, path=path,
                )
            if status == 429:
                wait, why = self._retry_after(resp, attempt)
                # Pause every thread even when giving up: the others would only collect more 429s.
                self.rate_limiter.backoff(wait)
                if attempt < self.max_retries:
                    # A 429 was not processed, so even POST may be retried. The next acquire() waits.
                    attempt += 1
                    self._event(f"429 on {method} {path}, waiting {wait:.1f}s ({why}), "
                                f"retry {attempt}/{self.max_retries}")
                    continue
            if status >= 500:
                if not idempotent:
                    err = self._api_error(resp, method, path, attempt + 1)
                    raise OutcomeUnknown(
                        f"{method} {path}: server error {status} after the request was received; it may "
                        f"or may not have taken effect ({err.error_type}: {err.api_message})",
                        method=method, path=path, cause=err, status=status,
                    ) from err
                if attempt < self.max_retries:
                    wait = self._jitter(attempt)
                    attempt += 1
                    self._event(f"{status} on {method} {path}, retry {attempt}/{self.max_retries} "
                                f"in {wait:.1f}s")
                    self._sleep(wait)
                    continue
            raise self._api_error(resp, method, path, attempt + 1)

    def _jitter(self, attempt: int) -> float:
        """Full jitter: spreads the retries of concurrent workers instead of synchronising them."""
        return self._random.uniform(0, min(self.retry_after_cap, self.backoff_base * 2**attempt))

    def _retry_after(self, resp: requests.Response, attempt: int) -> tuple[float, str]:
        seconds = _parse_retry_after(resp.headers.get("Retry-After"), resp.headers.get("Date"))
        if seconds is None:
            # No hint: exponential with "equal jitter", so the shared pause is never zero.
            ceiling = min(self.retry_after_cap, self.backoff_base * 2**attempt)
            return ceiling / 2 + self._random.uniform(0, ceiling / 2), "backoff"
        if seconds > self.retry_after_cap:
            return self.retry_after_cap, f"Retry-After {seconds:.0f}s, capped"
        return seconds, "Retry-After"

    def _event(self, text: str) -> None:
        if self._on_event is not None:
            self._on_event(self._scrub(text))

    def _scrub(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key else text

    def _api_error(self, resp: requests.Response, method: str, path: str, attempts: int) -> APIError:
        status = resp.status_code
        error_type, api_message, record, debug_id = _parse_error_body(resp)
        error_type = self._scrub(error_type)
        api_message = self._scrub(api_message)
        record = {self._scrub(k): [self._scrub(m) for m in v] for k, v in record.items()}
        cls = _error_class(status)
        detail = f"{error_type}: {api_message}" if api_message else error_type
        what = _describe_path(path)
        if cls is AuthError:
            text = f"the API key was rejected ({detail})"
        elif cls is PermissionDenied:
            text = f"permission denied for {method} {path} ({detail})"
        elif cls is NotFound:
            text = f"{what} was not found ({method} {path}: {detail})"
        elif cls is InvalidParameters:
            text = f"invalid parameters for {method} {path} ({detail})"
        elif cls is RecordInvalid:
            text = f"{what} was rejected by {method} {path} ({detail})"
            if record:
                text += ": " + "; ".join(f"{k}: {', '.join(v)}" for k, v in record.items())
        elif cls is RateLimited:
            text = f"rate limited on {method} {path} after {attempts} attempts ({detail})"
        elif cls is ServerError:
            text = f"server error {status} on {method} {path} after {attempts} attempts ({detail})"
        else:
            text = f"HTTP {status} on {method} {path} ({detail})"
        if debug_id:
            text += f" [debug_id {debug_id}]"
        return cls(text, status=status, error_type=error_type, api_message=api_message, method=method,
                   path=path, record=record, debug_id=debug_id, attempts=attempts)


# --------------------------------------------------------------------------------------------------
# Helpers


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the connection was never established, so the server cannot have seen the request.

    requests wraps urllib3's errors: a refused connection or DNS failure is a NewConnectionError and a
    connect timeout a ConnectTimeoutError (NewConnectionError subclasses it), both inside MaxRetryError.
    Anything else (read timeout, reset, remote disconnect, SSL error mid-stream) may follow the send.
    """
    if isinstance(exc, requests.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        cur = stack.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ConnectTimeoutError):
            return True
        stack.extend(a for a in cur.args if isinstance(a, BaseException))
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for linked in (cur.__cause__, cur.__context__):
            if linked is not None:
                stack.append(linked)
    return False


def _describe_exc(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.ReadTimeout):
        return "read timeout"
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused" if _never_sent(exc) else "connection dropped"
    return type(exc).__name__


def _parse_retry_after(value: str | None, date_header: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN guard
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    # Measure against the server's own Date header when present, so local clock skew does not matter.
    now = _utcnow()
    if date_header:
        try:
            server_now = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            pass
        else:
            now = server_now if server_now.tzinfo else server_now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _parse_error_body(resp: requests.Response) -> tuple[str, str, dict[str, list[str]], str | None]:
    """(type, message, record, debug_id) from `{type, message, ...}`, `{error: {...}}` or any other body."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            data = {**inner, **{k: v for k, v in data.items() if k != "error"}}
        error_type = str(data.get("type") or f"HTTP {resp.status_code}")
        message = _shorten(str(data.get("message") or resp.reason or ""))
        details = data.get("details")
        if isinstance(details, dict) and details.get("description"):
            message = _shorten(f"{message} - {details['description']}" if message else
                               str(details["description"]))
        debug_id = data.get("debug_id")
        return error_type, message, _parse_record(data.get("record")), str(debug_id) if debug_id else None
    return f"HTTP {resp.status_code}", _snippet(resp), {}, None


def _parse_record(value: object) -> dict[str, list[str]]:
    if not isinstance(value, dict):
        return {}
    record: dict[str, list[str]] = {}
    for field, msgs in value.items():
        if isinstance(msgs, list):
            record[str(field)] = [str(m) for m in msgs]
        elif msgs is not None:
            record[str(field)] = [str(msgs)]
    return record


def _snippet(resp: requests.Response) -> str:
    ctype = resp.headers.get("Content-Type", "")
    reason = resp.reason or f"HTTP {resp.status_code}"
    if "html" in ctype.lower():  # a proxy's error page says nothing useful in its markup
        return f"{reason} (HTML body)"
    text = " ".join(resp.text.split()) if resp.content else ""
    return _shorten(text) if text else reason


def _shorten(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 3] + "..."


_PATH_NAMES: Final[Mapping[str, str]] = {
    "data_schedules": "data schedule",
    "dashboards": "dashboard",
    "query_reports": "query report",
    "jobs": "job",
}


def _describe_path(path: str) -> str:
    """'/data_schedules/12' -> 'data schedule 12', '/jobs/3/logs' -> 'logs of job 3'."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "the resource"
    noun = _PATH_NAMES.get(parts[0], parts[0].rstrip("s").replace("_", " "))
    if len(parts) == 1:
        return f"the {noun}"
    thing = f"{noun} {parts[1]}"
    return f"{parts[2].replace('_', ' ')} of {thing}" if len(parts) > 2 else thing
