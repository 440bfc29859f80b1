"""`LineMap`: an entry's lines, renamed and added to as its names are resolved (issue 22: per shape,
not per entry), must read exactly as the dict of lines renamed path by path would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.kinds.entries import LineMap, LinesLater, nearest_line

_paths = st.sampled_from(["dashboard", "dashboard.x", "source_id", "source_id.y", "title", "p.0.f", "p.0.f.z", "p.1"])
_lines = st.dictionaries(_paths, st.integers(1, 99), max_size=6)


def _renamed(lines: dict[str, int], old: str, new: str) -> dict[str, int]:
    """The rename as a dict does it: each path in its place, `old` and below called `new`."""
    prefix = old + "."
    return {(new + p[len(old) :] if p == old or p.startswith(prefix) else p): n for p, n in lines.items()}


@settings(max_examples=300, deadline=None)
@given(lines=_lines, old=_paths, new=_paths, added=_paths, line=st.integers(1, 99))
def test_renamed_and_added_lines_read_as_the_dict_would(
    lines: dict[str, int], old: str, new: str, added: str, line: int
) -> None:
    expected = _renamed(lines, old, new)
    got = LineMap(lines).renamed(old, new)
    assert list(got.items()) == list(expected.items()) and len(got) == len(expected)
    expected.setdefault(added, line)
    got = got.with_line(added, line)
    assert list(got.items()) == list(expected.items())
    assert dict(LineMap(lines)) == lines, "the map renamed from is left as it was"


def test_entries_of_one_shape_share_one_renamed_shape() -> None:
    first, second = LineMap({"dashboard": 3, "title": 4}), LineMap({"dashboard": 8, "title": 9})
    a, b = first.renamed("dashboard", "source_id"), second.renamed("dashboard", "source_id")
    assert (dict(a), dict(b)) == ({"source_id": 3, "title": 4}, {"source_id": 8, "title": 9})
    assert a._index is b._index


def test_lines_made_from_paths_read_as_the_dict_of_them() -> None:
    made = LineMap.of_paths(("title", "dest.type"), [3, 5])
    assert dict(made) == {"title": 3, "dest.type": 5} and made["dest.type"] == 5 and len(made) == 2
    assert made._index is LineMap({"title": 9, "dest.type": 9})._index, "one index per shape, however made"


_steps = st.lists(st.tuples(st.booleans(), _paths, _paths, st.integers(1, 99)), max_size=5)


@settings(max_examples=500, deadline=None)
@given(lines=_lines, steps=_steps)
def test_renames_and_additions_one_after_another_read_as_the_dict_would(
    lines: dict[str, int], steps: list[tuple[bool, str, str, int]]
) -> None:
    """Two renames may meet on one path (found by a hostile run): each starts from what the dict is."""
    expected, got = dict(lines), LineMap(lines)
    for rename, first, second, line in steps:
        if rename:
            expected, got = _renamed(expected, first, second), got.renamed(first, second)
        else:
            expected.setdefault(first, line)
            got = got.with_line(first, line)
        assert list(got.items()) == list(expected.items()) and len(got) == len(expected)


def test_two_renames_meeting_on_a_path_keep_the_line_the_dict_keeps() -> None:
    lines = {"a": 1, "b": 2, "a.x": 3}
    got = LineMap(lines).renamed("a.x", "a").renamed("a", "b")
    assert dict(got) == _renamed(_renamed(lines, "a.x", "a"), "a", "b") == {"b": 2}


class _File:
    """A file's lines, counting how often they are read."""

    def __init__(self, lines: dict[str, int]) -> None:
        self.lines, self.reads = lines, 0

    def lines_of(self, kind: str, key: str) -> dict[str, int]:
        self.reads += 1
        return self.lines


@settings(max_examples=500, deadline=None)
@given(lines=_lines, steps=_steps, default=st.integers(1, 99))
def test_lines_read_later_are_the_lines_changed_alike_and_are_read_once(
    lines: dict[str, int], steps: list[tuple[bool, str, str, int]], default: int
) -> None:
    """`LinesLater` (issue 22): renames and additions recorded, then made on the lines once read."""
    file = _File(lines)
    eager: LineMap = LineMap(lines)
    lazy = LinesLater(file, "schedules", "k")
    for rename, first, second, _ in steps:
        if rename:
            eager, lazy = eager.renamed(first, second), lazy.renamed(first, second)
        else:
            eager, lazy = eager.with_line_of(first, second, default), lazy.with_line_of(first, second, default)
    assert file.reads == 0, "nothing is read until a line is asked for"
    assert list(lazy.items()) == list(eager.items()) and len(lazy) == len(eager)
    assert nearest_line(lazy, "p.0.f.z", default) == nearest_line(eager, "p.0.f.z", default)
    assert file.reads == 1
