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
from reconciler.core.model import FieldDiff
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
        # entry key -> (the entry's fields, the item, their differences): the objects kept alive with
        # their result, so that an identity check cannot be fooled by a reused address
        self._done: dict[str, tuple[Mapping[str, Any], Mapping[str, Any], tuple[FieldDiff, ...]]] = {}

    def see(self, item: Mapping[str, Any]) -> bool:
        """Compares `item` with the entry of its id; whether the plan is likely to show it (it differs
        from a selected entry, or no entry names it): a guess, for reading its source's title early."""
        entry = self._by_id.get(item.get("id"))  # type: ignore[arg-type]
        if entry is None:
            return True
        managed = without(entry.fields, self._skip(entry.key))
        found = differences(managed, item, self._kind)
        self._done[entry.key] = (entry.fields, item, found)
        return bool(found) and self._selected(entry.key)

    def differences(
        self, original: DesiredEntry, managed: Mapping[str, Any], have: Mapping[str, Any]
    ) -> tuple[FieldDiff, ...]:
        """`differences(managed, have)`, where `managed` is `original`'s fields less what it leaves to
        the workspace: from what was seen when it is about these very objects, else computed now."""
        done = self._done.get(original.key)
        if done is not None and done[0] is original.fields and done[1] is have:
            return done[2]
        return differences(managed, have, self._kind)
