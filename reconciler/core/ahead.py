"""Differences computed ahead: while the listing still waits on the network, each entry that names an
id is compared with that item as soon as the item is listed, so that `plan` does not do it all after
the last page.

`plan` takes a difference from here only for the very objects it compares (the entry's fields and the
remote item, by identity, with the same fields left to the workspace): anything else (an item read
by id afterwards, an entry matched by content, fields replaced since) is compared then, as always.
So a plan made with differences ahead is the plan made without them. No I/O, no threads: the caller
feeds items (`see`) from wherever they arrive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reconciler.core.compare import differences, without
from reconciler.core.matching import Ignored
from reconciler.core.model import FieldDiff, Match
from reconciler.kinds import Kind
from reconciler.kinds.entries import DesiredEntry


class DiffsAhead:
    """The differences of each entry with an id and the listed item of that id, as items come."""

    def __init__(
        self, kind: Kind, desired: Sequence[DesiredEntry], skip: Ignored, selected: Callable[[str], bool] | None = None
    ) -> None:
        self._kind, self._skip = kind, skip
        self._selected = selected or (lambda key: True)  # `--target`/`--exclude`: the entries the plan shows
        self._by_id = {e.id: e for e in desired if e.id is not None and e.kind == kind.yaml_key}
        # entry key -> (the entry's fields, the item, their differences, and the match when they are equal
        # and the entry leaves nothing to the workspace: all a plan says of the pair): the objects kept
        # alive with their result, so that an identity check cannot be fooled by a reused address
        self._done: dict[str, tuple[Mapping[str, Any], Mapping[str, Any], tuple[FieldDiff, ...], Match | None]] = {}

    def see(self, item: Mapping[str, Any]) -> bool:
        """Compares `item` with the entry of its id; whether the plan is likely to show it (it differs
        from a selected entry, or no entry names it): a guess, for reading its source's title early."""
        entry = self._by_id.get(item.get("id"))  # type: ignore[arg-type]
        if entry is None:
            return True
        skipped = self._skip(entry.key)
        found = differences(without(entry.fields, skipped) if skipped else entry.fields, item, self._kind)
        equal = not found and not skipped  # then the match is all a plan says of the pair
        same = Match(entry.key, entry.id, entry.file, True) if equal and entry.id is not None else None
        self._done[entry.key] = (entry.fields, item, found, same)
        return bool(found) and self._selected(entry.key)

    def unchanged(self, original: DesiredEntry, have: Mapping[str, Any]) -> Match | None:
        """The match of `original` (as the YAML has it) with `have`, the item of its id, when these very
        objects were found equal and the entry leaves no field to the workspace: the plan then has no
        change, no ignored difference and nothing else to say of the pair (issue 22: 10,000 such pairs
        were 0.03 s after the last page). None: the plan works it out."""
        done = self._done.get(original.key)
        if done is None or done[3] is None or done[0] is not original.fields or done[1] is not have:
            return None
        same = done[3]
        return same if original.id == same.id and original.file == same.file else None

    def differences(
        self, original: DesiredEntry, managed: Mapping[str, Any], have: Mapping[str, Any]
    ) -> tuple[FieldDiff, ...]:
        """`differences(managed, have)`, where `managed` is `original`'s fields less what it leaves to
        the workspace: from what was seen when it is about these very objects, else computed now."""
        done = self._done.get(original.key)
        if done is not None and done[0] is original.fields and done[1] is have:
            return done[2]
        return differences(managed, have, self._kind)
