"""YAML composed into nodes that know their lines, and nodes built into plain data.

libyaml's C parser composes the nodes (each with its line) once, with YAML 1.2's core schema as the
writer (ruamel) reads it; the data is built from them here, following aliases and merge keys within
a budget, and noting the line of every field path so that a problem names the line it was written on.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import yaml as yamllib  # PyYAML: libyaml's C parser, for reading fast with a line for every node
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_NODES_PER_ENTRY = 50_000
MAX_DEPTH = 32
COMPLEX_KEY = "a key must be a plain value, not a list or mapping"
TAG = "tag:yaml.org,2002:"
MERGE = TAG + "merge"
_CORE_TAGS = {TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")}


class _CoreResolver(yamllib.resolver.BaseResolver):
    """YAML 1.2's core schema, as ruamel reads it: `no`, `on` and `yes` stay strings (a country code
    NO is Norway, not false) and dates stay the text they were written as."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        # the base class also walks path resolvers, which this schema has none of: a hot path
        if kind is ScalarNode:
            return _plain_tag(value) if implicit[0] else TAG + "str"
        return TAG + ("seq" if kind is SequenceNode else "map")


@functools.lru_cache(maxsize=1 << 16)  # a plain scalar's tag depends on its text alone, and most texts repeat
def _plain_tag(value: str) -> str:
    for tag, pattern in _CoreResolver.yaml_implicit_resolvers.get(value[:1], ()):
        if pattern.match(value):
            return str(tag)
    return TAG + "str"


for _tag, _pattern, _first in [
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
]:
    _CoreResolver.add_implicit_resolver(TAG + _tag, re.compile(_pattern), list(_first))

if yamllib.__with_libyaml__:
    from yaml.cyaml import CParser  # type: ignore[attr-defined]

    class _Composer(CParser, _CoreResolver):
        pass

else:  # pragma: no cover - PyYAML wheels ship libyaml; a source build may not

    class _Composer(  # type: ignore[no-redef]
        yamllib.reader.Reader, yamllib.scanner.Scanner, yamllib.parser.Parser, yamllib.composer.Composer, _CoreResolver
    ):
        def __init__(self, stream: str) -> None:
            yamllib.reader.Reader.__init__(self, stream)
            yamllib.scanner.Scanner.__init__(self)
            yamllib.parser.Parser.__init__(self)
            yamllib.composer.Composer.__init__(self)
            _CoreResolver.__init__(self)


def compose(text: str) -> Node | None:
    composer = _Composer(text)
    try:
        node: Node | None = composer.get_single_node()
        return node
    finally:
        composer.dispose()


def node_line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class BadNode(Exception):
    """Something in an entry that YAML allows but a schedule cannot be; reported at its line."""

    def __init__(self, line: int, path: str, message: str) -> None:
        self.line, self.path, self.message = line, path, message


def pairs(mapping: MappingNode) -> Iterable[tuple[Node, Node, str | None, bool]]:
    """(key node, value node, key, seen before) for each pair; the key is None when it is not a
    plain scalar (YAML allows a list or mapping as a key; a schedule file never needs one)."""
    seen: set[str] = set()
    for key_node, value_node in mapping.value:
        if not isinstance(key_node, ScalarNode):
            yield key_node, value_node, None, False
            continue
        key = str(key_node.value)
        yield key_node, value_node, key, key in seen and key_node.tag != MERGE
        seen.add(key)


def foreign_tags(node: Node) -> Iterable[tuple[int, str]]:
    """Explicit tags other than YAML's core ones (`!!python/...`, `!custom`) are refused outright."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.tag not in _CORE_TAGS:
            yield node_line(current), f"YAML tag {current.tag!r} is not allowed"
        if isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                stack += [key_node, value_node]
        elif isinstance(current, SequenceNode):
            stack += current.value


MERGED_ID = "an id cannot come through a merge key (`<<`): an id names one schedule; write it in the entry itself"


class Builder:
    """Nodes to plain Python for one entry, noting the line of each field path. Aliases are followed,
    within a budget (an alias bomb is refused), and never into a node that contains itself.

    An entry's `id` belongs to that entry alone: where its mapping is used again (merged into another
    entry with `<<: *a`, or aliased), the `id` is left out, so recording one entry's id never gives it
    to another. An `id` that reaches an entry through a merge from anything else (a template under
    `x-`) is refused: every entry merging the template would claim it.
    """

    __slots__ = ("active", "entry_nodes", "lines", "root")

    def __init__(self, entry_nodes: frozenset[int], root: Node | None, lines: dict[str, int]) -> None:
        self.entry_nodes, self.root, self.lines = entry_nodes, root, lines
        self.active: set[int] = set()

    def entry_data(self, key: str, node: Node, line: int, noun: str = "schedule") -> dict[str, Any]:
        """The entry's fields as plain data (and `self.lines`: the line of each dotted field path)."""
        try:
            data = self.plain(node, "", line)
        except BadNode as bad:
            raise BadNode(bad.line, f"{key}.{bad.path}" if bad.path else key, bad.message) from None
        if not isinstance(data, dict):
            raise BadNode(line, key, f"must be a mapping of {noun} fields")
        return data

    def plain(self, node: Node, path: str, line: int) -> Any:
        lines = self.lines
        if len(lines) > MAX_NODES_PER_ENTRY or path.count(".") > MAX_DEPTH:
            raise BadNode(0, "", "too large or too deeply nested (do aliases expand too far?)")  # 0: the entry's line
        if id(node) in self.active:
            raise BadNode(node_line(node), path, "refers to itself through an alias")
        if path:
            lines[path] = line
        if isinstance(node, ScalarNode):
            return _scalar(node, path, line)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.plain(item, f"{path}.{i}", node_line(item)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self.mapping(node, path, line)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: MappingNode, path: str, line: int) -> dict[str, Any]:
        out = self.merged(node, path, line)
        lent = node is not self.root and id(node) in self.entry_nodes  # another entry, used here
        for key_node, value_node, key, duplicate in pairs(node):
            if key is None:
                raise BadNode(node_line(key_node), path, COMPLEX_KEY)
            if key_node.tag == MERGE or (lent and key == "id"):
                continue
            child = f"{path}.{key}" if path else key
            if duplicate:
                raise BadNode(node_line(key_node), child, "duplicate key in this mapping")
            out[key] = self.plain(value_node, child, node_line(key_node))
        if lent:
            out.pop("id", None)  # also one it merged in itself
        return out

    def merged(self, node: MappingNode, path: str, line: int) -> dict[str, Any]:
        """What the mapping's merge keys (<<) bring in: the first mapping a merge lists wins, and (in
        `mapping`) the entry's own keys win over all of them."""
        out: dict[str, Any] = {}
        for merge_key, merge in ((k, v) for k, v in node.value if k.tag == MERGE):
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in reversed(sources):
                merged = self.plain(source, path, line)
                if not isinstance(merged, dict):
                    raise BadNode(node_line(merge), path, "a merge key (<<) takes a mapping or a list of mappings")
                if node is self.root and "id" in merged:
                    raise BadNode(node_line(merge_key), "id", MERGED_ID)
                out.update(merged)
        return out


def _scalar(node: Node, path: str, line: int) -> Any:
    value = str(node.value)
    kind = str(node.tag).removeprefix(TAG)
    if kind == "null":
        return None
    if kind == "bool":
        return value.lower() == "true"
    if kind not in _NUMBERS:
        return value  # str, and a timestamp kept as the text it was written as
    try:
        number = _NUMBERS[kind](value)
    except ValueError as exc:
        raise BadNode(line, path, f"not a valid {kind}: {value[:40]!r} ({exc})") from None
    if isinstance(number, float) and not math.isfinite(number):
        # .nan, .inf, 1e400: valid YAML, but the API speaks JSON, which has none of them
        raise BadNode(line, path, f"not a finite number: {value[:40]!r} (the API's JSON has no NaN or infinity)")
    return number


def _int(value: str) -> int:
    if value.startswith(("0o", "0x")):
        return int(value[2:], 8 if value[1] == "o" else 16)
    return int(value)


def _float(value: str) -> float:
    special = value.lower().lstrip("+-")
    if special in (".inf", ".nan"):
        return float(("-" if value.startswith("-") else "") + special[1:])
    return float(value)


_NUMBERS: dict[str, Callable[[str], int | float]] = {"int": _int, "float": _float}
