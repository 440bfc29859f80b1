"""When to send a request again, and after how long: a pure policy over one attempt's outcome.

Retries follow idempotency: GET/PUT/DELETE retry 5xx and transport faults with full-jitter backoff;
POST retries only what provably was not processed (a 429, a connection never made), because repeating
a create that may have worked can make a duplicate. A host name the resolver says does not exist is
not retried at all: that is a wrong region or base URL, and waiting would only delay saying so.
A 429's wait is a pause for every thread sharing the client's RateLimiter, honouring Retry-After
(capped). Randomness comes in as `rng`, so the same inputs give the same decision.
"""

from __future__ import annotations

import email.utils
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from reconciler.remote.client.transport import Answered, MaybeSent, NeverSent, Outcome, describe, unresolved

IDEMPOTENT: Final = frozenset({"GET", "PUT", "DELETE", "HEAD", "OPTIONS"})


def is_idempotent(method: str) -> bool:
    return method in IDEMPOTENT


@dataclass(frozen=True)
class Decision:
    """After one attempt: `retry` or not, and `wait` seconds before the next request.

    `shared` (a 429): the wait is a pause for every thread sharing the RateLimiter rather than this
    thread's sleep, and it applies even without a retry, since the others would only collect more
    429s. `why` says where a 429's wait came from ("Retry-After", "backoff", ...).
    """

    retry: bool
    wait: float = 0.0
    shared: bool = False
    why: str = ""


STOP: Final = Decision(retry=False)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    backoff_base: float = 0.5
    retry_after_cap: float = 60.0

    def decide(self, method: str, outcome: Outcome, attempt: int, rng: random.Random) -> Decision:
        """What follows `outcome`, when `attempt` retries were already made. A success, a redirect and
        any 4xx but 429 are final; so is what may have been processed, unless `method` is idempotent,
        and a host that does not exist."""
        if isinstance(outcome, NeverSent) and (dns := unresolved(outcome.error)) is not None and dns.permanent:
            return STOP
        if isinstance(outcome, NeverSent) or (isinstance(outcome, MaybeSent) and is_idempotent(method)):
            return self._backoff(attempt, rng)
        if not isinstance(outcome, Answered):
            return STOP
        status = outcome.response.status_code
        if status == 429:  # not processed, so even a POST may go again
            return self._rate_limited(outcome, attempt, rng)
        # 501 Not Implemented is the server's settled answer (an endpoint it lacks): asking again changes nothing
        if status >= 500 and status != 501 and is_idempotent(method):
            return self._backoff(attempt, rng)
        return STOP

    def _backoff(self, attempt: int, rng: random.Random) -> Decision:
        """Full jitter: spreads the retries of concurrent workers instead of synchronising them."""
        if attempt >= self.max_retries:
            return STOP
        return Decision(retry=True, wait=rng.uniform(0, self._ceiling(attempt)))

    def _rate_limited(self, answered: Answered, attempt: int, rng: random.Random) -> Decision:
        headers = answered.response.headers
        seconds = retry_after(headers.get("Retry-After"), headers.get("Date"), answered.received_at)
        if seconds is None:
            # No hint: exponential with "equal jitter", so the shared pause is never zero.
            ceiling = self._ceiling(attempt)
            wait, why = ceiling / 2 + rng.uniform(0, ceiling / 2), "backoff"
        elif seconds > self.retry_after_cap:
            wait, why = self.retry_after_cap, f"Retry-After {seconds:.0f}s, capped"
        else:
            wait, why = seconds, "Retry-After"
        return Decision(retry=attempt < self.max_retries, wait=wait, shared=True, why=why)

    def _ceiling(self, attempt: int) -> float:
        ceiling: float = min(self.retry_after_cap, self.backoff_base * 2**attempt)
        return ceiling


def retry_event(method: str, path: str, outcome: Outcome, decision: Decision, attempt: int, max_retries: int) -> str:
    """How a retry is announced to `on_event`; `attempt` counts the retry being announced."""
    count = f"retry {attempt}/{max_retries}"
    if not isinstance(outcome, Answered):
        return f"{describe(outcome.error, outcome.host)} on {method} {path}, {count} in {decision.wait:.1f}s"
    status = outcome.response.status_code
    if decision.shared:
        return f"{status} on {method} {path}, waiting {decision.wait:.1f}s ({decision.why}), {count}"
    return f"{status} on {method} {path}, {count} in {decision.wait:.1f}s"


def retry_after(value: str | None, date_header: str | None, received_at: datetime) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.

    A date is measured against the server's own Date header when present, so local clock skew does
    not matter, else against `received_at`.
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN guard
    when = _http_date(value)
    if when is None:
        return None
    now = (_http_date(date_header) if date_header else None) or received_at
    return max(0.0, (when - now).total_seconds())


def _http_date(text: str) -> datetime | None:
    """An HTTP date as an aware datetime (UTC when it names no zone), or None if it is not one."""
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
