"""Typed HTTP client for the Holistics API v2 (data schedules, jobs, and the sources they point at).

Design points, each of which exists because `apply` runs several workers against a rate-limited API:

* One `requests.Session` with a connection pool sized for those workers; the client is thread-safe.
* The API key travels only in the `X-Holistics-Key` header of requests this client builds (never on a
  shared session, never in a URL, never in `str()`/`repr()` of the client or of any exception), and
  redirects are not followed so the header cannot be replayed to another host. Plain http (loopback
  only) never goes through a proxy, which would read the key in clear text.
* Whatever the network sent is redacted of the key in one place before the caller sees it: the data
  returned, and every exception raised (message, attributes, cause), should a server echo the key.
* Retries follow idempotency: GET/PUT/DELETE retry 5xx and transport faults with full-jitter backoff;
  POST retries only what provably was not processed (429, refused connections) and otherwise raises
  `OutcomeUnknown` so the caller can re-list and adopt instead of creating a duplicate.
* A 429 pauses every thread sharing the client's `RateLimiter`, and lowers its rate for a while.
* The list is read from both ends at once (two cursor walks that meet), exact under concurrent edits.
* `cancel()` stops the client: a request not yet sent raises `Cancelled`, and waits end at once.

The layers, each importing only those above it:

    errors      the exception tree, and each error class's wording
    urls        regions, base URL checks, `is_loopback`, which hosts are paced by default
    rates       `parse_rate` ("N/S") and the shared `RateLimiter`
    redact      taking the key out of texts, parsed JSON and exceptions, in whatever form it was echoed
    transport   one attempt, classified: answered / never sent / maybe sent; where the key may go
    retry       the pure policy: retry after N seconds, or stop
    failures    a final outcome as its redacted reply or the redacted exception to raise
    listing     every schedule, read from both ends of the list at once (or in one walk) and checked
    api         `HolisticsClient`: the endpoints, and the few-line loop joining the above

Import from here; the modules' other names are internal.
"""

from reconciler.remote.client.api import DEFAULT_USER_AGENT, KEY_HEADER, HolisticsClient
from reconciler.remote.client.errors import (
    APIError,
    AuthError,
    Cancelled,
    ConfigError,
    HolisticsError,
    InvalidParameters,
    NamesUnavailable,
    NotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    RecordInvalid,
    ServerError,
    TransportError,
    UnexpectedResponse,
)
from reconciler.remote.client.rates import RateLimiter, parse_rate
from reconciler.remote.client.transport import Params
from reconciler.remote.client.urls import (
    DEFAULT_REGION,
    HOLISTICS_RATE_LIMIT,
    REGIONS,
    default_rate_limit,
    is_loopback,
    resolve_base_url,
)

__all__ = [
    "DEFAULT_REGION",
    "DEFAULT_USER_AGENT",
    "HOLISTICS_RATE_LIMIT",
    "KEY_HEADER",
    "REGIONS",
    "APIError",
    "AuthError",
    "Cancelled",
    "ConfigError",
    "HolisticsClient",
    "HolisticsError",
    "InvalidParameters",
    "NamesUnavailable",
    "NotFound",
    "OutcomeUnknown",
    "Params",
    "PermissionDenied",
    "RateLimited",
    "RateLimiter",
    "RecordInvalid",
    "ServerError",
    "TransportError",
    "UnexpectedResponse",
    "default_rate_limit",
    "is_loopback",
    "parse_rate",
    "resolve_base_url",
]
