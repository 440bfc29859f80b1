"""Problems with the user's files, each at its file and line, and the one error that carries them.

Every check (YAML, the schedule model, scope, the workspace, the config file) reports a `Problem`
rather than stopping at the first, so that `validate` lists every error at once and no command
starts from bad input. A problem prints as text (`file:line: path: message`), as JSON, or as a
GitHub workflow command that annotates the line on the pull request. A base module: every layer
reports problems, so this one imports nothing of the tool but its errors (pydantic's errors are put
in these words by `reconciler.desired.validation_messages`).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from reconciler.errors import UserError

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


# what a GitHub runner reads as a workflow command: `::` opening a line, after the whitespace it
# trims, and the older `##[command]` form anywhere in a line (actions/runner `ActionCommand.TryParse`)
_COMMAND_START = re.compile(r"^(\s*)::")
_LEGACY_COMMAND = "##["


def inert(text: str) -> str:
    """Text from the network as any output may show it: on one line, every control, format or
    separator character as its escape (`escape_controls`), a leading `::` as `\\:\\:` and `##[` as
    `##\\[`, so that no title or message can become a GitHub workflow command (`::warning`,
    `::stop-commands::`, `::add-mask::`) wherever it lands. Display only: what is sent back to the
    server is the server's own text, never this."""
    one_line = escape_controls(text).replace(_LEGACY_COMMAND, "##\\[")
    return _COMMAND_START.sub(r"\1\\:\\:", one_line)


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


def checkout_root(start: Path) -> Path:
    """The checkout `start` is in (the nearest folder with `.git`), else `start` itself."""
    start = start.resolve()
    return next((p for p in (start, *start.parents) if (p / ".git").exists()), start)


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
        return inert(f"{self.file}:{self.line}: {self.path}: {self.message}")

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
    # the runner finds `##[command]` anywhere in a line, inside a JSON string too: `\u0023` is a `#` to JSON
    return json.dumps(report, indent=2).replace("##[", "#\\u0023[") + "\n"


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
