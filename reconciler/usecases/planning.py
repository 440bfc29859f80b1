"""What `plan` does: a project (its config, its schedule files and a connection) turned into a
plan, and which plan `apply` makes (a fresh one, or a saved one still true to the YAML and the
workspace).

This is the one place that reads both sides (files and workspace) before the pure core runs; the
CLI calls it and renders what it returns.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from reconciler.core.build import plan
from reconciler.core.compare import update_body, without
from reconciler.core.duplicates import pruning_duplicates
from reconciler.core.model import Action, Change, Plan
from reconciler.core.safety import SafetyPolicy, unsafe_reason
from reconciler.desired.discovery import discover
from reconciler.desired.yamlread import gc_paused, load
from reconciler.errors import CommandFailed, UserError
from reconciler.kinds import SourceKey
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.schedules import SCHEDULES, source_key
from reconciler.problems import InvalidSchedules, Problem, escape_controls
from reconciler.remote.client import HolisticsClient
from reconciler.remote.reads import Reads, Source, list_remote, read_sources, reference_problems
from reconciler.usecases.config import CONFIG_FILE, ProjectConfig
from reconciler.usecases.removals import removals_since
from reconciler.views import savedplan


class PlanRefused(UserError):
    """The options given cannot make a plan that means what they say."""


@dataclass
class Planned:
    plan: Plan
    desired: list[DesiredEntry]
    remote: list[dict[str, Any]]  # the in-scope remote schedules the plan was made from
    files: list[Path]
    paths: list[Path]
    sources: dict[SourceKey, Source] = field(default_factory=dict)
    undocumented: set[str] = field(default_factory=set)  # fields the server sent that the spec lacks

    @property
    def titles(self) -> dict[SourceKey, str]:
        return {k: s.title for k, s in self.sources.items() if s.title}


def schedule_paths(config: ProjectConfig, paths: Sequence[Path]) -> list[Path]:
    return list(paths) or config.schedule_paths


def load_desired(config: ProjectConfig, paths: Sequence[Path], *, cached: bool = True) -> list[DesiredEntry]:
    """Validated entries, each inside the configured scope (what the repo does not own, it cannot declare).
    `cached`: files already validated may come from the cache of validated files (`filecache`)."""
    desired = load(schedule_paths(config, paths), cache=cached)
    keys = {d.key for d in desired}
    stray = sorted(set(config.ignore.schedules) - keys)
    if stray and not paths:  # with a subset of the files given, the key may well be in another one
        # a typo here would silently stop protecting the field the team curates in the UI
        raise InvalidSchedules(
            [Problem(CONFIG_FILE, 0, f"ignore.schedules.{key}", "no schedule has this key") for key in stray]
        )
    if config.scope.everything:
        return desired
    problems = [
        Problem(
            d.file, d.line, d.key, f"outside this repo's scope ({config.scope.describe()}); see holistics-schedules.yml"
        )
        for d in desired
        if not config.scope.contains(d.fields)
    ]
    if problems:
        raise InvalidSchedules(problems)
    return desired


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

    def refusal(self, config: ProjectConfig, paths: Sequence[Path]) -> str | None:
        """Why these options cannot be planned safely, said before any request is made. Deleting
        duplicates is refused as pruning is: a partial plan deletes nothing, and over part of the
        files an entry left out could hold the very schedule that looks like a copy."""
        deleting = (
            ("--prune", self.prune),
            ("--prune-since", self.prune_since is not None),
            ("--prune-duplicates", self.prune_duplicates),
        )
        flag = next((name for name, given in deleting if given), None)
        if self.prune_since is not None and not self.prune_since.strip():
            return "--prune-since needs a git REF (it was given an empty one: is a CI variable unset?)"
        if self.prune and self.prune_since is not None:
            return "--prune and --prune-since are two ways of deleting: give one"
        if flag and self.selection:
            return f"{flag} cannot be combined with --target or --exclude: a partial plan cannot tell what to delete"
        return prune_refusal(config, paths, flag) if flag else None


def make_plan(
    client: HolisticsClient,
    config: ProjectConfig,
    paths: Sequence[Path],
    *,
    prune: bool = False,
    scope: Scope | None = None,
    check_references: bool = True,
    cached: bool = True,
) -> Planned:
    scope = scope or Scope(prune=prune)
    with gc_paused():  # a plan of 10,000 schedules builds millions of objects, none in a cycle
        planned = _make_plan(client, config, paths, scope, check_references=check_references, cached=cached)
        # They live until the command ends: left to the collector, its next full pass (during rendering,
        # or at exit) would walk every one of them again for nothing.
        gc.freeze()
    return planned


def _make_plan(
    client: HolisticsClient,
    config: ProjectConfig,
    paths: Sequence[Path],
    scope: Scope,
    *,
    check_references: bool,
    cached: bool,
) -> Planned:
    the_paths = schedule_paths(config, paths)
    files = discover(the_paths)  # no file to read at all (a missing path): said before any request
    # The reads start before the YAML is read, so the network time overlaps the parsing. They are
    # read-only, and invalid YAML cancels them: no write is ever sent for a YAML that is not valid.
    with Reads(client, SCHEDULES, config.scope.contains, with_sources=check_references) as reads:
        desired = load_desired(config, paths, cached=cached)
        unmatched = scope.selection.unmatched(d.key for d in desired)
        if unmatched:
            where = ", ".join(map(str, the_paths))
            raise PlanRefused(f"--target {', '.join(unmatched)} selects no schedule key in {where}")
        removed = removals_since(scope.prune_since, the_paths, desired) if scope.prune_since else None
        keys = {k for k in (source_key(d.fields) for d in desired) if k is not None}
        if check_references:
            reads.prefetch(keys)  # while the listing is still under way
        read = reads.remote(desired)
        claimed = {d.id for d in desired if d.id is not None}
        remote = [
            r
            for r in read.schedules
            # an id the YAML names is owned explicitly, even while its remote copy is outside the scope
            if config.scope.contains(r) or r["id"] in claimed
        ]
        the_plan = plan(
            desired,
            remote,
            kind=SCHEDULES,
            prune=scope.prune,
            ignored=config.ignore.for_key,
            removed=removed,
            selected=scope.selection if scope.selection else None,
            selection=scope.selection.describe(),
        )
        if scope.prune_duplicates:  # before the titles are read: the deletions get theirs
            the_plan = pruning_duplicates(the_plan, SCHEDULES)
        sources: dict[SourceKey, Source] = {}
        if check_references:
            sources = reads.sources(keys)
            problems = reference_problems(desired, sources, SCHEDULES)
            if problems:
                raise InvalidSchedules(problems)
            deleted = {k for k in (source_key(c.remote or {}) for c in the_plan.changes) if k is not None}
            left = {b.source for b in the_plan.briefs.values() if b.source is not None}
            sources |= reads.sources((deleted | left) - keys)  # titles for deletions and what is left alone
    policy = SafetyPolicy(config.safety.max_change_share, config.safety.min_managed)
    the_plan = replace(the_plan, unsafe=unsafe_reason(the_plan, policy), timezone=config.timezone)
    return Planned(the_plan, desired, remote, files, the_paths, sources, read.undocumented)


def plan_for(
    client: HolisticsClient, config: ProjectConfig, paths: Sequence[Path], scope: Scope, *, cached: bool = True
) -> Planned:
    """The plan of `paths` within `scope`, once the options are known to mean what they say."""
    if reason := scope.refusal(config, paths):
        raise CommandFailed(reason)
    return make_plan(client, config, paths, scope=scope, cached=cached)


def check_references(client: HolisticsClient, desired: Sequence[DesiredEntry]) -> None:
    """`validate --remote`: every dashboard, report and dynamic filter the entries name exists."""
    keys = [k for k in (source_key(d.fields) for d in desired) if k is not None]
    problems = reference_problems(desired, read_sources(client, keys), SCHEDULES)
    if problems:
        raise InvalidSchedules(problems, what="with references")


@dataclass(frozen=True)
class ToApply:
    """The plan apply makes, and where it may write ids."""

    plan: Plan
    titles: dict[SourceKey, str]
    files: list[Path]
    saved: bool  # a saved plan was reviewed: applying it is the approval


def plan_to_apply(
    client: HolisticsClient, config: ProjectConfig, paths: Sequence[Path], scope: Scope, saved: Path | None
) -> ToApply:
    """A saved plan still true to the workspace and the YAML, else a fresh plan of `paths`. Apply
    validates every file itself: the cache (restorable from CI caches) never decides a write."""
    if saved is not None:
        loaded = saved_plan_still_valid(client, saved)
        refuse_bodies_not_in_yaml(config, loaded, saved)
        return ToApply(loaded.plan, dict(loaded.titles), project_files(config), saved=True)  # not the plan's own text
    result = plan_for(client, config, paths, scope, cached=False)
    return ToApply(result.plan, result.titles, result.files, saved=False)


def project_files(config: ProjectConfig) -> list[Path]:
    """The project's schedule files, from its config: where the ids of a saved plan may be written."""
    existing = [p for p in schedule_paths(config, []) if os.path.lexists(p)]
    return discover(existing)


def saved_plan_still_valid(client: HolisticsClient, path: Path) -> savedplan.SavedPlan:
    saved = savedplan.load(path)
    remote = list_remote(client, SCHEDULES).schedules
    reasons = savedplan.stale_reasons(saved, client.base_url, discover(saved.paths), remote)
    if reasons:
        raise CommandFailed(f"the saved plan {path} is stale; run plan again:\n  - " + "\n  - ".join(reasons))
    return saved


def refuse_bodies_not_in_yaml(config: ProjectConfig, saved: savedplan.SavedPlan, path: Path) -> None:
    """Each body a saved plan would send is what the YAML says now, read anew (no cache): equal bytes
    are not enough, since a plan made from a cache entry this machine did not write (restored,
    committed, forged) carries what the entry said. Each body is made again as the plan makes it:
    a create or a replacement from the entry alone, an update laid over the remote schedule the
    plan read (which `saved_plan_still_valid` found unchanged)."""
    # by key alone (unique across the files): where an id is written is checked apart (`applying`)
    entries = {d.key: d for d in load_desired(config, saved.paths, cached=False)}
    differ = []
    for change in saved.plan.changes:
        if change.body is None:
            continue
        entry = entries.get(str(change.key))
        wanted = None if entry is None else _body_of(change, entry, config)
        if wanted is None or savedplan.digest(wanted) != savedplan.digest(change.body):
            differ.append(str(change.key))
    if differ:
        listed = ", ".join(differ[:5]) + (", ..." if len(differ) > 5 else "")
        raise CommandFailed(
            escape_controls(
                f"the saved plan {path} would send what the YAML does not say for {listed} (read again without "
                "the cache); nothing was sent: run plan again"
            )
        )


def _body_of(change: Change, entry: DesiredEntry, config: ProjectConfig) -> dict[str, Any]:
    """The body `core.plan` makes for `change` from `entry`."""
    if change.action is Action.CREATE:
        return dict(entry.fields)
    managed = without(entry.fields, config.ignore.for_key(entry.key))  # the workspace owns ignored fields
    return managed if change.action is Action.REPLACE else update_body(change.remote or {}, managed, SCHEDULES)
