"""Reading schedule files: every entry validated, with the line of every field it wrote.

libyaml's C parser composes the nodes (each with its line) once and the data is built from them
here, with YAML 1.2's core schema as the writer (ruamel) reads it. Whatever is wrong is collected
as `Problem`s across all files rather than stopping at the first; see `reconciler.diagnostics`.
`parse` is also how the id write-back (`reconciler.desired.yamlwrite`) finds where to insert and checks
what it wrote: one model of the file for both.
"""

from __future__ import annotations

import gc
import math
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PosixPath
from typing import Any

import yaml as yamllib  # PyYAML: libyaml's C parser, for reading fast with a line for every node
from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.desired import filecache
from reconciler.desired.filecache import FileCache
from reconciler.diagnostics import InvalidSchedules, Problem, did_you_mean, validation_problems
from reconciler.errors import UserError
from reconciler.kinds.entries import DesiredSchedule
from reconciler.kinds.schedules.models import DataScheduleSpec

SCHEDULE_SUFFIXES = (".yml", ".yaml")  # matched in any case: a.YML is a schedule file too
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_NODES_PER_ENTRY = 50_000
MAX_DEPTH = 32
COMPLEX_KEY = "a key must be a plain value, not a list or mapping"
_TAG = "tag:yaml.org,2002:"
_MERGE = _TAG + "merge"
_CORE_TAGS = {_TAG + name for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")}


DEFAULT_SCHEDULES = "schedules"
NO_SCHEDULES = (
    f"no {DEFAULT_SCHEDULES}/ here: run `holistics-schedules import` to start from your workspace, or pass a path"
)


class DefaultPath(PosixPath):
    """A schedule path nobody chose: the default, when neither the command line nor the config file
    names one. Missing, it means a repo not started yet, not a typo: see `NoScheduleFiles`."""


class NoScheduleFiles(UserError):
    """The default `schedules/` does not exist and no path was given: a hint, not a file's problem
    (`schedules:0: no such file` would name a file nobody wrote). A path someone gave stays a problem."""


def discover(paths: Iterable[Path]) -> list[Path]:
    """Every schedule file under `paths`, each once however it is reached (`a/../a/x.yml`, a symlink).

    In a directory a schedule file is one whose name ends in .yml or .yaml in any case, found also
    through symlinked directories (each real directory once, so a link cycle ends); a file given
    directly is taken whatever its name. Anything that would be read but is not a regular file (a
    FIFO would hang the read, a device never ends) or cannot be found is a Problem, never skipped:
    a file silently left out would have its schedules pruned. Only the default `schedules/`,
    missing when no path was given, is a hint instead (`NoScheduleFiles`).
    """
    files, problems = _discover(paths)
    if problems:
        raise InvalidSchedules(problems)
    return files


def _discover(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    problems: list[Problem] = []
    found: dict[str, Path] = {}  # real path -> the first spelling of it, in sorted order
    visited: set[str] = set()

    def take(path: Path) -> None:
        why = not_regular_reason(path)
        if why is not None:
            problems.append(Problem(str(path), 0, "-", why))
            return
        real = os.path.realpath(path)
        if real not in found or str(path) < str(found[real]):
            found[real] = path

    def unreadable(exc: OSError) -> None:  # a directory that cannot be listed is not skipped either
        problems.append(Problem(str(exc.filename), 0, "-", f"cannot read the directory: {exc.strerror or exc}"))

    for path in paths:
        if isinstance(path, DefaultPath) and not os.path.lexists(path):
            raise NoScheduleFiles(NO_SCHEDULES)
        if not os.path.isdir(path):  # follows symlinks: a link to a directory is a directory
            take(path)
            continue
        for directory, subdirectories, names in os.walk(path, followlinks=True, onerror=unreadable):
            real = os.path.realpath(directory)
            if real in visited:
                subdirectories[:] = []
                continue
            visited.add(real)
            subdirectories.sort()
            for name in sorted(names):
                if name.lower().endswith(SCHEDULE_SUFFIXES) and not _editor_lock(Path(directory) / name):
                    take(Path(directory) / name)
    return sorted(found.values()), problems


def _editor_lock(path: Path) -> bool:
    """Emacs marks a file being edited with a dangling symlink `.#name`: not a file, not a problem."""
    return path.name.startswith(".#") and os.path.islink(path) and not os.path.exists(path)


def not_regular_reason(path: Path) -> str | None:
    """Why `path` cannot be read as a file (None when it is a regular file, or a link to one)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "broken symbolic link" if os.path.islink(path) else "no such file or directory"
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    return None if stat.S_ISREG(mode) else f"not a regular file ({file_kind(mode)})"


def file_kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISREG, "a regular file"),
    ):
        if test(mode):
            return kind
    return "of an unknown kind"


class NotRegularFile(OSError):
    """What was to be read is not a regular file: reading it could hang (a FIFO) or never end."""


def read_regular(path: Path) -> bytes:
    """The bytes of the regular file at `path` (symlinks followed). Opened without blocking and
    checked on the open descriptor, so a FIFO or device put there after a check is refused, not read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"not a regular file ({file_kind(mode)})")
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


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


def load(paths: Iterable[Path], *, cache: FileCache | bool = True) -> list[DesiredSchedule]:
    """Read and validate every schedule file; raise InvalidSchedules listing all problems.

    `cache`: True, the cache the environment asks for (`filecache.default`, on unless turned off);
    False, none; or that one. Only each file's own reading is cached; the checks across files run
    on every load."""
    file_cache = cache if isinstance(cache, FileCache) else filecache.default() if cache else None
    schedules: list[DesiredSchedule] = []
    with gc_paused():
        files, problems = _discover(paths)  # what cannot be read is listed with the problems of the rest
        for file in files:
            file_schedules, file_problems = _load_file(file, file_cache)
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


class Unreadable(Exception):
    """The file as a whole cannot be read as schedules; these problems say why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


class _BadNode(Exception):
    """Something in an entry that YAML allows but a schedule cannot be; reported at its line."""

    def __init__(self, line: int, path: str, message: str) -> None:
        self.line, self.path, self.message = line, path, message


@dataclass
class Entry:
    """One pair of `schedules:` as read: its nodes (positions in the text, for the writer), its
    plain data when it reads as one, and otherwise its problems."""

    key: str | None  # None: not a plain scalar key
    key_node: Node
    value_node: Node
    line: int
    data: dict[str, Any] | None = None
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


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
    entries_node, problems = _top_level(name, root)
    if entries_node is None:
        return ParsedFile([], problems)
    owners: dict[int, tuple[str | None, int]] = {}
    for key_node, value, key, _ in _pairs(entries_node):
        owners.setdefault(id(value), (key, _line(key_node)))  # an alias's node is its anchor's: first wins
    entries = [_entry(name, k, v, key, duplicate, owners) for k, v, key, duplicate in _pairs(entries_node)]
    return ParsedFile(entries, problems)


BOM = "\ufeff"


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
        data = _Builder(frozenset(), None, lines).plain(root, "", _line(root))  # no entries: no ids to guard
    except _BadNode as bad:
        raise Unreadable([Problem(name, bad.line or _line(root), bad.path or "-", bad.message)]) from None
    if not isinstance(data, dict):  # a merge key at the top that brought in no mapping
        raise Unreadable([Problem(name, _line(root), "-", shape)])
    return data, lines


def _load_file(file: Path, cache: FileCache | None = None) -> tuple[list[DesiredSchedule], list[Problem]]:
    """One file's schedules and problems; from `cache` when it holds these very bytes under this name."""
    name = str(file)
    try:
        raw = read_regular(file)
    except OSError as exc:
        return [], [Problem(name, 0, "-", f"cannot read file: {exc.strerror or exc}")]
    key = cache.key(name, raw) if cache is not None else None
    if cache is None or key is None:
        return _read_file(name, raw)
    hit = cache.get(key, name)
    if hit is not None:
        return hit, []
    schedules, problems = _read_file(name, raw)
    if not problems:  # a file with problems is read again every time: its messages stay current
        cache.put(key, name, schedules)
    return schedules, problems


def _read_file(name: str, raw: bytes) -> tuple[list[DesiredSchedule], list[Problem]]:
    try:
        parsed = parse(name, decode(name, raw))
    except Unreadable as unreadable:
        return [], unreadable.problems
    problems = list(parsed.problems)
    schedules: list[DesiredSchedule] = []
    for entry in parsed.entries:
        if entry.data is None or entry.key is None:
            problems += entry.problems
            continue
        try:
            model = DataScheduleSpec.model_validate(entry.data)
        except ValidationError as exc:
            problems += validation_problems(name, entry.key, entry.line, entry.data, entry.lines, exc)
            continue
        schedules.append(DesiredSchedule(entry.key, model.id, model.api_fields(), name, entry.line, entry.lines))
    return schedules, problems


def _document(
    name: str, text: str, shape: str = "the file must be a mapping with a `schedules:` key"
) -> MappingNode | None:
    """The file's top-level mapping, or None when the file holds no document at all."""
    try:
        root = _compose(text)
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
    tag_problems = [Problem(name, line, "-", msg) for line, msg in _foreign_tags(root)] if "!" in text else []
    if tag_problems:
        raise Unreadable(tag_problems)
    if not isinstance(root, MappingNode):
        raise Unreadable([Problem(name, _line(root), "-", shape)])
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
    hint = did_you_mean(key, ["schedules"])
    return Problem(name, _line(key_node), key, f"unknown top-level key: `schedules` or `x-...` (for anchors){hint}")


def _entry(
    name: str,
    key_node: Node,
    value_node: Node,
    key: str | None,
    duplicate: bool,
    owners: dict[int, tuple[str | None, int]],
) -> Entry:
    """One entry of `schedules:` read into plain data, or its problems. `owners`: the entry that
    each entry's value node belongs to (by node identity), to recognise one entry aliasing another."""
    line = _line(key_node)
    entry = Entry(key, key_node, value_node, line)
    try:
        checked = _entry_key(key_node, key, duplicate)
        _not_an_alias(key_node, value_node, owners)
        entry.data = _Builder(frozenset(owners), value_node, entry.lines).entry_data(checked, value_node, line)
    except _BadNode as bad:
        entry.problems.append(Problem(name, bad.line or line, bad.path, bad.message))
    return entry


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


def _not_an_alias(key_node: Node, value_node: Node, owners: dict[int, tuple[str | None, int]]) -> None:
    """An entry written as an alias (`b: *a`) is the very node of another: it cannot be given an id
    of its own (writing one would give it to both), so it is refused. A node written in place starts
    after its key; an alias's node starts where its anchor was written, before."""
    if value_node.start_mark.index > key_node.start_mark.index:
        return
    key = str(getattr(key_node, "value", ""))
    owner = owners.get(id(value_node))
    if owner is not None and owner[0] != key:
        raise _BadNode(
            _line(key_node),
            key,
            f"is an alias of the entry `{owner[0]}` (line {owner[1]}): two entries cannot be one schedule "
            "with one id; merge it instead (`<<: *anchor`) and change what differs",
        )
    raise _BadNode(
        _line(key_node),
        key,
        "an entry cannot be an alias (`*name`): it needs an id of its own; merge the anchor instead "
        "(`key: {<<: *name}`)",
    )


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


MERGED_ID = "an id cannot come through a merge key (`<<`): an id names one schedule; write it in the entry itself"


class _Builder:
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

    def entry_data(self, key: str, node: Node, line: int) -> dict[str, Any]:
        """The entry's fields as plain data (and `self.lines`: the line of each dotted field path)."""
        try:
            data = self.plain(node, "", line)
        except _BadNode as bad:
            raise _BadNode(bad.line, f"{key}.{bad.path}" if bad.path else key, bad.message) from None
        if not isinstance(data, dict):
            raise _BadNode(line, key, "must be a mapping of schedule fields")
        return data

    def plain(self, node: Node, path: str, line: int) -> Any:
        lines = self.lines
        if len(lines) > MAX_NODES_PER_ENTRY or path.count(".") > MAX_DEPTH:
            raise _BadNode(0, "", "too large or too deeply nested (do aliases expand too far?)")  # 0: the entry's line
        if id(node) in self.active:
            raise _BadNode(_line(node), path, "refers to itself through an alias")
        if path:
            lines[path] = line
        if isinstance(node, ScalarNode):
            return _scalar(node, path, line)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return [self.plain(item, f"{path}.{i}", _line(item)) for i, item in enumerate(node.value)]
            assert isinstance(node, MappingNode)
            return self.mapping(node, path, line)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: MappingNode, path: str, line: int) -> dict[str, Any]:
        out = self.merged(node, path, line)
        lent = node is not self.root and id(node) in self.entry_nodes  # another entry, used here
        for key_node, value_node, key, duplicate in _pairs(node):
            if key is None:
                raise _BadNode(_line(key_node), path, COMPLEX_KEY)
            if key_node.tag == _MERGE or (lent and key == "id"):
                continue
            child = f"{path}.{key}" if path else key
            if duplicate:
                raise _BadNode(_line(key_node), child, "duplicate key in this mapping")
            out[key] = self.plain(value_node, child, _line(key_node))
        if lent:
            out.pop("id", None)  # also one it merged in itself
        return out

    def merged(self, node: MappingNode, path: str, line: int) -> dict[str, Any]:
        """What the mapping's merge keys (<<) bring in: the first mapping a merge lists wins, and (in
        `mapping`) the entry's own keys win over all of them."""
        out: dict[str, Any] = {}
        for merge_key, merge in ((k, v) for k, v in node.value if k.tag == _MERGE):
            sources = merge.value if isinstance(merge, SequenceNode) else [merge]
            for source in reversed(sources):
                merged = self.plain(source, path, line)
                if not isinstance(merged, dict):
                    raise _BadNode(_line(merge), path, "a merge key (<<) takes a mapping or a list of mappings")
                if node is self.root and "id" in merged:
                    raise _BadNode(_line(merge_key), "id", MERGED_ID)
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
        number = _NUMBERS[kind](value)
    except ValueError as exc:
        raise _BadNode(line, path, f"not a valid {kind}: {value[:40]!r} ({exc})") from None
    if isinstance(number, float) and not math.isfinite(number):
        # .nan, .inf, 1e400: valid YAML, but the API speaks JSON, which has none of them
        raise _BadNode(line, path, f"not a finite number: {value[:40]!r} (the API's JSON has no NaN or infinity)")
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
