"""Values from the environment, kept out of every diff: a field whose YAML value uses `${NAME}` is
shown as that expression and whether it changes, never as its value, on either side.

A webhook endpoint usually carries a secret (an integration key in the URL). Its value is in what
apply sends (`Change.body`), and nowhere a plan is shown: the diff is masked here, once, as the plan
is built, so every view, the saved plan and apply's report all read the masked diff. The remote's
old value at such a path is hidden too (it is usually the same secret, or the one it replaces).

Paths are dotted as in diffs (`dest.endpoint`); a list item's index is a part (`dest.recipients.1`).
A diff path is hidden when it equals, is under, or is a parent of an env path. A diff's lists are in
a canonical order, not the YAML's, so inside a list the YAML's side is masked by value and the
workspace's side of the whole field is hidden.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from reconciler.core.model import ABSENT, FieldDiff

_MISSING = object()
MISSING = _MISSING  # what `get` gives for a path the data does not have


def related(path: str, env: Mapping[str, str]) -> list[str]:
    """The env paths a diff at `path` shows: equal to it, above it or below it."""
    if not path:
        return list(env)
    return [e for e in env if e == path or path.startswith(f"{e}.") or e.startswith(f"{path}.")]


def get(data: Any, path: str) -> Any:
    """The value at a dotted path (list indices as parts), or `_MISSING`."""
    node = data
    for part in path.split(".") if path else []:
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def field_of(env_path: str) -> str:
    """The field an env path is in, cut at its first list index (`dest.recipients.1` ->
    `dest.recipients`): a list is compared in a canonical order (sorted recipients, presets...), so
    an index is only true of the YAML's own order, never of a diff's or the workspace's."""
    parts = env_path.split(".")
    cut = next((i for i, part in enumerate(parts) if part.isdigit()), len(parts))
    return ".".join(parts[:cut])


def masked(value: Any, path: str, env: Mapping[str, str]) -> Any:
    """`value` (the field at `path`, in the YAML's own order: a body) with each env value in it
    replaced by its expression; the expression alone when `path` is at or under an env path."""
    if value is ABSENT:
        return value
    above = [e for e in env if e == path or path.startswith(f"{e}.")]
    if above:
        return env[above[0]]
    out = copy.deepcopy(value)
    for e in env:
        if not path or e.startswith(f"{path}."):
            out = _put(out, e[len(path) + 1 :] if path else e, env[e])
    return out


def _marker(field: str, env: Mapping[str, str]) -> str:
    expressions = sorted({expression for e, expression in env.items() if field_of(e) == field})
    if len(expressions) == 1 and field in env:
        return expressions[0]
    return f"(hidden: holds {', '.join(expressions)})"


def masked_old(value: Any, path: str, env: Mapping[str, str]) -> Any:
    """The workspace's side of a field at `path`: each field that holds an env value in the YAML is
    hidden whole. Its value there is usually the secret, or the one it replaces, and a list's order
    says nothing of which item it is, so no item of such a field is shown."""
    if value is ABSENT:
        return value
    fields = {field_of(e) for e in env}
    for field in fields:
        if field == path or path.startswith(f"{field}."):
            return _marker(field, env)
    out = copy.deepcopy(value)
    for field in fields:
        if not path or field.startswith(f"{path}."):
            out = _put(out, field[len(path) + 1 :] if path else field, _marker(field, env))
    return out


def masked_new(value: Any, path: str, env: Mapping[str, str], values: Mapping[str, Any]) -> Any:
    """The YAML's side of a field at `path`, in the canonical order of a diff: an env value inside a
    list is found by value (`values`: env path -> its value, from the entry), not by index; a field
    whose env values are not known is hidden whole."""
    if value is ABSENT:
        return value
    above = [e for e in env if e == path or path.startswith(f"{e}.")]
    if above:
        return env[above[0]]
    out = copy.deepcopy(value)
    for e in env:
        if path and not e.startswith(f"{path}."):
            continue
        field = field_of(e)
        rest = field[len(path) + 1 :] if path else field
        if e == field:
            out = _put(out, rest, env[e])
        elif e in values:
            inside = get(out, rest) if rest else out
            replaced = _by_value(inside, values[e], env[e])
            out = _put(out, rest, replaced) if rest else replaced
        else:
            out = _put(out, rest, _marker(field, env)) if rest else _marker(field, env)
    return out


def _same(a: Any, b: Any) -> bool:
    # as the comparison sees them: recipients are compared trimmed and lower-cased
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().lower() == b.strip().lower()
    return bool(a == b) and type(a) is type(b)


def _by_value(data: Any, value: Any, expression: str) -> Any:
    if _same(data, value):
        return expression
    if isinstance(data, Mapping):
        return {k: _by_value(v, value, expression) for k, v in data.items()}
    if isinstance(data, list):
        return [_by_value(v, value, expression) for v in data]
    return data


def _holds(data: Any, value: Any) -> bool:
    if _same(data, value):
        return True
    if isinstance(data, Mapping):
        return any(_holds(v, value) for v in data.values())
    if isinstance(data, list):
        return any(_holds(v, value) for v in data)
    return False


def _put(data: Any, path: str, expression: Any) -> Any:
    """`data` with the value at `path` (when there is one) replaced by `expression`, in place."""
    *parents, last = path.split(".")
    node = get(data, ".".join(parents)) if parents else data
    if isinstance(node, dict) and last in node:
        node[last] = expression
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = expression
    return data


def hide_diff(diff: FieldDiff, env: Mapping[str, str], values: Mapping[str, Any] | None = None) -> FieldDiff:
    """`diff` as every plan shows it: unchanged when no env path is related to it; else masked on
    both sides (`masked_old`, `masked_new`), saying whether any env value in it differs between the
    two sides. `values` are the entry's env values by env path."""
    paths = related(diff.path, env)
    if not paths:
        return diff
    values = values or {}
    changes = diff.old is ABSENT or diff.new is ABSENT or any(_differs(diff, e, values) for e in paths)
    old, new = masked_old(diff.old, diff.path, env), masked_new(diff.new, diff.path, env, values)
    return FieldDiff(diff.path, old, new, changes)


def _differs(diff: FieldDiff, env_path: str, values: Mapping[str, Any]) -> bool:
    if env_path == diff.path or diff.path.startswith(f"{env_path}."):
        return bool(diff.old != diff.new)
    field = field_of(env_path)
    rest = field[len(diff.path) + 1 :] if diff.path else field
    if env_path == field:
        return bool(get(diff.old, rest) != get(diff.new, rest))
    if env_path not in values:
        return True
    return not _holds(get(diff.old, rest) if rest else diff.old, values[env_path])


def hide_diffs(
    diffs: tuple[FieldDiff, ...], env: Mapping[str, str], values: Mapping[str, Any] | None = None
) -> tuple[FieldDiff, ...]:
    return tuple(hide_diff(d, env, values) for d in diffs) if env else diffs


def masked_fields(fields: Mapping[str, Any] | None, env: Mapping[str, str]) -> dict[str, Any] | None:
    """A whole body (in the YAML's order) with each env value replaced by its expression (a saved plan's copy)."""
    if fields is None:
        return None
    out: dict[str, Any] = masked(dict(fields), "", env)
    return out


def masked_remote(fields: Mapping[str, Any] | None, env: Mapping[str, str]) -> dict[str, Any] | None:
    """A whole workspace item with each field that holds an env value hidden (`masked_old`)."""
    if fields is None:
        return None
    out: dict[str, Any] = masked_old(dict(fields), "", env)
    return out


def env_values(fields: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The value at each env path of `fields` (those present): what a body carries from the environment."""
    found = {path: get(fields, path) for path in env}
    return {path: value for path, value in found.items() if value is not _MISSING}


def restored(masked_body: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A masked body with the values put back at their paths."""
    out: dict[str, Any] = copy.deepcopy(dict(masked_body))
    for path, value in values.items():
        _put(out, path, value)
    return out
