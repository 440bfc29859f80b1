"""Duplicates the tool cannot prevent, it heals: remote items no entry claims whose content is a
managed entry's, and the deletions that would remove exactly those.

Two applies from two clones at once, or a create whose answer was lost and landed after the next
listing, leave a second item with an entry's content. Holistics has no idempotency key, so nothing
stops that; but the next plan sees it, by the comparison adoption uses (`matching.adoptable`, with
the entry's ignored fields left out on both sides), and names it as data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from reconciler.core.compare import normalize, removal_diff, without
from reconciler.core.hiding import hide_diffs
from reconciler.core.matching import Ignored, agrees
from reconciler.core.model import Action, Change, Plan, ProbableDuplicate, ordered
from reconciler.kinds import Bucket, Kind
from reconciler.kinds.entries import DesiredEntry


def probable_duplicates(
    managed: Sequence[DesiredEntry],
    matched: Mapping[str, int],
    candidates: Sequence[int],
    remote_by_id: Mapping[int, Mapping[str, Any]],
    kind: Kind,
    ignored: Ignored,
) -> tuple[ProbableDuplicate, ...]:
    """Each of `candidates` (items the plan leaves alone, in scope and declarable) whose content an
    entry with an item of its own would adopt: a copy of that entry. `managed` are the entries less
    their ignored fields; an item that copies two entries is named once, for the first key."""
    if not candidates:
        return ()
    # each candidate's bucket and title, once: only entries some candidate could copy are indexed (issue 22)
    keys = {i: (kind.bucket(remote_by_id[i]), _title_key(normalize(remote_by_id[i], kind), None)) for i in candidates}
    titled = set(keys.values())
    titles = {title for _, title in titled}  # most entries' titles are no candidate's: no bucket needed
    owners: dict[Bucket, dict[object, list[_Owner]]] = {}
    for entry in sorted(filter(_titled_as(titles, ignored), managed), key=lambda e: e.key):
        own = matched.get(entry.key)
        if own is None:
            continue
        paths = ignored(entry.key)
        # normalising leaves a title as it is: indexed before it
        title = _ANY if "title" in paths else _title_key(entry.fields, _ANY)
        bucket = kind.bucket(entry.fields)
        if title is _ANY or (bucket, title) in titled:
            fields = without(entry.fields, paths)
            owners.setdefault(bucket, {}).setdefault(title, []).append(_Owner(entry.key, own, paths, fields, entry.env))
    found = []
    for item_id in candidates:
        have = remote_by_id[item_id]
        bucket, title = keys[item_id]
        by_title = owners.get(bucket, {})
        # only entries with the item's title (or none of their own) can agree with it: a lookup, not a scan
        near = [*by_title.get(title, []), *by_title.get(_ANY, [])] if title is not _ANY else by_title.get(_ANY, [])
        seen: dict[frozenset[str], Mapping[str, Any]] = {}  # the item normalised once per set of ignored paths
        for owner in sorted(near, key=lambda o: o.key):
            if owner.ignored not in seen:
                seen[owner.ignored] = normalize(without(have, owner.ignored), kind)
            if agrees(owner.want(kind), seen[owner.ignored]):
                found.append(ProbableDuplicate(item_id, owner.key, owner.id, have, owner.env))
                break
    return tuple(found)


_ANY = object()  # an entry that sets no title (or an unhashable one) may agree with an item of any title


def _titled_as(titles: set[object], ignored: Ignored) -> Callable[[DesiredEntry], bool]:
    """Whether an entry may copy an item with one of `titles`: it sets none of them, an unhashable one,
    or leaves its title to the workspace (a first pass, without a copy or a sort of every entry)."""

    def may_copy(entry: DesiredEntry) -> bool:
        title = entry.fields.get("title", _ANY)
        try:
            if title in titles:
                return True
        except TypeError:  # unhashable: `_ANY`
            return True
        return title is _ANY or "title" in ignored(entry.key)

    return may_copy


def _title_key(item: Mapping[str, Any], absent: object) -> object:
    """The item's title as an index key: `absent` when it has none, `_ANY` when it cannot be hashed."""
    title = item.get("title", absent)
    try:
        hash(title)
    except TypeError:
        return _ANY
    return title


@dataclass
class _Owner:
    """A matched entry to compare with: its key, its own item's id, and its content, normalised only
    if an item of its title comes along (most never do)."""

    key: str
    id: int
    ignored: frozenset[str]
    fields: Mapping[str, Any]
    env: Mapping[str, str]
    _want: Mapping[str, Any] | None = None

    def want(self, kind: Kind) -> Mapping[str, Any]:
        if self._want is None:
            self._want = normalize(self.fields, kind)
        return self._want


def pruning_duplicates(plan: Plan, kind: Kind) -> Plan:
    """`plan` that also deletes its probable duplicates, and only those: they leave the unmanaged
    items and join the changes as deletions, so the safety threshold counts them like any other."""
    if not plan.probable_duplicates:
        return plan
    gone = {d.id for d in plan.probable_duplicates}
    deletions = [_deletion(d, kind) for d in plan.probable_duplicates]
    return replace(
        plan,
        changes=ordered([*plan.changes, *deletions]),
        unmanaged=tuple(i for i in plan.unmanaged if i not in gone),
        briefs={i: brief for i, brief in plan.briefs.items() if i not in gone},
    )


def _deletion(duplicate: ProbableDuplicate, kind: Kind) -> Change:
    reason = (
        f"a probable duplicate of {duplicate.key} ({kind.noun} {duplicate.of}): no entry claims it "
        "and its content is that entry's"
    )
    diff = hide_diffs(removal_diff(duplicate.remote, kind), duplicate.env)  # the copy holds the entry's values
    return Change(
        Action.DELETE,
        None,
        duplicate.id,
        diff,
        remote=duplicate.remote,
        reason=reason,
        kind=kind.yaml_key,
        env=duplicate.env,
    )
