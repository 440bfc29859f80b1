"""Which files are schedule files: every .yml and .yaml under the paths given, each once, and
nothing that is not a regular file read (or silently skipped: a file left out would have its
schedules pruned).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path, PosixPath

from reconciler.errors import UserError
from reconciler.problems import InvalidSchedules, Problem

CONFIG_FILE = "holistics-schedules.yml"  # the project config, read when present (reconciler.usecases.config)
SCHEDULE_SUFFIXES = (".yml", ".yaml")  # matched in any case: a.YML is a schedule file too
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
    files, problems = scan(paths)
    if problems:
        raise InvalidSchedules(problems)
    return files


def scan(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    """What `discover` finds, and the problems of what cannot be read, to be listed with the rest."""
    found = _Found()
    for path in paths:
        if isinstance(path, DefaultPath) and not os.path.lexists(path):
            raise NoScheduleFiles(NO_SCHEDULES)
        if os.path.isdir(path):  # follows symlinks: a link to a directory is a directory
            found.walk(path)
        else:
            found.take(path)
    return sorted(found.files.values()), found.problems


class _Found:
    """The schedule files found so far, and the problems."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.files: dict[str, Path] = {}  # real path -> the first spelling of it, in sorted order
        self.visited: set[str] = set()  # real directories walked

    def take(self, path: Path) -> None:
        why = not_regular_reason(path)
        if why is not None:
            self.problems.append(Problem(str(path), 0, "-", why))
            return
        real = os.path.realpath(path)
        if real not in self.files or str(path) < str(self.files[real]):
            self.files[real] = path

    def unreadable(self, exc: OSError) -> None:  # a directory that cannot be listed is not skipped either
        self.problems.append(Problem(str(exc.filename), 0, "-", f"cannot read the directory: {exc.strerror or exc}"))

    def walk(self, top: Path) -> None:
        """Every directory under `top`, symlinked ones too, each real one once, in os.walk's order. A
        stack, not os.walk: Python 3.11's recurses, and a tree 1,000 directories deep raised RecursionError."""
        stack = [str(top)]
        while stack:
            directory = stack.pop()
            real = os.path.realpath(directory)
            if real in self.visited:
                continue
            listed = self._listed(directory)
            if listed is None:
                continue
            self.visited.add(real)
            subdirectories, names = listed
            stack += [os.path.join(directory, name) for name in sorted(subdirectories, reverse=True)]
            for name in sorted(names):
                if name.lower().endswith(SCHEDULE_SUFFIXES) and not _editor_lock(Path(directory) / name):
                    self.take(Path(directory) / name)

    def _listed(self, directory: str) -> tuple[list[str], list[str]] | None:
        """The directory's subdirectories (symlinks to one too) and its other names, as os.walk tells them
        apart; None, and a problem, when it cannot be listed."""
        subdirectories: list[str] = []
        names: list[str] = []
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    (subdirectories if _is_directory(entry) else names).append(entry.name)
        except OSError as exc:
            self.unreadable(exc)
            return None
        return subdirectories, names


def _is_directory(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()  # follows a symlink
    except OSError:  # as os.walk: what cannot be told a directory is a name
        return False


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
