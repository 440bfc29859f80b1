"""The entries `import` writes for alerts (`import_entries` with `ALERTS`, `importing.concise`, and the
layout of `views.imported_yaml.render`): what the server assigns is never written, a source id stays
the type it was, and keys are unique across the kinds."""

from __future__ import annotations

from typing import Any

from reconciler.core.compare import differences
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.alerts.models import DataAlertSpec
from reconciler.usecases import import_entries, importing
from reconciler.views.imported_yaml import comment, render


def server_alert(alert_id: int, title: str, source_id: int | str = "vb-42", **more: Any) -> dict[str, Any]:
    """An alert as the listing gives it: ids on it and on each condition and preset, nulls, is_archived."""
    return {
        "id": alert_id,
        "title": title,
        "source_type": "VizBlock" if isinstance(source_id, str) else "DashboardWidget",
        "source_id": source_id,
        "schedule": {"repeat": "0 * * * *", "paused": False, "is_archived": False},
        "viz_conditions": [
            {
                "id": 31,
                "field_path": {"field_name": "revenue", "is_metric": True},
                "condition": {"operator": "less_than", "values": [1000]},
            }
        ],
        "dynamic_filter_presets": [],
        "dest": {"type": "WebhookDest", "endpoint": "https://events.example.com/hook"},
        **more,
    }


def test_an_alert_entry_drops_what_the_server_assigns_and_keeps_its_source_id_type() -> None:
    for source_id in ("42", 42):
        data = import_entries.entry(server_alert(5, "Drop", source_id), ALERTS)
        assert data["source_id"] == source_id and type(data["source_id"]) is type(source_id)
        assert "id" not in data["viz_conditions"][0] and "is_archived" not in data["schedule"]
        assert list(data)[:4] == ["id", "title", "source_type", "source_id"]
        DataAlertSpec.model_validate(data)


def test_an_unknown_field_the_server_adds_is_left_out() -> None:
    remote = server_alert(5, "Drop", owner_id=9)
    remote["viz_conditions"][0]["created_at"] = "2026-01-01"
    data = import_entries.entry(remote, ALERTS)
    assert "owner_id" not in data and "created_at" not in data["viz_conditions"][0]


def test_the_concise_alert_means_what_the_server_has() -> None:
    remote = server_alert(5, "Drop")
    full = import_entries.entry(remote, ALERTS)
    short = importing.concise(full, ALERTS)
    assert "dynamic_filter_presets" not in short and "paused" not in short["schedule"]
    assert not differences(DataAlertSpec.model_validate(short).api_fields(), ALERTS.view(remote), ALERTS)
    assert importing._no_worse(full, short, ALERTS.view(remote), ALERTS)


def test_nulls_inside_a_condition_are_left_out_only_where_the_plan_would_not_see_a_difference() -> None:
    """`write` keeps the full entry when the concise one would differ: whatever the plan compares, an
    imported alert shows no change."""
    remote = server_alert(5, "Drop")
    remote["viz_conditions"][0]["field_path"]["model_id"] = None
    remote["viz_conditions"][0]["aggregation"] = None
    full = import_entries.entry(remote, ALERTS)
    short = importing.concise(full, ALERTS)
    assert "model_id" not in short["viz_conditions"][0]["field_path"]
    chosen = short if importing._no_worse(full, short, ALERTS.view(remote), ALERTS) else full
    assert not differences(DataAlertSpec.model_validate(chosen).api_fields(), ALERTS.view(remote), ALERTS)


def test_alert_keys_avoid_the_schedules_keys() -> None:
    keys = import_entries.entries([server_alert(7, "Weekly sales")], taken={"weekly-sales"}, kind=ALERTS)
    assert list(keys) == ["weekly-sales-7"]
    untitled = import_entries.entries([server_alert(8, "")], kind=ALERTS)
    assert list(untitled) == ["webhook-vizblock-vb-42"]


def test_an_alert_the_format_cannot_hold_is_named() -> None:
    plain_http = server_alert(9, "Hook", dest={"type": "WebhookDest", "endpoint": "http://insecure.example.com"})
    assert set(import_entries.unrepresentable([plain_http, server_alert(10, "ok")], ALERTS)) == {9}


def test_a_file_holds_the_schedules_then_the_alerts() -> None:
    text = render(
        {"s": {"title": "s"}},
        alerts={"a": {"source_id": "42"}},
        comments={"a": comment(server_alert(1, "a", "42"), {})},
    )
    assert text.endswith("schedules:\n  s:\n    title: s\n\nalerts:\n  # viz block \"42\"\n  a:\n    source_id: '42'\n")
    assert "schedules:" not in render({}, alerts={"a": {"source_id": 4}})
    assert comment(server_alert(1, "a", "vb-7"), {}) == 'viz block "vb-7"'
    assert comment(server_alert(1, "a", 12), {}) == "dashboard widget 12"
