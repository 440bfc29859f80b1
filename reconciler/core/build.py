"""Building the plan: `plan(desired, remote, kind=...) -> Plan`. No I/O; a function of data.

The phases, each a function below: clear ids the workspace no longer has and the fields the workspace
owns; match entries to remote items; an entry's change (create, update, replace); what is left
unclaimed (kept, deleted on a prune or a removal, or undeclarable); the `--target` selection; the order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.core.ahead import DiffsAhead
from reconciler.core.compare import differences, leaves, only, removal_diff, update_body, without
from reconciler.core.duplicates import probable_duplicates
from reconciler.core.hiding import env_values, hide_diff, hide_diffs, masked_new, masked_old
from reconciler.core.matching import Ignored, match
from reconciler.core.model import (
    ABSENT,
    Action,
    Brief,
    Change,
    FieldDiff,
    IgnoredDifference,
    Match,
    Plan,
    ProbableDuplicate,
    Removal,
    ordered,
)
from reconciler.kinds import Kind
from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import inert


@dataclass(frozen=True)
class _Sides:
    """What every phase reads: the kind, the remote items by id, the ids the YAML names that the
    workspace lacks, and the fields each entry leaves to the workspace."""

    kind: Kind
    remote_by_id: Mapping[int, Mapping[str, Any]]
    gone: frozenset[int]
    skip: Ignored
    ahead: DiffsAhead | None = None


@dataclass
class _Outcome:
    changes: list[Change] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    noticed: list[IgnoredDifference] = field(default_factory=list)
    duplicates: tuple[ProbableDuplicate, ...] = ()


def plan(
    desired: Sequence[DesiredEntry],
    remote: Iterable[Mapping[str, Any]],
    *,
    kind: Kind,
    prune: bool = False,
    ignored: Ignored | None = None,
    removed: Sequence[Removal] | None = None,
    selected: Callable[[str], bool] | None = None,
    selection: str | None = None,
    ahead: DiffsAhead | None = None,
) -> Plan:
    """What apply must do to make `remote` what `desired` says.

    `ignored(key)` names fields (dotted paths) the team curates in the UI: for an existing item
    they are neither compared nor overwritten; a new item is still created with them. An id the
    YAML names that `remote` lacks was deleted in the workspace (the caller has read every id it
    could): that entry adopts an identical unclaimed item, or is created again. `removed` (from
    `--prune-since`) are entries deleted from the YAML: their items, and only those, are
    deleted. `selected(key)` limits the plan to some entries (`--target`/`--exclude`, described by
    `selection`); everything is still matched, so a selected entry never takes an item another
    entry holds. `ahead`: differences already computed (`core.ahead`), taken only for the very
    objects compared here; the plan is the same without it.
    """
    remote = list(remote)
    remote_by_id = {int(r["id"]): r for r in remote}
    gone = frozenset(e.id for e in desired if e.id is not None and e.id not in remote_by_id)
    sides = _Sides(kind, remote_by_id, gone, ignored or _nothing_ignored, ahead)
    managed = _managed(desired, sides)
    matched = match(managed, remote, kind, ignored)
    outcome = _entry_changes(desired, managed, matched, sides)
    claimed = set(matched.values())
    unclaimed = sorted(i for i in remote_by_id if i not in claimed)
    undeclarable, deletions = _unclaimed(unclaimed, sides, prune, removed)
    outcome.changes += deletions
    deleted = {c.id for c in deletions}
    left = tuple(i for i in unclaimed if i not in deleted)
    # only what the plan leaves alone and the YAML could declare: a deletion or an Adls2Dest is no copy
    candidates = sorted(set(left) - set(undeclarable))
    outcome.duplicates = probable_duplicates(managed, matched, candidates, remote_by_id, kind, sides.skip)
    if selected is not None:
        outcome = _selected(outcome, selected)
    return Plan(
        changes=ordered(replace(c, kind=kind.yaml_key) for c in outcome.changes),
        matches=tuple(outcome.matches),
        unmanaged=left,
        remote_ids=frozenset(remote_by_id),
        prune=prune,
        undeclarable=undeclarable,
        briefs={i: Brief.of(remote_by_id[i], kind) for i in left},
        ignored_differences=tuple(outcome.noticed),
        partial=selection if selected is not None else None,
        probable_duplicates=outcome.duplicates,
        kind=kind.yaml_key,
    )


def _nothing_ignored(key: str) -> frozenset[str]:
    return frozenset()


def _managed(desired: Sequence[DesiredEntry], sides: _Sides) -> list[DesiredEntry]:
    """The entries as matching sees them: an id the workspace lacks cleared, ignored fields left out.
    An entry with neither is itself (most are: a copy of each costs a plan of 10,000 entries a tenth
    of a second of CPU after the last page, issue 22); nothing here changes an entry's fields."""
    entries = [replace(e, id=None) if e.id in sides.gone else e for e in desired]
    return [replace(e, fields=without(e.fields, skipped)) if (skipped := sides.skip(e.key)) else e for e in entries]


def _entry_changes(
    desired: Sequence[DesiredEntry], managed: Sequence[DesiredEntry], matched: Mapping[str, int], sides: _Sides
) -> _Outcome:
    """Each entry's create, update or replacement, and the match of each entry that has an item."""
    outcome = _Outcome()
    for original, entry in zip(desired, managed, strict=True):
        item_id = matched.get(entry.key)
        if item_id is None:
            outcome.changes.append(_create(original, entry, sides.gone, sides.kind))
            continue
        have = sides.remote_by_id[item_id]
        if sides.ahead is not None and (same := sides.ahead.unchanged(original, have)) is not None:
            outcome.matches.append(same)  # equal, nothing left to the workspace: all there is to say
            continue
        stale = original.id if original.id in sides.gone else None
        outcome.matches.append(Match(entry.key, item_id, entry.file, original.id == item_id, stale))
        outcome.noticed += _ignored_differences(original, sides.skip(entry.key), have, sides.kind)
        found = sides.ahead.differences(original, entry.fields, have) if sides.ahead else None
        change = _change_of(entry, item_id, have, sides.kind, found)
        if change is not None:
            outcome.changes.append(change)
    return outcome


def _unclaimed(
    unclaimed: Sequence[int], sides: _Sides, prune: bool, removed: Sequence[Removal] | None
) -> tuple[tuple[int, ...], list[Change]]:
    """Of the items no entry claims: those the YAML cannot declare (never deleted), and the deletions."""
    # the full check of values validates an item: only for those a prune could delete
    candidates = {r.id for r in removed or ()} | (set(unclaimed) if prune else set())
    undeclarable = tuple(
        i for i in unclaimed if not sides.kind.declarable(sides.remote_by_id[i], values=i in candidates)
    )
    deletable = sorted(set(unclaimed) - set(undeclarable))
    return undeclarable, _deletions(deletable, sides, prune, removed)


def _selected(outcome: _Outcome, selected: Callable[[str], bool]) -> _Outcome:
    return _Outcome(
        [c for c in outcome.changes if c.key is not None and selected(c.key)],
        [m for m in outcome.matches if selected(m.key)],
        [n for n in outcome.noticed if selected(n.key)],
        tuple(d for d in outcome.duplicates if selected(d.key)),
    )


def _create(original: DesiredEntry, entry: DesiredEntry, gone: frozenset[int], kind: Kind) -> Change:
    body = dict(original.fields)
    diff = hide_diffs(tuple(FieldDiff(p, ABSENT, v) for p, v in leaves(body)), original.env, _values(original))
    reason = (
        f"{kind.noun} {original.id} was deleted in the workspace; it will be created again"
        if original.id in gone
        else None
    )
    stale = original.id if original.id in gone else None
    return Change(Action.CREATE, entry.key, None, diff, body=body, reason=reason, stale_id=stale, **_where(entry))


def _change_of(
    entry: DesiredEntry, item_id: int, have: Mapping[str, Any], kind: Kind, found: tuple[FieldDiff, ...] | None = None
) -> Change | None:
    """The update, or the replacement when an immutable field moves (the source of a schedule).
    `found`: the differences of `entry.fields` and `have`, when already known."""
    found = differences(entry.fields, have, kind) if found is None else found
    diff = hide_diffs(found, entry.env, _values(entry))
    if not diff:
        return None
    if any(d.path in kind.immutable for d in diff):
        return Change(
            Action.REPLACE,
            entry.key,
            item_id,
            diff,
            body=dict(entry.fields),  # a new item, made from the YAML alone
            remote=have,
            reason=_replacement_reason(entry, diff, kind),
            stale_id=item_id,
            **_where(entry),
        )
    body = update_body(have, entry.fields, kind)
    return Change(Action.UPDATE, entry.key, item_id, diff, body=body, remote=have, **_where(entry))


def _deletions(ids: Sequence[int], sides: _Sides, prune: bool, removed: Sequence[Removal] | None) -> list[Change]:
    """With `prune`, every unclaimed, declarable item; with `removed`, only the removed entries'."""
    removals = {r.id: r for r in removed or ()}
    out = []
    for item_id in ids:
        removal = removals.get(item_id)
        if prune or removal is not None:
            out.append(_deletion(item_id, sides, removal))
    return out


def _deletion(item_id: int, sides: _Sides, removal: Removal | None) -> Change:
    have = sides.remote_by_id[item_id]
    diff = removal_diff(have, sides.kind)
    if removal is None:
        return Change(Action.DELETE, None, item_id, diff, remote=have)
    when = f"in {removal.commit}" if removal.commit else "in the working tree (not committed yet)"
    reason = f"{removal.key} was removed from {removal.file} {when}"
    return Change(Action.DELETE, removal.key, item_id, diff, remote=have, reason=reason)


def _ignored_differences(
    entry: DesiredEntry, paths: frozenset[str], have: Mapping[str, Any], kind: Kind
) -> list[IgnoredDifference]:
    if not paths:
        return []
    # dest.type rides along: without it a dest is compared whole, as if it changed type
    written = only(entry.fields, paths | ({"dest.type"} if any(p.startswith("dest.") for p in paths) else set()))
    return [
        IgnoredDifference(
            entry.key,
            d.path,
            masked_new(d.new, d.path, entry.env, _values(entry)),
            masked_old(d.old, d.path, entry.env),
            entry.file,
            entry.line_of(d.path),
            hidden=hide_diff(d, entry.env, _values(entry)).hidden,
        )
        for d in differences(written, have, kind)
    ]


def _values(entry: DesiredEntry) -> dict[str, Any]:
    return env_values(entry.fields, entry.env) if entry.env else {}


def _where(entry: DesiredEntry) -> dict[str, Any]:
    return {"file": entry.file, "line": entry.line, "field_lines": entry.field_lines, "env": entry.env}


def _replacement_reason(entry: DesiredEntry, diff: Sequence[FieldDiff], kind: Kind) -> str:
    """Why the item is replaced; when the YAML names its dashboard and the name now stands for another
    id (a uname renamed and republished in AML makes a new dashboard), it says so."""
    reason = f"the source of {_a(kind.noun)} cannot be changed in place: it must be replaced"
    uname = entry.names.get("source_id")
    moved = next((d for d in diff if d.path == "source_id"), None)
    if uname is None or moved is None or moved.old is None:
        return reason
    return (
        f"dashboard {inert(uname)} now names dashboard {moved.new} "
        f"(it was {moved.old}: renamed and republished in AML?); "
        f"{_a(kind.noun)}'s source cannot change in place: it must be replaced"
    )


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"
