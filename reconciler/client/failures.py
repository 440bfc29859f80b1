"""What a request's final outcome means for the caller: its response, or the exception to raise.

Runs once the retry policy has stopped. Reads the API's error bodies (flat `{type, message}`, wrapped
`{error: {...}}` or anything else) into an APIError of the status's class, and tells a failure that
may have taken effect (OutcomeUnknown: re-read, do not repeat) from one that did not. Every text that
came from the server goes through `scrub`, which removes the API key should the server echo it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, NoReturn

import requests

from reconciler.client.errors import (
    APIError,
    HolisticsError,
    OutcomeUnknown,
    TransportError,
    UnexpectedResponse,
    error_class,
)
from reconciler.client.retry import is_idempotent
from reconciler.client.transport import Answered, MaybeSent, NeverSent, Outcome, describe

Scrub = Callable[[str], str]
_MESSAGE_MAX: Final = 300


def settle(method: str, path: str, outcome: Outcome, attempts: int, scrub: Scrub) -> requests.Response:
    """The response of a success (2xx), else raises what `outcome`, the last of `attempts`, means."""
    if isinstance(outcome, Answered):
        status = outcome.response.status_code
        if status < 300:
            return outcome.response
        _raise_answer(method, path, outcome.response, attempts, scrub)
    raise _fault(method, path, outcome, attempts, scrub) from outcome.error


def _raise_answer(method: str, path: str, resp: requests.Response, attempts: int, scrub: Scrub) -> NoReturn:
    status = resp.status_code
    if status < 400:
        where = resp.headers.get("Location", "?")
        raise UnexpectedResponse(
            f"{method} {path}: unexpected redirect ({status}) to {where}; check the region or "
            "base URL (redirects are not followed so the API key stays on this host)",
            status=status, method=method, path=path,
        )
    err = api_error(resp, method, path, attempts, scrub)
    if status >= 500 and not is_idempotent(method):
        raise OutcomeUnknown(
            f"{method} {path}: server error {status} after the request was received; it may "
            f"or may not have taken effect ({err.error_type}: {err.api_message})",
            method=method, path=path, cause=err, status=status,
        ) from err
    raise err


def _fault(method: str, path: str, outcome: NeverSent | MaybeSent, attempts: int, scrub: Scrub) -> HolisticsError:
    exc = outcome.error
    if isinstance(outcome, MaybeSent) and not is_idempotent(method):
        return OutcomeUnknown(
            f"{method} {path}: {describe(exc)} after the request was sent; it may or may "
            f"not have taken effect ({scrub(str(exc))})",
            method=method, path=path, cause=exc,
        )
    return TransportError(
        f"{method} {path} failed after {attempts} attempts: {describe(exc)} ({scrub(str(exc))})",
        method=method, path=path, cause=exc,
    )


def api_error(resp: requests.Response, method: str, path: str, attempts: int, scrub: Scrub) -> APIError:
    """The error status `resp` as the APIError of its class, worded by that class."""
    error_type, api_message, record, debug_id = _parse_error_body(resp)
    return error_class(resp.status_code).from_answer(
        status=resp.status_code, error_type=scrub(error_type), api_message=scrub(api_message),
        method=method, path=path, record={scrub(k): [scrub(m) for m in v] for k, v in record.items()},
        debug_id=debug_id, attempts=attempts,
    )


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
    return f"HTTP {resp.status_code}", snippet(resp), {}, None


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


def snippet(resp: requests.Response) -> str:
    """A body's gist for a message: its text shortened, or the reason when it is HTML or empty."""
    ctype = resp.headers.get("Content-Type", "")
    reason = resp.reason or f"HTTP {resp.status_code}"
    if "html" in ctype.lower():  # a proxy's error page says nothing useful in its markup
        return f"{reason} (HTML body)"
    text = " ".join(resp.text.split()) if resp.content else ""
    return _shorten(text) if text else reason


def _shorten(text: str) -> str:
    return text if len(text) <= _MESSAGE_MAX else text[: _MESSAGE_MAX - 3] + "..."
