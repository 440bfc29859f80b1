"""`max_same_minute` and the spread, where the plan is made: every delivery of the workspace as it
would be once the plan is applied (every remote schedule and alert, managed or not, in scope or not,
with the YAML's entries in place of the items they are), each new or restarted entry's crowd for the
plan's views, and the entries that would make their minute busier than the policy allows.

An entry starts anew when the plan creates it, changes its `schedule.repeat`, or unpauses it: only
those get a crowd line and are checked against the whole workspace. A remote delivery no YAML declares
counts toward every total but never blocks an unchanged entry. The YAML's entries among themselves are
checked every time, as `validate` (offline, knowing no workspace) checks them: a plan never passes
what validate refuses.
"""

from __future__ import annotations

import operator
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from reconciler.core.model import Action, Change, WorkspacePlan
from reconciler.desired.yamlread import load
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.known import KINDS
from reconciler.policy.crowding import DEFAULT_CROWDED, Crowding, Delivery
from reconciler.policy.crowding import Crowd as Crowd
from reconciler.policy.model import PolicyException, Rule
from reconciler.problems import InvalidSchedules, Problem
from reconciler.remote.client import HolisticsClient, NotFound
from reconciler.remote.reads import list_remote
from reconciler.usecases import planning_env, policing
from reconciler.usecases.config import ProjectConfig
from reconciler.views.savedplan import SavedPlan

if TYPE_CHECKING:  # planning calls this module: only its type here
    from reconciler.usecases.planning import Planned

RULE: Rule = "max_same_minute"
REPEAT = "schedule.repeat"


def delivery_of(kind: str, item: Mapping[str, Any], key: str | None = None, item_id: Any = None) -> Delivery | None:
    """An item's (remote, or a YAML entry's fields with its `key` and `item_id`) cron and pause; None
    without a cron (nothing to count)."""
    schedule = item.get("schedule")
    repeat = schedule.get("repeat") if isinstance(schedule, Mapping) else None
    if not isinstance(repeat, str):
        return None
    item_id = item.get("id") if key is None else item_id
    paused = bool(schedule.get("paused")) if isinstance(schedule, Mapping) else False
    return Delivery(kind, item_id if isinstance(item_id, int) else None, key, repeat, paused)


class DesiredStarts:
    """How many of the YAML's entries start at each cron (paused ones left out, as `Crowding` counts
    them), counted before the plan needs them: a plan counts them while its listing is on its way
    (issue 22: 10,000 entries' deliveries were 0.03 s after the last page). Only for the very entries
    counted, in their order, their fields the same objects: anything else is counted again."""

    def __init__(self, desired: Sequence[DesiredEntry]) -> None:
        self._fields = [d.fields for d in desired]  # a reference per entry, to know them again (`counted`)
        starts = (delivery_of(d.kind, d.fields, d.key, d.id) for d in desired)
        self._crons = Counter(d.cron for d in starts if d is not None and not d.paused)

    def counted(self, desired: Sequence[DesiredEntry]) -> Counter[str] | None:
        """The counts, when `desired` are the entries counted; else None."""
        if len(desired) != len(self._fields) or not all(map(operator.is_, (d.fields for d in desired), self._fields)):
            return None
        return self._crons


def workspace_after(
    desired: Sequence[DesiredEntry],
    listing: Mapping[str, Sequence[Mapping[str, Any]]],
    plan: WorkspacePlan | None = None,
) -> list[Delivery]:
    """Every delivery once the plan is applied: the YAML's entries, and the remote items none of them
    is (nor the plan deletes). Without a plan, an entry is the remote item whose id it holds. A plan
    of some entries (`--target`, `--exclude`) applies only those: the others stay as the workspace has
    them (or absent, not created yet)."""
    if (planned := _planned_keys(plan)) is not None:
        desired = [d for d in desired if d.key in planned]
    out = [delivery_of(d.kind, d.fields, d.key, d.id) for d in desired] + _remote_left(desired, listing, plan)
    return [d for d in out if d is not None]


def _remote_left(
    desired: Sequence[DesiredEntry], listing: Mapping[str, Sequence[Mapping[str, Any]]], plan: WorkspacePlan | None
) -> list[Delivery | None]:
    """The deliveries of the remote items none of `desired` is, nor the plan matches or changes."""
    taken: dict[str, set[Any]] = {kind: set() for kind in listing}  # per kind, the ids the entries are
    for d in desired:
        taken.setdefault(d.kind, set()).add(d.id)
    for part in plan.plans if plan is not None else ():
        taken.setdefault(part.kind, set()).update([m.id for m in part.matches], [c.id for c in part.changes])
    for ids in taken.values():
        ids.discard(None)  # an entry or change not created yet is no listed item (even one without an id)
    return [
        delivery_of(kind, item)
        for kind, items in listing.items()
        for item in items
        if item.get("id") not in taken[kind]
    ]


def _crowding_after(
    desired: Sequence[DesiredEntry],
    listing: Mapping[str, Sequence[Mapping[str, Any]]],
    plan: WorkspacePlan | None,
    timezone: str,
    today: date | None,
    known: DesiredStarts | None,
) -> Crowding:
    """`Crowding(workspace_after(...))`, from the entries' starts counted ahead (`known`) when it can."""
    counted = known.counted(desired) if known is not None and _planned_keys(plan) is None else None
    if counted is None:
        return Crowding(workspace_after(desired, listing, plan), timezone, today=today)
    left = [d for d in _remote_left(desired, listing, plan) if d is not None]
    return Crowding(left, timezone, today=today, counted=counted)


def _planned_keys(plan: WorkspacePlan | None) -> set[str] | None:
    """The keys a plan of some entries (`--target`, `--exclude`) covers; None: it covers every one."""
    if plan is None or not any(part.partial for part in plan.plans):
        return None
    return {m.key for part in plan.plans for m in part.matches} | {c.key for c in plan.changes if c.key}


def starting_anew(plan: WorkspacePlan) -> dict[str, Change]:
    """The plan's changes, by key, that make an entry start at a new minute (or start again)."""
    return {c.key: c for c in plan.changes if c.key is not None and _starts_anew(c)}


def _starts_anew(change: Change) -> bool:
    if change.action is Action.CREATE:
        return True
    if change.action not in (Action.UPDATE, Action.REPLACE):
        return False
    return any(d.path == REPEAT or (d.path == "schedule.paused" and not d.new) for d in change.diff)


def _limit(config: ProjectConfig) -> int:
    return config.policy.max_same_minute or DEFAULT_CROWDED


def plan_crowds(
    config: ProjectConfig,
    desired: Sequence[DesiredEntry],
    plan: WorkspacePlan,
    listing: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    today: date | None = None,
    known: DesiredStarts | None = None,
) -> dict[str, Crowd]:
    """Per key of an entry the plan starts anew (and that starts at all), its crowd in the workspace
    after the plan: the plan's views say it when others start at its minute. `known`: the entries'
    starts, counted ahead."""
    keys = starting_anew(plan)
    if not keys:
        return {}
    workspace = _crowding_after(desired, listing, plan, config.timezone, today, known)
    found: dict[str, Crowd] = {}
    for entry in desired:
        delivery = delivery_of(entry.kind, entry.fields, entry.key) if entry.key in keys else None
        crowd = workspace.crowd(delivery, _limit(config)) if delivery is not None else None
        if crowd is not None:
            found[entry.key] = crowd
    return found


def crowding_problems(
    config: ProjectConfig,
    desired: Sequence[DesiredEntry],
    remote_listing: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    *,
    plan: WorkspacePlan | None = None,
    crowds: Mapping[str, Crowd] | None = None,
    today: date | None = None,
) -> list[Problem]:
    """Each entry starting anew (every entry, without a plan) whose minute would have more than
    `max_same_minute` deliveries, at its `schedule.repeat` line; an exception for the entry and the
    rule exempts it. `crowds`: `plan_crowds`' answer, when the plan has it already."""
    limit = config.policy.max_same_minute
    if limit is None:
        return []
    # The YAML's entries among themselves, every one: what `validate` finds offline, a plan finds too,
    # whatever the plan changes (those entries alone break the rule, the workspace aside).
    found = _over(limit, _crowds_among(config, desired, remote_listing if plan is None else None, limit, today))
    if plan is not None:
        crowds = crowds if crowds is not None else plan_crowds(config, desired, plan, remote_listing or {}, today=today)
        found = found | _over(limit, crowds)  # the workspace's count where both have it: it is the larger
    return [
        _problem(entry, found[entry.key], limit)
        for entry in desired
        if entry.key in found and not config.policy.excepted(entry.key, RULE)
    ]


def _crowds_among(
    config: ProjectConfig,
    desired: Sequence[DesiredEntry],
    listing: Mapping[str, Sequence[Mapping[str, Any]]] | None,
    limit: int,
    today: date | None,
) -> dict[str, Crowd]:
    workspace = Crowding(workspace_after(desired, listing or {}), config.timezone, today=today)
    every = ((d.key, delivery_of(d.kind, d.fields, d.key)) for d in desired)
    return {k: c for k, d in every if d is not None and (c := workspace.crowd(d, limit)) is not None}


def _over(limit: int, crowds: Mapping[str, Crowd]) -> dict[str, Crowd]:
    return {k: c for k, c in crowds.items() if c.others + 1 > limit}


def cron_from_environment(entry: DesiredEntry) -> str | None:
    """The `${VAR}` an entry's cron is taken from, if it is: its minutes are then as secret as it."""
    return next((e for path, e in entry.env.items() if path == "schedule" or path.startswith(REPEAT)), None)


def _problem(entry: DesiredEntry, crowd: Crowd, limit: int) -> Problem:
    quiet = f"; {crowd.quiet_at} is quiet" if crowd.quiet is not None else ""
    at = crowd.at
    if (expression := cron_from_environment(entry)) is not None:
        at, quiet = f"one of the minutes of {expression}", ""
    message = (
        f"{crowd.others + 1} deliveries would start at {at} ({RULE}: {limit}){quiet}: move the cron, or add "
        f"an exception {{key: {entry.key}, rule: {RULE}, reason: ...}} to the policy"
    )
    return Problem(entry.file, entry.line_of(REPEAT), f"{entry.key}.{REPEAT}", message)


def refuse_crowding(
    config: ProjectConfig,
    desired: Sequence[DesiredEntry],
    remote_listing: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    *,
    plan: WorkspacePlan | None = None,
    crowds: Mapping[str, Crowd] | None = None,
) -> None:
    """`crowding_problems`, raised: the YAML breaks the policy; nothing may be planned or applied."""
    problems = crowding_problems(config, desired, remote_listing, plan=plan, crowds=crowds)
    if problems:
        raise InvalidSchedules(problems, what="against the delivery policy", outcome="nothing was sent")


def refuse_breaking(config: ProjectConfig, desired: Sequence[DesiredEntry], *, complete: bool = True) -> None:
    """Every problem the YAML alone has with the policy, all at once (validate, plan, apply: before
    anything is sent): each delivery's rules and stale exceptions (`policing`, `complete`: every file
    was read), and its entries crowding a minute among themselves, a cron from the environment judged
    by its value when the variable is set (as the other rules judge such fields), left out when not."""
    problems = policing.police(config, desired, complete=complete).problems
    if config.policy.max_same_minute is not None:  # else no entry need be judged again (every plan comes here)
        judged = [replace(d, fields=policing.judged_fields(d, os.environ)[0]) for d in desired]
        problems += crowding_problems(config, judged)
    if problems:
        raise InvalidSchedules(problems, what="against the delivery policy", outcome="nothing was sent")


def checked_crowds(
    config: ProjectConfig,
    desired: Sequence[DesiredEntry],
    plan: WorkspacePlan,
    listing: Mapping[str, Sequence[Mapping[str, Any]]],
    known: DesiredStarts | None = None,
) -> dict[str, Crowd]:
    """The plan's crowds (`plan_crowds`), once none is over the policy's limit (else refused)."""
    crowds = plan_crowds(config, desired, plan, listing, known=known)
    refuse_crowding(config, desired, listing, plan=plan, crowds=crowds)
    return crowds


def exceptions_in_use(
    config: ProjectConfig, crowded: Mapping[int, bool], others: Sequence[PolicyException] = ()
) -> list[PolicyException]:
    """`others` (the other rules' exceptions in use) and each `max_same_minute` exception whose entry is
    crowded (`excepted_crowding`), in the config's order: the plan lists them all."""
    used = {id(e) for e in others} | {id(config.policy.exceptions[i]) for i, over in crowded.items() if over}
    return [e for e in config.policy.exceptions if id(e) in used]


def policed(config: ProjectConfig, planned: Planned) -> tuple[list[PolicyException], dict[str, Crowd]]:
    """The plan's exceptions in use (every rule's) and its crowds, once no entry is over the policy's
    `max_same_minute` and no exception to it excuses nothing (else refused: `InvalidSchedules`, nothing
    sent)."""
    known = planned.starts
    if kept := _kept_problems(config, planned):
        raise InvalidSchedules(kept, what="against the delivery policy", outcome="nothing was sent")
    crowds = checked_crowds(config, planned.desired, planned.plan, planned.listing_of, known)
    crowded = excepted_crowding(config, planned.desired, planned.listing_of, planned.plan, known=known)
    if stray := stray_exceptions(config, crowded):
        raise InvalidSchedules(stray, what="in the config file", outcome="nothing was sent")
    secret = {d.key for d in planned.desired if d.key in crowds and cron_from_environment(d) is not None}
    shown = {key: crowd for key, crowd in crowds.items() if key not in secret}  # the plan says no secret's minute
    return exceptions_in_use(config, crowded, policing.in_use(config, planned.desired)), shown


def _kept_problems(config: ProjectConfig, planned: Planned) -> list[Problem]:
    """What `ignore:` leaves to the workspace, judged on the items the plan matched the entries to."""
    if config.policy.empty or not (config.ignore.fields or config.ignore.schedules):
        return []  # every plan comes here: nothing to match up without a rule and an ignored field
    matched = {(part.kind, m.key): m.id for part in planned.plan.plans for m in part.matches}
    the_ids = [replace(d, id=matched.get((d.kind, d.key), d.id)) for d in planned.desired]
    remote = {(kind, int(item["id"])): item for kind, items in planned.remote_of.items() for item in items}
    return policing.kept_problems(config, the_ids, remote)


def excepted_crowding(
    config: ProjectConfig,
    desired: Sequence[DesiredEntry],
    listing: Mapping[str, Sequence[Mapping[str, Any]]],
    plan: WorkspacePlan | None = None,
    *,
    today: date | None = None,
    known: DesiredStarts | None = None,
) -> dict[int, bool]:
    """Per `max_same_minute` exception (its index in the config) whose entry exists, whether that entry
    would be over the limit in the workspace once the plan is applied, changed or not: the exception
    is then in use (listed in the plan), else it excuses nothing."""
    limit = config.policy.max_same_minute
    wanted = {e.key for e in config.policy.exceptions if e.rule == RULE}
    if limit is None or not wanted:
        return {}  # an exception to a rule not set is the other rules' stray check (`policing`)
    workspace = _crowding_after(desired, listing, plan, config.timezone, today, known)
    planned = _planned_keys(plan)  # an entry the plan leaves out is neither judged nor its exception stray
    entries = {d.key: d for d in desired if d.key in wanted and (planned is None or d.key in planned)}
    crowded: dict[int, bool] = {}
    for i, exception in enumerate(config.policy.exceptions):
        entry = entries.get(exception.key)
        if exception.rule != RULE or entry is None:  # a key no entry has: `policing` says so
            continue
        delivery = delivery_of(entry.kind, entry.fields, entry.key)
        crowd = workspace.crowd(delivery, limit) if delivery is not None else None
        crowded[i] = crowd is not None and crowd.others + 1 > limit
    return crowded


def stray_exceptions(config: ProjectConfig, crowded: Mapping[int, bool]) -> list[Problem]:
    """Each `max_same_minute` exception whose entry is crowded at none of its minutes: left in place it
    would let a later crowd through unreviewed. Only a plan can tell (validate knows no workspace)."""
    problems = []
    for i, over in crowded.items():
        if over:
            continue
        exception = config.policy.exceptions[i]
        file, line = config.where(f"policy.exceptions.{i}")
        why = (
            f"{exception.key} would start with at most {config.policy.max_same_minute} deliveries at any of its minutes"
        )
        message = f"an exception that excuses nothing: {why}; remove it"
        problems.append(Problem(file, line, f"policy.exceptions[{i}]", message))
    return problems


def refuse_saved_crowding(client: HolisticsClient, config: ProjectConfig, saved: SavedPlan) -> None:
    """A saved plan being applied under `max_same_minute`: checked against the workspace as it is now
    (a crowd may have formed since the plan was saved, and the policy may have tightened), with the
    YAML as it is now (`apply` has just found the plan true to it). Costs a listing of each kind,
    only when the rule is set."""
    if config.policy.max_same_minute is None:
        return
    desired = planning_env.resolved(load(list(saved.paths) or config.schedule_paths, cache=False))
    listing: dict[str, list[dict[str, Any]]] = {}
    for kind in KINDS:
        try:
            listing[kind.yaml_key] = list_remote(client, kind).schedules
        except NotFound:  # a server without data alerts holds none
            listing[kind.yaml_key] = []
    refuse_crowding(config, desired, listing, plan=saved.plan)
