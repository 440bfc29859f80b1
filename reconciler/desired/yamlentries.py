"""One schedule file's text as its entries: the model of the file that the reader and the id
write-back (`reconciler.desired.yamlwrite`) share, so that what is written is found where it was read.

A file holds a map of entries per kind (`schedules:`, `alerts:`, either or both); an entry says
which map it was written in.

Whatever is wrong with the file's top level or an entry is collected as `Problem`s rather than
stopping at the first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml as yamllib
from yaml.nodes import MappingNode, Node, ScalarNode

from reconciler.desired.yamlnodes import (
    COMPLEX_KEY,
    MERGE,
    TAG,
    BadNode,
    Builder,
    compose,
    foreign_tags,
    node_line,
    pairs,
)
from reconciler.problems import Problem, did_you_mean

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
BOM = "\ufeff"
KIND_KEYS = ("schedules", "alerts")  # the top-level maps of entries, one per kind (`Kind.yaml_key`)
NOUNS = {"schedules": "schedule", "alerts": "alert"}
SHAPE = "the file must be a mapping with a `schedules:` or `alerts:` key"


class Unreadable(Exception):
    """The file as a whole cannot be read as schedules; these problems say why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


@dataclass
class Entry:
    """One pair of `schedules:` or `alerts:` as read: its nodes (positions in the text, for the
    writer; None when read without them, `yamlfast`), its plain data when it reads as one, and
    otherwise its problems."""

    key: str | None  # None: not a plain scalar key
    key_node: Node | None
    value_node: Node | None
    line: int
    data: dict[str, Any] | None = None
    lines: Mapping[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    kind: str = "schedules"  # the map it was written in: a kind's YAML key


@dataclass
class ParsedFile:
    entries: list[Entry]
    problems: list[Problem]  # of the file's top level


def decode(name: str, raw: bytes) -> str:
    """The file's text exactly as stored (\\r\\n kept: the writer inserts into this same text)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Unreadable([Problem(name, 0, "-", f"cannot read file: not UTF-8 ({exc})")]) from None


def parse(name: str, text: str) -> ParsedFile:
    """The entries of one file's text, as the reader and the writer both see them.

    Positions are libyaml's (`node.start_mark.index`, a character index into `text` less a leading
    byte order mark): one model of lines and characters for reading, reporting and writing, whatever
    separates the lines (libyaml breaks lines at \\r, \\n, NEL, U+2028 and U+2029; Python's
    splitlines also at \\v, \\f and \\x1c-\\x1e, which YAML refuses as characters).
    """
    root = _document(name, text.removeprefix(BOM))
    if root is None:
        return ParsedFile([], [])
    maps, problems = _top_level(name, root)
    owners: dict[int, tuple[str | None, int]] = {}
    for _, entries_node in maps:
        for key_node, value, key, _ in pairs(entries_node):
            owners.setdefault(id(value), (key, node_line(key_node)))  # an alias's node is its anchor's: first wins
    entries = [
        _entry(name, k, v, key, duplicate, owners, kind)
        for kind, entries_node in maps
        for k, v, key, duplicate in pairs(entries_node)
    ]
    return ParsedFile(entries, problems)


def read_mapping(name: str, text: str, shape: str) -> tuple[dict[str, Any], dict[str, int]]:
    """A whole file of settings (the project config) as plain data, with the line of each dotted key
    path: read as schedule files are (libyaml's nodes, YAML 1.2's core schema, foreign tags refused,
    duplicate keys and alias bombs found), so its problems name their lines the same way. Raises
    Unreadable with the problems; an empty file is an empty mapping."""
    root = _document(name, text.removeprefix(BOM), shape)
    lines: dict[str, int] = {}
    if root is None:
        return {}, lines
    try:
        data = Builder(frozenset(), None, lines).plain(root, "", node_line(root))  # no entries: no ids to guard
    except BadNode as bad:
        raise Unreadable([Problem(name, bad.line or node_line(root), bad.path or "-", bad.message)]) from None
    if not isinstance(data, dict):  # a merge key at the top that brought in no mapping
        raise Unreadable([Problem(name, node_line(root), "-", shape)])
    return data, lines


def _document(name: str, text: str, shape: str = SHAPE) -> MappingNode | None:
    """The file's top-level mapping, or None when the file holds no document at all."""
    try:
        root = compose(text)
    except yamllib.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise Unreadable([Problem(name, line, "-", f"YAML syntax: {exc.problem or exc.context}")]) from None
    except yamllib.YAMLError as exc:
        raise Unreadable([Problem(name, getattr(exc, "line", -1) + 1, "-", f"YAML syntax: {exc}")]) from None
    if root is None:
        return None
    # every explicit tag (`!x`, `!!python/...`, `!<...>`, a %TAG handle) is written with a `!`: without
    # one in the text there is none to find, and the walk over every node is skipped
    tag_problems = [Problem(name, line, "-", msg) for line, msg in foreign_tags(root)] if "!" in text else []
    if tag_problems:
        raise Unreadable(tag_problems)
    if not isinstance(root, MappingNode):
        raise Unreadable([Problem(name, node_line(root), "-", shape)])
    return root


def _top_level(name: str, root: MappingNode) -> tuple[list[tuple[str, MappingNode]], list[Problem]]:
    """The maps of entries (`schedules:`, `alerts:`) in the order written, each with its kind (one
    absent, empty or not a mapping is left out), and the problems of the top level."""
    problems: list[Problem] = []
    maps: list[tuple[str, MappingNode]] = []
    for key_node, value_node, key, duplicate in pairs(root):
        if key in KIND_KEYS and not duplicate:
            if isinstance(value_node, MappingNode):
                maps.append((key, value_node))
            elif not (isinstance(value_node, ScalarNode) and value_node.tag == TAG + "null"):
                problems.append(Problem(name, node_line(value_node), key, "must be a mapping"))
        elif problem := _top_level_key_problem(name, key_node, key, duplicate):
            problems.append(problem)
    return maps, problems


def _top_level_key_problem(name: str, key_node: Node, key: str | None, duplicate: bool) -> Problem | None:
    if key is None:
        return Problem(name, node_line(key_node), "-", COMPLEX_KEY)
    if duplicate:
        return Problem(name, node_line(key_node), key, "duplicate key in this mapping")
    if key.startswith("x-") or key_node.tag == MERGE:  # x-*: a home for anchors
        return None
    hint = did_you_mean(key, KIND_KEYS)
    message = f"unknown top-level key: `schedules`, `alerts` or `x-...` (for anchors){hint}"
    return Problem(name, node_line(key_node), key, message)


def _entry(
    name: str,
    key_node: Node,
    value_node: Node,
    key: str | None,
    duplicate: bool,
    owners: dict[int, tuple[str | None, int]],
    kind: str = "schedules",
) -> Entry:
    """One entry of `schedules:` or `alerts:` (`kind`) read into plain data, or its problems. `owners`:
    the entry that each entry's value node belongs to (by node identity), to recognise one entry
    aliasing another."""
    line = node_line(key_node)
    lines: dict[str, int] = {}
    entry = Entry(key, key_node, value_node, line, lines=lines, kind=kind)
    try:
        checked = _entry_key(key_node, key, duplicate, kind)
        _not_an_alias(key_node, value_node, owners, NOUNS[kind])
        builder = Builder(frozenset(owners), value_node, lines)
        entry.data = builder.entry_data(checked, value_node, line, NOUNS[kind])
    except BadNode as bad:
        entry.problems.append(Problem(name, bad.line or line, bad.path, bad.message))
    return entry


def _entry_key(key_node: Node, key: str | None, duplicate: bool, kind: str) -> str:
    line = node_line(key_node)
    if key is None:
        raise BadNode(line, kind, COMPLEX_KEY)
    if duplicate:
        raise BadNode(line, key, "duplicate key in this mapping")
    if key_node.tag != TAG + "str":  # 123, true or null as a key: YAML reads it as a number or bool
        raise BadNode(line, key, f"a key must be a string; quote it: '{key}':")
    if not KEY_PATTERN.match(key):
        raise BadNode(line, key, "a key is letters, digits, '_', '-' or '.', not starting with those")
    return key


def _not_an_alias(key_node: Node, value_node: Node, owners: dict[int, tuple[str | None, int]], noun: str) -> None:
    """An entry written as an alias (`b: *a`) is the very node of another: it cannot be given an id
    of its own (writing one would give it to both), so it is refused. A node written in place starts
    after its key; an alias's node starts where its anchor was written, before."""
    if value_node.start_mark.index > key_node.start_mark.index:
        return
    key = str(getattr(key_node, "value", ""))
    owner = owners.get(id(value_node))
    if owner is not None and owner[0] != key:
        raise BadNode(
            node_line(key_node),
            key,
            f"is an alias of the entry `{owner[0]}` (line {owner[1]}): two entries cannot be one {noun} "
            "with one id; merge it instead (`<<: *anchor`) and change what differs",
        )
    raise BadNode(
        node_line(key_node),
        key,
        "an entry cannot be an alias (`*name`): it needs an id of its own; merge the anchor instead "
        "(`key: {<<: *name}`)",
    )
