"""Execute a plan: exactly its calls, of every kind, in parallel, without ever creating a duplicate.

Each kind's part of a `WorkspacePlan` is made with its `Kind` (its path, wrapper and bucket): ids
are only unique within a kind, so what a create may adopt is kept per kind. A create is sent at
most once per run, and only after the source's items of its kind were looked at for one made since
the plan was read (see `_create`): re-running a plan, or a create that landed after its answer was
lost, adopts that item instead of making a second one.
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
from reconciler.core.model import Action, Change, Plan, WorkspacePlan
from reconciler.desired.yamlwrite import Unrecorded
from reconciler.errors import CommandFailed
from reconciler.kinds import Bucket, Kind
from reconciler.kinds.known import BY_YAML_KEY
from reconciler.problems import Problem, escape_controls
from reconciler.remote.client import APIError, HolisticsClient, HolisticsError, NotFound, OutcomeUnknown
from reconciler.remote.reads import list_remote
from reconciler.usecases import recording

# (kind, source type, source id as a query string carries it): the listing one source's creates look in
Lookup = tuple[str, str, str]

DEFAULT_PARALLELISM = 4
SETTLE_WAITS = (0.5, 1.0, 2.0, 4.0)  # after a create of unknown outcome: how long to keep looking for it


@dataclass(frozen=True)
class Result:
    change: Change
    ok: bool
    id: int | None
    message: str
    errors: tuple[Problem, ...] = ()  # per field, at its file and line (printed `file:line: key.field: message`)
    deleted: int | None = None  # a failed replacement's old item, deleted all the same: it delivers no more

    @property
    def kind(self) -> str:
        """The kind of what was changed, as plans name it (`schedules`, `alerts`)."""
        return self.change.kind

    @property
    def noun(self) -> str:
        """One of that kind, in words: `schedule`, `alert`."""
        return noun_of(self.change.kind)


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    recorded: dict[str, dict[str, int]] = field(default_factory=dict)  # file -> key -> id in the file now
    unrecorded: list[Unrecorded] = field(default_factory=list)  # ids to add by hand, each with where and why
    kinds: dict[str, str] = field(default_factory=dict)  # key -> its kind (`schedules`, `alerts`): keys are unique

    def kind_of(self, key: str) -> str:
        """The kind of the entry `key` (recorded and unrecorded ids are by key)."""
        return self.kinds.get(key, "schedules")

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]

    @property
    def half_done(self) -> list[Result]:
        """Replacements that deleted the old item but could not create the new one."""
        return [r for r in self.results if not r.ok and r.deleted is not None]

    @property
    def done(self) -> int:
        """How many changes were made."""
        return sum(r.ok for r in self.results)


def noun_of(kind: str) -> str:
    """`schedule` for `schedules`, `alert` for `alerts`; a kind this version does not know, as named."""
    known = BY_YAML_KEY.get(kind)
    return known.noun if known is not None else kind


def parts_of(plan: WorkspacePlan | Plan) -> tuple[Plan, ...]:
    """Each kind's plan. A bare `Plan` (one kind) is accepted as the workspace plan of that kind alone."""
    return plan.plans if isinstance(plan, WorkspacePlan) else (plan,)


def _kinds(parts: Sequence[Plan]) -> dict[str, Kind]:
    """The `Kind` of every change: a saved plan is text, and a kind this version does not know is
    refused before anything is sent."""
    named = {part.kind for part in parts} | {c.kind for part in parts for c in part.changes}
    unknown = sorted(named - BY_YAML_KEY.keys())
    if unknown:
        raise CommandFailed(escape_controls(f"the plan names kinds this version does not know: {', '.join(unknown)}"))
    return {name: BY_YAML_KEY[name] for name in named}


def apply(
    plan: WorkspacePlan | Plan,
    client: HolisticsClient,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    on_result: Callable[[Result], None] | None = None,
    settle_waits: Sequence[float] = SETTLE_WAITS,
    schedule_files: Collection[Path] | None = None,
) -> Report:
    """Make the plan's calls, each kind's with its `Kind`; every change is attempted and reported,
    whatever the others do.

    Interrupted (Ctrl-C), it starts nothing new, lets what is in flight finish, records the ids of
    what it created, and re-raises.

    Ids are written only into `schedule_files` (this run's schedule files, as discovered): a plan
    loaded from disk names files in text that anyone could have edited. None trusts the files the
    plan names, for a plan made in this process from files it read.
    """
    parts = parts_of(plan)
    kinds = _kinds(parts)
    report = Report()
    taken: dict[str, set[int]] = {name: set() for name in kinds}
    for part in parts:
        taken[part.kind] |= part.remote_ids
    run = _Run(client, kinds, taken, settle_waits=settle_waits)

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
        futures = [pool.submit(work, unit) for unit in _work_units(kinds, parts)]
        for future in futures:
            future.result()
    except BaseException:
        run.stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)
        _record(parts, report, schedule_files)  # even when the run is cut short, so the next plan names them
    return report


def _record(parts: Sequence[Plan], report: Report, schedule_files: Collection[Path] | None) -> None:
    """Record the ids of what was made or adopted (see `recording`); never raises."""
    made = [(r.change, r.id) for r in report.results if r.ok and r.id is not None]
    done = recording.record(parts, made, schedule_files)
    report.recorded, report.unrecorded, report.kinds = done.recorded, done.unrecorded, done.kinds


@dataclass
class _Run:
    """What the workers of one apply share."""

    client: HolisticsClient
    kinds: Mapping[str, Kind]  # each change's kind, by its name
    # kind -> ids a create may not adopt: they existed at plan time or were made by this run
    taken: dict[str, set[int]]
    settle_waits: Sequence[float] = SETTLE_WAITS
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    listings: dict[Lookup, list[dict[str, Any]]] = field(default_factory=dict)
    source_locks: dict[Lookup, threading.Lock] = field(default_factory=dict)

    def kind(self, change: Change) -> Kind:
        return self.kinds[change.kind]


def _work_units(kinds: Mapping[str, Kind], parts: Iterable[Plan]) -> list[list[Change]]:
    """Changes that can run side by side. Creates of the same kind, source and dest type run one after
    another, so adopting after an unknown outcome can never take a sibling's item."""
    units: list[list[Change]] = []
    creates: dict[tuple[str, Bucket], list[Change]] = {}
    for change in (c for part in parts for c in part.changes):
        if change.action is Action.CREATE and change.body is not None:
            # the matching bucket of plan.match: adoption after an unknown outcome looks only there
            creates.setdefault((change.kind, kinds[change.kind].bucket(change.body)), []).append(change)
        else:
            units.append([change])
    return units + list(creates.values())


def _execute(change: Change, run: _Run) -> Result:
    client, kind = run.client, run.kind(change)
    try:
        if change.action is Action.CREATE:
            return _create(change, run)
        assert change.id is not None
        if change.action is Action.REPLACE:
            return _replace(change, run)
        if change.action is Action.UPDATE:
            assert change.body is not None
            client.update(kind, change.id, dict(change.body))
            return Result(change, True, change.id, "updated")
        try:
            client.delete(kind, change.id)
        except NotFound:
            return Result(change, True, change.id, "already deleted")
        return Result(change, True, change.id, "deleted")
    except HolisticsError as exc:
        return _failure(change, exc, creating=change.id is None)


def _failure(change: Change, exc: HolisticsError, *, creating: bool) -> Result:
    """A refused or failed request as a result; `creating`: the request was a POST."""
    item_id = None if creating else change.id
    if isinstance(exc, NotFound):
        if creating:  # what is missing is what it points at, not the item
            return Result(change, False, None, str(exc), _field_errors(change, exc))
        message = f"{noun_of(change.kind)} {change.id} no longer exists (deleted since the plan was made)"
        return Result(change, False, change.id, message)
    if isinstance(exc, APIError):
        errors = _field_errors(change, exc)
        if any(exc.record.values()):  # the lines below carry the details; the summary need not repeat them
            return Result(change, False, item_id, f"rejected by the API ({exc.status} {exc.error_type})", errors)
        return Result(change, False, item_id, str(exc), errors)
    return Result(change, False, item_id, str(exc))


def _create(change: Change, run: _Run) -> Result:
    """POST once, never twice: a duplicate is worse than a create left for the next run.

    Right before the POST, the source's items of this kind are looked at: one made since the plan
    was read that carries everything this body sets is this entry's, made by an earlier run of the
    same plan (a saved plan applied twice, a re-run CI job) or a create that landed late, and it is
    adopted instead. When the POST's outcome is unknown (timeout, reset, 5xx: it may have been
    processed), the source is listed again over a few seconds; if the item has not appeared it is
    reported, not sent again, and the next run adopts it when it appears, or creates it.
    """
    assert change.body is not None
    existing = _made_since_plan(change, run, _source_listing(change, run))
    if existing is not None:
        return Result(change, True, existing, "already created (found made since the plan): adopted, not created again")
    try:
        created = run.client.create(run.kind(change), dict(change.body))
    except OutcomeUnknown as exc:
        adopted = _find_created(change, run, waits=run.settle_waits)
        if adopted is not None:
            return Result(change, True, adopted, f"created (confirmed by listing again after: {exc})")
        return Result(
            change,
            False,
            None,
            f"{exc}; it has not appeared, so it was not sent again. "
            f"Run apply again: it adopts the {noun_of(change.kind)} if it appears, or creates it",
        )
    new_id = int(created["id"])
    with run.lock:
        run.taken[change.kind].add(new_id)
    return Result(change, True, new_id, "created")


def _replace(change: Change, run: _Run) -> Result:
    """Delete, then create (Terraform's default order; README, "How it decides"): two deliveries of
    one entry never exist. If the create fails, the result says the old item was deleted all the
    same (`deleted`): the entry's id names a deleted item, and the next plan creates it again."""
    assert change.id is not None
    with contextlib.suppress(NotFound):  # already gone: the create is all that is left to do
        run.client.delete(run.kind(change), change.id)
    try:
        created = _create(change, run)
    except HolisticsError as exc:  # the delete happened: the result must say so
        created = _failure(change, exc, creating=True)
    if not created.ok:
        message = (
            f"deleted {change.id}, but the new {noun_of(change.kind)} was not made: {created.message}; "
            "it delivers nothing until the next apply creates it"
        )
        return Result(change, False, None, message, created.errors, deleted=change.id)
    return Result(change, True, created.id, f"replaced: deleted {change.id}, {created.message} {created.id}")


def _filters(change: Change) -> dict[str, Any]:
    """The listing filters every kind has: the source. Never the destination type (the alert
    listing's `dest_type` knows only Email and Slack: a webhook alert would never be found), and
    the source id as written (a viz block's is a string)."""
    assert change.body is not None
    return {"source_type": change.body["source_type"], "source_id": change.body["source_id"]}


def _lookup(change: Change) -> Lookup:
    body = change.body or {}
    return (change.kind, str(body.get("source_type")), str(body.get("source_id")))


def _source_listing(change: Change, run: _Run) -> list[dict[str, Any]]:
    """The source's items of this kind as listed once in this run, before its first create."""
    lookup = _lookup(change)
    with run.lock:
        source_lock = run.source_locks.setdefault(lookup, threading.Lock())
    with source_lock:
        if lookup not in run.listings:
            run.listings[lookup] = list_remote(run.client, run.kind(change), **_filters(change)).schedules
        return run.listings[lookup]


def _made_since_plan(change: Change, run: _Run, items: Iterable[Mapping[str, Any]]) -> int | None:
    """The first of `items` that did not exist when the plan was read, that no change of this run
    has taken, and that carries every field the body sets (a server may fill in more), now taken.
    The comparison is the kind's own: `42` and `"42"` are two sources."""
    assert change.body is not None
    kind, taken = run.kind(change), run.taken[change.kind]
    for item in items:
        item_id = int(item["id"])
        with run.lock:
            if item_id in taken or differences(change.body, item, kind):
                continue
            taken.add(item_id)
            return item_id
    return None


def _find_created(change: Change, run: _Run, waits: Sequence[float]) -> int | None:
    """This create's item, listed now and again after each of `waits` seconds."""
    for wait in (0.0, *waits):
        if wait and run.stop.wait(wait):  # an interrupted apply does not keep waiting
            return None
        listed = list_remote(run.client, run.kind(change), **_filters(change)).schedules
        found = _made_since_plan(change, run, listed)
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
