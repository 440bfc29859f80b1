"""Writing files: ids recorded into schedule YAML in place, and every file written atomically.

After `apply` creates a schedule, its id goes into the entry that declared it, so the next plan
updates that schedule instead of creating another. The files are the user's, so the write-back
changes no other byte (comments, quoting, order and line endings stay), and no file is ever left
half written.

Where to insert is found from the same libyaml parse the reader uses (`yamlentries.parse`), by character
index, never by splitting lines: Python, libyaml and ruamel disagree on what ends a line. Then the
new text is read again with the reader, and written only if every id landed on its own entry and
nothing else the reader sees changed. Whatever cannot be recorded is returned, never raised, so an
apply that has made remote changes always ends with its summary and the lines to add by hand.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import tempfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from reconciler.desired import discovery, yamlentries, yamlread
from reconciler.errors import UserError
from reconciler.problems import Problem, escape_controls

_ATTEMPTS = 3  # a file that changes between reading and writing is read again, this many times


class FileWriteError(UserError):
    """A file could not be written (not a regular file, a full disk, a read-only directory)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(escape_controls(f"cannot write {path}: {reason}"))
        self.reason = reason


@dataclass(frozen=True)
class Unrecorded:
    """An id apply could not write into the YAML: where to add it by hand, and why."""

    file: str
    key: str
    id: int
    line: int  # the line of the entry's key; 0 when it is not known
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return escape_controls(f'{where}: add "id: {self.id}" to {self.key} ({self.reason})')


def record_ids(
    ids_by_file: Mapping[str, Mapping[str, int]],
    writable: Collection[Path],
    *,
    lines: Mapping[tuple[str, str], int] | None = None,
    replacing: Mapping[tuple[str, str], int] | None = None,
) -> list[Unrecorded]:
    """Write `id: N` into each named entry, changing no other byte of the file; return what could not
    be recorded. Each file is done on its own: one that fails stops none of the others.

    `writable` is the set of this run's schedule files: a file not among them (compared as resolved
    paths) is never touched, whatever the caller names (a saved plan's `file` is only text). `lines`
    gives the line of each (file, key) as planned, for the message when the file cannot be read now.
    `replacing` names the (file, key) entries whose id is rewritten, with the id they hold now (a
    schedule deleted in the workspace, or replaced): only that id is overwritten, never another.
    """
    allowed = {os.path.realpath(p) for p in writable}
    unrecorded: list[Unrecorded] = []
    for file, ids in ids_by_file.items():
        planned = {key: (lines or {}).get((file, key), 0) for key in ids}
        stale = {key: old for (f, key), old in (replacing or {}).items() if f == file}
        try:
            with yamlread.gc_paused():  # two parses of the file: many short-lived nodes, no cycles
                unrecorded += _record_file(file, ids, allowed, planned, stale)
        except Exception as exc:  # the last line of defence: a file never stops the others, nor the summary
            unrecorded += [Unrecorded(file, k, i, planned[k], f"unexpected error: {exc!r}") for k, i in ids.items()]
    return unrecorded


def _record_file(
    file: str, ids: Mapping[str, int], allowed: set[str], planned: Mapping[str, int], stale: Mapping[str, int]
) -> list[Unrecorded]:
    def none_recorded(reason: str) -> list[Unrecorded]:
        return [Unrecorded(file, key, new_id, planned[key], reason) for key, new_id in ids.items()]

    path = Path(file)
    if os.path.realpath(path) not in allowed:
        return none_recorded("refused: not a schedule file of this project")
    for _ in range(_ATTEMPTS):
        try:
            raw = discovery.read_regular(path)
        except OSError as exc:
            return none_recorded(f"cannot read the file: {exc.strerror or exc}")
        try:
            text = yamlentries.decode(file, raw)
        except yamlentries.Unreadable as exc:
            return none_recorded(exc.problems[0].message)
        new_text, unrecorded = insert_ids(file, text, ids, planned, stale)
        if new_text == text:
            return unrecorded
        try:
            if discovery.read_regular(path) != raw:
                continue  # edited since it was read: never write over what was not read
            atomic_write(path, new_text)
        except (OSError, FileWriteError) as exc:
            reason = exc.reason if isinstance(exc, FileWriteError) else str(exc.strerror or exc)
            missed = {u.key for u in unrecorded}
            at = _entry_lines(file, text)
            return unrecorded + [
                Unrecorded(file, key, new_id, at.get(key) or planned[key], f"cannot write the file: {reason}")
                for key, new_id in ids.items()
                if key not in missed
            ]
        return unrecorded
    return none_recorded("the file kept changing while the ids were being recorded")


def _entry_lines(name: str, text: str) -> dict[str | None, int]:
    try:
        return {e.key: e.line for e in yamlentries.parse(name, text.removeprefix(yamlentries.BOM)).entries}
    except yamlentries.Unreadable:
        return {}


def insert_ids(
    name: str,
    text: str,
    ids: Mapping[str, int],
    planned: Mapping[str, int] | None = None,
    stale: Mapping[str, int] | None = None,
) -> tuple[str, list[Unrecorded]]:
    """`text` with `id: N` inserted into each entry of `ids` (or, for an entry in `stale`, its old id
    overwritten), and what could not be. The result is checked with the reader: each id on its own
    entry, every other entry as it was."""
    bom = yamlentries.BOM if text.startswith(yamlentries.BOM) else ""
    body = text[len(bom) :]
    planned = planned or {}
    try:
        before = yamlentries.parse(name, body)
    except yamlentries.Unreadable as exc:
        first = exc.problems[0]
        reason = f"the file no longer reads as schedules: line {first.line}: {first.message}"
        return text, [Unrecorded(name, key, new_id, planned.get(key, 0), reason) for key, new_id in ids.items()]
    by_key: dict[str, yamlentries.Entry] = {}
    for entry in before.entries:
        if entry.key is not None:
            by_key.setdefault(entry.key, entry)  # a duplicate is a problem of the entry, seen below
    edits: dict[str, Edit] = {}  # key -> (start, end, text to put there)
    unrecorded: list[Unrecorded] = []
    for key, new_id in ids.items():
        found = by_key.get(key)
        missing = "there is no such entry in the file any more"
        edit = _edit(body, found, new_id, (stale or {}).get(key)) if found is not None else missing
        if isinstance(edit, tuple):
            edits[key] = edit
        elif edit:
            line = found.line if found is not None else planned.get(key, 0)
            unrecorded.append(Unrecorded(name, key, new_id, line, edit))
    if not edits:
        return text, unrecorded
    kept, new_body = edits, _checked(name, body, before, edits, ids)  # the usual case: all of them hold
    if new_body is None:
        kept = _holding(name, body, before, edits, ids)
        new_body = _checked(name, body, before, kept, ids) if kept else None
    for key in edits.keys() - (kept.keys() if new_body is not None else set()):
        reason = "writing it would change what the file means (another entry, or the entry's other fields)"
        unrecorded.append(Unrecorded(name, key, ids[key], by_key[key].line, reason))
    return (bom + new_body if new_body is not None else text), unrecorded


def _holding(
    name: str, body: str, before: yamlentries.ParsedFile, edits: dict[str, Edit], ids: Mapping[str, int]
) -> dict[str, Edit]:
    """The edits that hold, when not all of them do together: found by halves, so a file of a
    thousand ids with one bad place costs a few dozen checks, not a thousand."""
    if len(edits) == 1:
        return {}
    keys = list(edits)
    kept: dict[str, Edit] = {}
    for half in (keys[: len(keys) // 2], keys[len(keys) // 2 :]):
        part = {k: edits[k] for k in half}
        kept |= part if _checked(name, body, before, part, ids) is not None else _holding(name, body, before, part, ids)
    return kept


Edit = tuple[int, int, str]  # replace body[start:end] (empty for an insertion) with the text


def _edit(body: str, entry: yamlentries.Entry, new_id: int, stale: int | None = None) -> Edit | str:
    """Where in `body` and what to write into `entry`, or why not ("" when its id is already there)."""
    if entry.data is None:
        problem = entry.problems[0] if entry.problems else None
        what = "an alert" if entry.kind == "alerts" else "a schedule"
        return f"the entry does not read as {what}: {problem.message if problem else 'unknown'}"
    if "id" in entry.data:
        if entry.data["id"] == new_id:
            return ""
        if stale is not None and entry.data["id"] == stale:
            return _overwrite(entry, new_id)
        return f"the entry has id {entry.data['id']!r} now"
    return _insertion(body, entry.value_node, new_id)


def _insertion(body: str, node: Node | None, new_id: int) -> Edit | str:
    """`id: <new_id>` written before the first field of the entry's mapping `node`, in its style."""
    if not isinstance(node, MappingNode) or not node.value:
        return "the entry is not a mapping of fields"
    first_key = node.value[0][0]
    index = first_key.start_mark.index
    if not node.start_mark.index <= index < node.end_mark.index:
        return "cannot find where the entry's fields are written"  # an alias as its first key
    back = index  # an explicit key (`? title`) starts at its indicator
    while back > node.start_mark.index and body[back - 1] in " \t":
        back -= 1
    if body[back - 1 : back] == "?":
        index = back - 1
    if node.flow_style:
        return index, index, f"id: {new_id}, "
    # block: a line of its own above the first field, indented as it is, ending as the line before ends
    line_start = first_key.start_mark.index - first_key.start_mark.column
    if line_start <= 0:
        return "cannot find the line of the entry's first field"
    ending = "\r\n" if body[line_start - 2 : line_start] == "\r\n" else body[line_start - 1]
    return index, index, f"id: {new_id}{ending}{' ' * (index - line_start)}"


def _overwrite(entry: yamlentries.Entry, new_id: int) -> Edit | str:
    """The entry's own `id:` value, written over (a merge never lends an id, so it is the entry's)."""
    node = entry.value_node
    if not isinstance(node, MappingNode):
        return "the entry is not a mapping of fields"
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == "id" and isinstance(value_node, ScalarNode):
            return value_node.start_mark.index, value_node.end_mark.index, str(new_id)
    return "cannot find where the entry's id is written"


def _checked(
    name: str, body: str, before: yamlentries.ParsedFile, edits: Mapping[str, Edit], ids: Mapping[str, int]
) -> str | None:
    """`body` with `edits` made, if the reader then sees each edited entry with its new id and
    everything else exactly as before; else None."""
    pieces, start = [], 0
    for begin, end, text in sorted(edits.values()):
        pieces += [body[start:begin], text]
        start = end
    new_body = "".join([*pieces, body[start:]])
    try:
        after = yamlentries.parse(name, new_body)
    except yamlentries.Unreadable:
        return None
    if _meaning(before.problems) != _meaning(after.problems) or len(before.entries) != len(after.entries):
        return None
    for old, new in zip(before.entries, after.entries, strict=True):
        expected = old.data if old.key not in edits or old.data is None else {**old.data, "id": ids[str(old.key)]}
        if old.key != new.key or expected != new.data or _meaning(old.problems) != _meaning(new.problems):
            return None
    return new_body


def _meaning(problems: list[Problem]) -> list[tuple[str, str]]:
    """Problems as what they say, not where: lines move down when ids are inserted above."""
    return [(p.path, re.sub(r"\bline \d+", "line", p.message)) for p in problems]


def atomic_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that a crash never leaves half a file, and never replace what is not
    a regular file: a symlink is followed and its target written (in the target's directory, so the
    rename stays on one file system), a character device (`/dev/null`) is written directly, and a
    FIFO, directory, socket or block device is refused. The file keeps its mode and owner. A file
    with other hard links (or in a directory that cannot take a temporary file) is overwritten in
    place, its space reserved first, so that every name of it sees the new text."""
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None  # a new file (or a dangling symlink: its target is created)
    except OSError as exc:
        raise FileWriteError(path, str(exc.strerror or exc)) from None
    if st is not None and stat.S_ISCHR(st.st_mode):
        try:
            with open(path, "w", encoding="utf-8", newline="") as handle:
                handle.write(text)
        except OSError as exc:
            raise FileWriteError(path, str(exc.strerror or exc)) from None
        return
    if st is not None and not stat.S_ISREG(st.st_mode):
        raise FileWriteError(path, f"not a regular file ({discovery.file_kind(st.st_mode)})")
    target = Path(os.path.realpath(path))
    try:
        _replace(target, text, st)
    except OSError as exc:
        raise FileWriteError(path, str(exc.strerror or exc)) from None


def _replace(target: Path, text: str, st: os.stat_result | None) -> None:
    if st is not None and st.st_nlink > 1:
        _write_in_place(target, text)  # a rename would leave the file's other names with the old text
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except PermissionError:
        if st is None:
            raise
        _write_in_place(target, text)  # a directory we may not write in, holding a file we may
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
            os.fchmod(handle.fileno(), stat.S_IMODE(st.st_mode) if st is not None else 0o644)
            if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(PermissionError):  # root recording ids into a user's file: still theirs
                    os.fchown(handle.fileno(), st.st_uid, st.st_gid)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_in_place(target: Path, text: str) -> None:
    """Overwrite the file itself (same inode: its other names, mode and owner see the change). The
    space is reserved first, so a full disk fails before any byte is changed."""
    data = text.encode("utf-8")
    fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        if len(data) > size and hasattr(os, "posix_fallocate"):
            os.posix_fallocate(fd, 0, len(data))
        view = memoryview(data)
        offset = 0
        while offset < len(data):
            offset += os.pwrite(fd, view[offset:], offset)
        os.ftruncate(fd, len(data))
        os.fsync(fd)
    finally:
        os.close(fd)
