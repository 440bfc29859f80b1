"""Execute a Plan: exactly its calls, in parallel, without ever creating a duplicate.

A create is sent at most once per run, and only after the source's schedules were looked at for
one made since the plan was read (see `_create`): re-running a plan, or a create that landed after
its answer was lost, adopts that schedule instead of making a second one.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.compare import differences
from reconciler.core.model import Action, Change, Plan
from reconciler.desired.yamlwrite import Unrecorded, record_ids
from reconciler.kinds import Bucket, SourceKey
from reconciler.kinds.schedules import SCHEDULES, bucket, source_key
from reconciler.problems import Problem
from reconciler.remote.client import APIError, HolisticsClient, HolisticsError, NotFound, OutcomeUnknown
from reconciler.remote.reads import list_remote

DEFAULT_PARALLELISM = 4
SETTLE_WAITS = (0.5, 1.0, 2.0, 4.0)  # after a create of unknown outcome: how long to keep looking for it


@dataclass(frozen=True)
class Result:
    change: Change
    ok: bool
    id: int | None
    message: str
    errors: tuple[Problem, ...] = ()  # per field, at its file and line (printed `file:line: key.field: message`)
    deleted: int | None = None  # a failed replacement's old schedule, deleted all the same: it delivers no more


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    recorded: dict[str, dict[str, int]] = field(default_factory=dict)  # file -> key -> id in the file now
    unrecorded: list[Unrecorded] = field(default_factory=list)  # ids to add by hand, each with where and why

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def half_done(self) -> list[Result]:
        """Replacements that deleted the old schedule but could not create the new one."""
        return [r for r in self.results if not r.ok and r.deleted is not None]

    @property
    def done(self) -> int:
        """How many changes were made."""
        return sum(r.ok for r in self.results)


def apply(
    plan: Plan,
    client: HolisticsClient,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    on_result: Callable[[Result], None] | None = None,
    settle_waits: Sequence[float] = SETTLE_WAITS,
    schedule_files: Collection[Path] | None = None,
) -> Report:
    """Make the plan's calls; every change is attempted and reported, whatever the others do.

    Interrupted (Ctrl-C), it starts nothing new, lets what is in flight finish, records the ids of
    what it created, and re-raises.

    Ids are written only into `schedule_files` (this run's schedule files, as discovered): a plan
    loaded from disk names files in text that anyone could have edited. None trusts the files the
    plan names, for a plan made in this process from files it read.
    """
    report = Report()
    run = _Run(client, set(plan.remote_ids), settle_waits=settle_waits)

    def work(changes: Sequence[Change]) -> None:
        for change in changes:
            if run.stop.is_set():
                return
            result = _execute(change, run)
            with run.lock:
                report.results.append(result)
                if on_result is not None:
                    on_result(result)

    pool = ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply")
    try:
        futures = [pool.submit(work, unit) for unit in _work_units(plan.changes)]
        for future in futures:
            future.result()
    except BaseException:
        run.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        _record(plan, report, schedule_files)  # even when the run is cut short, so the next plan names them
    return report


def _record(plan: Plan, report: Report, schedule_files: Collection[Path] | None) -> None:
    """Record the ids of what was made or adopted. Never raises: after remote writes, whatever goes
    wrong with a file (edited meanwhile, a full disk) ends as an `Unrecorded` line, and the run
    still ends with its summary."""
    wanted = _ids_to_record(plan, report.results)
    lines = _planned_lines(plan)
    writable = schedule_files if schedule_files is not None else [Path(f) for f in wanted]
    try:
        report.unrecorded = record_ids(wanted, writable, lines=lines, replacing=_stale_ids(plan))
    except Exception as exc:  # record_ids returns its failures; this is the last line of defence
        report.unrecorded = [
            Unrecorded(file, key, new_id, lines.get((file, key), 0), f"unexpected error: {exc!r}")
            for file, ids in wanted.items()
            for key, new_id in ids.items()
        ]
    missed = {(u.file, u.key) for u in report.unrecorded}
    report.recorded = {
        file: kept
        for file, ids in wanted.items()
        if (kept := {key: new_id for key, new_id in ids.items() if (file, key) not in missed})
    }


def _planned_lines(plan: Plan) -> dict[tuple[str, str], int]:
    """(file, key) -> the line of the entry as planned: where to add an id the file no longer shows."""
    return {(c.file, c.key): c.line for c in plan.changes if c.file and c.key and c.line}


@dataclass
class _Run:
    """What the workers of one apply share."""

    client: HolisticsClient
    taken: set[int]  # ids a create may not adopt: they existed at plan time or were made by this run
    settle_waits: Sequence[float] = SETTLE_WAITS
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    listings: dict[SourceKey | None, list[dict[str, Any]]] = field(default_factory=dict)
    source_locks: dict[SourceKey | None, threading.Lock] = field(default_factory=dict)


def _work_units(changes: Iterable[Change]) -> list[list[Change]]:
    """Changes that can run side by side. Creates of the same source and dest type run one after
    another, so adopting after an unknown outcome can never take a sibling's schedule."""
    units: list[list[Change]] = []
    creates: dict[Bucket, list[Change]] = {}
    for change in changes:
        if change.action is Action.CREATE and change.body is not None:
            # the matching bucket of plan.match: adoption after an unknown outcome looks only there
            creates.setdefault(bucket(change.body), []).append(change)
        else:
            units.append([change])
    return units + list(creates.values())


def _execute(change: Change, run: _Run) -> Result:
    client = run.client
    try:
        if change.action is Action.CREATE:
            return _create(change, run)
        assert change.id is not None
        if change.action is Action.REPLACE:
            return _replace(change, run)
        if change.action is Action.UPDATE:
            assert change.body is not None
            client.update(SCHEDULES, change.id, dict(change.body))
            return Result(change, True, change.id, "updated")
        try:
            client.delete(SCHEDULES, change.id)
        except NotFound:
            return Result(change, True, change.id, "already deleted")
        return Result(change, True, change.id, "deleted")
    except HolisticsError as exc:
        return _failure(change, exc, creating=change.id is None)


def _failure(change: Change, exc: HolisticsError, *, creating: bool) -> Result:
    """A refused or failed request as a result; `creating`: the request was a POST."""
    schedule_id = None if creating else change.id
    if isinstance(exc, NotFound):
        if creating:  # what is missing is what it points at, not the schedule
            return Result(change, False, None, str(exc), _field_errors(change, exc))
        message = f"schedule {change.id} no longer exists (deleted since the plan was made)"
        return Result(change, False, change.id, message)
    if isinstance(exc, APIError):
        errors = _field_errors(change, exc)
        if any(exc.record.values()):  # the lines below carry the details; the summary need not repeat them
            return Result(change, False, schedule_id, f"rejected by the API ({exc.status} {exc.error_type})", errors)
        return Result(change, False, schedule_id, str(exc), errors)
    return Result(change, False, schedule_id, str(exc))


def _create(change: Change, run: _Run) -> Result:
    """POST once, never twice: a duplicate is worse than a create left for the next run.

    Right before the POST, the source's schedules are looked at: one made since the plan was read
    that carries everything this body sets is this entry's, made by an earlier run of the same plan
    (a saved plan applied twice, a re-run CI job) or a create that landed late, and it is adopted
    instead. When the POST's outcome is unknown (timeout, reset, 5xx: it may have been processed),
    the source is listed again over a few seconds; if the schedule has not appeared it is reported,
    not sent again, and the next run adopts it when it appears, or creates it.
    """
    assert change.body is not None
    existing = _made_since_plan(change, run, _source_listing(change, run))
    if existing is not None:
        return Result(change, True, existing, "already created (found made since the plan): adopted, not created again")
    try:
        created = run.client.create(SCHEDULES, dict(change.body))
    except OutcomeUnknown as exc:
        adopted = _find_created(change, run, waits=run.settle_waits)
        if adopted is not None:
            return Result(change, True, adopted, f"created (confirmed by listing again after: {exc})")
        return Result(
            change,
            False,
            None,
            f"{exc}; it has not appeared, so it was not sent again. "
            "Run apply again: it adopts the schedule if it appears, or creates it",
        )
    new_id = int(created["id"])
    with run.lock:
        run.taken.add(new_id)
    return Result(change, True, new_id, "created")


def _replace(change: Change, run: _Run) -> Result:
    """Delete, then create (Terraform's default order; README, "How it decides"): two deliveries of
    one entry never exist. If the create fails, the result says the old schedule was deleted all the
    same (`deleted`): the entry's id names a deleted schedule, and the next plan creates it again."""
    assert change.id is not None
    with contextlib.suppress(NotFound):  # already gone: the create is all that is left to do
        run.client.delete(SCHEDULES, change.id)
    try:
        created = _create(change, run)
    except HolisticsError as exc:  # the delete happened: the result must say so
        created = _failure(change, exc, creating=True)
    if not created.ok:
        message = (
            f"deleted {change.id}, but the new schedule was not made: {created.message}; "
            "it delivers nothing until the next apply creates it"
        )
        return Result(change, False, None, message, created.errors, deleted=change.id)
    return Result(change, True, created.id, f"replaced: deleted {change.id}, {created.message} {created.id}")


def _filters(change: Change) -> dict[str, Any]:
    assert change.body is not None
    return {"source_type": change.body["source_type"], "source_id": change.body["source_id"]}


def _source_listing(change: Change, run: _Run) -> list[dict[str, Any]]:
    """The source's schedules as listed once in this run, before its first create."""
    key = source_key(change.body or {})
    with run.lock:
        source_lock = run.source_locks.setdefault(key, threading.Lock())
    with source_lock:
        if key not in run.listings:
            run.listings[key] = list_remote(run.client, SCHEDULES, **_filters(change)).schedules
        return run.listings[key]


def _made_since_plan(change: Change, run: _Run, schedules: Iterable[Mapping[str, Any]]) -> int | None:
    """The first of `schedules` that did not exist when the plan was read, that no change of this run
    has taken, and that carries every field the body sets (a server may fill in more), now taken."""
    assert change.body is not None
    for schedule in schedules:
        schedule_id = int(schedule["id"])
        with run.lock:
            if schedule_id in run.taken or differences(change.body, schedule, SCHEDULES):
                continue
            run.taken.add(schedule_id)
            return schedule_id
    return None


def _find_created(change: Change, run: _Run, waits: Sequence[float]) -> int | None:
    """This create's schedule, listed now and again after each of `waits` seconds."""
    for wait in (0.0, *waits):
        if wait and run.stop.wait(wait):  # an interrupted apply does not keep waiting
            return None
        found = _made_since_plan(change, run, list_remote(run.client, SCHEDULES, **_filters(change)).schedules)
        if found is not None:
            return found
    return None


def _field_errors(change: Change, exc: APIError) -> tuple[Problem, ...]:
    """A rejection as problems pointing into the YAML: one per field of a RecordError, else the entry."""
    if change.file is None:
        return ()
    entry_line = change.line or 0
    if not any(exc.record.values()):  # no record, or one that names no message: the server's own words
        return (Problem(change.file, entry_line, str(change.key), exc.api_message or str(exc)),)
    problems = []
    for path, messages in exc.record.items():
        field_path = "" if path == "base" else path
        line = (change.line_of(field_path) if field_path else None) or entry_line
        where = f"{change.key}.{field_path}" if field_path else str(change.key)
        problems += [Problem(change.file, line, where, str(message)) for message in messages]
    return tuple(dict.fromkeys(problems))  # the same message for the same field, once


def _ids_to_record(plan: Plan, results: Sequence[Result]) -> dict[str, dict[str, int]]:
    ids: dict[str, dict[str, int]] = {}
    for result in results:
        change = result.change
        made = change.action in (Action.CREATE, Action.REPLACE)
        if result.ok and made and change.file and change.key and result.id is not None:
            ids.setdefault(change.file, {})[change.key] = result.id
    for match in plan.matches:
        if not match.recorded:
            ids.setdefault(match.file, {})[match.key] = match.id
    return ids


def _stale_ids(plan: Plan) -> dict[tuple[str, str], int]:
    """(file, key) -> the id an entry holds that apply overwrites: a schedule deleted in the
    workspace, or one replaced. Only that exact id is ever written over."""
    stale = {(c.file, c.key): c.stale_id for c in plan.changes if c.file and c.key and c.stale_id is not None}
    return stale | {(m.file, m.key): m.stale_id for m in plan.matches if m.stale_id is not None}
