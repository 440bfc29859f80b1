"""The terminal edge: every line the CLI prints goes through these consoles, which show control
characters as visible escapes. Text from the network (titles, messages) and from files (keys,
values) could otherwise carry escape sequences that recolour, retitle or rewrite the terminal, or
bidi overrides that make a plan read other than it is.

It is also the last line of defence against GitHub workflow commands: server text is made inert
where it enters (`reconciler.problems.inert`), and should a future call site forget, no line printed
here starts with `::` (after the whitespace the runner trims) or holds the runner's older `##[` form
anywhere. The tool's own annotations (`Problem.github`) are the only workflow commands it prints,
and they are written with `click.echo`, never through these consoles.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich takes ~30 ms to import; `plan --json` prints without it
    from rich.console import Console
    from rich.text import Text

# C0 controls but tab and newline, DEL and C1 (\x9b alone starts an escape sequence), line and
# paragraph separators, and the bidi marks, embeddings, overrides and isolates
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# where a runner would find a workflow command: `::` opening a line (`TryParseV2` trims leading
# whitespace first), `##[` anywhere in one (the older `TryParse` looks for it with IndexOf)
_COMMAND = re.compile(r"(?m)^[^\S\n]*(:):|#(#)\[")


def _escape(char: str) -> str:
    return f"\\u{ord(char):04x}"


def printable(text: str) -> str:
    """`text` with each unprintable character as a `\\uXXXX` escape (valid inside a JSON string too),
    no line a GitHub runner would read as a workflow command (see `_COMMAND`), and no value taken from
    the environment (`redact.without_hidden_values`)."""
    return _no_commands(_controls_escaped(without_hidden_values(text)))


def _controls_escaped(text: str) -> str:
    return _UNPRINTABLE.sub(lambda m: _escape(m.group()), text)


def _command_chars(text: str) -> list[int]:
    """The offsets of the characters to escape so that no workflow command starts in `text`."""
    if "::" not in text and "##[" not in text:  # what each alternative needs: most text has neither,
        return []  # and the regex tries every position of a 1.5 MB plan (issue 22)
    return [m.start(1) if m.group(1) else m.start(2) for m in _COMMAND.finditer(text)]


def _no_commands(text: str) -> str:
    for at in reversed(_command_chars(text)):
        text = text[:at] + _escape(text[at]) + text[at + 1 :]
    return text


def _printable_text(text: Text) -> Text:
    """A rich Text made printable span by span, so its styles stay where they were; then a second
    pass over the whole, since a line's `::` may come from two appends."""
    if _UNPRINTABLE.search(text.plain):
        text = _rewritten(text, [], lambda part, _: _controls_escaped(part))
    commands = set(_command_chars(text.plain))
    if not commands:
        return text
    cuts = sorted({*commands, *(at + 1 for at in commands)})
    return _rewritten(text, cuts, lambda part, start: _escape(part) if start in commands else part)


def without_hidden_values(text: str) -> str:
    """`text` less the values taken from the environment (`redact.without_hidden_values`). Such values
    are registered only by that module, so when it was never imported (`validate`, `schema`: no
    request, no value resolved) there is nothing to hide, and the client (requests: 150 ms) is not
    imported for nothing."""
    redact = sys.modules.get("reconciler.remote.client.redact")
    return text if redact is None else str(redact.without_hidden_values(text))


def _hidden_out(text: Text) -> Text:
    """A rich Text without the values from the environment: unchanged when it holds none (its styles
    kept); else as plain text, a last defence that need not keep colour."""
    plain = without_hidden_values(text.plain)
    if plain == text.plain:
        return text
    from rich.text import Text

    return Text(plain, end=text.end)


def _rewritten(text: Text, cuts: list[int], rewrite: Callable[[str, int], str]) -> Text:
    """`text` cut at `cuts` and at every span's ends, each part's text rewritten (given its offset)
    and given the styles of the spans it lay in."""
    from rich.text import Span, Text

    ends = {0, len(text.plain), *cuts, *(s.start for s in text.spans), *(s.end for s in text.spans)}
    out = Text(style=text.style, end=text.end, justify=text.justify, no_wrap=text.no_wrap)
    offset = 0
    for part in text.divide(sorted(ends)[1:-1]):
        clean = rewrite(part.plain, offset)
        offset += len(part.plain)
        out.append_text(Text(clean, spans=[Span(0, len(clean), s.style) for s in part.spans]))
    return out


@cache
def _safe_console_class() -> type[Console]:
    from rich.console import Console
    from rich.text import Text

    class SafeConsole(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            cleaned = [
                printable(o) if isinstance(o, str) else _printable_text(_hidden_out(o)) if isinstance(o, Text) else o
                for o in objects
            ]
            super().print(*cleaned, **kwargs)

    return SafeConsole


def _console(stderr: bool) -> Console:
    # NO_COLOR: no escape codes at all (rich alone would still emit bold and dim)
    plain = bool(os.environ.get("NO_COLOR"))  # no-color.org: set and not empty
    # emoji=False: ":100:" in a quoted value is text, not an emoji
    return _safe_console_class()(
        stderr=stderr, highlight=False, soft_wrap=True, emoji=False, color_system=None if plain else "auto"
    )


def stdout() -> Console:
    return _console(stderr=False)


def stderr() -> Console:
    return _console(stderr=True)


def print_error(message: str) -> None:
    """`Error: message` on stderr, the form every failing command ends with."""
    from rich.text import Text  # rich is imported where something is printed with it, not by `plan --json`

    stderr().print(Text.assemble(("Error: ", "red"), message))
