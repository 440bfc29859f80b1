"""Problems with the user's files, each at its file and line, and the one error that carries them.

Every check (YAML, the schedule model, scope, the workspace) reports a `Problem` rather than
stopping at the first, so that `validate` lists every error at once and no command starts from
bad input. pydantic's errors are translated here into the same form: the YAML's dotted key path,
a plain message, and the line the field was written on.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from reconciler.errors import UserError
from reconciler.models import DEST_MODELS, nearest_line

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


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return escape_controls(f"{self.file}:{self.line}: {self.path}: {self.message}")


class InvalidSchedules(UserError):
    """The files have problems; nothing may be planned or applied from them."""

    def __init__(self, problems: Iterable[Problem], what: str = "in the schedules") -> None:
        self.problems = sorted(problems)
        super().__init__(f"{len(self.problems)} problem(s) {what}; nothing was sent")
        for line in self.details():  # so that a traceback, too, shows every problem and not just the count
            self.add_note(line)

    def details(self) -> list[str]:
        return [str(p) for p in self.problems]


_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "missing required field",
}
# what pydantic adds to a location for each member of a union it tried; not a field of the YAML
_UNION_MEMBERS = frozenset(DEST_MODELS) | {"int", "str", "bool", "float", "list", "dict", "none"}


def validation_problems(
    file: str, key: str, line: int, data: dict[str, Any], lines: Mapping[str, int], exc: ValidationError
) -> list[Problem]:
    """The entry `key` (at `line`, its fields at `lines`) failed validation: one Problem per field
    path, at the line of that field or of its nearest written parent, with its messages joined."""
    by_path: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        path, message = _explained(data, error)
        messages = by_path.setdefault(".".join(path), [])
        if message not in messages:
            messages.append(message)
    return [
        Problem(file, nearest_line(lines, dotted, line), f"{key}.{dotted}" if dotted else key, "; ".join(messages))
        for dotted, messages in by_path.items()
    ]


def _explained(data: dict[str, Any], error: ErrorDetails) -> tuple[list[str], str]:
    """The field path a pydantic error is about, and what to tell the user."""
    path = _data_path(data, error["loc"])
    if error["type"] == "union_tag_invalid":
        tag = (error.get("ctx") or {}).get("tag")
        return [*path, "type"], f"unknown dest type {tag!r}; one of: {', '.join(DEST_MODELS)}"
    if error["type"] == "union_tag_not_found":
        return path, f"missing `type`; one of: {', '.join(DEST_MODELS)}"
    return path, _MESSAGES.get(error["type"], error["msg"].removeprefix("Value error, "))


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
