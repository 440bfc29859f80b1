"""What `audit` does: the whole workspace read (every schedule and alert, managed or not, in scope
or not), each delivery described and checked against the config's policy.

Read-only: one listing per kind, one `list_metadata` for the dashboards' names, and one definition
per dashboard whose schedules set filters (for the filters' unames). The YAML is read offline, as
`validate` reads it, only to say which deliveries the repo manages and under which key (matched by
id); its values, and so the environment's, never reach the audit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.desired.discovery import NoScheduleFiles
from reconciler.desired.yamlread import load
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.known import KINDS, kind_named
from reconciler.policy.model import Policy, Violation
from reconciler.remote.catalog import Catalog, read_catalog
from reconciler.remote.client import HolisticsClient, HolisticsError, NamesUnavailable, NotFound
from reconciler.remote.reads import RemoteSchedules, list_remote
from reconciler.usecases import audit_policy
from reconciler.usecases.config import ProjectConfig
from reconciler.usecases.planning import schedule_paths
from reconciler.views.audit_model import (
    Audit,
    Delivery,
    Excepted,
    channel_names,
    filter_texts,
    mapping,
    webhook_of,
)

Managed = Mapping[tuple[str, int], DesiredEntry]


def audit(client: HolisticsClient, config: ProjectConfig) -> Audit:
    """Every delivery of the workspace, described and checked against `config.policy`."""
    managed = managed_entries(config)  # invalid YAML is said before any request
    listed = {kind.yaml_key: _listing(client, kind.yaml_key) for kind in KINDS}
    catalog = _catalog(client, listed["schedules"].schedules)
    return audited(listed, catalog, managed, config)


def audited(
    listed: Mapping[str, RemoteSchedules], catalog: Catalog | None, managed: Managed, config: ProjectConfig
) -> Audit:
    """The audit of items already read (pure but for today's date, where the crowding rule's year starts)."""
    items = [(kind, item) for kind, remote in listed.items() for item in remote.schedules]
    items.sort(key=lambda pair: (pair[0] != "schedules", int(pair[1]["id"])))
    policy, timezone = config.policy, config.timezone
    crowded = audit_policy.crowding_violations(items, policy, timezone)
    deliveries = []
    for kind, item in items:
        found = audit_policy.delivery_violations(kind, item, policy, timezone)
        found += crowded.get((kind, int(item["id"])), [])
        deliveries.append(_delivery(kind, item, catalog, managed, found, policy))
    grid = audit_policy.week_hours(items, timezone)
    rules = tuple(name for name in Policy.model_fields if name != "exceptions" and getattr(policy, name) is not None)
    return Audit(tuple(deliveries), timezone, rules, grid)


def managed_entries(config: ProjectConfig) -> dict[tuple[str, int], DesiredEntry]:
    """The YAML's entries that name an id, by (kind, id). Read as files are (every entry validated),
    but neither scoped nor policed: an entry that breaks the policy is what the audit reports, not a
    reason to stop. No `schedules/` at all: nothing is managed."""
    try:
        desired = load(schedule_paths(config, []))
    except NoScheduleFiles:
        return {}
    return {(d.kind, d.id): d for d in desired if d.id is not None}


def _listing(client: HolisticsClient, kind: str) -> RemoteSchedules:
    try:
        return list_remote(client, kind_named(kind))
    except NotFound:  # an older server has no data alerts at all
        if kind == "schedules":
            raise
        return RemoteSchedules(kind_named(kind))


def _catalog(client: HolisticsClient, schedules: Sequence[Mapping[str, Any]]) -> Catalog | None:
    """The dashboards' names, and the filter unames of the dashboards whose schedules set filters
    (one definition each: the names a reader knows the filters by). None where the workspace offers
    no list_metadata: sources and filters are then shown by id."""
    try:
        catalog = read_catalog(client)
    except NamesUnavailable:
        return None
    for dashboard_id in sorted(_filtered_dashboards(schedules, catalog)):
        try:
            catalog.read_filters(client, [dashboard_id])
        except HolisticsError:  # a dashboard this key may not read: its filters are shown by id
            continue
    return catalog


def _filtered_dashboards(schedules: Iterable[Mapping[str, Any]], catalog: Catalog) -> set[int]:
    return {
        int(s["source_id"])
        for s in schedules
        if s.get("source_type") == "Dashboard"
        and s.get("dynamic_filter_presets")
        and isinstance(s.get("source_id"), int)
        and catalog.has(int(s["source_id"]))
    }


def _delivery(
    kind: str,
    item: Mapping[str, Any],
    catalog: Catalog | None,
    managed: Managed,
    found: Sequence[Violation],
    policy: Policy,
) -> Delivery:
    entry = managed.get((kind, int(item["id"])))
    dest, schedule = mapping(item.get("dest")), mapping(item.get("schedule"))
    source_type, source_id = item.get("source_type"), item.get("source_id")
    dashboard = source_id if source_type == "Dashboard" and isinstance(source_id, int) and catalog else None
    violations, excepted = _excepted(found, entry.key if entry else None, policy)
    recipients = dest.get("recipients")
    return Delivery(
        kind=kind,
        id=int(item["id"]),
        title=item.get("title") if isinstance(item.get("title"), str) else None,
        source_type=str(source_type) if source_type is not None else None,
        source_id=source_id if isinstance(source_id, int | str) else None,
        source_uname=catalog.uname(dashboard) if catalog and dashboard is not None else None,
        source_title=catalog.title(dashboard) if catalog and dashboard is not None else None,
        dest_type=str(dest["type"]) if dest.get("type") is not None else None,
        recipients=tuple(str(r) for r in recipients) if isinstance(recipients, list) else (),
        slack_channels=channel_names(dest.get("slack_channels")),
        webhook=webhook_of(dest.get("endpoint")),
        sftp_data_source=dest.get("data_source_id") if dest.get("type") == "SftpDest" else None,
        cron=str(schedule["repeat"]) if schedule.get("repeat") else None,
        paused=schedule.get("paused") is True,
        filters=filter_texts(
            item.get("dynamic_filter_presets"),
            lambda fid: catalog.filter_uname(dashboard, fid) if catalog and dashboard is not None else None,
        ),
        key=entry.key if entry else None,
        file=entry.file if entry else None,
        line=entry.line if entry else None,
        violations=tuple(violations),
        excepted=tuple(excepted),
    )


def _excepted(found: Sequence[Violation], key: str | None, policy: Policy) -> tuple[list[Violation], list[Excepted]]:
    """The violations that stand, and those an exception for the managed `key` allows (an unmanaged
    delivery has no key, so no exception)."""
    standing: list[Violation] = []
    allowed: list[Excepted] = []
    for violation in found:
        exception = policy.excepted(key, violation.rule) if key is not None else None
        if exception is None:
            standing.append(violation)
        else:
            allowed.append(Excepted(violation, exception.reason))
    return standing, allowed
