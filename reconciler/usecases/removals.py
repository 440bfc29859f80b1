"""`--prune-since REF`: git already holds the state a deletion needs.

The schedule files as they were at REF are read with git (never checked out) and compared with the
working tree: every entry that had an id at REF and whose id no entry of its kind holds now was
removed, and is planned as a delete of that kind (an alert's removal deletes an alert), named by its
key and the commit that removed it. An entry moved to another file, or renamed with its id kept,
still holds the id: not a removal. Ids are only unique within a kind: alert 7 and schedule 7 are two.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from reconciler.core.model import Removal
from reconciler.desired.yamlread import load
from reconciler.errors import UserError
from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import InvalidSchedules

_SUFFIX = re.compile(r"\.ya?ml$", re.IGNORECASE)


class GitStateError(UserError):
    """--prune-since cannot be answered: not a git checkout, an unknown REF, git missing."""


def removals_since(ref: str, paths: Sequence[Path], desired: Iterable[DesiredEntry]) -> list[Removal]:
    """The entries (of every kind, each `Removal` saying its own) of the schedule files under `paths`
    that held an id at `ref` and are gone now."""
    root = _toplevel(paths[0] if paths else Path.cwd())
    commit = _commit(root, ref)
    held_now = {(d.kind, d.id) for d in desired if d.id is not None}  # ids are unique within a kind
    removals = []
    for name in _files_at(root, commit, paths):
        for entry in _entries_at(root, commit, name):
            if entry.id is not None and (entry.kind, entry.id) not in held_now:
                removed_in = _removed_in(root, commit, name, entry.id)
                removals.append(Removal(entry.id, entry.key, name, removed_in, kind=entry.kind))
    return sorted(removals, key=lambda r: (r.file, r.key))


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise GitStateError("--prune-since needs git, and git is not installed") from None
    if done.returncode != 0:
        raise GitStateError(f"git {args[0]} failed: {done.stderr.strip()[:300]}")
    return done.stdout


def _toplevel(start: Path) -> Path:
    folder = start if start.is_dir() else start.parent
    try:
        return Path(_git(folder.resolve(), "rev-parse", "--show-toplevel").strip())
    except GitStateError:
        raise GitStateError(f"--prune-since needs a git checkout, and {folder} is not in one") from None


def _commit(root: Path, ref: str) -> str:
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}").strip()
    except GitStateError:
        raise GitStateError(
            f"--prune-since {ref}: no such commit in {root} (fetch it first, e.g. with a deeper clone)"
        ) from None


def _files_at(root: Path, commit: str, paths: Sequence[Path]) -> list[str]:
    relative = [str(p.resolve().relative_to(root)) if p.resolve().is_relative_to(root) else str(p) for p in paths]
    listed = _git(root, "ls-tree", "-r", "-z", "--name-only", commit, "--", *relative)
    return sorted(name for name in listed.split("\0") if name and _SUFFIX.search(name))


def _entries_at(root: Path, commit: str, name: str) -> list[DesiredEntry]:
    """The entries of one file at `commit`, read by the same reader as the working tree. A file that
    was invalid then has no entries to compare (it could not have been applied either)."""
    text = _git(root, "show", f"{commit}:{name}")
    with tempfile.TemporaryDirectory(prefix="holistics-since-") as tmp:
        copy = Path(tmp) / "at-ref.yml"
        copy.write_text(text, encoding="utf-8")
        try:
            return load([copy], cache=False)  # a temporary name: an entry would never be read again
        except InvalidSchedules:
            return []


def _removed_in(root: Path, commit: str, name: str, schedule_id: int) -> str | None:
    """The newest commit since `commit` that changed a line `id: N` of that file (the removal), or
    None when the removal is only in the working tree."""
    pattern = rf"^\s*(-\s*)?id:\s*{schedule_id}\s*(#.*)?$"
    found = _git(root, "log", "-1", "--format=%h", f"-G{pattern}", f"{commit}..HEAD", "--", name).strip()
    if not found:
        return None
    if _id_in_file_at(root, "HEAD", name, schedule_id):
        return None  # HEAD still has it: the removal is not committed yet
    return found


def _id_in_file_at(root: Path, rev: str, name: str, schedule_id: int) -> bool:
    try:
        text = _git(root, "show", f"{rev}:{name}")
    except GitStateError:
        return False
    return re.search(rf"^\s*(-\s*)?id:\s*{schedule_id}\s*(#.*)?$", text, re.MULTILINE) is not None
