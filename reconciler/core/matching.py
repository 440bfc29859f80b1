"""Which remote item each YAML entry is: its recorded id, or else an unclaimed item of identical
content (adoption), as many entries as possible.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from reconciler.core.compare import is_content, normalize, project, without
from reconciler.kinds import Bucket, Kind
from reconciler.kinds.entries import DesiredEntry

Ignored = Callable[[str], frozenset[str]]  # key -> the dotted fields the workspace owns for that entry


def match(
    desired: Sequence[DesiredEntry],
    remote: Sequence[Mapping[str, Any]],
    kind: Kind,
    ignored: Ignored | None = None,
) -> dict[str, int]:
    """key -> remote id. An entry with an id is that item. Entries without one are matched to
    unclaimed remote items whose managed content is identical, as many as possible (a maximum
    bipartite matching, so an entry that leaves a field out cannot take the only item a more
    specific entry could have), preferring lower ids. A field `ignored(key)` names is left out of
    the comparison on both sides: the workspace owns its value."""
    matched = {d.key: d.id for d in desired if d.id is not None}
    unmatched: dict[Bucket, list[DesiredEntry]] = {}
    for entry in desired:
        if entry.id is None:
            unmatched.setdefault(kind.bucket(entry.fields), []).append(entry)
    if not unmatched:
        return matched
    claimed = set(matched.values())
    buckets: dict[Bucket, list[Mapping[str, Any]]] = {}
    for item in sorted((r for r in remote if int(r["id"]) not in claimed), key=lambda r: int(r["id"])):
        buckets.setdefault(kind.bucket(item), []).append(item)
    for entries_bucket, entries in unmatched.items():
        matched.update(_max_matching(entries, buckets.get(entries_bucket, []), kind, ignored))
    return matched


def adoptable(desired: Mapping[str, Any], remote: Mapping[str, Any], kind: Kind, ignored: Iterable[str] = ()) -> bool:
    """Whether an entry without an id may take this remote item as its own: it agrees on every
    field the entry sets, and holds no content the entry does not mention (a filter preset, a title,
    a body text; see `is_content`). `ignored` paths are the workspace's to set, so they are left out
    on both sides."""
    ignored = tuple(ignored)
    return agrees(normalize(without(desired, ignored), kind), normalize(without(remote, ignored), kind))


def agrees(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    """`adoptable` of two items already normalised (less their ignored fields). Plain equality of the
    projection, not a field-by-field diff: this runs for every candidate pair, and only needs yes or no."""
    return project(have, want) == want and not _unmentioned(have, want)


def _unmentioned(remote: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    for key, value in remote.items():
        if key not in desired:
            if is_content(value):
                return True
        elif isinstance(value, Mapping) and isinstance(desired[key], Mapping) and _unmentioned(value, desired[key]):
            return True
    return False


def _max_matching(
    entries: Sequence[DesiredEntry],
    candidates: Sequence[Mapping[str, Any]],
    kind: Kind,
    ignored: Ignored | None,
) -> dict[str, int]:
    """Kuhn's augmenting paths over "identical content" edges; buckets are small in practice."""
    skip = ignored or (lambda key: frozenset())
    edges = [[int(c["id"]) for c in candidates if adoptable(e.fields, c, kind, skip(e.key))] for e in entries]
    owner: dict[int, int] = {}  # remote id -> index of the entry holding it

    def augment(i: int, seen: set[int]) -> bool:
        for item_id in edges[i]:
            if item_id in seen:
                continue
            seen.add(item_id)
            if item_id not in owner or augment(owner[item_id], seen):
                owner[item_id] = i
                return True
        return False

    for i in range(len(entries)):
        augment(i, set())
    return {entries[i].key: item_id for item_id, i in owner.items()}
