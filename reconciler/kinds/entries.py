"""What an entry of the schedule files is once validated, whatever its kind: its key, id, fields and
where each field was written. The desired side builds these; the core plans from them.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from operator import methodcaller
from typing import Any, ClassVar, Protocol


def nearest_line(field_lines: Mapping[str, int], path: str, default: int) -> int:
    """The line of a dotted field path, or of its nearest written parent, or `default`."""
    parts = path.split(".") if path else []
    while parts:
        line = field_lines.get(".".join(parts))
        if line is not None:
            return line
        parts.pop()
    return default


class LineMap(Mapping[str, int]):
    """The line of each field path of one entry, kept small: entries written in the same shape share
    one index of their paths, and the lines are an array. As a dict per entry the lines were most of
    a plan's memory (2.4 KB an entry: 49 MB of 20,000); like this they take about 150 bytes."""

    __slots__ = ("_index", "_lines", "_paths")
    # a shape's paths (one per line: a rename onto a path already there leaves both) and their index
    _shapes: ClassVar[dict[tuple[str, ...], tuple[tuple[str, ...], dict[str, int]]]] = {}
    # the shape a change makes of a shape: 10,000 entries of a few shapes are renamed alike (`names`)
    _changed: ClassVar[dict[tuple[tuple[str, ...], str, str | int], tuple[tuple[str, ...], dict[str, int]]]] = {}

    def __init__(self, lines: Mapping[str, int]) -> None:
        self._paths, self._index = LineMap._shape(tuple(lines))
        self._lines = array("L", lines.values())

    @staticmethod
    def _shape(paths: tuple[str, ...]) -> tuple[tuple[str, ...], dict[str, int]]:
        shape = LineMap._shapes.get(paths)
        if shape is None:  # a path there twice is listed where it came first, with its last line, as in a dict
            shape = LineMap._shapes.setdefault(paths, (paths, {path: i for i, path in enumerate(paths)}))
        return shape

    @staticmethod
    def of_paths(paths: tuple[str, ...], lines: list[int]) -> LineMap:
        """The line of each of `paths` (as many as they), without a dict in between (the cache reads 10,000)."""
        return LineMap._of(LineMap._shape(paths), array("L", lines))

    @staticmethod
    def _of(shape: tuple[tuple[str, ...], dict[str, int]], lines: array[int]) -> LineMap:
        made = object.__new__(LineMap)
        made._paths, made._index = shape
        made._lines = lines
        return made

    def renamed(self, old: str, new: str) -> LineMap:
        """These lines with the path `old`, and every path below it, called `new`, each where it was
        written (`dashboard: uname` read as `source_id`); the lines themselves are shared."""
        unique = self._unique()
        shape = LineMap._changed.get((unique._paths, old, new))
        if shape is None:
            prefix = old + "."
            paths = tuple(new + p[len(old) :] if p == old or p.startswith(prefix) else p for p in unique._paths)
            shape = LineMap._changed.setdefault((unique._paths, old, new), LineMap._shape(paths))
        return LineMap._of(shape, unique._lines)

    def with_line(self, path: str, line: int) -> LineMap:
        """These lines, and `path` at `line` when it has none (as `dict.setdefault`)."""
        if path in self._index:
            return self
        unique = self._unique()
        shape = LineMap._changed.get((unique._paths, path, -1))
        if shape is None:
            shape = LineMap._changed.setdefault((unique._paths, path, -1), LineMap._shape((*unique._paths, path)))
        lines = array("L", unique._lines)
        lines.append(line)
        return LineMap._of(shape, lines)

    def with_line_of(self, path: str, other: str, default: int) -> LineMap:
        """These lines, and `path` at the line of `other` (or of its nearest written parent, else
        `default`) when it has none."""
        return self.with_line(path, nearest_line(self, other, default))

    def _unique(self) -> LineMap:
        """These lines with each path once, as a dict of them holds it (a rename onto a path already
        there kept both: the next change starts from what the dict would be, not from both)."""
        return self if len(self._index) == len(self._paths) else LineMap(dict(self))

    def __getitem__(self, path: str) -> int:
        return self._lines[self._index[path]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return f"LineMap({dict(self)!r})"


class LineSource(Protocol):
    """Where the lines of a file's entries are read from when one is first asked for."""

    def lines_of(self, kind: str, key: str) -> Mapping[str, int]: ...


class LinesLater(Mapping[str, int]):
    """An entry's lines, read from its file only when one is first asked for, with the renames that
    resolving its names made since (issue 22: a plan shows the line of each entry's key, known at once;
    the line of a field only in a problem, an ignored difference or a saved plan, and reading 10,000
    entries without one for every field is several times faster)."""

    __slots__ = ("_changes", "_key", "_kind", "_read", "_source")

    def __init__(self, source: LineSource, kind: str, key: str, changes: tuple[methodcaller, ...] = ()) -> None:
        self._source, self._kind, self._key = source, kind, key
        self._changes = changes  # LineMap's own methods, made on the lines once read (picklable, unlike a lambda)
        self._read: LineMap | None = None

    def renamed(self, old: str, new: str) -> LinesLater:
        return self._then(methodcaller("renamed", old, new))

    def with_line_of(self, path: str, other: str, default: int) -> LinesLater:
        return self._then(methodcaller("with_line_of", path, other, default))

    def _then(self, change: methodcaller) -> LinesLater:
        return LinesLater(self._source, self._kind, self._key, (*self._changes, change))

    def _lines(self) -> LineMap:
        if self._read is None:
            source = self._source.lines_of(self._kind, self._key)
            lines = source if isinstance(source, LineMap) else LineMap(source)
            for change in self._changes:
                lines = change(lines)
            self._read = lines
        return self._read

    def __getitem__(self, path: str) -> int:
        return self._lines()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines())

    def __len__(self) -> int:
        return len(self._lines())

    def __repr__(self) -> str:
        return f"LinesLater({self._kind}.{self._key}, {len(self._changes)} changes)"


Lines = LineMap | LinesLater  # an entry's lines as a DesiredEntry holds them


@dataclass(frozen=True)
class Location:
    """Where an entry was written: its file, the line of its key, and the line of each field path."""

    file: str
    line: int
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, path: str) -> int:
        return nearest_line(self.field_lines, path, self.line)


@dataclass(frozen=True)
class DesiredEntry:
    """One validated YAML entry: the item of `kind` (a kind's YAML key: `schedules`, `alerts`) that
    `key` wants, with where each field was written.

    `env`: each dotted field path whose YAML value uses a variable (`${NAME}`), with that value as
    written. As read, such a field holds the expression itself; `desired.envvalues.resolve` gives the
    entries with the values from the environment (and keeps `env`, so that every output can show the
    expression instead of the value).

    `names`: likewise for unames (`dashboard: sales_performance`): as read, the fields hold the names
    as written; `desired.names.resolve_names` gives entries with the ids in their place and `names`
    saying which uname each id came from."""

    key: str
    id: int | None
    fields: Mapping[str, Any]
    file: str
    line: int
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    kind: str = "schedules"
    # field path (dotted, as in diffs) -> the `${NAME}` expression written there: its value comes from
    # the environment and is never shown (`desired.envvalues`)
    env: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # field path (dotted, as in diffs) -> the uname written there (`dashboard:`, `dynamic_filter:`),
    # once `desired.names.resolve_names` has put the id in its place: views show the name, not the id
    names: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.field_lines, LineMap | LinesLater):
            object.__setattr__(self, "field_lines", LineMap(self.field_lines))

    @property
    def location(self) -> Location:
        return Location(self.file, self.line, self.field_lines)

    def line_of(self, path: str) -> int:
        return self.location.line_of(path)
