"""What a request's final outcome means for the caller: its reply, or the exception to raise.

Runs once the retry policy has stopped. Reads the API's error bodies (flat `{type, message}`, wrapped
`{error: {...}}` or anything else) into an APIError of the status's class, and tells a failure that
may have taken effect (OutcomeUnknown: re-read, do not repeat) from one that did not.

This is the one place where what the network sent becomes what the program sees, so it is where the
API key is taken out (`Redactor`): a success is handed on as a `Reply` of parsed, redacted JSON (the
raw response goes no further), and every exception passes through `Redactor.error` as it is raised.
Texts are redacted before they are shortened, so a cut can never leave half a key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import requests
import requests.utils

from reconciler.remote.client.errors import (
    APIError,
    HolisticsError,
    OutcomeUnknown,
    TransportError,
    UnexpectedResponse,
    error_class,
)
from reconciler.remote.client.redact import Redactor
from reconciler.remote.client.retry import is_idempotent
from reconciler.remote.client.transport import Answered, MaybeSent, NeverSent, Outcome, describe, unresolved

_MESSAGE_MAX: Final = 300
_NOT_JSON: Final = object()
_guess_json_utf: Final[Callable[[bytes], str | None]] = requests.utils.guess_json_utf


@dataclass(frozen=True)
class Reply:
    """A 2xx answer as the client uses it, free of the key: the parsed JSON body (None when it is not
    JSON), a gist of the body for messages when it is not a JSON object, and whether the key had to be
    taken out of it (a cursor that held it must not be sent back as a mangled `***`)."""

    status: int
    data: Any
    gist: str
    redacted: bool


def settle(method: str, path: str, outcome: Outcome, attempts: int, redact: Redactor) -> Reply:
    """The reply to a success (2xx), else raises what `outcome`, the last of `attempts`, means."""
    if isinstance(outcome, Answered) and outcome.response.status_code < 300:
        return _reply(outcome.response, redact)
    if isinstance(outcome, Answered):
        failure = _answer_error(method, path, outcome.response, attempts, redact)
    else:
        failure = _fault(method, path, outcome, attempts, redact)
    raise redact.error(failure)


def _reply(resp: requests.Response, redact: Redactor) -> Reply:
    data, redacted = _json_body(resp, redact)
    if data is _NOT_JSON:
        return Reply(resp.status_code, None, snippet(resp, redact), False)
    gist = "" if isinstance(data, dict) else snippet(resp, redact)
    return Reply(resp.status_code, data, gist, redacted)


def _answer_error(method: str, path: str, resp: requests.Response, attempts: int, redact: Redactor) -> HolisticsError:
    status = resp.status_code
    if status < 400:
        where = redact.text(resp.headers.get("Location", "?"))
        return UnexpectedResponse(
            f"{method} {path}: unexpected redirect ({status}) to {_shorten(where)}; check the region or "
            "base URL (redirects are not followed so the API key stays on this host)",
            status=status,
            method=method,
            path=path,
        )
    err = api_error(resp, method, path, attempts, redact)
    if status >= 500 and not is_idempotent(method):
        failure = OutcomeUnknown(
            f"{method} {path}: server error {status} after the request was received; it may "
            f"or may not have taken effect ({err.error_type}: {err.api_message})",
            method=method,
            path=path,
            cause=err,
            status=status,
        )
        failure.__cause__ = err
        return failure
    return err


def _fault(method: str, path: str, outcome: NeverSent | MaybeSent, attempts: int, redact: Redactor) -> HolisticsError:
    exc = outcome.error
    what = describe(exc, outcome.host)
    if isinstance(outcome, MaybeSent) and not is_idempotent(method):
        failure: HolisticsError = OutcomeUnknown(
            f"{method} {path}: {what} after the request was sent; it may or may not have "
            f"taken effect ({_shorten(redact.text(str(exc)))})",
            method=method,
            path=path,
            cause=exc,
        )
    elif unresolved(exc) is not None:
        # the raw text is urllib3's pool and connection objects; the host and the hint say it all
        tries = "" if attempts == 1 else f" after {attempts} attempts"
        failure = TransportError(
            f"{method} {path} failed{tries}: {what}; check the region or base URL "
            "(HOLISTICS_REGION, HOLISTICS_BASE_URL or the config file's connection), or this machine's DNS",
            method=method,
            path=path,
            cause=exc,
        )
    else:
        failure = TransportError(
            f"{method} {path} failed after {attempts} attempts: {what} ({redact.text(str(exc))})",
            method=method,
            path=path,
            cause=exc,
        )
    failure.__cause__ = exc
    return failure


def api_error(resp: requests.Response, method: str, path: str, attempts: int, redact: Redactor) -> APIError:
    """The error status `resp` as the APIError of its class, worded by that class."""
    error_type, api_message, record, debug_id = _parse_error_body(resp, redact)
    return error_class(resp.status_code).from_answer(
        status=resp.status_code,
        error_type=error_type,
        api_message=api_message,
        method=method,
        path=path,
        record=record,
        debug_id=debug_id,
        attempts=attempts,
    )


def _parse_error_body(resp: requests.Response, redact: Redactor) -> tuple[str, str, dict[str, list[str]], str | None]:
    """(type, message, record, debug_id) from `{type, message, ...}`, `{error: {...}}` or any other body."""
    data, _ = _json_body(resp, redact)
    if isinstance(data, dict):
        inner = data.get("error")
        if isinstance(inner, dict):
            data = {**inner, **{k: v for k, v in data.items() if k != "error"}}
        error_type = _shorten(str(data.get("type") or f"HTTP {resp.status_code}"))
        message = _shorten(str(data.get("message") or redact.text(resp.reason or "")))
        details = data.get("details")
        if isinstance(details, dict) and details.get("description"):
            message = _shorten(f"{message} - {details['description']}" if message else str(details["description"]))
        debug_id = data.get("debug_id")
        return (error_type, message, _parse_record(data.get("record")), _shorten(str(debug_id)) if debug_id else None)
    return f"HTTP {resp.status_code}", snippet(resp, redact), {}, None


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


def _body_text(resp: requests.Response) -> str:
    """The body decoded as requests' `json()` would: a JSON body without a charset by its own bytes."""
    content = resp.content or b""
    if resp.encoding is None and len(content) > 3 and (encoding := _guess_json_utf(content)):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            pass
    return resp.text if content else ""


def _json_body(resp: requests.Response, redact: Redactor) -> tuple[Any, bool]:
    """The body parsed and redacted, and whether the key was taken out; `_NOT_JSON` if it is not JSON."""
    try:
        return redact.json(_body_text(resp))
    except ValueError:
        return _NOT_JSON, False


def snippet(resp: requests.Response, redact: Redactor) -> str:
    """A body's gist for a message: its text shortened, or the reason when it is HTML or empty."""
    ctype = resp.headers.get("Content-Type", "")
    reason = redact.text(resp.reason or "") or f"HTTP {resp.status_code}"
    if "html" in ctype.lower():  # a proxy's error page says nothing useful in its markup
        return _shorten(f"{reason} (HTML body)")
    text = " ".join(_body_text(resp).split())
    return _shorten(redact.text(text)) if text else _shorten(reason)


def _shorten(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 3] + "..."
