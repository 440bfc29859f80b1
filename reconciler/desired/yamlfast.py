"""A schedule file read at compiled speed when it is plain, with the line of each field read later.

Why: a plan of 10,000 cold schedules spent most of its CPU composing libyaml's nodes and building data
from them in Python, node by node (about 0.45 s per 1,000 entries), to know the line of every field,
which a plan shows only for a problem or an ignored difference (issue 22). yaml-rs builds the data in
Rust, about 20 times faster, without lines.

It reads a file only where it gives exactly what the full reader (`yamlentries`) gives, and says so by
returning None otherwise, for the full reader to read it:

- nothing that YAML 1.2 readers differ on, or that only the full reader handles: no anchor (`&`: no
  alias without one) or merge key (`<<`), no explicit tag (`!`), no line break but \\n and \\r\\n, and
  no number written with `_` or as `0b`, `0O`, `0X` (yaml-rs reads them as numbers, the core schema
  as text);
- data of JSON's types only (a date, a time, `.inf` or a key that is not text is the full reader's),
  within its depth and size budgets;
- every entry's key found by a plain scan of the lines, where the data says it is;
- and every entry valid (the caller's check): the full reader reports every problem, at its line.

Each entry's key line is known at once; the lines of its fields are `LinesLater`, read by the full
reader from the same text the first time one is asked for (`FileLines`).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from typing import Any

import yaml_rs

from reconciler.desired.yamlentries import BOM, KIND_KEYS, Entry, Unreadable, decode, parse
from reconciler.desired.yamlnodes import MAX_DEPTH, MAX_NODES_PER_ENTRY
from reconciler.kinds.entries import LineMap, LinesLater

# What yaml-rs reads otherwise than the full reader (found by the differential tests and a hostile run):
# - an anchor (`&`), a tag (`!`), a merge key (`<<`), a line break other than \n and \r\n (the full
#   reader counts its lines by them too), and any character YAML does not allow, a tab included (yaml-rs
#   takes control characters and tabs where libyaml refuses them);
_NOT_PLAIN_CHARACTERS = ("&", "!", "<<", "\u2028", "\u2029")
_ASCII_YAML = bytes(range(0x20, 0x7F)) + b"\n\r"
_NOT_YAML_OR_TAB = re.compile("[^\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LONE_CR = re.compile(r"\r(?!\n)")
# - a surrogate pair written as two escapes (yaml-rs joins them, libyaml refuses each);
_SURROGATE_ESCAPE = re.compile(r"\\(?:u[dD][89abAB]|U0000[dD][89abAB])")
# - a scalar starting with `?`, `:`, `|` or `>` where yaml-rs takes it as text and libyaml as an indicator
#   or an error (`[?a]`, `{name: |a}`, `[|]`): such text, key or value, is left to the full reader
#   (`_plain`; a lone indicator in a flow is found in the text, a quoted `"|"` being a common separator);
#   and a key ending at a flow indicator (`{name:}`, `[a:]`);
_INDICATOR_START = ("?", ":", "|", ">")
_FLOW_KEY_END = re.compile(r":[\]},]")
# - a flow collection over several lines (a key wrapped, or its `:` on the next line, an indicator before
#   the line break: yaml-rs reads what libyaml refuses), and `:?` in a flow scalar (`a:?b`);
_OPEN_AT_LINE_END = re.compile(r"[\[{][^\]}\n]*$", re.MULTILINE)
_FLOW_LONE_INDICATOR = re.compile(r"[\[{,:] *[?:|>] *[\]},]")
# - nesting deep enough to overflow yaml-rs's stack (about 11,000 levels: each level takes at least one
#   character of a line's leading spaces and indicators, so a short run bounds it far below that);
_DEEP_LINE = (re.compile(r"[ ?:-]{200}"), re.compile(r"\n[ ?:-]{200}"))  # the first line; any other
# - numbers: `1_000`, `_1`, `0xab_cd`, `0X1F` and `+0x1F` are numbers to yaml-rs, text to the core schema (which has
#   0o and 0x, unsigned, only); a word around such a hint is asked of yaml-rs itself when it could be a
#   number at all (`dashboard_0` could not: most such words are names). Each hint starts with a literal:
#   searched apart, they cost a twentieth of one alternation.
_NUMBER_HINTS = (
    re.compile(r"_[0-9a-fA-FxXoObB_.+-]*(?!\w)"),  # `_` with only what a number has after it, to the word's end
    re.compile(r"0[bBOX]"),
    re.compile(r"0[xo](?<=[-+]0[xo])"),
)
_WORD_END = re.compile(r"[\w.+-]*")
_NUMBER_SHAPED = re.compile(r"[-+]?[0-9a-fA-FxXoObB_.+-]+")
# - a block scalar at the very end of the text (yaml-rs keeps a line break libyaml does not): the text
#   must end with a line break, and yaml-rs reads it with this key after it, so none is at the end.
_LAST = "x-holistics-schedules-end-of-file"
_TOP_LINE = re.compile(r"^[^ \n][^\n]*", re.MULTILINE)
_TOP_KEY = re.compile(r"([A-Za-z0-9_-]+)[ \t]*:(?:[ \t]+#.*)?[ \t]*$")
_FIRST_CONTENT = re.compile(r"^( +)[^ \n\r#]", re.MULTILINE)
_ENTRY_KEY = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]*)[ \t]*:(?:[ \t]|$)")
_SCALARS = (bool, type(None))  # besides text and numbers, checked on their own
_INT_BITS = 4_000 * 3  # about 3,600 digits: well within Python's limit on converting text to int


class FileLines:
    """The line of every field of a file's entries, read by the full reader from the file's text the
    first time one is asked for, and kept (it is shared by the file's entries, pickled with them)."""

    __slots__ = ("_read", "name", "text")

    def __init__(self, name: str, text: str | bytes) -> None:
        self.name, self.text = name, text  # bytes as a cached file's: decoded only if a line is asked for
        self._read: dict[tuple[str, str], Mapping[str, int]] | None = None

    def lines_of(self, kind: str, key: str) -> Mapping[str, int]:
        if self._read is None:
            try:
                text = self.text if isinstance(self.text, str) else decode(self.name, self.text)
                entries = parse(self.name, text).entries
            except Unreadable:  # not for a text read as entries once; no line is then no worse than any
                entries = []
            self._read = {(e.kind, e.key): LineMap(e.lines) for e in entries if e.key is not None}
        return self._read.get((kind, key), LineMap({}))

    def __getstate__(self) -> tuple[str, str | bytes]:
        return self.name, self.text

    def __setstate__(self, state: tuple[str, str | bytes]) -> None:
        self.name, self.text = state
        self._read = None


def entries(name: str, text: str) -> list[Entry] | None:
    """The file's entries, each with its data, key line and `LinesLater`; None when the full reader
    must read it (see the module's docstring). A file of no document is None too: rare and cheap."""
    text = text.removeprefix(BOM)
    maps = _maps(text) if _admitted(text) else None
    lines = _key_lines(text) if maps is not None else None
    # the same maps, keys and order as the data: a scan that found anything else is not trusted
    if maps is None or lines is None or [list(m) for _, m in maps] != [list(found) for found in lines]:
        return None
    source = FileLines(name, text)
    found = []
    for (kind, entries_map), key_lines in zip(maps, lines, strict=True):
        for key, data in entries_map.items():
            if not (isinstance(data, dict) and _plain(data)):
                return None
            found.append(Entry(key, None, None, key_lines[key], data, LinesLater(source, kind, key), kind=kind))
    return found


def _admitted(text: str) -> bool:
    if not text.endswith("\n") or any(c in text for c in _NOT_PLAIN_CHARACTERS) or not _yaml_characters(text):
        return False
    if ":?" in text or _DEEP_LINE[0].match(text):
        return False
    if any(p.search(text) for p in (_SURROGATE_ESCAPE, _DEEP_LINE[1], _FLOW_KEY_END, _OPEN_AT_LINE_END)):
        return False
    if any(c in text for c in "?|>") and _FLOW_LONE_INDICATOR.search(text):
        return False
    return _numbers_read_alike(text)


def _yaml_characters(text: str) -> bool:
    """Only characters YAML allows, no tab, no \r but before \n (ASCII checked at C speed)."""
    if text.isascii():
        if text.encode("ascii").translate(None, _ASCII_YAML):
            return False
    elif _NOT_YAML_OR_TAB.search(text):
        return False
    return "\r" not in text or not _LONE_CR.search(text)


def _numbers_read_alike(text: str) -> bool:
    """Whether every word that hints at a number yaml-rs and the core schema read otherwise is text to
    both (as if written plain: one in quotes is only asked needlessly)."""
    asked: set[str] = set()
    for hint in sorted(m.start() for pattern in _NUMBER_HINTS for m in pattern.finditer(text)):
        start = hint
        while start and (text[start - 1].isalnum() or text[start - 1] in "_.+-"):
            start -= 1
        word_end = _WORD_END.match(text, hint)
        word = text[start : word_end.end() if word_end is not None else hint + 1]
        if word not in asked and _NUMBER_SHAPED.fullmatch(word):
            asked.add(word)
            if not _text_to_yaml_rs(word):
                return False
    return True


@functools.lru_cache(maxsize=4096)
def _text_to_yaml_rs(word: str) -> bool:
    try:
        return yaml_rs.loads(f"a: {word}\n", parse_datetime=False) == {"a": word}
    except Exception:  # not even a plain scalar to it: not for the fast reader
        return False


def _maps(text: str) -> list[tuple[str, dict[str, Any]]] | None:
    """The maps of entries (`schedules:`, `alerts:`) in the order written; None where the file is not
    a mapping of those and `x-` keys alone, or does not read (the full reader says why)."""
    try:
        document = yaml_rs.loads(
            f"{text}{_LAST}: 0\n", parse_datetime=False, duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error
        )
    except Exception:  # yaml-rs's own error, or what its parts raise: either way the full reader says why
        return None
    if not isinstance(document, dict) or not all(type(k) is str for k in document) or document.pop(_LAST, None) != 0:
        return None
    maps: list[tuple[str, dict[str, Any]]] = []
    for key, value in document.items():
        if key in KIND_KEYS and isinstance(value, dict):
            maps.append((key, value))
        elif not key.startswith("x-") or not _plain({"": value}):  # an `x-` holds what an entry may refer to
            return None
    return maps


def _plain(data: dict[str, Any]) -> bool:
    """JSON's types only (keys text, numbers finite), within the full reader's depth and size budgets
    (its depth counts the dots of a field path: a dotted key is left to it). Walked a level at a time."""
    level: list[Any] = [data]
    depth = count = 0
    while level:
        depth += 1
        count += len(level)
        if depth > MAX_DEPTH or count > MAX_NODES_PER_ENTRY:
            return False
        below: list[Any] = []
        for item in level:
            kind = type(item)
            if kind is dict:
                if not _plain_keys(item):
                    return False
                below += item.values()
            elif kind is list:
                below += item
            elif not _plain_scalar(item, kind):
                return False
        level = below
    return True


def _plain_scalar(item: Any, kind: type) -> bool:
    if kind is str:  # `?a` or `|a`: an indicator to libyaml (a lone `|` is found in the text: `_FLOW_LONE_INDICATOR`)
        return len(item) < 2 or not item.startswith(_INDICATOR_START)
    if kind is float:
        return math.isfinite(item)
    if kind is int:  # the full reader's int() refuses over 4,300 digits (Python's limit); JSON writes none
        return int(item).bit_length() <= _INT_BITS
    return kind in _SCALARS


def _plain_keys(mapping: dict[Any, Any]) -> bool:
    try:
        keys = "\n" + "\n".join(mapping)
    except TypeError:  # a key that is not text
        return False
    return "." not in keys and not any(f"\n{start}" in keys for start in _INDICATOR_START)


def _key_lines(text: str) -> list[dict[str, int]] | None:
    """The line of each entry's key, per map of entries in the order written, from the lines alone: a map
    is a top-level `schedules:` or `alerts:` line followed by its entries, each key alone at the first
    entry's indentation, nothing less indented. None where the text is laid out otherwise."""
    found: list[dict[str, int]] = []
    tops = [top for top in _TOP_LINE.finditer(text) if not top.group().startswith(("#", "\r"))]
    if tops and tops[0].group().rstrip("\r ") == "---":
        tops.pop(0)  # the document's start, said
    for i, top in enumerate(tops):
        line = top.group().removesuffix("\r")
        key = _TOP_KEY.match(line)
        if key is None:
            if line.startswith("x-"):
                continue
            return None
        if key.group(1) in KIND_KEYS:
            end = tops[i + 1].start() if i + 1 < len(tops) else len(text)
            entries = _entry_lines(text, top.end(), end)
            if entries is None:
                return None
            found.append(entries)
    return found


def _entry_lines(text: str, start: int, end: int) -> dict[str, int] | None:
    """The line of each entry key between `start` and `end`: the lines at the first one's indentation."""
    first = _FIRST_CONTENT.search(text, start, end)
    if first is None:
        return {}
    indent = len(first.group(1))
    lines: dict[str, int] = {}
    number, counted = text.count("\n", 0, start) + 1, start
    for match in _at_most(indent).finditer(text, start, end):
        content = match.group(2).removesuffix("\r")
        if not content or content.startswith("#"):
            continue
        entry = _ENTRY_KEY.match(content)
        if len(match.group(1)) != indent or entry is None or entry.group(1) in lines:
            return None
        number += text.count("\n", counted, match.start())
        counted = match.start()
        lines[entry.group(1)] = number
    return lines


@functools.cache
def _at_most(indent: int) -> re.Pattern[str]:
    """The lines indented by `indent` spaces or fewer (and their text)."""
    return re.compile(rf"^( {{0,{indent}}})([^ \n][^\n]*)", re.MULTILINE)
