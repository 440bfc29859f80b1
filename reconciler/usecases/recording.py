"""After an apply: the id of each item it made or adopted, written into the entry that declares it.

Every kind's ids go into their entries by (file, key): keys are unique across the kinds, so an alert's
id can never land in a schedule's entry. Nothing here raises: after remote writes, whatever goes wrong
with a file (edited meanwhile, a full disk) ends as an `Unrecorded` line, and the run still ends with
its summary.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.core.model import Action, Change, Plan
from reconciler.desired.yamlwrite import Unrecorded, record_ids


@dataclass
class Recorded:
    recorded: dict[str, dict[str, int]] = field(default_factory=dict)  # file -> key -> id in the file now
    unrecorded: list[Unrecorded] = field(default_factory=list)  # ids to add by hand, each with where and why
    kinds: dict[str, str] = field(default_factory=dict)  # key -> its kind (`schedules`, `alerts`)


def record(
    parts: Sequence[Plan], made: Iterable[tuple[Change, int]], schedule_files: Collection[Path] | None
) -> Recorded:
    """Record the ids of `made` (each change done, with the id it made or adopted) and of the entries
    the plans matched by content, into `schedule_files` (None: the files the plan names)."""
    done = Recorded()
    done.kinds = {c.key: c.kind for part in parts for c in part.changes if c.key}
    done.kinds |= {m.key: part.kind for part in parts for m in part.matches}
    wanted = _ids_to_record(parts, made)
    lines = _planned_lines(parts)
    writable = schedule_files if schedule_files is not None else [Path(f) for f in wanted]
    try:
        done.unrecorded = record_ids(wanted, writable, lines=lines, replacing=_stale_ids(parts))
    except Exception as exc:  # record_ids returns its failures; this is the last line of defence
        done.unrecorded = [
            Unrecorded(file, key, new_id, lines.get((file, key), 0), f"unexpected error: {exc!r}")
            for file, ids in wanted.items()
            for key, new_id in ids.items()
        ]
    missed = {(u.file, u.key) for u in done.unrecorded}
    done.recorded = {
        file: kept
        for file, ids in wanted.items()
        if (kept := {key: new_id for key, new_id in ids.items() if (file, key) not in missed})
    }
    return done


def _planned_lines(parts: Sequence[Plan]) -> dict[tuple[str, str], int]:
    """(file, key) -> the line of the entry as planned: where to add an id the file no longer shows."""
    return {(c.file, c.key): c.line for part in parts for c in part.changes if c.file and c.key and c.line}


def _ids_to_record(parts: Sequence[Plan], made: Iterable[tuple[Change, int]]) -> dict[str, dict[str, int]]:
    ids: dict[str, dict[str, int]] = {}
    for change, new_id in made:
        if change.action in (Action.CREATE, Action.REPLACE) and change.file and change.key:
            ids.setdefault(change.file, {})[change.key] = new_id
    for match in (m for part in parts for m in part.matches):
        if not match.recorded:
            ids.setdefault(match.file, {})[match.key] = match.id
    return ids


def _stale_ids(parts: Sequence[Plan]) -> dict[tuple[str, str], int]:
    """(file, key) -> the id an entry holds that apply overwrites: an item deleted in the
    workspace, or one replaced. Only that exact id is ever written over."""
    changes = [c for part in parts for c in part.changes]
    matches = [m for part in parts for m in part.matches]
    stale = {(c.file, c.key): c.stale_id for c in changes if c.file and c.key and c.stale_id is not None}
    return stale | {(m.file, m.key): m.stale_id for m in matches if m.stale_id is not None}
