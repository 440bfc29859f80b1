"""The plan as JSON, for machines (`plan --json`, saved plans are their own format)."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

from reconciler.core.model import Action, Change, FieldDiff, Plan, WorkspacePlan
from reconciler.policy.crowding import Crowd
from reconciler.policy.model import PolicyException
from reconciler.views.plan_words import Titles, brief_dict, change_names, replacement_note, source_label

# 2: unmanaged schedules are objects; replacements, reasons, ignored differences. A field added since
# (timezone, probable_duplicates; with alerts: `kind` on each change, match, unmanaged item and probable
# duplicate, `summary_by_kind`, `hidden` diffs) keeps the version: readers ignore what they do not know,
# and `summary` is still the total; `policy_exceptions` the delivery policy's exceptions in use.
JSON_FORMAT_VERSION = 2


def as_dict(
    plan: Plan | WorkspacePlan,
    titles: Titles | None = None,
    exceptions: Sequence[PolicyException] = (),
    crowds: Mapping[str, Crowd] | None = None,
) -> dict[str, Any]:
    """`crowds` (`usecases.spread`): each change starting anew says how many other deliveries start at
    its minute, `"crowd": {"minute": "09:00", "others": 14, "quiet": "09:07"}` (quiet: null unless crowded;
    others: 0 too, where text and markdown say nothing)."""
    titles = titles or {}
    crowds = crowds or {}
    plan = WorkspacePlan.of_plan(plan)
    return {
        "format_version": JSON_FORMAT_VERSION,
        "summary": plan.summary,
        "summary_by_kind": plan.summary_by_kind,
        "prune": plan.prune,
        "unsafe": plan.unsafe,
        "changes": [_change(c, titles, crowds.get(c.key or "")) for c in plan.changes],
        "unmanaged": [brief_dict(part, i, titles) for part in plan.plans for i in part.unmanaged],
        "not_manageable": [i for part in plan.plans for i in part.undeclarable],  # ids of every kind, as before
        "not_manageable_by_kind": {part.kind: list(part.undeclarable) for part in plan.plans},
        "matches": [
            {"kind": part.kind, "key": m.key, "id": m.id, "file": m.file, "recorded": m.recorded}
            for part in plan.plans
            for m in part.matches
        ],
        "ignored_differences": [
            {"key": d.key, "path": d.path, "yaml": d.yaml, "workspace": d.workspace, "file": d.file, "line": d.line}
            for d in plan.ignored_differences
        ],
        "probable_duplicates": [
            {
                "kind": part.kind,
                "id": d.id,
                "key": d.key,
                "of": d.of,
                "title": None if "title" in d.env else _title(d.remote.get("title")),
            }
            for part in plan.plans
            for d in part.probable_duplicates
        ],
        "partial": plan.partial,
        "timezone": plan.timezone,
        "policy_exceptions": [{"key": e.key, "rule": e.rule, "reason": e.reason} for e in exceptions],
    }


def _change(c: Change, titles: Titles, crowd: Crowd | None) -> dict[str, Any]:
    return {
        "kind": c.kind,
        "action": c.action.value,
        "key": c.key,
        "id": c.id,
        "file": c.file,
        "line": c.line,
        "title": None if "title" in c.env else c.title,
        "source": source_label(c, titles),
        "destructive": c.action in (Action.DELETE, Action.REPLACE),
        "reason": c.reason,
        "forces_replacement": [d.path for d in c.diff if replacement_note(c, d)],
        "diff": [_diff(d) for d in c.diff],
        **({"names": names} if (names := change_names(c, titles)) else {}),  # field path -> the uname it stands for
        **({"crowd": {"minute": crowd.at, "others": crowd.others, "quiet": crowd.quiet_at}} if crowd else {}),
    }


def _diff(d: FieldDiff) -> dict[str, Any]:
    """A field's old and new value; one from the environment holds its `${NAME}` expression on both
    sides (masked by the core), with `hidden` and whether its value `changes`."""
    out = {"path": d.path, "old": d.old, "new": d.new}
    return out if d.env_changes is None else {**out, "hidden": True, "changes": d.env_changes}


def _title(title: Any) -> str | None:
    return str(title) if title else None


def to_json(
    plan: Plan | WorkspacePlan,
    titles: Titles | None = None,
    exceptions: Sequence[PolicyException] = (),
    crowds: Mapping[str, Crowd] | None = None,
) -> str:
    return dumps(as_dict(plan, titles, exceptions, crowds)) + "\n"


# Each plain scalar as json writes it: str as with ensure_ascii=False, float with NaN and Infinity.
_SCALARS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring,
    int: int.__repr__,
    float: json.dumps,
    bool: {True: "true", False: "false"}.__getitem__,
    type(None): {None: "null"}.__getitem__,
}
_pretty = functools.partial(json.dumps, indent=2, ensure_ascii=False, default=str)


def dumps(doc: Any) -> str:
    """`_pretty(doc)` byte for byte, in half the time: with `indent` json writes value by value in Python
    (60-90 ms for a plan's 10,000 matches); here a flat dict's scalars are written in one comprehension."""
    try:
        return _layout(doc, "\n")
    except RecursionError:  # a cycle or too deep: json's own error
        return _pretty(doc)


def _layout(obj: Any, newline: str) -> str:
    """`obj` at the indentation `newline` sets: plain dicts and lists laid out as json lays them out,
    anything else written by json and re-indented (a JSON string holds no raw newline)."""
    if (encode := _SCALARS.get(type(obj))) is not None:
        return encode(obj)
    inner = newline + "  "
    if type(obj) is list and obj:
        items = _flat_dicts(obj, inner) or [_layout(v, inner) for v in obj]
        return "[" + inner + ("," + inner).join(items) + newline + "]"
    if type(obj) is dict and obj and all(isinstance(k, str) for k in obj):
        items = [encode_basestring(k) + ": " + _layout(v, inner) for k, v in obj.items()]
        return "{" + inner + ("," + inner).join(items) + newline + "}"
    return _pretty(obj).replace("\n", newline)


def _flat_dicts(dicts: list[Any], newline: str) -> list[str] | None:
    """Each of `dicts` if all are non-empty dicts of plain scalars under str keys (a plan's matches)."""
    opening, sep, closing = "{" + newline + "  ", "," + newline + "  ", newline + "}"
    if all(type(d) is dict and d for d in dicts):
        with contextlib.suppress(KeyError, TypeError):  # a value that is no plain scalar, a key no str
            return [
                opening + sep.join([encode_basestring(k) + ": " + _SCALARS[type(v)](v) for k, v in d.items()]) + closing
                for d in dicts
            ]
    return None
