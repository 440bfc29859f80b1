"""Every error the Holistics client raises, and how each one words its message.

    reconciler.errors.UserError          the CLI shows it as one line and exits 1
    └── HolisticsError                   anything the API or the network answered; never holds the key
        ├── ConfigError                  the client was configured wrongly (region, base URL, rate, key)
        ├── Cancelled                    the client was cancelled: this request was never sent
        ├── UnexpectedResponse           a 2xx/3xx this client cannot use (not JSON, a redirect, ...)
        ├── NamesUnavailable             the workspace does not list dashboard names (list_metadata)
        ├── TransportError               no usable answer after every retry (refused, reset, timeout)
        │   └── OutcomeUnknown           a POST may or may not have taken effect: re-read, never retry
        └── APIError                     an error status; a status without a class of its own
            ├── InvalidParameters   400
            ├── AuthError           401
            ├── PermissionDenied    403
            ├── NotFound            404
            ├── RecordInvalid       422  (field errors in `record`)
            ├── RateLimited         429  after every retry
            └── ServerError         5xx  on an idempotent request, after every retry

Each APIError class carries the template of its own message, so the status -> class map and the
wording live in one place (the class) instead of a ladder over the same statuses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar, Final, Self

from reconciler.errors import UserError
from reconciler.problems import inert


class HolisticsError(UserError):
    """Base of every error this client raises. Messages are meant for humans and never hold the key.
    They quote the server (its message, debug_id, field errors) and the network's own errors, so each
    is made inert here, once: one line, no control character, no workflow command."""

    def __init__(self, message: str) -> None:
        message = inert(message)
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(HolisticsError):
    """The client was configured wrongly (unknown region, plain http to a remote host, ...)."""


class Cancelled(HolisticsError):
    """`HolisticsClient.cancel()` was called (or the walk this request belonged to was stopped) before
    the request was sent. Not a failure of the API: whoever cancelled knows why, so the message is short."""

    def __init__(self, *, method: str, path: str) -> None:
        super().__init__("cancelled")
        self.method = method
        self.path = path


class UnexpectedResponse(HolisticsError):
    """A 2xx/3xx answer this client cannot use (not JSON, a missing key, a redirect, a looping cursor)."""

    def __init__(self, message: str, *, status: int, method: str, path: str) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path


class NamesUnavailable(HolisticsError):
    """`GET /dashboards/list_metadata` is not offered (an older deployment answers 404 or 501) or not
    allowed to this key (403, 422): names cannot be resolved, ids still work. `status` is the answer's."""

    # the statuses that mean "not offered here"; any other failure stays the APIError it is
    STATUSES: ClassVar[frozenset[int]] = frozenset({403, 404, 422, 501})

    def __init__(self, status: int) -> None:
        super().__init__(
            "this workspace does not offer dashboard names (GET /dashboards/list_metadata answered "
            f"{status}: an older deployment, or a key without permission): use ids"
        )
        self.status = status


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

    # The status this class stands for (None: chosen otherwise, or the catch-all), and its message.
    # Template fields: status, method, path, what (the object the path names), detail, attempts.
    for_status: ClassVar[int | None] = None
    template: ClassVar[str] = "HTTP {status} on {method} {path} ({detail})"

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

    @classmethod
    def from_answer(
        cls,
        *,
        status: int,
        error_type: str,
        api_message: str,
        method: str,
        path: str,
        record: dict[str, list[str]],
        debug_id: str | None,
        attempts: int,
    ) -> Self:
        """The error for an answer already read (and scrubbed of the key), worded by this class. The
        server's words are display text only (never sent back), so they are kept inert too."""
        error_type, api_message = inert(error_type), inert(api_message)
        debug_id = inert(debug_id) if debug_id else debug_id
        detail = f"{error_type}: {api_message}" if api_message else error_type
        text = cls.template.format(
            status=status, method=method, path=path, what=describe_path(path), detail=detail, attempts=attempts
        )
        text += cls._record_text(record)
        if debug_id:
            text += f" [debug_id {debug_id}]"
        return cls(
            text,
            status=status,
            error_type=error_type,
            api_message=api_message,
            method=method,
            path=path,
            record=record,
            debug_id=debug_id,
            attempts=attempts,
        )

    @classmethod
    def _record_text(cls, record: Mapping[str, list[str]]) -> str:
        return ""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, error_type={self.error_type!r}, "
            f"method={self.method!r}, path={self.path!r}, message={self.message!r})"
        )


class InvalidParameters(APIError):
    """400: the request's parameters were not accepted."""

    for_status = 400
    template = "invalid parameters for {method} {path} ({detail})"


class AuthError(APIError):
    """401: the API key was rejected."""

    for_status = 401
    template = "the API key was rejected ({detail})"

    def sent_to(self, where: str) -> AuthError:
        """Say where the key went: a key of one region is rejected by the others."""
        self.message = self.message.replace("the API key was rejected", f"the API key was rejected by {where}", 1)
        self.args = (self.message,)
        return self


class PermissionDenied(APIError):
    """403: the key's user may not do this."""

    for_status = 403
    template = "permission denied for {method} {path} ({detail})"


class NotFound(APIError):
    """404: the object does not exist or is not visible to the key's user."""

    for_status = 404
    template = "{what} was not found ({method} {path}: {detail})"


class RecordInvalid(APIError):
    """422: the object was rejected (RecordError: see `record`) or the operation is invalid."""

    for_status = 422
    template = "{what} was rejected by {method} {path} ({detail})"

    @classmethod
    def _record_text(cls, record: Mapping[str, list[str]]) -> str:
        # the field errors are the actionable part: "schedule.repeat: is not a valid cron expression"
        return ": " + "; ".join(f"{k}: {', '.join(v)}" for k, v in record.items()) if record else ""


class RateLimited(APIError):
    """429 after every retry was spent."""

    for_status = 429
    template = "rate limited on {method} {path} after {attempts} attempts ({detail})"


class ServerError(APIError):
    """5xx on an idempotent request after every retry was spent."""

    template = "server error {status} on {method} {path} after {attempts} attempts ({detail})"


STATUS_CLASSES: Final[Mapping[int, type[APIError]]] = {
    cls.for_status: cls for cls in APIError.__subclasses__() if cls.for_status is not None
}


def error_class(status: int) -> type[APIError]:
    """The class for an error status: its own, ServerError for any 5xx, else APIError."""
    if status >= 500:
        return ServerError
    return STATUS_CLASSES.get(status, APIError)


_PATH_NAMES: Final[Mapping[str, str]] = {
    "data_schedules": "data schedule",
    "dashboards": "dashboard",
    "query_reports": "query report",
    "jobs": "job",
}


def describe_path(path: str) -> str:
    """'/data_schedules/12' -> 'data schedule 12', '/jobs/3/logs' -> 'logs of job 3'."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return "the resource"
    noun = _PATH_NAMES.get(parts[0], parts[0].rstrip("s").replace("_", " "))
    if len(parts) == 1:
        return f"the {noun}"
    thing = f"{noun} {parts[1]}"
    return f"{parts[2].replace('_', ' ')} of {thing}" if len(parts) > 2 else thing
