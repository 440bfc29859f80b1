"""The plan as data: what `plan()` answers and what every view, saved plan and apply reads.

A `Plan` holds the changes (create, update, delete, replace), the entries it matched to remote
schedules, and what it leaves alone and why; nothing here computes one (see `core.build`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.kinds import Kind
from reconciler.kinds.entries import nearest_line

ABSENT: Any = None  # how a field missing on one side is shown in a diff


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"  # delete, then create: a schedule's source cannot be changed in place


@dataclass(frozen=True)
class FieldDiff:
    path: str  # dotted, e.g. "dest.recipients"
    old: Any
    new: Any
    # Not None when a value here comes from the environment (see `core.hiding`): `old` and `new` then
    # hold its `${NAME}` expression in its place, on both sides, and this says whether the value changes.
    env_changes: bool | None = None

    @property
    def hidden(self) -> bool:
        return self.env_changes is not None


@dataclass(frozen=True)
class Change:
    action: Action
    key: str | None  # None: a remote schedule no YAML declares (a prune)
    id: int | None  # None: not created yet
    diff: tuple[FieldDiff, ...]
    body: Mapping[str, Any] | None = None  # what apply sends: POST or full PUT object
    remote: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    file: str | None = None
    line: int | None = None
    field_lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)
    reason: str | None = None  # why this change, when the diff alone does not say (a deleted id, a removal)
    stale_id: int | None = None  # the id the YAML entry holds now and apply overwrites (deleted, replaced)
    kind: str = "schedules"  # the kind's YAML key: `schedules`, `alerts`
    # field path -> the `${NAME}` expression the YAML wrote there: the value comes from the environment,
    # is in `body` (what apply sends) and never in `diff` (see `core.hiding`)
    env: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def title(self) -> str | None:
        for side in (self.body, self.remote):
            if side and side.get("title"):
                return str(side["title"])
        return None

    @property
    def source(self) -> tuple[str, int] | None:
        """The dashboard or report a schedule delivers. None for an alert: its widget or viz block
        (an id that may be a string) has no title of its own to read; `Brief.raw_source` names it."""
        side = self.body or self.remote
        if self.kind == "schedules" and side and "source_type" in side and "source_id" in side:
            return str(side["source_type"]), int(side["source_id"])
        return None

    def line_of(self, path: str) -> int | None:
        if self.line is None:
            return None
        return nearest_line(self.field_lines, path, self.line)


@dataclass(frozen=True, slots=True)  # a plan holds one per entry
class Match:
    """A YAML entry and the remote schedule it is; `recorded` when the YAML already holds the id."""

    key: str
    id: int
    file: str
    recorded: bool
    stale_id: int | None = None  # an id the entry holds that the workspace no longer has


@dataclass(frozen=True)
class Brief:
    """What a plan says of a remote schedule it leaves alone: enough for a reviewer to know which."""

    id: int
    title: str | None
    source: tuple[str, int] | None
    dest_type: str | None
    # the source as the item names it, for a kind whose sources have no title to read (an alert's
    # widget or viz block: `("VizBlock", "v-12")`); None when `source` says it
    raw_source: tuple[str, int | str] | None = None

    @classmethod
    def of(cls, schedule: Mapping[str, Any], kind: Kind) -> Brief:
        dest = schedule.get("dest")
        title = schedule.get("title")
        source = kind.source_key(schedule)
        raw = None
        source_id = schedule.get("source_id")
        if source is None and isinstance(source_id, int | str) and not isinstance(source_id, bool):
            raw = (str(schedule.get("source_type")), source_id)
        return cls(
            int(schedule["id"]),
            str(title) if title else None,
            source,
            str(dest.get("type")) if isinstance(dest, Mapping) else None,
            raw,
        )


@dataclass(frozen=True)
class IgnoredDifference:
    """A field an ignore rule hands to the workspace, whose YAML value differs from the workspace's."""

    key: str
    path: str
    yaml: Any
    workspace: Any
    file: str
    line: int
    hidden: bool = False  # a value from the environment: `yaml` and `workspace` hold its expression


@dataclass(frozen=True)
class Removal:
    """An entry that held `id` at an earlier commit and is gone from the schedule files now."""

    id: int
    key: str
    file: str
    commit: str | None  # the commit that removed it, None while the removal is not committed
    kind: str = "schedules"  # the kind (YAML key) the entry was of: ids are only unique within a kind


@dataclass(frozen=True)
class ProbableDuplicate:
    """A remote item no entry claims whose content is a managed entry's, by the comparison adoption
    uses: made twice (two applies at once, a create whose answer was lost and landed after the next
    listing). Holistics has no idempotency key to prevent that; the next plan sees it."""

    id: int
    key: str  # the entry it copies
    of: int  # the id of that entry's own item
    remote: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # the copied entry's fields from the environment: the copy holds the same values, never shown
    env: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    matches: tuple[Match, ...]  # every YAML entry that has a remote schedule, changed or not
    unmanaged: tuple[int, ...]  # remote ids no YAML declares and that are left alone (undeclarable ones too)
    remote_ids: frozenset[int] = frozenset()  # every id read: what "already existed" means to apply
    prune: bool = False
    unsafe: str | None = None  # why apply should refuse this plan without --force
    # remote ids of a kind the YAML cannot declare (an Adls2Dest): never pruned, never counted as managed
    undeclarable: tuple[int, ...] = ()
    briefs: Mapping[int, Brief] = field(default_factory=dict, compare=False)  # of unmanaged schedules
    ignored_differences: tuple[IgnoredDifference, ...] = ()
    partial: str | None = None  # the --target/--exclude selection, when the plan covers only some entries
    timezone: str = "UTC"  # the zone `schedule.repeat` is read in (an assumption the config states)
    # unmanaged items that copy a matched entry (see ProbableDuplicate); `duplicates.pruning_duplicates` deletes them
    probable_duplicates: tuple[ProbableDuplicate, ...] = ()
    kind: str = "schedules"  # the kind every change, match and id of this plan is of

    @property
    def summary(self) -> dict[str, int]:
        return dict(self._summary)

    @functools.cached_property
    def _summary(self) -> dict[str, int]:
        """Counted once: every view and the safety check ask, and a plan is never changed in place."""
        counts = {action.value: 0 for action in Action}
        for change in self.changes:
            counts[change.action.value] += 1
        changed = {c.key for c in self.changes if c.action in (Action.UPDATE, Action.REPLACE)}
        counts["unchanged"] = sum(1 for m in self.matches if m.key not in changed)
        counts["unmanaged"] = len(self.unmanaged)
        return counts

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    def of(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action is action]


@dataclass(frozen=True)
class WorkspacePlan:
    """The plan of every kind, one `Plan` per kind in the order of `kinds.known.KINDS`: ids are only
    unique within a kind, so each kind's matches, ids and unmanaged items stay in its own `Plan`.
    What concerns the whole plan (`unsafe`, `partial`, `prune`, `timezone`) is said once here."""

    plans: tuple[Plan, ...]

    @classmethod
    def of_plan(cls, plan: Plan | WorkspacePlan) -> WorkspacePlan:
        """`plan` as a workspace plan: a single kind's `Plan` becomes the plan of that kind alone."""
        return plan if isinstance(plan, WorkspacePlan) else cls((plan,))

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(change for part in self.plans for change in part.changes)

    @property
    def has_changes(self) -> bool:
        return any(part.has_changes for part in self.plans)

    @property
    def summary(self) -> dict[str, int]:
        """Each count summed over the kinds (`Plan.summary` of each kind for its own)."""
        total: dict[str, int] = {}
        for part in self.plans:
            for name, count in part.summary.items():
                total[name] = total.get(name, 0) + count
        return total

    @property
    def summary_by_kind(self) -> dict[str, dict[str, int]]:
        return {part.kind: part.summary for part in self.plans}

    @property
    def busy_kinds(self) -> tuple[str, ...]:
        """The kinds this plan has anything to say of: a change, a match or an unmanaged item."""
        return tuple(p.kind for p in self.plans if p.changes or p.matches or p.unmanaged)

    @property
    def unsafe(self) -> str | None:
        """Why apply should refuse the plan without --force: any kind's reason (each kind is judged on
        its own share, so many alerts cannot hide a sweeping change of schedules)."""
        reasons = [p.unsafe for p in self.plans if p.unsafe]
        return "; ".join(reasons) if reasons else None

    @property
    def partial(self) -> str | None:
        return next((p.partial for p in self.plans if p.partial), None)

    @property
    def prune(self) -> bool:
        return any(p.prune for p in self.plans)

    @property
    def timezone(self) -> str:
        return self.plans[0].timezone if self.plans else "UTC"

    @property
    def matches(self) -> tuple[Match, ...]:
        return tuple(m for part in self.plans for m in part.matches)

    @property
    def unmanaged(self) -> tuple[int, ...]:
        """The unmanaged ids of every kind, kind after kind (an id alone names no item: see `of_kind`)."""
        return tuple(i for part in self.plans for i in part.unmanaged)

    @property
    def ignored_differences(self) -> tuple[IgnoredDifference, ...]:
        return tuple(d for part in self.plans for d in part.ignored_differences)

    @property
    def probable_duplicates(self) -> tuple[ProbableDuplicate, ...]:
        return tuple(d for part in self.plans for d in part.probable_duplicates)

    def of_kind(self, yaml_key: str) -> Plan | None:
        return next((part for part in self.plans if part.kind == yaml_key), None)

    def of(self, action: Action) -> list[Change]:
        return [c for c in self.changes if c.action is action]


_ORDER = {Action.DELETE: 0, Action.REPLACE: 1, Action.UPDATE: 2, Action.CREATE: 3}


def ordered(changes: Iterable[Change]) -> tuple[Change, ...]:
    """Changes in the order apply makes them: deletions first (they free what a create may need)."""
    return tuple(sorted(changes, key=lambda c: (_ORDER[c.action], c.key or "", c.id or 0)))
