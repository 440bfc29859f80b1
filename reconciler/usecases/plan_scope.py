"""What a plan covers, as the options say it: which entries (`--target`, `--exclude`) and which
deletions (`--prune`, `--prune-since`, `--prune-duplicates`), and why some combinations are refused
before any request is made. Apart from `planning` so each stays one subject; `planning` re-exports it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.desired.discovery import discover
from reconciler.errors import UserError
from reconciler.problems import escape_controls

if TYPE_CHECKING:  # the config's models are loaded by whoever reads it: options are parsed without them
    from reconciler.usecases.config import ProjectConfig


class PlanRefused(UserError):
    """The options given cannot make a plan that means what they say."""


def prune_refusal(config: ProjectConfig, paths: Sequence[Path], flag: str = "--prune") -> str | None:
    """Pruning over part of the schedule files would delete everything declared in the rest.

    Files are compared as resolved paths (`$PWD/schedules/sub`, `schedules/../schedules/sub`, `./`,
    a trailing slash and a symlinked directory all name the same files), and paths that leave out
    any of the configured files are refused, also when they hold none of them.
    """
    if not paths:
        return None
    existing = [p for p in config.schedule_paths if os.path.lexists(p)]
    configured = {os.path.realpath(p): p for p in discover(existing)} if existing else {}
    given = {os.path.realpath(p) for p in discover(paths)}
    left_out = sorted(str(configured[real]) for real in configured.keys() - given)
    if left_out:
        sample = ", ".join(left_out[:3])
        return escape_controls(
            f"{flag} with only part of the schedule files would delete the schedules declared in the others "
            f"({sample}{', ...' if len(left_out) > 3 else ''}); run it over all of {', '.join(config.paths)}"
        )
    return None


@dataclass(frozen=True)
class Selection:
    """`--target`/`--exclude`: shell-style globs on keys. Empty targets select every key."""

    targets: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.targets or self.excludes)

    def __call__(self, key: str) -> bool:
        wanted = not self.targets or any(fnmatchcase(key, t) for t in self.targets)
        return wanted and not any(fnmatchcase(key, e) for e in self.excludes)

    def describe(self) -> str:
        return " ".join([*(f"--target {t}" for t in self.targets), *(f"--exclude {e}" for e in self.excludes)])

    def unmatched(self, keys: Iterable[str]) -> list[str]:
        """Targets that select no key at all: a typo would otherwise plan nothing, silently."""
        keys = list(keys)
        return [t for t in self.targets if not any(fnmatchcase(k, t) for k in keys)]


@dataclass(frozen=True)
class Scope:
    """What a plan covers: which deletions (--prune, --prune-since, --prune-duplicates) and which
    entries (--target, --exclude)."""

    prune: bool = False
    prune_since: str | None = None
    selection: Selection = field(default_factory=Selection)
    prune_duplicates: bool = False

    @property
    def deleting(self) -> str | None:
        """The first flag given that lets the plan delete, or None: only such a plan can be refused."""
        flags = (
            ("--prune", self.prune),
            ("--prune-since", self.prune_since is not None),
            ("--prune-duplicates", self.prune_duplicates),
        )
        return next((name for name, given in flags if given), None)

    def refusal(self, config: ProjectConfig, paths: Sequence[Path]) -> str | None:
        """Why these options cannot be planned safely, said before any request is made. Deleting
        duplicates is refused as pruning is: a partial plan deletes nothing, and over part of the
        files an entry left out could hold the very schedule that looks like a copy."""
        flag = self.deleting
        if self.prune_since is not None and not self.prune_since.strip():
            return "--prune-since needs a git REF (it was given an empty one: is a CI variable unset?)"
        if self.prune and self.prune_since is not None:
            return "--prune and --prune-since are two ways of deleting: give one"
        if flag and self.selection:
            return f"{flag} cannot be combined with --target or --exclude: a partial plan cannot tell what to delete"
        return prune_refusal(config, paths, flag) if flag else None
