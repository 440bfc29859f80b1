"""Reading schedule files: every entry validated, with the line of every field it wrote.

libyaml's C parser composes the nodes (each with its line) once and the data is built from them
here, with YAML 1.2's core schema as the writer (ruamel) reads it. Whatever is wrong is collected
as `Problem`s across all files rather than stopping at the first; see `reconciler.diagnostics`.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml as yamllib  # PyYAML: libyaml's C parser, for reading fast with a line for every node
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.diagnostics import InvalidSchedules, Problem, validation_problems
from reconciler.models import DataScheduleSpec, DesiredSchedule

SCHEDULE_SUFFIXES = (".yml", ".yaml")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_NODES_PER_ENTRY = 50_000
MAX_DEPTH = 32
COMPLEX_KEY = "a key must be a plain value, not a list or mapping"
_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_CORE_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")}


def discover(paths: Iterable[Path]) -> list[Path]:
    """Every schedule file under `paths` (files given directly are taken whatever their suffix)."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*") if p.suffix in SCHEDULE_SUFFIXES and p.is_file())
        elif path.exists():
            found.add(path)
        else:
            raise InvalidSchedules([Problem(str(path), 0, "-", "no such file or directory")])
    return sorted(found)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Reading a large workspace makes hundreds of thousands of short-lived nodes, none in a cycle;
    the cyclic collector would rescan them all again and again (measured: 4x slower at 10,000)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load(paths: Iterable[Path]) -> list[DesiredSchedule]:
    """Read and validate every schedule file; raise InvalidSchedules listing all problems."""
    problems: list[Problem] = []
    schedules: list[DesiredSchedule] = []
    with gc_paused():
        for file in discover(paths):
            file_schedules, file_problems = _load_file(file)
            schedules += file_schedules
            problems += file_problems
    problems += _cross_file_problems(schedules)
    if problems:
        raise InvalidSchedules(problems)
    return schedules


# ---- composing: libyaml makes the nodes, with the core schema's tags ----


class _CoreResolver(yamllib.resolver.BaseResolver):
    """YAML 1.2's core schema, as ruamel reads it: `no`, `on` and `yes` stay strings (a country code
    NO is Norway, not false) and dates stay the text they were written as."""

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        # the base class also walks path resolvers, which this schema has none of: a hot path
        if kind is ScalarNode:
            if implicit[0]:
                for tag, pattern in self.yaml_implicit_resolvers.get(value[:1], ()):
                    if pattern.match(value):
                        return str(tag)
            return _TAG + "str"
        return _TAG + ("seq" if kind is SequenceNode else "map")


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
    _CoreResolver.add_implicit_resolver(_TAG + _tag, re.compile(_pattern), list(_first))

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


def _compose(text: str) -> Node | None:
    composer = _Composer(text)
    try:
        node: Node | None = composer.get_single_node()
        return node
    finally:
        composer.dispose()


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


# ---- one file: read, compose, the top-level keys, then each entry ----


class _Unusable(Exception):
    """The file as a whole cannot be read as schedules; these problems say why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems


class _BadNode(Exception):
    """Something in an entry that YAML allows but a schedule cannot be; reported at its line."""

    def __init__(self, line: int, path: str, message: str) -> None:
        self.line, self.path, self.message = line, path, message


def _load_file(file: Path) -> tuple[list[DesiredSchedule], list[Problem]]:
    name = str(file)
    try:
        root = _document(name, _read_text(name, file))
    except _Unusable as unusable:
        return [], unusable.problems
    if root is None:
        return [], []
    entries, problems = _top_level(name, root)
    if entries is None:
        return [], problems
    schedules: list[DesiredSchedule] = []
    for key_node, value_node, key, duplicate in _pairs(entries):
        entry = _entry(name, key_node, value_node, key, duplicate)
        if isinstance(entry, DesiredSchedule):
            schedules.append(entry)
        else:
            problems += entry
    return schedules, problems


def _read_text(name: str, file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Unusable([Problem(name, 0, "-", f"cannot read file: {exc}")]) from None


def _document(name: str, text: str) -> MappingNode | None:
    """The file's top-level mapping, or None when the file holds no document at all."""
    try:
        root = _compose(text)
    except yamllib.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise _Unusable([Problem(name, line, "-", f"YAML syntax: {exc.problem or exc.context}")]) from None
    except yamllib.YAMLError as exc:
        raise _Unusable([Problem(name, getattr(exc, "line", -1) + 1, "-", f"YAML syntax: {exc}")]) from None
    if root is None:
        return None
    tag_problems = [Problem(name, line, "-", msg) for line, msg in _foreign_tags(root)]
    if tag_problems:
        raise _Unusable(tag_problems)
    if not isinstance(root, MappingNode):
        raise _Unusable([Problem(name, _line(root), "-", "the file must be a mapping with a `schedules:` key")])
    return root


def _top_level(name: str, root: MappingNode) -> tuple[MappingNode | None, list[Problem]]:
    """The `schedules:` mapping (None when it is absent, empty or not a mapping), and the problems
    of the top level."""
    problems: list[Problem] = []
    entries: Node | None = None
    for key_node, value_node, key, duplicate in _pairs(root):
        if key == "schedules" and not duplicate:
            entries = value_node
        elif problem := _top_level_key_problem(name, key_node, key, duplicate):
            problems.append(problem)
    if entries is None or (isinstance(entries, ScalarNode) and entries.tag == _TAG + "null"):
        return None, problems
    if not isinstance(entries, MappingNode):
        return None, [*problems, Problem(name, _line(entries), "schedules", "must be a mapping")]
    return entries, problems


def _top_level_key_problem(name: str, key_node: Node, key: str | None, duplicate: bool) -> Problem | None:
    if key is None:
        return Problem(name, _line(key_node), "-", COMPLEX_KEY)
    if duplicate:
        return Problem(name, _line(key_node), key, "duplicate key in this mapping")
    if key.startswith("x-") or key_node.tag == _MERGE:  # x-*: a home for anchors
        return None
    return Problem(name, _line(key_node), key, "unknown top-level key: `schedules` or `x-...` (for anchors)")


def _entry(
    name: str, key_node: Node, value_node: Node, key: str | None, duplicate: bool
) -> DesiredSchedule | list[Problem]:
    """One entry of `schedules:` validated, or its problems."""
    line = _line(key_node)
    try:
        key = _entry_key(key_node, key, duplicate)
        data, lines = _entry_data(key, value_node, line)
    except _BadNode as bad:
        return [Problem(name, bad.line or line, bad.path, bad.message)]
    try:
        model = DataScheduleSpec.model_validate(data)
    except ValidationError as exc:
        return validation_problems(name, key, line, data, lines, exc)
    return DesiredSchedule(key, model.id, model.api_fields(), name, line, lines)


def _entry_key(key_node: Node, key: str | None, duplicate: bool) -> str:
    line = _line(key_node)
    if key is None:
        raise _BadNode(line, "schedules", COMPLEX_KEY)
    if duplicate:
        raise _BadNode(line, key, "duplicate key in this mapping")
    if key_node.tag != _TAG + "str":  # 123, true or null as a key: YAML reads it as a number or bool
        raise _BadNode(line, key, f"a key must be a string; quote it: '{key}':")
    if not KEY_PATTERN.match(key):
        raise _BadNode(line, key, "a key is letters, digits, '_', '-' or '.', not starting with those")
    return key


def _entry_data(key: str, node: Node, line: int) -> tuple[dict[str, Any], dict[str, int]]:
    """The entry's fields as plain data, and the line of each dotted field path."""
    lines: dict[str, int] = {}
    try:
        data = _plain(node, lines, "", line, set())
    except _BadNode as bad:
        raise _BadNode(bad.line, f"{key}.{bad.path}" if bad.path else key, bad.message) from None
    if not isinstance(data, dict):
        raise _BadNode(line, key, "must be a mapping of schedule fields")
    return data, lines


# ---- nodes to data ----


def _pairs(mapping: MappingNode) -> Iterable[tuple[Node, Node, str | None, bool]]:
    """(key node, value node, key, seen before) for each pair; the key is None when it is not a
    plain scalar (YAML allows a list or mapping as a key; a schedule file never needs one)."""
    seen: set[str] = set()
    for key_node, value_node in mapping.value:
        if not isinstance(key_node, ScalarNode):
            yield key_node, value_node, None, False
            continue
        key = str(key_node.value)
        yield key_node, value_node, key, key in seen and key_node.tag != _MERGE
        seen.add(key)


def _foreign_tags(node: Node) -> Iterable[tuple[int, str]]:
    """Explicit tags other than YAML's core ones (`!!python/...`, `!custom`) are refused outright."""
    seen: set[int] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if current.tag not in _CORE_TAGS:
            yield _line(current), f"YAML tag {current.tag!r} is not allowed"
        if isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                stack += [key_node, value_node]
        elif isinstance(current, SequenceNode):
            stack += current.value


def _plain(node: Node, lines: dict[str, int], path: str, line: int, active: set[int]) -> Any:
    """A node as plain Python, noting the line of each field path. Aliases are followed, within a
    budget (an alias bomb is refused), and never into a node that contains itself."""
    if len(lines) > MAX_NODES_PER_ENTRY or path.count(".") > MAX_DEPTH:
        raise _BadNode(0, "", "too large or too deeply nested (do aliases expand too far?)")  # 0: the entry's line
    if id(node) in active:
        raise _BadNode(_line(node), path, "refers to itself through an alias")
    if path:
        lines[path] = line
    if isinstance(node, ScalarNode):
        return _scalar(node, path, line)
    active.add(id(node))
    try:
        if isinstance(node, SequenceNode):
            return [_plain(item, lines, f"{path}.{i}", _line(item), active) for i, item in enumerate(node.value)]
        assert isinstance(node, MappingNode)
        return _mapping(node, lines, path, line, active)
    finally:
        active.discard(id(node))


def _mapping(node: MappingNode, lines: dict[str, int], path: str, line: int, active: set[int]) -> dict[str, Any]:
    out = _merged(node, lines, path, line, active)
    for key_node, value_node, key, duplicate in _pairs(node):
        if key is None:
            raise _BadNode(_line(key_node), path, COMPLEX_KEY)
        if key_node.tag == _MERGE:
            continue
        child = f"{path}.{key}" if path else key
        if duplicate:
            raise _BadNode(_line(key_node), child, "duplicate key in this mapping")
        out[key] = _plain(value_node, lines, child, _line(key_node), active)
    return out


def _merged(node: MappingNode, lines: dict[str, int], path: str, line: int, active: set[int]) -> dict[str, Any]:
    """What the mapping's merge keys (<<) bring in: the first mapping a merge lists wins, and (in
    `_mapping`) the entry's own keys win over all of them."""
    out: dict[str, Any] = {}
    for merge in (v for k, v in node.value if k.tag == _MERGE):
        sources = merge.value if isinstance(merge, SequenceNode) else [merge]
        for source in reversed(sources):
            merged = _plain(source, lines, path, line, active)
            if not isinstance(merged, dict):
                raise _BadNode(_line(merge), path, "a merge key (<<) takes a mapping or a list of mappings")
            out.update(merged)
    return out


def _scalar(node: Node, path: str, line: int) -> Any:
    value = str(node.value)
    kind = str(node.tag).removeprefix(_TAG)
    if kind == "null":
        return None
    if kind == "bool":
        return value.lower() == "true"
    if kind not in _NUMBERS:
        return value  # str, and a timestamp kept as the text it was written as
    try:
        return _NUMBERS[kind](value)
    except ValueError as exc:
        raise _BadNode(line, path, f"not a valid {kind}: {value[:40]!r} ({exc})") from None


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


# ---- across files ----


def _cross_file_problems(schedules: Sequence[DesiredSchedule]) -> list[Problem]:
    problems: list[Problem] = []
    first_by_key: dict[str, DesiredSchedule] = {}
    first_by_id: dict[int, DesiredSchedule] = {}
    for s in schedules:
        if s.key in first_by_key:
            other = first_by_key[s.key]
            problems.append(Problem(s.file, s.line, s.key, f"duplicate key: also defined at {other.file}:{other.line}"))
        else:
            first_by_key[s.key] = s
        if s.id is not None:
            if s.id in first_by_id:
                other = first_by_id[s.id]
                problems.append(
                    Problem(
                        s.file,
                        s.line_of("id"),
                        f"{s.key}.id",
                        f"id {s.id} is already claimed by {other.key!r} ({other.file}:{other.line_of('id')})",
                    )
                )
            else:
                first_by_id[s.id] = s
    return problems
