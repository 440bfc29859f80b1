"""What `plan` does: a project (its config, its schedule files and a connection) turned into a
plan, and which plan `apply` makes (a fresh one, or a saved one still true to the YAML and the
workspace).

This is the one place that reads both sides (files and workspace) before the pure core runs; the
CLI calls it and renders what it returns.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reconciler.core.ahead import DiffsAhead
from reconciler.core.build import plan
from reconciler.core.compare import update_body, without
from reconciler.core.duplicates import pruning_duplicates
from reconciler.core.hiding import masked_fields
from reconciler.core.model import Action, Change, Plan, Removal, WorkspacePlan
from reconciler.core.safety import SafetyPolicy, unsafe_reason
from reconciler.desired.discovery import discover
from reconciler.desired.yamlread import gc_paused, load
from reconciler.errors import CommandFailed
from reconciler.kinds import Kind, SourceKey
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.known import KINDS, kind_named
from reconciler.problems import InvalidSchedules, Problem, escape_controls
from reconciler.remote.catalog import Catalog
from reconciler.remote.client import HolisticsClient, NotFound
from reconciler.remote.listings import CatalogRead, Listings, Reads
from reconciler.remote.reads import RemoteSchedules, Source, list_remote
from reconciler.usecases import plan_names, plan_sources, planning_env, policing, spread
from reconciler.usecases.config import CONFIG_FILE, ProjectConfig
from reconciler.usecases.plan_scope import PlanRefused, Scope, Selection, prune_refusal
from reconciler.usecases.removals import removals_since
from reconciler.views import savedplan
from reconciler.views.plan_words import Labels

__all__ = [
    "PlanRefused",
    "Planned",
    "Scope",
    "Selection",
    "ToApply",
    "make_plan",
    "plan_for",
    "plan_to_apply",
    "prune_refusal",
]


@dataclass
class Planned:
    plan: WorkspacePlan
    desired: list[DesiredEntry]  # every kind's entries, their values from the environment resolved
    remote_of: dict[str, list[dict[str, Any]]]  # per kind (YAML key), the in-scope remote items planned from
    files: list[Path]
    paths: list[Path]
    sources: dict[SourceKey, Source] = field(default_factory=dict)
    undocumented: set[str] = field(default_factory=set)  # fields the server sent that the spec lacks
    env: dict[str, str] = field(default_factory=dict)  # per variable used, its keyed fingerprint
    catalog: Catalog | None = None  # the workspace's dashboards, when it lists them (names, titles)
    listing_of: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # per kind, all listed, scope aside
    crowds: dict[str, spread.Crowd] = field(default_factory=dict)  # per key starting anew: others at its minute
    policy_exceptions: list[policing.PolicyException] = field(default_factory=list)  # the delivery policy's, in use
    starts: spread.DesiredStarts | None = None  # the entries' crons, counted while the listing came

    @property
    def titles(self) -> Labels:
        """The sources' titles, and the unames of the dashboards and filters the catalog names."""
        titles = {k: s.title for k, s in self.sources.items() if s.title}
        return plan_names.labels(titles, self.catalog, [k[1] for k in self.sources if k[0] == "Dashboard"])

    @property
    def remote(self) -> list[dict[str, Any]]:
        """The remote schedules planned from (`remote_of` has every kind's)."""
        return self.remote_of.get("schedules", [])


def schedule_paths(config: ProjectConfig, paths: Sequence[Path]) -> list[Path]:
    return list(paths) or config.schedule_paths


def load_desired(config: ProjectConfig, paths: Sequence[Path], *, cached: bool = True) -> list[DesiredEntry]:
    """Validated entries, each inside the configured scope (what the repo does not own, it cannot declare).
    `cached`: files already validated may come from the cache of validated files (`filecache`). An entry
    that names its dashboard is checked against the scope once its names are resolved (`in_scope`)."""
    desired = load(schedule_paths(config, paths), cache=cached)
    keys = {d.key for d in desired}
    stray = sorted(set(config.ignore.schedules) - keys)
    if stray and not paths:  # with a subset of the files given, the key may well be in another one
        # a typo here would silently stop protecting the field the team curates in the UI
        raise InvalidSchedules(
            [Problem(CONFIG_FILE, 0, f"ignore.schedules.{key}", "no schedule has this key") for key in stray]
        )
    in_scope(config, [d for d in desired if "dashboard" not in d.fields])
    spread.refuse_breaking(config, desired, complete=not paths)  # validate, plan and apply: before anything is sent
    return desired


def in_scope(config: ProjectConfig, desired: Sequence[DesiredEntry]) -> list[DesiredEntry]:
    """`desired`, once each is known to be inside the configured scope."""
    if config.scope.everything:
        return list(desired)
    problems = [
        Problem(
            d.file, d.line, d.key, f"outside this repo's scope ({config.scope.describe()}); see holistics-schedules.yml"
        )
        for d in desired
        if not config.scope.contains(d.fields, d.kind)
    ]
    if problems:
        raise InvalidSchedules(problems)
    return list(desired)


def make_plan(
    client: HolisticsClient,
    config: ProjectConfig,
    paths: Sequence[Path],
    *,
    prune: bool = False,
    scope: Scope | None = None,
    check_references: bool = True,
    cached: bool = True,
    env_key: planning_env.EnvKey | None = None,
    listings: Listings | None = None,
) -> Planned:
    """The plan of every kind. `env_key` (`envvalues.fingerprint_key` of the API key) fingerprints the
    values taken from the environment, for a saved plan; without it a plan that has some records none.
    `listings`: the workspace's read, already started on `client` (`plan_start`); else started here."""
    scope = scope or Scope(prune=prune)
    with gc_paused():  # a plan of 10,000 schedules builds millions of objects, none in a cycle
        planned = _make_plan(
            client, config, paths, scope, check_references=check_references, cached=cached, listings=listings
        )
        if env_key is not None:
            planned.env = planning_env.fingerprints(planned.desired, env_key)
        planned.policy_exceptions, planned.crowds = spread.policed(config, planned)  # refuses a crowded entry
        # They live until the command ends: left to the collector, its next full pass (during rendering,
        # or at exit) would walk every one of them again for nothing.
        gc.freeze()
    return planned


@dataclass(frozen=True)
class _KindPlan:
    """What one kind's part of a plan is made from and made of."""

    kind: Kind
    plan: Plan
    remote: list[dict[str, Any]]
    undocumented: set[str]
    listing: list[dict[str, Any]]  # every item listed, in scope or not: the workspace's whole load


def _make_plan(
    client: HolisticsClient,
    config: ProjectConfig,
    paths: Sequence[Path],
    scope: Scope,
    *,
    check_references: bool,
    cached: bool,
    listings: Listings | None = None,
) -> Planned:
    the_paths = schedule_paths(config, paths)
    files = discover(the_paths)  # no file to read at all (a missing path): said before any request of ours
    with ExitStack() as stack:
        # Every kind's listing starts before the YAML is read (if the command has not started them
        # already, `listings`), so the network time overlaps the parsing. They are read-only, and invalid
        # YAML cancels them: no write is ever sent for a YAML that is not valid.
        if listings is not None and listings.client is not client:
            listings.abandon()  # started on a client the config turned out not to want
            listings = None
        listings = stack.enter_context(listings or Listings(client, KINDS, with_sources=check_references))
        listings.scope_to(config.scope.contains)
        reads, names = listings.reads, listings.names
        config, desired = _named(client, config, names, load_desired(config, paths, cached=cached))
        desired = planning_env.resolved(desired)
        unmatched = scope.selection.unmatched(d.key for d in desired)  # across every kind's keys
        if unmatched:
            where = ", ".join(map(str, the_paths))
            raise PlanRefused(f"--target {', '.join(unmatched)} selects no key in {where}")
        removed = removals_since(scope.prune_since, the_paths, desired) if scope.prune_since else None
        schedules = reads["schedules"]
        keys = {k for k in (kind_named(d.kind).source_key(d.fields) for d in desired) if k is not None}
        if check_references and names.settled_without():  # no catalog: each title read, as before
            schedules.prefetch(keys)  # while the listing is still under way
        selected = scope.selection if scope.selection else None
        aheads = {kind.yaml_key: DiffsAhead(kind, desired, config.ignore.for_key, selected) for kind in KINDS}
        for key, ahead in aheads.items():  # each listed item compared as it comes, whichever kind's (issue 22)
            reads[key].watch(ahead.see)
        starts = spread.DesiredStarts(desired)  # before the wait for the listing, not after it
        parts = [
            _kind_plan(kind, reads[kind.yaml_key], desired, config, scope, removed, aheads[kind.yaml_key])
            for kind in KINDS
        ]
        sources: dict[SourceKey, Source] = {}
        catalog = names.result()
        if check_references:
            sources = plan_sources.sources(schedules, desired, [p.plan for p in parts], keys, catalog)
    policy = SafetyPolicy(config.safety.max_change_share, config.safety.min_managed)
    the_plan = WorkspacePlan(
        tuple(replace(p.plan, unsafe=unsafe_reason(p.plan, policy), timezone=config.timezone) for p in parts)
    )
    undocumented = set().union(*(p.undocumented for p in parts))
    remote_of = {p.kind.yaml_key: p.remote for p in parts}
    listing_of = {p.kind.yaml_key: p.listing for p in parts}
    read = (the_plan, desired, remote_of, files, the_paths, sources, undocumented)
    return Planned(*read, catalog=catalog, listing_of=listing_of, starts=starts)


def _named(
    client: HolisticsClient, config: ProjectConfig, names: CatalogRead, desired: list[DesiredEntry]
) -> tuple[ProjectConfig, list[DesiredEntry]]:
    """The config with its scope's dashboard unames resolved, and the entries with theirs (each then
    checked against the scope). Waits for the catalog only when something uses a name."""
    if not config.scope.unames() and not any(plan_names.uses_names(d) for d in desired):
        return config, desired
    catalog = names.result()
    config = plan_names.scoped(config, catalog, names.unavailable)
    resolved = plan_names.resolved(desired, catalog, client, names.unavailable)
    in_scope(config, [d for d in resolved if d.names])
    return config, resolved


def _kind_plan(
    kind: Kind,
    reads: Reads,
    desired: list[DesiredEntry],
    config: ProjectConfig,
    scope: Scope,
    removed: Sequence[Removal] | None,
    ahead: DiffsAhead,
) -> _KindPlan:
    """One kind's part: its listing (waited for), planned against its entries (of all `desired`)."""
    desired = [d for d in desired if d.kind == kind.yaml_key]
    try:
        read = reads.remote(desired)
    except NotFound:  # no data alerts at all (an older server): none, when the YAML declares none
        if kind.yaml_key == "schedules" or desired:
            raise
        read = RemoteSchedules(kind)
    claimed = {d.id for d in desired if d.id is not None}
    remote = read.schedules
    if not config.scope.everything:
        # an id the YAML names is owned explicitly, even while its remote copy is outside the scope
        remote = [r for r in remote if config.scope.contains(r, kind.yaml_key) or r["id"] in claimed]
    the_plan = plan(
        desired,
        remote,
        kind=kind,
        prune=scope.prune,
        ignored=config.ignore.for_key,
        removed=[r for r in removed or () if r.kind == kind.yaml_key] if removed is not None else None,
        selected=scope.selection if scope.selection else None,
        selection=scope.selection.describe(),
        ahead=ahead,  # each listed item was compared as it came, not after the last page (issue 22)
    )
    if scope.prune_duplicates:  # before the titles are read: the deletions get theirs
        the_plan = pruning_duplicates(the_plan, kind)
    return _KindPlan(kind, the_plan, remote, read.undocumented, read.schedules)


def plan_for(
    client: HolisticsClient,
    config: ProjectConfig,
    paths: Sequence[Path],
    scope: Scope,
    *,
    cached: bool = True,
    env_key: planning_env.EnvKey | None = None,
    listings: Listings | None = None,
) -> Planned:
    """The plan of `paths` within `scope`, once the options are known to mean what they say."""
    if reason := scope.refusal(config, paths):
        raise CommandFailed(reason)
    return make_plan(client, config, paths, scope=scope, cached=cached, env_key=env_key, listings=listings)


def check_references(client: HolisticsClient, config: ProjectConfig, desired: Sequence[DesiredEntry]) -> None:
    """`validate --remote`: the entries' names resolved (and then in scope), and every dashboard,
    report and dynamic filter they name exists."""
    names = CatalogRead(client)
    config, resolved = _named(client, config, names, list(desired))
    plan_sources.check_references(client, resolved, names.result())


@dataclass(frozen=True)
class ToApply:
    """The plan apply makes, and where it may write ids."""

    plan: WorkspacePlan  # each body with its values from the environment, as apply sends it
    titles: Mapping[SourceKey, str]  # `Labels` for a fresh plan (unames too); a saved plan keeps titles alone
    files: list[Path]
    saved: bool  # a saved plan was reviewed: applying it is the approval


def plan_to_apply(
    client: HolisticsClient,
    config: ProjectConfig,
    paths: Sequence[Path],
    scope: Scope,
    saved: Path | None,
    *,
    env_key: planning_env.EnvKey | None = None,
) -> ToApply:
    """A saved plan still true to the workspace, the YAML and the environment, else a fresh plan of
    `paths`. Apply validates every file itself: the cache (restorable from CI caches) never decides a
    write. `env_key`: see `make_plan`; a saved plan with values from the environment needs it."""
    if saved is not None:
        loaded = savedplan.load(saved)
        key = planning_env.refuse_another_key(loaded.key_check, env_key, str(saved))
        planning_env.refuse_changed_variables(loaded.env, env_key, str(saved))
        loaded = saved_plan_still_valid(client, saved, loaded, key)
        restored = refuse_bodies_not_in_yaml(client, config, loaded, saved)
        spread.refuse_saved_crowding(client, config, loaded)  # crowds form, policies tighten, after a plan is saved
        files = discover([p for p in schedule_paths(config, []) if os.path.lexists(p)])  # where its ids may go
        return ToApply(restored, dict(loaded.titles), files, saved=True)  # not the plan's own text
    result = plan_for(client, config, paths, scope, cached=False)
    return ToApply(result.plan, result.titles, result.files, saved=False)


def saved_plan_still_valid(
    client: HolisticsClient, path: Path, saved: savedplan.SavedPlan | None = None, key: bytes | None = None
) -> savedplan.SavedPlan:
    """The saved plan, unless the YAML or a remote item it touches changed since. Only the kinds it
    touches are listed again."""
    saved = saved or savedplan.load(path)
    touched = {c.kind for c in saved.plan.changes} | {
        part.kind for part in saved.plan.plans if part.probable_duplicates
    }
    remote = {key: list_remote(client, kind_named(key)).schedules for key in sorted(touched)}
    reasons = savedplan.stale_reasons(saved, client.base_url, discover(saved.paths), remote, key)
    if reasons:
        raise CommandFailed(f"the saved plan {path} is stale; run plan again:\n  - " + "\n  - ".join(reasons))
    return saved


def refuse_bodies_not_in_yaml(
    client: HolisticsClient, config: ProjectConfig, saved: savedplan.SavedPlan, path: Path
) -> WorkspacePlan:
    """Each body a saved plan would send is what the YAML says now, read anew (no cache): equal bytes
    are not enough, since a plan made from a cache entry this machine did not write (restored,
    committed, forged) carries what the entry said. Each body is made again as the plan makes it:
    a create or a replacement from the entry alone, an update laid over the remote item the plan
    read (which `saved_plan_still_valid` found unchanged). A saved body holds each value from the
    environment as its expression: it is compared so, and the plan returned sends the values (read
    again, and checked against the plan's fingerprints by `planning_env.refuse_changed_variables`), and
    each name as the workspace resolves it now (a uname on another dashboard since: refused)."""
    desired = load_desired(config, saved.paths, cached=False)
    if any(plan_names.uses_names(d) for d in desired):  # the entries' names, not the scope's: no body holds those
        names = CatalogRead(client)
        desired = plan_names.resolved(desired, names.result(), client, names.unavailable)
    # by key alone (unique across the files and kinds): where an id is written is checked apart (`applying`)
    entries = {d.key: d for d in planning_env.resolved(desired)}
    differ: list[str] = []
    bodies: dict[int, dict[str, Any]] = {}  # by id() of the change: what it sends, values restored
    for change in saved.plan.changes:
        if change.body is None:
            continue
        entry = entries.get(str(change.key))
        wanted = None if entry is None or entry.kind != change.kind else _body_of(change, entry, config)
        if wanted is None or savedplan.digest(masked_fields(wanted, change.env)) != savedplan.digest(change.body):
            differ.append(str(change.key))
        elif change.env:
            bodies[id(change)] = wanted
    if differ:
        listed = ", ".join(differ[:5]) + (", ..." if len(differ) > 5 else "")
        raise CommandFailed(
            escape_controls(
                f"the saved plan {path} would send what the YAML does not say for {listed} (read again without "
                "the cache); nothing was sent: run plan again"
            )
        )
    return WorkspacePlan(
        tuple(
            replace(part, changes=tuple(replace(c, body=bodies.get(id(c), c.body)) for c in part.changes))
            for part in saved.plan.plans
        )
    )


def _body_of(change: Change, entry: DesiredEntry, config: ProjectConfig) -> dict[str, Any]:
    """The body `core.plan` makes for `change` from `entry`."""
    if change.action is Action.CREATE:
        return dict(entry.fields)
    managed = without(entry.fields, config.ignore.for_key(entry.key))  # the workspace owns ignored fields
    if change.action is Action.REPLACE:
        return managed
    return update_body(change.remote or {}, managed, kind_named(change.kind))
