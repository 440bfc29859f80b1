"""Problems with the user's files, each at its file and line, and the one error that carries them.

Every check (YAML, the schedule model, scope, the workspace, the config file) reports a `Problem`
rather than stopping at the first, so that `validate` lists every error at once and no command
starts from bad input. pydantic's errors are translated here into the same form: the YAML's dotted
key path, a plain message, and the line the field was written on. A problem prints as text
(`file:line: path: message`), as JSON, or as a GitHub workflow command that annotates the line on
the pull request.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import types
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from reconciler.errors import UserError
from reconciler.kinds.entries import nearest_line
from reconciler.kinds.schedules.models import DEST_MODELS, DataScheduleSpec
from reconciler.usecases.lock import checkout_root

# what a terminal may act on or a reader cannot see: C0 and C1 controls, DEL, line and paragraph
# separators, bidi overrides and other format characters, and lone surrogates (undecodable file names)
_HIDDEN_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_MAYBE_HIDDEN = re.compile(r"[^\x20-\x7e]")


@cache
def _escaped_char(char: str) -> str:
    if unicodedata.category(char) not in _HIDDEN_CATEGORIES:
        return char
    return char.encode("unicode_escape").decode("ascii")  # \x1b, \n, \x9b, \u2028, \udcff


def escape_controls(text: str) -> str:
    """`text` safe to print: every control, format or separator character as its escape (`\\x1b`),
    so that text from a file (a key, a value quoted in a message, a file name) can neither move the
    cursor, recolour or retitle the terminal, nor fake a line of output."""
    return _MAYBE_HIDDEN.sub(lambda m: _escaped_char(m.group()), text)


def in_github_actions() -> bool:
    """GitHub sets GITHUB_ACTIONS=true in every job: there, problems are also printed as annotations."""
    return os.environ.get("GITHUB_ACTIONS") == "true"


def github_data(text: str) -> str:
    """A workflow command's message, escaped as the runner unescapes it (actions/toolkit `escapeData`):
    a newline would end the command, and what follows it would be read as a command of its own."""
    return escape_controls(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def _github_property(text: str) -> str:
    """A property value (`file=`, `title=`): also `:` and `,`, which end a value (`escapeProperty`)."""
    return github_data(text).replace(":", "%3A").replace(",", "%2C")


def repo_path(file: str) -> str:
    """`file` as GitHub names it in an annotation: relative to the checkout's root (the nearest
    folder with `.git`; the working directory without one), which is the path as given when the
    command runs at the root. A file outside the checkout keeps the path it was given."""
    try:
        cwd = Path.cwd()
        absolute = os.path.normpath(cwd / file)  # not resolved: a symlinked file is named as written
        relative = os.path.relpath(absolute, checkout_root(cwd))
    except (OSError, ValueError):
        return file
    return file if relative == ".." or relative.startswith("../") else Path(relative).as_posix()


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return self.text()

    def text(self) -> str:
        """`file:line: path: message`, safe for a terminal: what people and editors read."""
        return escape_controls(f"{self.file}:{self.line}: {self.path}: {self.message}")

    def github(self, title: str | None = None) -> str:
        """A GitHub `::error` workflow command, which annotates the line in the pull request's diff
        (a problem of a whole file, line 0, annotates the file)."""
        props = [f"file={_github_property(repo_path(self.file))}"]
        if self.line > 0:
            props.append(f"line={self.line}")
        props.append(f"title={_github_property(title or (self.path if self.path != '-' else 'holistics-schedules'))}")
        return f"::error {','.join(props)}::{github_data(self.message)}"

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message}


def problems_json(problems: Iterable[Problem], error: str | None = None) -> str:
    """What `validate --format json` prints: `{"valid": ..., "problems": [...]}` (and `error` when
    what went wrong is no file's problem). ASCII only: every control character is a JSON escape."""
    listed = [p.as_json() for p in sorted(problems)]
    report: dict[str, Any] = {"valid": not listed and error is None, "problems": listed}
    if error is not None:
        report["error"] = error
    return json.dumps(report, indent=2) + "\n"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


class InvalidSchedules(UserError):
    """The files have problems; nothing may be planned or applied from them."""

    def __init__(
        self, problems: Iterable[Problem], what: str = "in the schedules", outcome: str | None = "nothing was changed"
    ) -> None:
        self.problems = sorted(problems)
        self.what, self.outcome = what, outcome
        summary = f"{_count(len(self.problems), 'problem')} {what}"
        super().__init__(f"{summary}; {outcome}" if outcome else summary)
        for line in self.details():  # so that a traceback, too, shows every problem and not just the count
            self.add_note(line)

    def details(self) -> list[str]:
        return [str(p) for p in self.problems]

    def checked(self) -> InvalidSchedules:
        """The same problems, summed up for a command that only checks (validate): it never sends
        anything, so "nothing was changed" would say nothing."""
        return InvalidSchedules(self.problems, self.what, outcome=None)


# ---- did you mean ----


def _folded(name: str) -> str:
    return re.sub(r"[-_ ]", "", name.casefold())


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name `name` most likely meant: the same but for case, `-` and `_` (`sourceId`,
    `source-id`), else the closest by difflib's ratio (`recipents`, `optons`), else one that
    contains it (`presets`), else None."""
    candidates = sorted(set(known))
    folded = [k for k in candidates if _folded(k) == _folded(name)]
    if folded:
        return folded[0]
    suffix = _common_suffix(candidates) if len(candidates) > 1 else ""
    if suffix and name.endswith(suffix):  # what every choice shares (`...Dest`) says nothing of which is meant
        stems = {k.removesuffix(suffix): k for k in candidates}
        matched = difflib.get_close_matches(name.removesuffix(suffix), list(stems), n=1, cutoff=0.6)
        return stems[matched[0]] if matched else None
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:  # `Recipents`: compare folded too, so case does not decide
        by_folded = {_folded(k): k for k in candidates}
        close = [by_folded[m] for m in difflib.get_close_matches(_folded(name), list(by_folded), n=1, cutoff=0.6)]
    if not close and len(name) >= 5:  # a part of a longer name: `presets` for dynamic_filter_presets
        close = [k for k in candidates if _folded(name) in _folded(k)][:1]
    return close[0] if close else None


def _common_suffix(names: Sequence[str]) -> str:
    shortest = min(names, key=len)
    size = next((n for n in range(len(shortest), 0, -1) if all(k.endswith(shortest[-n:]) for k in names)), 0)
    return shortest[-size:] if size else ""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`; did you mean `x`?` for the nearest known name, or nothing."""
    guess = nearest(name, known)
    return f"; did you mean `{guess}`?" if guess is not None and guess != name else ""


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
_UNION_MEMBERS = frozenset(DEST_MODELS) | {"int", "str", "bool", "float", "list", "dict", "none"}
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


@dataclass(frozen=True)
class _Words:
    """How a kind of file names its keys, and how far pydantic's own messages are rewritten."""

    root: type[BaseModel]
    noun: str  # "field" in a schedule, "key" in the config file
    plain: bool  # every common error in the tool's words (the config), or only unknown/missing ones


_SCHEDULE = _Words(DataScheduleSpec, "field", plain=False)


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
        hint = did_you_mean(tag, DEST_MODELS)
        return [*path, "type"], f"unknown dest type {tag!r}; one of: {', '.join(DEST_MODELS)}{hint}"
    if kind == "union_tag_not_found":
        return path, f"missing `type`; one of: {', '.join(DEST_MODELS)}"
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
    exc: ValidationError,
    explain: Callable[[dict[str, Any], ErrorDetails], tuple[list[str], str]],
) -> list[Problem]:
    """One Problem per field path, at the line of that field or of its nearest written parent,
    with its messages joined."""
    by_path: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
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
    file: str, key: str, line: int, data: dict[str, Any], lines: Mapping[str, int], exc: ValidationError
) -> list[Problem]:
    """The entry `key` (at `line`, its fields at `lines`) failed validation."""
    return _problems(file, key, line, data, lines, exc, lambda d, e: _explained(d, e, _SCHEDULE))


def config_problems(
    file: str, root: type[BaseModel], data: dict[str, Any], lines: Mapping[str, int], exc: ValidationError
) -> list[Problem]:
    """The config file (read as `data`, its keys at `lines`) failed validation as the model `root`:
    every error in the tool's words, each at its key's line."""
    words = _Words(root, "key", plain=True)
    return _problems(file, "", 1, data, lines, exc, lambda d, e: _explained(d, e, words))
