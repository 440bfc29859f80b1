"""The remote side of a plan: every item of a kind the workspace has, read once through the list
endpoint, and seen only through the spec's model of one (`Kind.view`); the dashboards and reports
they deliver (`Source`). `remote.listings` reads them in the background while the plan is made.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.kinds import Kind, SourceKey
from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import Problem, inert
from reconciler.remote.catalog import Catalog
from reconciler.remote.client import HolisticsClient, NotFound, PermissionDenied, UnexpectedResponse


@dataclass
class RemoteSchedules:
    """Items of `kind` as the spec documents them, and the fields the server sent beyond that."""

    kind: Kind
    schedules: list[dict[str, Any]] = field(default_factory=list)
    undocumented: set[str] = field(default_factory=set)  # dotted paths, e.g. "created_at", "dest.owner"

    def add(self, schedule: Any, how: str) -> None:
        extras: set[str] = set()
        self.add_view(self.kind.view(checked(schedule, how, self.kind), extras), extras)

    def add_view(self, view: dict[str, Any], extras: set[str]) -> None:
        """An item already checked and seen through the spec (`add`), with the paths it left out."""
        self.schedules.append(view)
        if extras:
            self.undocumented.update(inert(path) for path in extras)  # the server's keys, shown by -v: display only


def checked(schedule: Any, how: str, kind: Kind) -> dict[str, Any]:
    """A schedule the plan can use: an object with a positive integer id (anything else from the
    server would surface later as a crash, or as an entry matched to nothing)."""
    schedule_id = schedule.get("id") if isinstance(schedule, dict) else None
    valid_id = isinstance(schedule_id, int) and not isinstance(schedule_id, bool) and schedule_id > 0
    if not isinstance(schedule, dict) or not valid_id:
        raise UnexpectedResponse(
            f"{how} returned {'an' if kind.noun[:1] in 'aeiou' else 'a'} {kind.noun} without a valid id "
            f"({str(schedule_id)[:40]!r}); refusing to plan from it",
            status=200,
            method="GET",
            path=kind.path,
        )
    return schedule


def list_remote(client: HolisticsClient, kind: Kind, **filters: Any) -> RemoteSchedules:
    """Every item the listing returns (100 a page, no per-item GET), through the spec's view."""
    remote = RemoteSchedules(kind)
    for schedule in client.list(kind, **filters):
        remote.add(schedule, "the listing")
    return remote


def add_unlisted(client: HolisticsClient, desired: Sequence[DesiredEntry], remote: RemoteSchedules) -> RemoteSchedules:
    """The listing plus each id the YAML names that it left out (the default listing omits schedules
    made by embed users), read by id. An id the workspace does not have at all (deleted in the UI)
    stays missing: the plan creates that entry again, or adopts an identical schedule."""
    listed = {int(r["id"]) for r in remote.schedules}
    for entry in desired:
        if entry.id is None or entry.id in listed:
            continue
        try:
            remote.add(client.get(remote.kind, entry.id), f"GET {remote.kind.path}/{entry.id}")
        except NotFound:
            continue
    return remote


@dataclass(frozen=True)
class Source:
    """A dashboard or report that schedules deliver, as far as the workspace tells."""

    source_type: str
    source_id: int
    exists: bool
    title: str | None = None  # the workspace's text: shown through `views.plan_words.source_text` (inert)
    filter_ids: frozenset[str] | None = None  # dashboards only


def read_sources(client: HolisticsClient, keys: Iterable[SourceKey]) -> dict[SourceKey, Source]:
    """One request per distinct source (never per schedule)."""
    return {key: read_source(client, key) for key in sorted(set(keys))}


def read_source(client: HolisticsClient, key: SourceKey) -> Source:
    source_type, source_id = key
    try:
        if source_type == "Dashboard":
            data = client.get_dashboard(source_id)
            filters = frozenset(str(f.get("id")) for f in data.get("dynamic_filters") or [] if isinstance(f, dict))
            return Source(source_type, source_id, True, data.get("title"), filters)
        data = client.get_query_report(source_id)
        return Source(source_type, source_id, True, data.get("title"))
    except NotFound:
        return Source(source_type, source_id, False)
    except PermissionDenied:
        return Source(source_type, source_id, True)  # it exists; this key may not read it


def catalog_source(catalog: Catalog, key: SourceKey) -> Source:
    """A dashboard as the catalog knows it, without a request: whether it exists, and its title. Its
    filters are not checked here (the catalog knows only those with a uname, and names are checked
    as they are resolved): `validate --remote` reads them (`read_source`)."""
    source_type, source_id = key
    return Source(source_type, source_id, catalog.has(source_id), catalog.title(source_id))


def reference_problems(
    desired: Sequence[DesiredEntry], sources: Mapping[SourceKey, Source], kind: Kind
) -> list[Problem]:
    """Each entry's dashboard or report exists, and each preset's filter belongs to that dashboard."""
    problems = []
    for entry in desired:
        key = kind.source_key(entry.fields)
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
