"""What `audit` does: the whole workspace read (every schedule and alert, managed or not, in scope
or not), each delivery described and checked against the config's policy.

Read-only: one listing per kind, one `list_metadata` for the dashboards' names, and one definition
per dashboard whose schedules set filters (for the filters' unames). The YAML is read offline, as
`validate` reads it, to say which deliveries the repo manages and under which key (matched by id),
and what each entry itself breaks: an exception for its key excuses only that, never a value someone
set in the UI. A field a managed entry takes from the environment (`${VAR}`) is shown as its
expression in place of the server's value, and judged on the server's value; the environment's value
is only compared, never shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
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
    shown_list,
    webhook_of,
)

Managed = Mapping[tuple[str, int], DesiredEntry]


def audit(client: HolisticsClient, config: ProjectConfig) -> Audit:
    """Every delivery of the workspace, described and checked against `config.policy`."""
    managed = managed_entries(config)  # invalid YAML is said before any request
    listed = {kind.yaml_key: _listing(client, kind.yaml_key) for kind in KINDS}
    catalog = _catalog(client, listed["schedules"].schedules)
    return audited(listed, catalog, managed, config, os.environ)


def audited(
    listed: Mapping[str, RemoteSchedules],
    catalog: Catalog | None,
    managed: Managed,
    config: ProjectConfig,
    environ: Mapping[str, str] | None = None,
) -> Audit:
    """The audit of items already read (pure but for today's date, where the crowding rule's year
    starts). `environ`: the values of the YAML's `${VAR}`s, compared (never shown) to tell whether an
    exception covers what the server holds."""
    items = [(kind, item) for kind, remote in listed.items() for item in remote.schedules]
    items.sort(key=lambda pair: (pair[0] != "schedules", int(pair[1]["id"])))
    crowded = audit_policy.crowding_violations(items, config.policy, config.timezone)
    deliveries = []
    for kind, item in items:
        entry = managed.get((kind, int(item["id"])))
        shown_item, shown = audit_policy.hidden(item, entry.env if entry else {})
        found = _found(kind, item, shown, crowded.get((kind, int(item["id"])), []), config)
        standing, excepted = _excepted(item, entry, found, config, environ or {})
        deliveries.append(_delivery(kind, shown_item, catalog, entry, shown, standing, excepted))
    grid = audit_policy.week_hours(items, config.timezone)
    policy = config.policy
    rules = tuple(name for name in Policy.model_fields if name != "exceptions" and getattr(policy, name) is not None)
    return Audit(tuple(deliveries), config.timezone, rules, grid)


Found = list[tuple[Violation, Violation]]  # each violation as judged (the server's value), and as shown


def _found(
    kind: str, item: Mapping[str, Any], shown: Mapping[str, str], crowded: Sequence[Violation], config: ProjectConfig
) -> Found:
    """The item's violations, each judged on the server's value and shown with `shown` (a managed
    delivery's fields from the environment as their `${VAR}`)."""
    policy, timezone = config.policy, config.timezone
    judged = [*audit_policy.delivery_violations(kind, item, policy, timezone), *crowded]
    if not shown:
        return [(v, v) for v in judged]
    said = audit_policy.delivery_violations(kind, item, policy, timezone, shown)
    repeat = shown.get("schedule.repeat")
    if repeat is not None:  # the minute it starts at says what the hidden cron is
        message = f"repeat {repeat} starts in a crowded minute (max_same_minute: {policy.max_same_minute})"
        crowded = [replace(v, value=repeat, message=message) for v in crowded]
    return list(zip(judged, [*said, *crowded], strict=True))


def _excepted(
    item: Mapping[str, Any], entry: DesiredEntry | None, found: Found, config: ProjectConfig, environ: Mapping[str, str]
) -> tuple[list[Violation], list[Excepted]]:
    """The violations that stand, and those an exception for the managed key excuses: only what the
    YAML entry itself breaks, with the same value (an unmanaged delivery has no key, so no exception)."""
    policy = config.policy
    if entry is None or not any(e.key == entry.key for e in policy.exceptions):
        return [said for _, said in found], []
    in_yaml = audit_policy.reviewed(entry, policy, config.timezone, environ)
    standing: list[Violation] = []
    allowed: list[Excepted] = []
    for judged, said in found:
        exception = policy.excepted(entry.key, judged.rule)
        if exception is None:
            standing.append(said)
        elif audit_policy.evidence(judged, item) in in_yaml:
            allowed.append(Excepted(said, exception.reason))
        else:
            note = "; not what the YAML declares, so its exception does not cover it"
            standing.append(replace(said, message=said.message + note))
    return standing, allowed


def standing(
    kind: str, item: Mapping[str, Any], entry: DesiredEntry | None, config: ProjectConfig, environ: Mapping[str, str]
) -> list[Violation]:
    """One delivery's violations as the audit judges them (unreadable fields break the rules they
    would be judged by; an exception for its key excuses only what its YAML declares; its fields from
    the environment shown as their `${VAR}`), the workspace's crowding aside: what `run` refuses."""
    _, shown = audit_policy.hidden(item, entry.env if entry else {})
    return _excepted(item, entry, _found(kind, item, shown, [], config), config, environ)[0]


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
    entry: DesiredEntry | None,
    shown: Mapping[str, str],
    violations: Sequence[Violation],
    excepted: Sequence[Excepted],
) -> Delivery:
    """One delivery as shown: `item` with its fields from the environment hidden already, `shown`
    their `${VAR}`s by path."""
    dest, schedule = mapping(item.get("dest")), mapping(item.get("schedule"))
    source_type, source_id = item.get("source_type"), item.get("source_id")
    dashboard = source_id if source_type == "Dashboard" and isinstance(source_id, int) and catalog else None
    presets = item.get("dynamic_filter_presets")
    return Delivery(
        kind=kind,
        id=int(item["id"]),
        title=item.get("title") if isinstance(item.get("title"), str) else None,
        source_type=str(source_type) if source_type is not None else None,
        source_id=source_id if isinstance(source_id, int | str) else None,
        source_uname=catalog.uname(dashboard) if catalog and dashboard is not None else None,
        source_title=catalog.title(dashboard) if catalog and dashboard is not None else None,
        dest_type=str(dest["type"]) if dest.get("type") is not None else None,
        recipients=shown_list(dest.get("recipients")),
        slack_channels=channel_names(dest.get("slack_channels")),
        webhook=shown.get("dest.endpoint") or webhook_of(dest.get("endpoint")),
        sftp_data_source=dest.get("data_source_id") if dest.get("type") == "SftpDest" else None,
        cron=str(schedule["repeat"]) if schedule.get("repeat") else None,
        paused=schedule.get("paused") is True,
        filters=shown_list(presets)
        if isinstance(presets, str)
        else filter_texts(
            presets,
            lambda fid: catalog.filter_uname(dashboard, fid) if catalog and dashboard is not None else None,
        ),
        key=entry.key if entry else None,
        file=entry.file if entry else None,
        line=entry.line if entry else None,
        violations=tuple(violations),
        excepted=tuple(excepted),
    )
