"""The remote side of a plan: every schedule the workspace has, read once through the list endpoint,
and seen only through the spec's model of a schedule (`shape.spec_view`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.client import HolisticsClient, NotFound, PermissionDenied, UnexpectedResponse
from reconciler.diagnostics import Problem
from reconciler.models import DesiredSchedule
from reconciler.shape import SourceKey, source_key, spec_view


@dataclass
class RemoteSchedules:
    """Schedules as the spec documents them, and the fields the server sent beyond that."""

    schedules: list[dict[str, Any]] = field(default_factory=list)
    undocumented: set[str] = field(default_factory=set)  # dotted paths, e.g. "created_at", "dest.owner"

    def add(self, schedule: Any, how: str) -> None:
        self.schedules.append(spec_view(_checked(schedule, how), self.undocumented))


def _checked(schedule: Any, how: str) -> dict[str, Any]:
    """A schedule the plan can use: an object with a positive integer id (anything else from the
    server would surface later as a crash, or as an entry matched to nothing)."""
    schedule_id = schedule.get("id") if isinstance(schedule, dict) else None
    valid_id = isinstance(schedule_id, int) and not isinstance(schedule_id, bool) and schedule_id > 0
    if not isinstance(schedule, dict) or not valid_id:
        raise UnexpectedResponse(
            f"{how} returned a schedule without a valid id ({str(schedule_id)[:40]!r}); refusing to plan from it",
            status=200,
            method="GET",
            path="/data_schedules",
        )
    return schedule


def list_remote(client: HolisticsClient, **filters: Any) -> RemoteSchedules:
    """Every schedule the listing returns (100 a page, no per-schedule GET), through the spec's view."""
    remote = RemoteSchedules()
    for schedule in client.list_schedules(**filters):
        remote.add(schedule, "the listing")
    return remote


def read_remote(client: HolisticsClient, desired: Sequence[DesiredSchedule]) -> RemoteSchedules:
    """All remote schedules, plus any id the YAML names that the listing leaves out; see `add_unlisted`."""
    return add_unlisted(client, desired, list_remote(client))


def add_unlisted(
    client: HolisticsClient, desired: Sequence[DesiredSchedule], remote: RemoteSchedules
) -> RemoteSchedules:
    """The listing plus each id the YAML names that it left out (the default listing omits schedules
    made by embed users), read by id. An id the workspace does not have at all (deleted in the UI)
    stays missing: the plan creates that entry again, or adopts an identical schedule."""
    listed = {int(r["id"]) for r in remote.schedules}
    for entry in desired:
        if entry.id is None or entry.id in listed:
            continue
        try:
            remote.add(client.get_schedule(entry.id), f"GET /data_schedules/{entry.id}")
        except NotFound:
            continue
    return remote


@dataclass(frozen=True)
class Source:
    """A dashboard or report that schedules deliver, as far as the workspace tells."""

    source_type: str
    source_id: int
    exists: bool
    title: str | None = None
    filter_ids: frozenset[str] | None = None  # dashboards only


def read_sources(client: HolisticsClient, keys: Iterable[SourceKey]) -> dict[SourceKey, Source]:
    """One request per distinct source (never per schedule)."""
    sources: dict[SourceKey, Source] = {}
    for source_type, source_id in sorted(set(keys)):
        try:
            if source_type == "Dashboard":
                data = client.get_dashboard(source_id)
                filters = frozenset(str(f.get("id")) for f in data.get("dynamic_filters") or [] if isinstance(f, dict))
                source = Source(source_type, source_id, True, data.get("title"), filters)
            else:
                data = client.get_query_report(source_id)
                source = Source(source_type, source_id, True, data.get("title"))
        except NotFound:
            source = Source(source_type, source_id, False)
        except PermissionDenied:
            source = Source(source_type, source_id, True)  # it exists; this key may not read it
        sources[(source_type, source_id)] = source
    return sources


def reference_problems(desired: Sequence[DesiredSchedule], sources: Mapping[SourceKey, Source]) -> list[Problem]:
    """Each schedule's dashboard or report exists, and each preset's filter belongs to that dashboard."""
    problems = []
    for entry in desired:
        key = source_key(entry.fields)
        source = sources.get(key) if key else None
        if source is None:
            continue
        if not source.exists:
            problems.append(
                Problem(
                    entry.file,
                    entry.line_of("source_id"),
                    f"{entry.key}.source_id",
                    f"{source.source_type} {source.source_id} does not exist in the workspace",
                )
            )
            continue
        if source.filter_ids is None:
            continue
        for i, preset in enumerate(entry.fields.get("dynamic_filter_presets") or []):
            filter_id = str(preset.get("dynamic_filter_id"))
            if filter_id not in source.filter_ids:
                path = f"dynamic_filter_presets.{i}.dynamic_filter_id"
                known = ", ".join(sorted(source.filter_ids)) or "none"
                problems.append(
                    Problem(
                        entry.file,
                        entry.line_of(path),
                        f"{entry.key}.{path}",
                        f"dashboard {source.source_id} has no dynamic filter {filter_id} (it has: {known})",
                    )
                )
    return problems
