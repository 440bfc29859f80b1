"""Values from the environment: `${NAME}` in any string value of an entry, taken when a plan is made.

A webhook endpoint usually carries a secret (an integration key in the URL), which does not belong
in git. So a string value may say `${NAME}` (NAME: a letter or `_`, then letters, digits or `_`);
`$$` is a literal `$`, and a `$` followed by anything else is a literal `$` too, so a YAML value
written before this existed (`"$100"`) keeps its meaning.

Reading the files never reads the environment: an entry keeps each value that uses a variable as
written (the expression) and lists its dotted path in `DesiredEntry.env`, so `validate`, the cache
and every message only ever hold expressions. `resolve` gives the entries with the values, refusing
an unset variable, and validates them again (a `${URL}` that turns out to be http:// is refused),
naming the field and the variable, never the value. `fingerprint` lets a saved plan record the value
it planned without holding it; `env_values` lets output redaction mask the values as a last resort.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from reconciler.desired.validation_messages import data_path
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.known import kind_named
from reconciler.problems import InvalidSchedules, Problem

# one `$` escape: `${NAME}` or `$$`; any other `$` is itself and never matched
_ESCAPE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|\$)")
_WHOLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


def variables(text: str) -> list[str]:
    """The names of the variables `text` uses, in order, each once (`$${X}` uses none: it is `${X}`)."""
    names = (m.group(1) for m in _ESCAPE.finditer(text))
    return list(dict.fromkeys(name for name in names if name is not None))


def is_whole(text: str) -> bool:
    """Whether `text` is one variable and nothing else: `${URL}`."""
    return _WHOLE.fullmatch(text) is not None


def substitute(text: str, value_of: Callable[[str], str]) -> str:
    """`text` with each `${NAME}` replaced by `value_of(NAME)` and each `$$` by `$`, in one pass
    (a value that itself contains `${X}` or `$$` is taken as it is, never substituted again)."""
    return _ESCAPE.sub(lambda m: "$" if m.group(1) is None else value_of(m.group(1)), text)


def _no_variable(name: str) -> str:  # pragma: no cover - only called for text with no variable
    raise AssertionError(name)


def written(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """An entry's plain data as validation sees it, and the dotted path of each string that uses a
    variable (with the string): those are kept as written; in the others `$$` is `$` already."""
    env: dict[str, str] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            if "$" not in node:
                return node
            if variables(node):
                env[path] = node
                return node
            return substitute(node, _no_variable)
        if isinstance(node, dict):
            return {k: walk(v, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}.{i}") for i, v in enumerate(node)]
        return node

    out: dict[str, Any] = walk(data, "")
    return out, env


# ---- paths into an entry's fields ----


def value_at(node: Any, path: str) -> Any:
    """The value at a dotted path (a list's items by number), or None when there is none."""
    for part in path.split("."):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def set_at(node: Any, path: str, value: Any) -> bool:
    """Set the value at a dotted path that exists; False when it does not."""
    *parents, last = path.split(".")
    for part in parents:
        node = value_at(node, part)
    if isinstance(node, dict) and last in node:
        node[last] = value
        return True
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
        return True
    return False


# ---- resolving ----


def resolve(entries: Iterable[DesiredEntry], environ: Mapping[str, str]) -> list[DesiredEntry]:
    """The entries with every variable taken from `environ` (and `$$` as `$`), each entry that used
    one validated again by its kind's model. Raises InvalidSchedules with every unset variable and
    every value refused, at the entry's file and the field's line; no message holds a value.

    Idempotent: the values are always made from the expressions in `env`, never from the fields."""
    problems: list[Problem] = []
    resolved: list[DesiredEntry] = []
    for entry in entries:
        if not entry.env:
            resolved.append(entry)
            continue
        unset = _unset(entry, environ)
        if unset:
            problems += unset
            continue
        fields = copy.deepcopy(dict(entry.fields))
        for path, expression in entry.env.items():
            set_at(fields, path, substitute(expression, environ.__getitem__))
        problems += _refused(entry, fields, environ)
        resolved.append(replace(entry, fields=fields))
    if problems:
        raise InvalidSchedules(problems)
    return resolved


def _unset(entry: DesiredEntry, environ: Mapping[str, str]) -> list[Problem]:
    return [
        Problem(entry.file, entry.line_of(path), f"{entry.key}.{path}", f"`${{{name}}}` is not set in the environment")
        for path, expression in entry.env.items()
        for name in variables(expression)
        if name not in environ
    ]


def _refused(entry: DesiredEntry, fields: dict[str, Any], environ: Mapping[str, str]) -> list[Problem]:
    """What the entry's model says of its fields with the values in them, in words that name the
    field and the variables but hold no value."""
    try:
        kind_named(entry.kind).model.model_validate(fields)
    except ValidationError as exc:
        secrets = _values_of(entry, fields, environ)
        problems: dict[str, Problem] = {}
        for error in exc.errors(include_url=False):
            path = ".".join(data_path(fields, error["loc"]))
            source = next((p for p in entry.env if path == p or path.startswith(p + ".")), None)
            names = variables(entry.env[source]) if source else [n for e in entry.env.values() for n in variables(e)]
            used = ", ".join(f"`${{{name}}}`" for name in dict.fromkeys(names))
            message = f"not valid with the value of {used} from the environment"
            reason = _reason(error["msg"], secrets)
            where = f"{entry.key}.{path}" if path else entry.key
            problems.setdefault(where, Problem(entry.file, entry.line_of(path), where, message + reason))
        return list(problems.values())
    return []


def _reason(message: str, secrets: set[str]) -> str:
    """pydantic's message up to where it would quote the value (`not a valid email address: '...'`),
    and nothing at all when what is left still holds a value from the environment."""
    text = message.removeprefix("Value error, ")
    text = re.split(r": | \(", text, maxsplit=1)[0].strip()
    if not text or any(secret in text for secret in secrets):
        return ""
    return f": {text}"


def _values_of(entry: DesiredEntry, fields: Mapping[str, Any], environ: Mapping[str, str]) -> set[str]:
    values = {environ[name] for e in entry.env.values() for name in variables(e) if name in environ}
    # a field still holding its expression (not resolved) holds no value
    values |= {v for path, e in entry.env.items() if isinstance(v := value_at(fields, path), str) and v != e}
    return {v for v in values if v}


# ---- what a plan may hold instead of a value ----

_KEY_CONTEXT = b"holistics-schedules: the key of environment value fingerprints, v1\0"
_VALUE_CONTEXT = b"holistics-schedules: an environment value, v1\0"


def fingerprint_key(api_key: str) -> bytes:
    """The key of `fingerprint`, derived from the API key: the plan job and the apply job both have
    it, a reader of a saved plan does not (and so cannot try values against a fingerprint)."""
    return hmac.new(_KEY_CONTEXT, api_key.encode("utf-8"), hashlib.sha256).digest()


def fingerprint(value: str, key: bytes) -> str:
    """A keyed hash of one value (HMAC-SHA256, domain-separated from every other use of the key):
    equal for equal values under one key, and nothing about the value without the key."""
    return "hmac-sha256:" + hmac.new(key, _VALUE_CONTEXT + value.encode("utf-8"), hashlib.sha256).hexdigest()


def fingerprints(entry: DesiredEntry, key: bytes) -> dict[str, str]:
    """The fingerprint of each field of a resolved entry that uses a variable, by dotted path."""
    return {
        path: fingerprint(value, key) for path in entry.env if isinstance(value := value_at(entry.fields, path), str)
    }


def env_values(entries: Iterable[DesiredEntry], environ: Mapping[str, str] | None = None) -> set[str]:
    """Every value from the environment the entries hold, for output redaction to mask by value: each
    field that uses a variable as resolved and (given `environ`) each variable's own value. Empty
    strings are left out (there is nothing to mask)."""
    values: set[str] = set()
    for entry in entries:
        values |= _values_of(entry, entry.fields, environ or {})
    return values
