"""pydantic's validation errors in the tool's words, each a `Problem` at its file and line.

A schedule entry and the config file are validated by pydantic models; what pydantic says (a
location of union tags and indexes, its own phrasing) is turned here into the YAML's dotted key
path, a plain message with a guess for a misspelt name, and the line the field was written on.
On the desired side: it knows the models of each kind in `reconciler.kinds`.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.kinds.alerts.models import DEST_MODELS as ALERT_DEST_MODELS
from reconciler.kinds.entries import nearest_line
from reconciler.kinds.schedules.models import DEST_MODELS, DataScheduleSpec
from reconciler.problems import Problem, did_you_mean


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field of this type holds: itself, a union's or Optional's members,
    a list's items, a dict's values."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin is Annotated:
        return _models_in(args[0])
    if origin in (Union, types.UnionType, list, tuple, set, frozenset):
        return [m for arg in args for m in _models_in(arg)]
    if origin is dict and len(args) == 2:
        return _models_in(args[1])
    return []


def fields_at(root: type[BaseModel], loc: Sequence[int | str]) -> set[str]:
    """The field names allowed at `loc` (a pydantic error location or a dotted path's parts) under
    the model `root`: the union of the fields of every model that can be there. A union's tag in
    `loc` (`dest.EmailDest....`) narrows it to that member; indexes and dict keys pass through."""
    models: list[type[BaseModel]] = [root]
    for part in loc:
        if isinstance(part, str):
            holding = [m for m in models if part in m.model_fields]
            if holding:
                models = [n for m in holding for n in _models_in(m.model_fields[part].annotation)]
                continue
            tagged = [m for m in models if m.__name__ == part]
            if tagged:
                models = tagged
    return {name for m in models for name in m.model_fields}


def unknown_part(root: type[BaseModel], dotted: str) -> tuple[str, str, set[str]] | None:
    """Where the dotted field path leaves the fields under `root`: (the path up to there, the part
    no model there has, the names it could have been); None when every part is a field (a number
    is a list index; anything below a field of free-form type, a Slack channel's keys, goes)."""
    models: list[type[BaseModel]] = [root]
    walked: list[str] = []
    for part in dotted.split("."):
        if not models:
            return None
        if part.isdigit() and walked:
            walked.append(part)
            continue
        holding = [m for m in models if part in m.model_fields]
        if not holding:
            return ".".join(walked), part, {n for m in models for n in m.model_fields}
        models = [n for m in holding for n in _models_in(m.model_fields[part].annotation)]
        walked.append(part)
    return None


# ---- pydantic's errors in the tool's words ----

# what pydantic adds to a location for each member of a union it tried; not a field of the YAML
_UNION_MEMBERS = (
    frozenset(DEST_MODELS) | frozenset(ALERT_DEST_MODELS) | {"int", "str", "bool", "float", "list", "dict", "none"}
)
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


@dataclass(frozen=True)
class _Words:
    """How a kind of file names its keys, and how far pydantic's own messages are rewritten."""

    root: type[BaseModel]
    noun: str  # "field" in a schedule, "key" in the config file
    plain: bool  # every common error in the tool's words (the config), or only unknown/missing ones

    @property
    def dest_types(self) -> list[str]:
        """The `dest.type`s of the root model: its dest branch is chosen by one of them."""
        dest = self.root.model_fields.get("dest")
        models = _models_in(dest.annotation) if dest is not None else []
        return [str(get_args(m.model_fields["type"].annotation)[0]) for m in models if "type" in m.model_fields]


def _choices(error: ErrorDetails) -> list[str]:
    return [m.group(1) for m in _QUOTED.finditer(str((error.get("ctx") or {}).get("expected", "")))]


def _plain_message(error: ErrorDetails) -> str | None:
    """The common pydantic errors said as the tool says things (None: no rewording known)."""
    ctx = error.get("ctx") or {}
    kind = error["type"]
    fixed = {
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number, not a fraction",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "bool_parsing": "must be true or false",
        "bool_type": "must be true or false",
        "string_type": "must be text (a string)",
        "list_type": "must be a list",
        "dict_type": "must be a mapping (key: value)",
        "model_type": "must be a mapping (key: value)",
        "model_attributes_type": "must be a mapping (key: value)",
        "none_required": "must be empty (null)",
        "finite_number": "must be a finite number",
    }
    if kind in fixed:
        return fixed[kind]
    bounds = {
        "greater_than": ("gt", "must be greater than"),
        "greater_than_equal": ("ge", "must be at least"),
        "less_than": ("lt", "must be less than"),
        "less_than_equal": ("le", "must be at most"),
        "too_short": ("min_length", "must have at least this many items:"),
        "too_long": ("max_length", "must have at most this many items:"),
    }
    if kind in bounds:
        name, words = bounds[kind]
        bound = ctx.get(name)
        return f"{words} {int(bound) if isinstance(bound, float) and bound.is_integer() else bound}"
    if kind == "string_pattern_mismatch":
        return f"not in the expected form (the pattern {ctx.get('pattern')})"
    return None


def _explained(data: dict[str, Any], error: ErrorDetails, words: _Words) -> tuple[list[str], str]:
    """The field path a pydantic error is about, and what to tell the user."""
    path = _data_path(data, error["loc"])
    kind = error["type"]
    if kind == "union_tag_invalid":
        tag = str((error.get("ctx") or {}).get("tag"))
        hint = did_you_mean(tag, words.dest_types)
        return [*path, "type"], f"unknown dest type {tag!r}; one of: {', '.join(words.dest_types)}{hint}"
    if kind == "union_tag_not_found":
        return path, f"missing `type`; one of: {', '.join(words.dest_types)}"
    if kind == "extra_forbidden":
        name = str(error["loc"][-1]) if error["loc"] else ""
        known = fields_at(words.root, error["loc"][:-1]) - set(_mapping_at(data, path[:-1]))
        return path, f"unknown {words.noun}{did_you_mean(name, known)}"
    if kind == "missing":
        return path, f"missing required {words.noun}"
    if kind == "literal_error":
        given = _value_at(data, path)
        hint = did_you_mean(given, _choices(error)) if isinstance(given, str) else ""
        if words.plain:
            return path, f"one of: {', '.join(_choices(error))}{hint}"
        return path, f"{error['msg']}{hint}"
    plain = _plain_message(error) if words.plain else None
    return path, plain or error["msg"].removeprefix("Value error, ")


def data_path(data: Any, loc: Sequence[int | str]) -> list[str]:
    """The dotted field path (as parts) of a pydantic error location in `data`."""
    return _data_path(data, loc)


def choices(error: ErrorDetails) -> list[str]:
    """The values a `literal_error` names as allowed."""
    return _choices(error)


def _data_path(data: Any, loc: Sequence[int | str]) -> list[str]:
    """pydantic's error location, less the union tags it adds ('EmailDest', 'int', ...)."""
    path: list[str] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:  # noqa: SIM114 - split so mypy narrows the index type
            node = node[part]
            path.append(str(part))
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
            path.append(str(part))
        elif isinstance(node, dict) and isinstance(part, str) and part not in _UNION_MEMBERS and "[" not in part:
            path.append(part)  # a missing or unknown field: name it
            node = None
    return path


def _value_at(data: Any, path: Sequence[str]) -> Any:
    node = data
    for part in path:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _mapping_at(data: Any, path: Sequence[str]) -> Collection[str]:
    """The keys written at `path` (a name already there is no guess for another)."""
    node = _value_at(data, path)
    return [str(k) for k in node] if isinstance(node, dict) else ()


def _problems(
    file: str,
    prefix: str,
    line: int,
    data: dict[str, Any],
    lines: Mapping[str, int],
    exc: ValidationError | Sequence[ErrorDetails],
    explain: Callable[[dict[str, Any], ErrorDetails], tuple[list[str], str]],
) -> list[Problem]:
    """One Problem per field path, at the line of that field or of its nearest written parent,
    with its messages joined."""
    by_path: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False) if isinstance(exc, ValidationError) else exc:
        path, message = explain(data, error)
        messages = by_path.setdefault(".".join(path), [])
        if message not in messages:
            messages.append(message)

    def where(dotted: str) -> str:
        return ".".join(part for part in (prefix, dotted) if part) or "-"

    return [
        Problem(file, nearest_line(lines, dotted, line), where(dotted), "; ".join(messages))
        for dotted, messages in by_path.items()
    ]


def validation_problems(
    file: str,
    key: str,
    line: int,
    data: dict[str, Any],
    lines: Mapping[str, int],
    exc: ValidationError | Sequence[ErrorDetails],
    root: type[BaseModel] = DataScheduleSpec,
) -> list[Problem]:
    """The entry `key` (at `line`, its fields at `lines`) failed validation as the model `root` (its
    kind's: a schedule's by default)."""
    words = _Words(root, "field", plain=False)
    return _problems(file, key, line, data, lines, exc, lambda d, e: _explained(d, e, words))


def config_problems(
    file: str, root: type[BaseModel], data: dict[str, Any], lines: Mapping[str, int], exc: ValidationError
) -> list[Problem]:
    """The config file (read as `data`, its keys at `lines`) failed validation as the model `root`:
    every error in the tool's words, each at its key's line."""
    words = _Words(root, "key", plain=True)
    return _problems(file, "", 1, data, lines, exc, lambda d, e: _explained(d, e, words))
