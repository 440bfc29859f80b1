"""Taking the API key out of everything the network sent, before anything can show it.

A server or a proxy may echo the key anywhere: a body, a reason phrase, a header, a cursor, a title in
a listing. Rather than scrubbing each place that shows such a text, the client passes everything it
got through one `Redactor` where the final outcome is settled (see `failures.settle`): the data it
returns, and every exception it raises with every attribute and cause. The rest of the program only
ever sees texts that went through it.

It matches the key in any letter case (over-matching costs nothing) and in the forms an echo may take:
URL- or form-encoded, HTML-escaped, JSON-escaped (`\\uXXXX`, `\\/`), a mix of these, or with characters
a terminal does not show between its letters. Parsed JSON is walked only when its raw text holds one
of those forms, so big listings without the key cost one scan.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterator
from typing import Any, Final, TypeVar
from urllib.parse import quote, quote_plus, unquote

from reconciler.remote.client.errors import HolisticsError

REDACTED: Final = "***"
E = TypeVar("E", bound=BaseException)
_JSON_ESCAPE: Final = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])')
_JSON_SIMPLE: Final = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _json_unescape(text: str) -> str:
    return _JSON_ESCAPE.sub(lambda m: chr(int(m[1][1:], 16)) if m[1][0] == "u" else _JSON_SIMPLE[m[1]], text)


# escapes that can make a character of the key (or of another escape); \n, \r and \t cannot
_KEY_ESCAPES: Final = re.compile(r'\\[u/"\\bf]')
# characters a terminal shows as nothing: a key with NULs between its letters (UTF-16 read as UTF-8)
# or zero-width spaces inside still reads as the key
_INVISIBLE: Final = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
)


def _has_invisible(text: str) -> bool:
    if text.isascii():  # the common case, decided without a scan in Python
        return not text.isprintable() and bool(_INVISIBLE.search(text))
    return bool(_INVISIBLE.search(text))


def _decodings(text: str) -> Iterator[str]:
    """`text` and what a reader could decode it to: JSON escapes undone, invisible characters dropped,
    then percent-encoding or HTML entities undone. Each step runs only if its text has its marker."""
    layers = [text]
    if _KEY_ESCAPES.search(text):
        layers.append(_json_unescape(text))
    layers += [_INVISIBLE.sub("", layer) for layer in layers if _has_invisible(layer)]
    for layer in layers:
        yield layer
        percent, entity = "%" in layer, "&" in layer
        if percent:
            yield unquote(layer)
        if entity:
            yield (unescaped := html.unescape(layer))
            if percent:
                yield unquote(unescaped)


# Values a plan took from the environment (`${NAME}` in the YAML, a webhook's secret URL): hidden like
# the key from every text the client says (its events, its errors and all they hold), though not from
# the data it returns, which a plan compares with the YAML (the views hide them there, by path).
_HIDDEN_VALUES: dict[str, Redactor] = {}
_HIDDEN_LOCK = threading.Lock()


def hide_value(value: str) -> None:
    """Hide `value` from every event and error of every client from now on (see `_HIDDEN_VALUES`)."""
    if len(value) < 4:  # a value this short would blank out ordinary words; it is no secret either
        return
    with _HIDDEN_LOCK:
        if value not in _HIDDEN_VALUES:
            _HIDDEN_VALUES[value] = Redactor(value)


def without_hidden_values(text: str) -> str:
    """`text` with every form of each value from the environment replaced by ***: the last defence of
    every output (a plan shows such a value as its `${NAME}` expression; a server's title or message
    that holds one, or a copy of it in another item, is caught here)."""
    for redactor in _hidden_values():
        text = redactor._secret_out(text)
    return text


def _hidden_values() -> list[Redactor]:
    with _HIDDEN_LOCK:
        return list(_HIDDEN_VALUES.values())


class Redactor:
    """Removes one secret from texts, parsed JSON and exceptions. Its repr never shows the secret."""

    def __init__(self, secret: str) -> None:
        forms = {
            secret,
            quote(secret, safe=""),
            quote(secret),
            quote_plus(secret),
            html.escape(secret),
            json.dumps(secret)[1:-1],
            json.dumps(secret)[1:-1].replace("/", "\\/"),
        }
        # longest first, so an encoded form is replaced whole rather than around a shorter one inside it
        self._forms = re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)), re.I)
        self._lowered = tuple({f.lower() for f in forms})  # `in` on a lowered text beats the regex 10x

    def __repr__(self) -> str:
        return "Redactor(***)"

    def holds(self, text: str) -> bool:
        """True when `text` shows the secret in any form (it may be a whole raw response body)."""
        return any(self._shows(t) for t in _decodings(text))

    def _shows(self, text: str) -> bool:
        low = text.lower()
        return any(form in low for form in self._lowered)

    def text(self, text: str) -> str:
        """`text` with every form of the secret replaced by ***; all of it when the secret hides inside
        an encoding that cannot be replaced piecewise (e.g. half percent-encoded). A text the client
        says (an event, an error) loses the values from the environment too (`hide_value`)."""
        out = self._secret_out(text)
        for other in _hidden_values():
            out = other._secret_out(out)
        return out

    def _secret_out(self, text: str) -> str:
        out = self._forms.sub(REDACTED, text)
        return REDACTED if any(self._shows(t) for t in _decodings(out)) else out

    def json(self, raw: str) -> tuple[Any, bool]:
        """`raw` parsed, with the secret out of every string and key, and whether anything was taken
        out. Raises ValueError when `raw` is not JSON (also when it nests too deep to parse)."""
        try:
            data = json.loads(raw)
        except RecursionError:
            raise ValueError("JSON nested too deep") from None
        if not self.holds(raw):  # the cheap path: a few scans of the text, nothing walked
            return data, False
        return self.data(data), True

    def data(self, value: Any, *, every_value: bool = False) -> Any:
        """Parsed JSON with the secret out of every string, dict key included. Lists and dicts are
        changed in place (they are the caller's fresh copy); iterative, so any depth json parsed is fine.
        `every_value`: the values from the environment too (for what an error holds)."""
        scrub = self.text if every_value else self._secret_out
        if isinstance(value, str):
            return scrub(value)
        stack = [value] if isinstance(value, dict | list) else []
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                for i, item in enumerate(node):
                    if isinstance(item, str):
                        node[i] = scrub(item)
                    elif isinstance(item, dict | list):
                        stack.append(item)
                continue
            items = list(node.items())
            node.clear()
            for key, item in items:
                if isinstance(item, str):
                    item = scrub(item)
                elif isinstance(item, dict | list):
                    stack.append(item)
                node[scrub(key) if isinstance(key, str) else key] = item
        return value

    def error(self, exc: E) -> E:
        """`exc` with the secret out of its message, args and every attribute, in place. A cause that
        is not one of the client's own errors (a requests exception, which also holds the request and
        so the key's header) is replaced by a copy of the same type that holds only its scrubbed text."""
        return self._error(exc, {})

    def _error(self, exc: E, done: dict[int, BaseException]) -> E:
        done[id(exc)] = exc
        exc.args = tuple(self._value(a, done) for a in exc.args)
        for name, value in list(vars(exc).items()):
            setattr(exc, name, self._value(value, done))
        cause = exc.__cause__
        if cause is None and isinstance(getattr(exc, "cause", None), BaseException):
            cause = exc.cause  # type: ignore[attr-defined]
        exc.__cause__ = self._value(cause, done) if cause is not None else None
        exc.__context__ = None
        exc.__suppress_context__ = True
        return exc

    def _value(self, value: Any, done: dict[int, BaseException]) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict | list):
            return self.data(value, every_value=True)
        if isinstance(value, BaseException):
            if id(value) in done:
                return done[id(value)]
            if isinstance(value, HolisticsError):
                return self._error(value, done)
            done[id(value)] = copy = self._stand_in(value)
            return copy
        return value

    def _stand_in(self, exc: BaseException) -> BaseException:
        """The same type (what callers test, e.g. requests.Timeout) with only the scrubbed text; the
        nearest base class that takes a bare message when the type itself wants more arguments."""
        text = self.text(str(exc))
        for cls in type(exc).__mro__:
            if issubclass(cls, BaseException):
                try:
                    return cls(text)
                except Exception:
                    continue
        return RuntimeError(text)  # unreachable: BaseException takes a message
