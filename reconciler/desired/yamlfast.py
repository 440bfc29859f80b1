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

# what yaml-rs reads otherwise than the full reader: an anchor (`&`), a tag (`!`), a merge key (`<<`), a
# line break other than \n (\r alone, NEL, U+2028, U+2029: the full reader counts its lines by them too)
_NOT_PLAIN_CHARACTERS = ("&", "!", "<<", "\x85", "\u2028", "\u2029")
_LONE_CR = re.compile(r"\r(?!\n)")
# and numbers: `1_000`, `_1` and `0X1F` are numbers to yaml-rs, text to the core schema (which has only
# 0o and 0x); a word around a digit beside `_`, or around 0b, 0O, 0X, is asked of yaml-rs itself when it
# could be a number at all (`dashboard_0` could not: most such words are names)
_NUMBER_HINT = re.compile(r"_(?:(?<=[0-9]_)|(?=[0-9]))|0[bBOX]")
_WORD_END = re.compile(r"[\w.+-]*")
_NUMBER_SHAPED = re.compile(r"[-+]?[0-9a-fA-FxXoObB_.+-]+")
_TOP_LINE = re.compile(r"^[^ \n][^\n]*", re.MULTILINE)
_TOP_KEY = re.compile(r"([A-Za-z0-9_-]+)[ \t]*:(?:[ \t]+#.*)?[ \t]*$")
_FIRST_CONTENT = re.compile(r"^( +)[^ \n\r#]", re.MULTILINE)
_ENTRY_KEY = re.compile(r"([A-Za-z0-9][A-Za-z0-9_.-]*)[ \t]*:(?:[ \t]|$)")
_SCALARS = (str, int, bool, type(None))


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
    lines = _key_lines(text, [kind for kind, _ in maps]) if maps is not None else None
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
    if any(c in text for c in _NOT_PLAIN_CHARACTERS) or _LONE_CR.search(text):
        return False
    return _numbers_read_alike(text)


def _numbers_read_alike(text: str) -> bool:
    """Whether every word that hints at a number yaml-rs and the core schema read otherwise is text to
    both (as if written plain: one in quotes is only asked needlessly)."""
    asked: set[str] = set()
    end = -1
    for hint in _NUMBER_HINT.finditer(text):
        if hint.start() < end:
            continue  # the same word
        start = hint.start()
        while start and (text[start - 1].isalnum() or text[start - 1] in "_.+-"):
            start -= 1
        word_end = _WORD_END.match(text, hint.start())
        end = word_end.end() if word_end is not None else hint.end()
        word = text[start:end]
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
        document = yaml_rs.loads(text, parse_datetime=False, duplicate_key_policy=yaml_rs.DuplicateKeyPolicy.Error)
    except Exception:  # yaml-rs's own error, or what its parts raise: either way the full reader says why
        return None
    if not isinstance(document, dict) or not all(type(k) is str for k in document):
        return None
    maps: list[tuple[str, dict[str, Any]]] = []
    for key, value in document.items():
        if key in KIND_KEYS and isinstance(value, dict):
            maps.append((key, value))
        elif not key.startswith("x-"):
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
            elif kind is float:
                if not math.isfinite(item):
                    return False
            elif kind not in _SCALARS:
                return False
        level = below
    return True


def _plain_keys(mapping: dict[Any, Any]) -> bool:
    try:
        return "." not in "".join(mapping)
    except TypeError:  # a key that is not text
        return False


def _key_lines(text: str, kinds: list[str]) -> list[dict[str, int]] | None:
    """The line of each entry's key, per map of entries in `kinds` order, from the lines alone: a map
    is a top-level `schedules:` or `alerts:` line followed by its entries, each key alone at the first
    entry's indentation, nothing less indented. None where the text is laid out otherwise."""
    found: list[dict[str, int]] = []
    tops = list(_TOP_LINE.finditer(text))
    for i, top in enumerate(tops):
        line = top.group().removesuffix("\r")
        if not line or line.startswith("#"):
            continue
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
    return found if len(found) == len(kinds) else None


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
