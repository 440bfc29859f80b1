"""The audit's use case over items already read: what each delivery says (source by name, filters by
uname, destination, domains, cadence), which the YAML manages (by kind and id), and which violations
stand or are excepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.known import kind_named
from reconciler.remote.catalog import Catalog
from reconciler.remote.reads import RemoteSchedules
from reconciler.usecases.auditing import audited, managed_entries
from reconciler.usecases.config import ProjectConfig

METADATA = [{"id": 1234, "title": "Sales Performance", "uname": "sales_performance", "project_id": 1, "version": 4}]
DEFINITION = {"dynamic_filters": [{"id": 7, "uname": "region"}]}


def _schedule(sid: int, **dest: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "title": f"Schedule {sid}",
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dynamic_filter_presets": [
            {"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["EMEA"]}}
        ],
        "dest": {"type": "EmailDest", "recipients": ["a@example.com", "b@example.com", "c@other.test"], **dest},
    }


def _alert(aid: int, endpoint: str) -> dict[str, Any]:
    return {
        "id": aid,
        "title": "Hook",
        "source_type": "DashboardWidget",
        "source_id": 90101,
        "schedule": {"repeat": "*/10 * * * *", "paused": True},
        "dest": {"type": "WebhookDest", "endpoint": endpoint},
    }


def _listed(schedules: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> dict[str, RemoteSchedules]:
    return {
        "schedules": RemoteSchedules(kind_named("schedules"), schedules),
        "alerts": RemoteSchedules(kind_named("alerts"), alerts),
    }


def _entry(key: str, kind: str, ident: int) -> DesiredEntry:
    return DesiredEntry(key=key, id=ident, fields={}, file="schedules/main.yml", line=3, kind=kind)


def _config(**policy: Any) -> ProjectConfig:
    return ProjectConfig.model_validate({"timezone": "Europe/Berlin", "policy": policy})


def test_a_delivery_is_described_by_names_the_catalog_gives() -> None:
    catalog = Catalog(METADATA, {1234: DEFINITION})
    result = audited(
        _listed([_schedule(1)], [_alert(1, "https://hooks.example.com/x?token=t0k3n")]), catalog, {}, _config()
    )
    schedule, alert = result.deliveries
    assert (schedule.source, schedule.source_title) == ("dashboard sales_performance", "Sales Performance")
    assert schedule.filters == ("region is EMEA",)
    assert schedule.domains == (("example.com", 2), ("other.test", 1))
    assert schedule.cadence == "At 08:00, only on Monday"
    assert (alert.source, alert.webhook, alert.paused) == ("widget 90101", "https://hooks.example.com", True)
    assert result.timezone == "Europe/Berlin" and result.rules == ()


def test_without_a_catalog_sources_and_filters_are_named_by_id() -> None:
    [schedule] = audited(_listed([_schedule(1)], []), None, {}, _config()).deliveries
    assert schedule.source == "dashboard 1234" and schedule.source_title is None
    assert schedule.filters == ("filter 7 is EMEA",)


def test_managed_is_matched_by_kind_and_id() -> None:
    managed = {("alerts", 1): _entry("hook", "alerts", 1)}
    schedule, alert = audited(
        _listed([_schedule(1)], [_alert(1, "https://h.example.com")]), None, managed, _config()
    ).deliveries
    assert schedule.key is None and not schedule.managed
    assert (alert.key, alert.file, alert.line) == ("hook", "schedules/main.yml", 3)


def test_a_violation_stands_unless_an_exception_names_the_managed_key() -> None:
    config = _config(
        allowed_email_domains=["example.com"],
        exceptions=[{"key": "weekly", "rule": "allowed_email_domains", "reason": "Auditors (AUD-7)"}],
    )
    managed = {("schedules", 1): _entry("weekly", "schedules", 1)}
    excepted, standing = audited(_listed([_schedule(1), _schedule(2)], []), None, managed, config).deliveries
    assert excepted.violations == () and [e.reason for e in excepted.excepted] == ["Auditors (AUD-7)"]
    assert [v.rule for v in standing.violations] == ["allowed_email_domains"]
    assert standing.excepted == ()


def test_the_grid_counts_starts_and_leaves_paused_deliveries_out() -> None:
    result = audited(_listed([_schedule(1), _schedule(2)], [_alert(3, "https://h.example.com")]), None, {}, _config())
    assert len(result.grid) == 7 and all(len(row) == 24 for row in result.grid)
    assert result.grid[0][8] == 2  # Monday 08:00 in Berlin, twice; the paused alert not at all
    assert sum(map(sum, result.grid)) == 2


def test_no_schedules_directory_means_nothing_is_managed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert managed_entries(ProjectConfig()) == {}
