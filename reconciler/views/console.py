"""The terminal edge: every line the CLI prints goes through these consoles, which show control
characters as visible escapes. Text from the network (titles, messages) and from files (keys,
values) could otherwise carry escape sequences that recolour, retitle or rewrite the terminal, or
bidi overrides that make a plan read other than it is.
"""

from __future__ import annotations

import os
import re
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # rich takes ~30 ms to import; `plan --json` prints without it
    from rich.console import Console
    from rich.text import Text

# C0 controls but tab and newline, DEL and C1 (\x9b alone starts an escape sequence), line and
# paragraph separators, and the bidi marks, embeddings, overrides and isolates
_UNPRINTABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` with each unprintable character as a `\\uXXXX` escape (valid inside a JSON string too)."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _printable_text(text: Text) -> Text:
    """A rich Text made printable span by span, so its styles stay where they were."""
    from rich.text import Span, Text

    if not _UNPRINTABLE.search(text.plain):
        return text
    cuts = sorted({0, len(text.plain), *(s.start for s in text.spans), *(s.end for s in text.spans)})
    out = Text(style=text.style, end=text.end, justify=text.justify, no_wrap=text.no_wrap)
    for part in text.divide(cuts[1:-1]):
        clean = printable(part.plain)
        out.append_text(Text(clean, spans=[Span(0, len(clean), s.style) for s in part.spans]))
    return out


@cache
def _safe_console_class() -> type[Console]:
    from rich.console import Console
    from rich.text import Text

    class SafeConsole(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            cleaned = [
                printable(o) if isinstance(o, str) else _printable_text(o) if isinstance(o, Text) else o
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
