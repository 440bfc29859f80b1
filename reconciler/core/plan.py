"""The pure core: `plan(desired, remote) -> Plan`. No I/O; a function of data.

Both sides are normalised the same way before comparing, so nothing the server adds or reorders
shows up as a change. A field the YAML leaves out is not managed: it is neither compared nor
changed (an update sends the workspace's value back).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from reconciler.kinds.models import DesiredSchedule, nearest_line
from reconciler.kinds.shape import bucket, declarable, source_key, without_server_fields

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

    @property
    def title(self) -> str | None:
        for side in (self.body, self.remote):
            if side and side.get("title"):
                return str(side["title"])
        return None

    @property
    def source(self) -> tuple[str, int] | None:
        side = self.body or self.remote
        if side and "source_type" in side and "source_id" in side:
            return str(side["source_type"]), int(side["source_id"])
        return None

    def line_of(self, path: str) -> int | None:
        if self.line is None:
            return None
        return nearest_line(self.field_lines, path, self.line)


@dataclass(frozen=True)
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

    @classmethod
    def of(cls, schedule: Mapping[str, Any]) -> Brief:
        dest = schedule.get("dest")
        title = schedule.get("title")
        return cls(
            int(schedule["id"]),
            str(title) if title else None,
            source_key(schedule),
            str(dest.get("type")) if isinstance(dest, Mapping) else None,
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


@dataclass(frozen=True)
class Removal:
    """An entry that held `id` at an earlier commit and is gone from the schedule files now."""

    id: int
    key: str
    file: str
    commit: str | None  # the commit that removed it, None while the removal is not committed


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

    @property
    def summary(self) -> dict[str, int]:
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


# ---- normalisation ----

_SET_LISTS = {"dest.recipients", "dest.options.attachment_formats"}


def normalize(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """One canonical form for both sides: server-assigned and read-only fields dropped, documented
    defaults filled in, order-free lists sorted."""
    out = without_server_fields(schedule)
    if isinstance(out.get("dynamic_filter_presets"), list):
        presets = [_normalize_preset(p) for p in out["dynamic_filter_presets"]]
        out["dynamic_filter_presets"] = sorted(presets, key=_canonical)
    if isinstance(out.get("dest"), Mapping):
        dest = dict(out["dest"])
        if isinstance(dest.get("recipients"), list):
            dest["recipients"] = sorted({str(r).strip().lower() for r in dest["recipients"]})
        if isinstance(dest.get("options"), Mapping):
            options = dict(dest["options"])
            if isinstance(options.get("attachment_formats"), list):
                options["attachment_formats"] = sorted(set(options["attachment_formats"]))
            dest["options"] = options
        if isinstance(dest.get("slack_channels"), list):
            dest["slack_channels"] = sorted(dest["slack_channels"], key=_canonical)
        out["dest"] = dest
    return out


def _normalize_preset(preset: Any) -> Any:
    if not isinstance(preset, Mapping):
        return preset
    out = dict(preset)
    if out.get("public_hidden") is None:
        out["public_hidden"] = False  # the spec's documented default
    filter_id = out.get("dynamic_filter_id")
    if isinstance(filter_id, str) and filter_id.isdigit():
        out["dynamic_filter_id"] = int(filter_id)  # the spec allows "7" and 7 for one filter
    condition = out.get("preset_condition")
    if isinstance(condition, Mapping):
        condition = {"modifier": None, **condition}
        condition["values"] = condition.get("values") or []
        out["preset_condition"] = condition
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def project(remote: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The part of `remote` that `desired` manages (only the fields it sets, recursively).

    A dest of another type is taken whole: its fields do not carry over to the new type.
    """
    out: dict[str, Any] = {}
    for key, want in desired.items():
        if key not in remote:
            continue
        have = remote[key]
        if key in FREE_FORM_ITEMS and _objects(have) and _objects(want):
            out[key] = _project_items(have, want)
        else:
            out[key] = project(have, want) if _field_by_field(key, have, want) else have
    return out


# lists whose items the spec leaves free-form (a Slack channel is "an object"): a server may enrich
# them (`is_member`, a display name), so only the keys the YAML writes in its items are compared
FREE_FORM_ITEMS = frozenset({"slack_channels"})


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, Mapping) for item in value)


def _project_items(have: list[Mapping[str, Any]], want: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    keys = {k for item in want for k in item}
    return sorted(({k: item[k] for k in item if k in keys} for item in have), key=_canonical)


def _field_by_field(key: str, have: Any, want: Any) -> bool:
    """Whether two values are compared and merged field by field: both mappings, and not a dest
    changing type (a new type's fields replace the old ones whole)."""
    if not (isinstance(have, Mapping) and isinstance(want, Mapping)):
        return False
    return key != "dest" or have.get("type") == want.get("type")


def differences(desired: Mapping[str, Any], remote: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """Field-level differences between what the YAML manages and the remote schedule."""
    return _differences(normalize(desired), normalize(remote))


def _differences(new: Mapping[str, Any], remote: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """`differences` of two schedules already normalised."""
    old = project(remote, new)
    if old == new:
        return ()
    from deepdiff import DeepDiff  # here: most schedules are equal and never need it

    paths: dict[str, None] = {}
    tree = DeepDiff(old, new, view="tree", threshold_to_diff_deeper=0)
    for items in tree.values():
        for item in items:
            parts = item.path(output_format="list")
            # a list is one field (recipients, presets): report it whole, not item by item
            cut = next((i for i, p in enumerate(parts) if isinstance(p, int)), len(parts))
            paths[".".join(str(p) for p in parts[:cut])] = None
    return tuple(FieldDiff(path, _get(old, path), _get(new, path)) for path in sorted(paths))


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ABSENT
        node = node[part]
    return node


def update_body(remote: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The full object a PUT sends: the remote schedule with the YAML's fields laid over it."""
    return _overlay(without_server_fields(remote), desired)


def _overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        have = out.get(key)
        out[key] = _overlay(have, value) if have is not None and _field_by_field(key, have, value) else value
    return out


# ---- the plan ----


def match(
    desired: Sequence[DesiredSchedule],
    remote: Sequence[Mapping[str, Any]],
    ignored: Callable[[str], frozenset[str]] | None = None,
) -> dict[str, int]:
    """key -> remote id. An entry with an id is that schedule. Entries without one are matched to
    unclaimed remote schedules whose managed content is identical, as many as possible (a maximum
    bipartite matching, so an entry that leaves a field out cannot take the only schedule a more
    specific entry could have), preferring lower ids. A field `ignored(key)` names is left out of
    the comparison on both sides: the workspace owns its value."""
    matched = {d.key: d.id for d in desired if d.id is not None}
    claimed = set(matched.values())
    buckets: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for schedule in sorted(remote, key=lambda r: int(r["id"])):
        if int(schedule["id"]) not in claimed:
            buckets.setdefault(bucket(schedule), []).append(schedule)
    unmatched: dict[tuple[Any, ...], list[DesiredSchedule]] = {}
    for entry in desired:
        if entry.id is None:
            unmatched.setdefault(bucket(entry.fields), []).append(entry)
    for entries_bucket, entries in unmatched.items():
        matched.update(_max_matching(entries, buckets.get(entries_bucket, []), ignored))
    return matched


def adoptable(desired: Mapping[str, Any], remote: Mapping[str, Any], ignored: Iterable[str] = ()) -> bool:
    """Whether an entry without an id may take this remote schedule as its own: it agrees on every
    field the entry sets, and holds no content the entry does not mention (a filter preset, a title,
    a body text). Booleans and nulls are not content: servers fill those in as defaults. `ignored`
    paths are the workspace's to set, so they are left out on both sides."""
    ignored = tuple(ignored)
    # normalised once: this runs for every candidate pair
    want, have = normalize(without(desired, ignored)), normalize(without(remote, ignored))
    return not _differences(want, have) and not _unmentioned(have, want)


def _unmentioned(remote: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    for key, value in remote.items():
        if key not in desired:
            if _is_content(value):
                return True
        elif isinstance(value, Mapping) and isinstance(desired[key], Mapping) and _unmentioned(value, desired[key]):
            return True
    return False


def _is_content(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, Mapping):
        return any(_is_content(v) for v in value.values())
    if isinstance(value, list | str):
        return len(value) > 0
    return True


def _max_matching(
    entries: Sequence[DesiredSchedule],
    candidates: Sequence[Mapping[str, Any]],
    ignored: Callable[[str], frozenset[str]] | None,
) -> dict[str, int]:
    """Kuhn's augmenting paths over "identical content" edges; buckets are small in practice."""
    skip = ignored or (lambda key: frozenset())
    edges = [[int(c["id"]) for c in candidates if adoptable(e.fields, c, skip(e.key))] for e in entries]
    owner: dict[int, int] = {}  # remote id -> index of the entry holding it

    def augment(i: int, seen: set[int]) -> bool:
        for schedule_id in edges[i]:
            if schedule_id in seen:
                continue
            seen.add(schedule_id)
            if schedule_id not in owner or augment(owner[schedule_id], seen):
                owner[schedule_id] = i
                return True
        return False

    for i in range(len(entries)):
        augment(i, set())
    return {entries[i].key: schedule_id for schedule_id, i in owner.items()}


def plan(
    desired: Sequence[DesiredSchedule],
    remote: Iterable[Mapping[str, Any]],
    *,
    prune: bool = False,
    ignored: Callable[[str], frozenset[str]] | None = None,
    removed: Sequence[Removal] | None = None,
    selected: Callable[[str], bool] | None = None,
    selection: str | None = None,
) -> Plan:
    """What apply must do to make `remote` what `desired` says.

    `ignored(key)` names fields (dotted paths) the team curates in the UI: for an existing schedule
    they are neither compared nor overwritten; a new schedule is still created with them. An id the
    YAML names that `remote` lacks was deleted in the workspace (the caller has read every id it
    could): that entry adopts an identical unclaimed schedule, or is created again. `removed` (from
    `--prune-since`) are entries deleted from the YAML: their schedules, and only those, are
    deleted. `selected(key)` limits the plan to some entries (`--target`/`--exclude`, described by
    `selection`); everything is still matched, so a selected entry never takes a schedule another
    entry holds.
    """
    remote = list(remote)
    remote_by_id = {int(r["id"]): r for r in remote}
    skip = ignored or (lambda key: frozenset())
    gone = frozenset(e.id for e in desired if e.id is not None and e.id not in remote_by_id)
    entries = [replace(e, id=None) if e.id in gone else e for e in desired]
    managed = [replace(e, fields=without(e.fields, skip(e.key))) for e in entries]
    matched = match(managed, remote, ignored)
    changes: list[Change] = []
    matches: list[Match] = []
    noticed: list[IgnoredDifference] = []
    for original, entry in zip(desired, managed, strict=True):
        schedule_id = matched.get(entry.key)
        if schedule_id is None:
            changes.append(_create(original, entry, gone))
            continue
        have = remote_by_id[schedule_id]
        stale = original.id if original.id in gone else None
        matches.append(Match(entry.key, schedule_id, entry.file, original.id == schedule_id, stale))
        noticed += _ignored_differences(original, skip(entry.key), have)
        change = _change_of(entry, schedule_id, have)
        if change is not None:
            changes.append(change)
    claimed = set(matched.values())
    unclaimed = sorted(i for i in remote_by_id if i not in claimed)
    # the full check of values validates a schedule: only for those a prune could delete
    candidates = {r.id for r in removed or ()} | (set(unclaimed) if prune else set())
    undeclarable = tuple(i for i in unclaimed if not declarable(remote_by_id[i], values=i in candidates))
    deletable = sorted(set(unclaimed) - set(undeclarable))
    changes += _deletions(deletable, remote_by_id, prune, removed)
    deleted = {c.id for c in changes if c.action is Action.DELETE}
    left = tuple(i for i in unclaimed if i not in deleted)
    if selected is not None:
        changes = [c for c in changes if c.key is not None and selected(c.key)]
        matches = [m for m in matches if selected(m.key)]
        noticed = [n for n in noticed if selected(n.key)]
    order = {Action.DELETE: 0, Action.REPLACE: 1, Action.UPDATE: 2, Action.CREATE: 3}
    changes.sort(key=lambda c: (order[c.action], c.key or "", c.id or 0))
    return Plan(
        changes=tuple(changes),
        matches=tuple(matches),
        unmanaged=left,
        remote_ids=frozenset(remote_by_id),
        prune=prune,
        undeclarable=undeclarable,
        briefs={i: Brief.of(remote_by_id[i]) for i in left},
        ignored_differences=tuple(noticed),
        partial=selection if selected is not None else None,
    )


def _create(original: DesiredSchedule, entry: DesiredSchedule, gone: frozenset[int]) -> Change:
    body = dict(original.fields)
    diff = tuple(FieldDiff(p, ABSENT, v) for p, v in _leaves(body))
    reason = (
        f"schedule {original.id} was deleted in the workspace; it will be created again"
        if original.id in gone
        else None
    )
    stale = original.id if original.id in gone else None
    return Change(Action.CREATE, entry.key, None, diff, body=body, reason=reason, stale_id=stale, **_where(entry))


SOURCE_FIELDS = ("source_type", "source_id")


def _change_of(entry: DesiredSchedule, schedule_id: int, have: Mapping[str, Any]) -> Change | None:
    """The update, or the replacement when the source moves (Holistics cannot change it in place)."""
    diff = differences(entry.fields, have)
    if not diff:
        return None
    if any(d.path in SOURCE_FIELDS for d in diff):
        return Change(
            Action.REPLACE,
            entry.key,
            schedule_id,
            diff,
            body=dict(entry.fields),  # a new schedule, made from the YAML alone
            remote=have,
            reason="the source of a schedule cannot be changed in place: it must be replaced",
            stale_id=schedule_id,
            **_where(entry),
        )
    body = update_body(have, entry.fields)
    return Change(Action.UPDATE, entry.key, schedule_id, diff, body=body, remote=have, **_where(entry))


def _deletions(
    ids: Sequence[int], remote_by_id: Mapping[int, Mapping[str, Any]], prune: bool, removed: Sequence[Removal] | None
) -> list[Change]:
    """With `prune`, every unclaimed, declarable schedule; with `removed`, only the removed entries'."""
    removals = {r.id: r for r in removed or ()}
    out = []
    for schedule_id in ids:
        removal = removals.get(schedule_id)
        if not prune and removal is None:
            continue
        have = remote_by_id[schedule_id]
        diff = tuple(FieldDiff(p, v, ABSENT) for p, v in _leaves(normalize(have)))
        if removal is None:
            out.append(Change(Action.DELETE, None, schedule_id, diff, remote=have))
            continue
        when = f"in {removal.commit}" if removal.commit else "in the working tree (not committed yet)"
        reason = f"{removal.key} was removed from {removal.file} {when}"
        out.append(Change(Action.DELETE, removal.key, schedule_id, diff, remote=have, reason=reason))
    return out


def _ignored_differences(
    entry: DesiredSchedule, paths: frozenset[str], have: Mapping[str, Any]
) -> list[IgnoredDifference]:
    if not paths:
        return []
    # dest.type rides along: without it a dest is compared whole, as if it changed type
    written = only(entry.fields, paths | ({"dest.type"} if any(p.startswith("dest.") for p in paths) else set()))
    return [
        IgnoredDifference(entry.key, d.path, d.new, d.old, entry.file, entry.line_of(d.path))
        for d in differences(written, have)
    ]


def only(fields: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """The part of `fields` at the dotted `paths` that it sets (with their parents), nothing else."""
    out: dict[str, Any] = {}
    for path in paths:
        *parents, last = path.split(".")
        node: Any = fields
        for part in parents:
            node = node.get(part) if isinstance(node, Mapping) else None
        if not isinstance(node, Mapping) or last not in node:
            continue
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = copy.deepcopy(node[last])
    return out


def without(fields: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """`fields` less the dotted `paths` (a copy; empty parents are kept, meaning "manage nothing here")."""
    paths = list(paths)
    if not paths:
        return dict(fields)  # the common case: nothing ignored, nothing to copy deeply
    out = copy.deepcopy(dict(fields))
    for path in paths:
        *parents, last = path.split(".")
        node: Any = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return out


@dataclass(frozen=True)
class SafetyPolicy:
    max_change_share: float = 0.3
    min_managed: int = 10


def unsafe_reason(plan: Plan, policy: SafetyPolicy) -> str | None:
    """Why this plan touches too much of the workspace, or None. "Managed" is every remote schedule
    in scope: the ones this plan could update or delete."""
    managed = len(plan.remote_ids) - len(plan.undeclarable)
    touched = plan.summary["update"] + plan.summary["delete"] + plan.summary["replace"]
    if managed < policy.min_managed or touched <= policy.max_change_share * managed:
        return None
    return (
        f"this plan updates {plan.summary['update']} and deletes {plan.summary['delete']} of {managed} managed "
        f"schedules ({touched / managed:.0%}, more than the {policy.max_change_share:.0%} allowed); "
        "check it, then apply with --force"
    )


def _where(entry: DesiredSchedule) -> dict[str, Any]:
    return {"file": entry.file, "line": entry.line, "field_lines": entry.field_lines}


def _leaves(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, f"{path}.")
        else:
            yield path, value
