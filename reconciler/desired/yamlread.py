"""Reading schedule files: every entry validated, with the line of every field it wrote.

The files are found by `reconciler.desired.discovery`, each read into entries by
`reconciler.desired.yamlentries` (or taken from the cache of validated files), each entry validated
as its kind (a schedule or an alert: `reconciler.desired.entrycheck`), and then checked across files.
Whatever is wrong is collected as `Problem`s across all files rather than stopping at the first.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from reconciler.desired import filecache, yamlfast, yamlpool
from reconciler.desired.discovery import read_regular, scan
from reconciler.desired.entrycheck import checked
from reconciler.desired.filecache import FileCache
from reconciler.desired.yamlentries import NOUNS, Entry, Unreadable, decode, parse
from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import InvalidSchedules, Problem


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


def load(paths: Iterable[Path], *, cache: FileCache | bool = True) -> list[DesiredEntry]:
    """Read and validate every schedule file; raise InvalidSchedules listing all problems. The
    entries are of every kind (`entry.kind`), values from the environment as written (`entry.env`:
    `desired.envvalues.resolve` takes them from the environment).

    `cache`: True, the cache the environment asks for (`filecache.default`, on unless turned off);
    False, none; or that one. Only each file's own reading is cached; the checks across files run
    on every load."""
    file_cache = cache if isinstance(cache, FileCache) else filecache.default() if cache else None
    schedules: list[DesiredEntry] = []
    with gc_paused():
        files, problems = scan(paths)  # what cannot be read is listed with the problems of the rest
        for file_schedules, file_problems in _load_files(files, file_cache):
            schedules += file_schedules
            problems += file_problems
    problems += _cross_file_problems(schedules)
    if problems:
        raise InvalidSchedules(problems)
    return schedules


def _load_files(files: Sequence[Path], cache: FileCache | None) -> list[yamlpool.Read]:
    """Each file's schedules and problems, in file order. When the files the cache lacks are many
    (`yamlpool.worth_it`), they are read in worker processes, beside the listing threads."""
    if not yamlpool.worth_it([_size(file) for file in files]):
        return [_load_file(file, cache) for file in files]
    out: list[yamlpool.Read] = []
    misses: list[tuple[int, str, bytes, str | None]] = []  # (position, name, bytes, cache key)
    for file in files:
        name = str(file)
        try:
            raw = read_regular(file)
        except OSError as exc:
            out.append(([], [Problem(name, 0, "-", f"cannot read file: {exc.strerror or exc}")]))
            continue
        key = cache.key(name, raw) if cache is not None else None
        hit = cache.get(key, name, raw) if cache is not None and key is not None else None
        if hit is None:
            misses.append((len(out), name, raw, key))
        out.append((hit or [], []))
    to_read = [(name, raw) for _, name, raw, _ in misses]
    if yamlpool.worth_it([len(raw) for _, raw in to_read]):
        results = yamlpool.read_in_workers(_read_file, to_read)
    else:
        results = [_read_file(name, raw) for name, raw in to_read]
    for (position, name, _, key), (schedules, problems) in zip(misses, results, strict=True):
        out[position] = schedules, problems
        if cache is not None and key is not None and not problems:
            cache.put(key, name, schedules)
    return out


def _size(file: Path) -> int:
    try:
        return file.stat().st_size
    except OSError:
        return 0


def _load_file(file: Path, cache: FileCache | None = None) -> tuple[list[DesiredEntry], list[Problem]]:
    """One file's schedules and problems; from `cache` when it holds these very bytes under this name."""
    name = str(file)
    try:
        raw = read_regular(file)
    except OSError as exc:
        return [], [Problem(name, 0, "-", f"cannot read file: {exc.strerror or exc}")]
    key = cache.key(name, raw) if cache is not None else None
    if cache is None or key is None:
        return _read_file(name, raw)
    hit = cache.get(key, name, raw)
    if hit is not None:
        return hit, []
    schedules, problems = _read_file(name, raw)
    if not problems:  # a file with problems is read again every time: its messages stay current
        cache.put(key, name, schedules)
    return schedules, problems


# A value holds `${NAME}` or the escape `$$` only if the text does, or writes one with an escape: `$` or
# `{` as a `\x`, `\u` or `\U` escape, or `\` before a line break, which joins the lines of a double-quoted
# scalar (YAML folds an unescaped line break into a space, never into nothing). Without any, no entry
# uses a variable and none needs looking through for one (issue 22: 10,000 entries; `{{$today}}` is
# common, and so is an escape that cannot write either, such as an SFTP `separator: "\t"`).
_WRITES_DOLLAR_OR_BRACE = re.compile(r"\\(?:x(?:24|7[bB])|u00(?:24|7[bB])|U000000(?:24|7[bB])|[\r\n\x85\u2028\u2029])")


def _read_file(name: str, raw: bytes) -> tuple[list[DesiredEntry], list[Problem]]:
    try:
        text = decode(name, raw)
        literal = "${" not in text and "$$" not in text and not _WRITES_DOLLAR_OR_BRACE.search(text)
        plain = yamlfast.entries(name, text)
        valid = _all_valid(name, plain, literal) if plain is not None else None
        if valid is not None:  # a plain file, read fast: taken when every entry is valid
            return valid, []
        parsed = parse(name, text)
    except Unreadable as unreadable:
        return [], unreadable.problems
    schedules, problems = _checked(name, parsed.entries, literal)
    return schedules, parsed.problems + problems


def _all_valid(name: str, entries: Iterable[Entry], literal: bool) -> list[DesiredEntry] | None:
    """Every entry validated, or None at the first that is not (the full reader says what is wrong)."""
    schedules: list[DesiredEntry] = []
    for entry in entries:
        result = checked(name, entry, literal=literal)
        if isinstance(result, list):
            return None
        schedules.append(result)
    return schedules


def _checked(name: str, entries: Iterable[Entry], literal: bool) -> tuple[list[DesiredEntry], list[Problem]]:
    problems: list[Problem] = []
    schedules: list[DesiredEntry] = []
    for entry in entries:
        if entry.data is None or entry.key is None:
            problems += entry.problems
            continue
        result = checked(name, entry, literal=literal)
        if isinstance(result, list):
            problems += result
        else:
            schedules.append(result)
    return schedules, problems


# ---- across files ----


def _cross_file_problems(schedules: Sequence[DesiredEntry]) -> list[Problem]:
    """Keys are unique across files and kinds (a key names one entry, whatever its kind: `run`,
    `--target` and the id write-back find it by key alone); ids within a kind (an alert and a
    schedule may both have id 7)."""
    problems: list[Problem] = []
    first_by_key: dict[str, DesiredEntry] = {}
    first_by_id: dict[tuple[str, int], DesiredEntry] = {}
    for s in schedules:
        if s.key in first_by_key:
            other = first_by_key[s.key]
            also = "" if other.kind == s.kind else f" (as {_a(NOUNS.get(other.kind, other.kind))})"
            message = f"duplicate key: also defined at {other.file}:{other.line}{also}"
            problems.append(Problem(s.file, s.line, s.key, message))
        else:
            first_by_key[s.key] = s
        if s.id is not None:
            if (s.kind, s.id) in first_by_id:
                other = first_by_id[s.kind, s.id]
                problems.append(
                    Problem(
                        s.file,
                        s.line_of("id"),
                        f"{s.key}.id",
                        f"id {s.id} is already claimed by {other.key!r} ({other.file}:{other.line_of('id')})",
                    )
                )
            else:
                first_by_id[s.kind, s.id] = s
    return problems


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"
