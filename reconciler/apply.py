"""Execute a Plan: exactly its calls, in parallel, without ever creating a duplicate.

A POST whose outcome is unknown (timeout, reset, 5xx) is not retried blindly: the schedules of
that source are listed again and one that was not there at plan time and has the wanted content is
adopted. Only when none is found is the POST sent once more.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from reconciler.client import APIError, HolisticsClient, HolisticsError, NotFound, OutcomeUnknown
from reconciler.plan import Action, Change, Plan, differences
from reconciler.yamlfiles import record_ids

DEFAULT_PARALLELISM = 4


@dataclass(frozen=True)
class Result:
    change: Change
    ok: bool
    id: int | None
    message: str
    errors: tuple[str, ...] = ()  # per field, as `file:line: key.field: message`


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)
    recorded: dict[str, dict[str, int]] = field(default_factory=dict)  # file -> key -> id written

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.ok]


def apply(
    plan: Plan,
    client: HolisticsClient,
    *,
    parallelism: int = DEFAULT_PARALLELISM,
    on_result: Callable[[Result], None] | None = None,
    write_ids: bool = True,
) -> Report:
    """Make the plan's calls; every change is attempted and reported, whatever the others do."""
    report = Report()
    lock = threading.Lock()
    taken: set[int] = set(plan.remote_ids)  # ids a create may not adopt: they existed or were made here

    def run(changes: Sequence[Change]) -> None:
        for change in changes:
            result = _execute(change, client, taken, lock)
            with lock:
                report.results.append(result)
                if on_result is not None:
                    on_result(result)

    try:
        with ThreadPoolExecutor(max_workers=max(1, parallelism), thread_name_prefix="apply") as pool:
            futures = [pool.submit(run, group) for group in _work_units(plan.changes)]
            for future in futures:
                future.result()
    finally:
        # ids are recorded even when the run is cut short, so the next plan names them
        if write_ids:
            report.recorded = _ids_to_record(plan, report.results)
            record_ids(report.recorded)
    return report


def _work_units(changes: Iterable[Change]) -> list[list[Change]]:
    """Changes that can run side by side. Creates of the same source and dest type run one after
    another, so adopting after an unknown outcome can never take a sibling's schedule."""
    units: list[list[Change]] = []
    creates: dict[tuple[Any, ...], list[Change]] = {}
    for change in changes:
        if change.action is Action.CREATE and change.body is not None:
            dest = change.body.get("dest") or {}
            bucket = (change.body.get("source_type"), change.body.get("source_id"), dest.get("type"))
            creates.setdefault(bucket, []).append(change)
        else:
            units.append([change])
    return units + list(creates.values())


def _execute(change: Change, client: HolisticsClient, taken: set[int], lock: threading.Lock) -> Result:
    try:
        if change.action is Action.CREATE:
            return _create(change, client, taken, lock)
        assert change.id is not None
        if change.action is Action.UPDATE:
            assert change.body is not None
            client.update_schedule(change.id, dict(change.body))
            return Result(change, True, change.id, "updated")
        try:
            client.delete_schedule(change.id)
        except NotFound:
            return Result(change, True, change.id, "already deleted")
        return Result(change, True, change.id, "deleted")
    except NotFound:
        return Result(
            change, False, change.id, f"schedule {change.id} no longer exists (deleted since the plan was made)"
        )
    except APIError as exc:
        return Result(change, False, change.id, str(exc), _field_errors(change, exc))
    except HolisticsError as exc:
        return Result(change, False, change.id, str(exc))


def _create(change: Change, client: HolisticsClient, taken: set[int], lock: threading.Lock) -> Result:
    assert change.body is not None
    for attempt in (1, 2):
        try:
            created = client.create_schedule(dict(change.body))
        except OutcomeUnknown as exc:
            adopted = _find_created(change, client, taken, lock)
            if adopted is not None:
                return Result(change, True, adopted, f"created (confirmed by listing again after: {exc})")
            if attempt == 2:
                return Result(
                    change,
                    False,
                    None,
                    f"create failed twice with an unknown outcome ({exc}); listing shows it was not created",
                )
            continue
        new_id = int(created["id"])
        with lock:
            taken.add(new_id)
        return Result(change, True, new_id, "created")
    raise AssertionError("unreachable")


def _find_created(change: Change, client: HolisticsClient, taken: set[int], lock: threading.Lock) -> int | None:
    assert change.body is not None
    filters = {"source_type": change.body["source_type"], "source_id": change.body["source_id"]}
    for schedule in client.list_schedules(**filters):
        schedule_id = int(schedule["id"])
        with lock:
            if schedule_id in taken or differences(change.body, schedule):
                continue
            taken.add(schedule_id)
            return schedule_id
    return None


def _field_errors(change: Change, exc: APIError) -> tuple[str, ...]:
    """A rejection as lines pointing into the YAML: one per field of a RecordError, else the entry."""
    if change.file is None:
        return ()
    if not exc.record:
        return (f"{change.file}:{change.line}: {change.key}: {exc.api_message or exc}",)
    lines = []
    for path, messages in exc.record.items():
        field_path = "" if path == "base" else path
        line = change.line_of(field_path) if field_path else change.line
        where = f"{change.key}.{field_path}" if field_path else str(change.key)
        lines += [f"{change.file}:{line}: {where}: {message}" for message in messages]
    return tuple(lines)


def _ids_to_record(plan: Plan, results: Sequence[Result]) -> dict[str, dict[str, int]]:
    ids: dict[str, dict[str, int]] = {}
    for result in results:
        change = result.change
        if result.ok and change.action is Action.CREATE and change.file and change.key and result.id is not None:
            ids.setdefault(change.file, {})[change.key] = result.id
    for match in plan.matches:
        if not match.recorded:
            ids.setdefault(match.file, {})[match.key] = match.id
    return ids
