"""Views name dashboards and filters by the unames the catalog gives (`plan_words.Labels`), in text,
markdown and JSON; without names (no catalog, a saved plan) they read as before."""

from __future__ import annotations

from typing import Any

from reconciler.core.model import Action, Change, FieldDiff, Plan, WorkspacePlan
from reconciler.views import plan_json, plan_markdown, plan_text
from reconciler.views.plan_words import Labels, change_names, filter_note, source_text

TITLES = {("Dashboard", 1234): "Sales Performance"}
LABELS = Labels(TITLES, {1234: "sales_performance"}, {(1234, "7"): "region"})
BODY: dict[str, Any] = {
    "title": "Weekly",
    "source_type": "Dashboard",
    "source_id": 1234,
    "dynamic_filter_presets": [{"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["EMEA"]}}],
    "schedule": {"repeat": "0 8 * * 1"},
    "dest": {"type": "EmailDest", "recipients": ["a@example.com"]},
}
CREATE = Change(
    Action.CREATE,
    "weekly",
    None,
    (FieldDiff("dynamic_filter_presets", None, BODY["dynamic_filter_presets"]),),
    body=BODY,
)
PLAN = WorkspacePlan((Plan(changes=(CREATE,), matches=(), unmanaged=()),))


def test_a_dashboard_is_named_by_its_uname_with_its_title() -> None:
    assert source_text(("Dashboard", 1234), LABELS) == 'dashboard sales_performance "Sales Performance"'
    assert source_text(("Dashboard", 1277), Labels({}, {1234: "x"})) == "dashboard 1277"  # canvas: its id


def test_without_names_a_dashboard_reads_as_before() -> None:
    assert source_text(("Dashboard", 1234), TITLES) == 'dashboard 1234 "Sales Performance"'
    assert filter_note(CREATE, "+", BODY["dynamic_filter_presets"][0], TITLES) == ""
    assert change_names(CREATE, TITLES) == {}


def test_a_preset_is_annotated_with_its_filters_uname() -> None:
    assert filter_note(CREATE, "+", BODY["dynamic_filter_presets"][0], LABELS) == "  # dynamic_filter region"
    assert filter_note(CREATE, "+", {"dynamic_filter_id": 99}, LABELS) == ""


def test_text_and_markdown_show_the_names() -> None:
    text = plan_text.text(PLAN, LABELS).plain
    assert 'dashboard sales_performance "Sales Performance"' in text and "# dynamic_filter region" in text
    md = plan_markdown.markdown(PLAN, LABELS)
    assert "sales\\_performance" in md or "sales_performance" in md
    assert "# dynamic_filter region" in md


def test_json_adds_names_by_field_path() -> None:
    [change] = plan_json.as_dict(PLAN, LABELS)["changes"]
    assert change["names"] == {"source_id": "sales_performance", "dynamic_filter_presets.0.dynamic_filter_id": "region"}
    [plain] = plan_json.as_dict(PLAN, TITLES)["changes"]
    assert "names" not in plain  # a plan without names: the JSON it always had


def test_a_uname_is_made_inert() -> None:
    labels = Labels(TITLES, {1234: "evil\n::error::x"})
    assert "\n" not in source_text(("Dashboard", 1234), labels)
