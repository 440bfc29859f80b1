"""Values from the environment, kept out of every diff: a field whose YAML value uses `${NAME}` is
shown as that expression and whether it changes, never as its value, on either side.

A webhook endpoint usually carries a secret (an integration key in the URL). Its value is in what
apply sends (`Change.body`), and nowhere a plan is shown: the diff is masked here, once, as the plan
is built, so every view, the saved plan and apply's report all read the masked diff. The remote's
old value at such a path is hidden too (it is usually the same secret, or the one it replaces).

Paths are dotted as in diffs (`dest.endpoint`); a list item's index is a part (`dest.recipients.1`).
A diff path is hidden when it equals, is under, or is a parent of an env path.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from reconciler.core.model import ABSENT, FieldDiff

_MISSING = object()


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


def masked(value: Any, path: str, env: Mapping[str, str]) -> Any:
    """`value` (the field at `path`) with each env value in it replaced by its expression; the
    expression alone when `path` is at or under an env path. ABSENT stays ABSENT."""
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


def _put(data: Any, path: str, expression: Any) -> Any:
    """`data` with the value at `path` (when there is one) replaced by `expression`, in place."""
    *parents, last = path.split(".")
    node = get(data, ".".join(parents)) if parents else data
    if isinstance(node, dict) and last in node:
        node[last] = expression
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = expression
    return data


def hide_diff(diff: FieldDiff, env: Mapping[str, str]) -> FieldDiff:
    """`diff` as every plan shows it: unchanged when no env path is related to it; else masked on
    both sides, saying whether any env value in it differs between the two sides."""
    paths = related(diff.path, env)
    if not paths:
        return diff
    changes = diff.old is ABSENT or diff.new is ABSENT or any(_differs(diff, e) for e in paths)
    return FieldDiff(diff.path, masked(diff.old, diff.path, env), masked(diff.new, diff.path, env), changes)


def _differs(diff: FieldDiff, env_path: str) -> bool:
    if env_path == diff.path or diff.path.startswith(f"{env_path}."):
        return bool(diff.old != diff.new)
    rest = env_path[len(diff.path) + 1 :]
    return bool(get(diff.old, rest) != get(diff.new, rest))


def hide_diffs(diffs: tuple[FieldDiff, ...], env: Mapping[str, str]) -> tuple[FieldDiff, ...]:
    return tuple(hide_diff(d, env) for d in diffs) if env else diffs


def masked_fields(fields: Mapping[str, Any] | None, env: Mapping[str, str]) -> dict[str, Any] | None:
    """A whole body or remote item with each env value replaced by its expression (a saved plan's copy)."""
    if fields is None:
        return None
    out: dict[str, Any] = masked(dict(fields), "", env)
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
