"""Every plan format with alerts beside schedules: each change says its kind, the summary counts each
kind (only when more than one has anything), unmanaged alerts are named, and a value from the
environment shows as its expression and whether it changes, never as its value. A saved plan holds
both kinds and no value from the environment."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.core import build
from reconciler.core.model import WorkspacePlan
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.schedules import SCHEDULES
from reconciler.views import plan_json, plan_markdown, plan_text, savedplan
from tests.unit.core.test_alerts_and_env_values import EXPRESSION, SECRET, alert, entry, served, webhook

OLD_SECRET = "https://events.pagerduty.com/integration/0ld-s3cr3t/enqueue"
ENV = {"dest.endpoint": EXPRESSION}


def schedule(recipients: list[str]) -> dict[str, object]:
    return {
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dest": {"type": "EmailDest", "recipients": recipients},
    }


def both_kinds() -> WorkspacePlan:
    schedules = build.plan(
        [DesiredEntry("weekly", None, schedule(["a@x.com"]), "schedules/s.yml", 2)], [], kind=SCHEDULES
    )
    alerts = build.plan(
        [
            entry("revenue_drop", alert()),
            entry("page_oncall", webhook(SECRET), 7, env=ENV),
        ],
        [served(webhook(OLD_SECRET), 7), served(alert("v-99", title="Stray"), 8)],
        kind=ALERTS,
    )
    return WorkspacePlan((schedules, alerts))


def rendered() -> dict[str, str]:
    plan = both_kinds()
    return {
        "text": plan_text.text(plan).plain,
        "markdown": plan_markdown.markdown(plan),
        "json": plan_json.to_json(plan),
    }


def test_no_format_shows_a_value_from_the_environment_and_each_shows_its_expression() -> None:
    for fmt, out in rendered().items():
        assert SECRET not in out and OLD_SECRET not in out and "s3cr3t" not in out, fmt
        assert "${PD_KEY}" in out, fmt


def test_text_says_each_changes_kind_and_counts_each_kind() -> None:
    out = rendered()["text"]
    assert "# alert revenue_drop will be created" in out
    assert "# weekly will be created" in out  # a schedule reads as it always did
    assert f"dest.endpoint: {EXPRESSION} (changes)" in out
    assert (
        "Plan: 2 to create, 1 to update, 0 to delete. (schedules: 1 to create, 0 to update, 0 to delete; "
        "alerts: 1 to create, 1 to update, 0 to delete)"
    ) in out
    assert "1 remote alert(s) no YAML declares are left alone" in out
    assert 'id 8 "Stray" — VizBlock "v-99" — EmailDest' in out


def test_markdown_says_each_kind_and_a_row_per_kind() -> None:
    out = rendered()["markdown"]
    assert "<b>alert revenue_drop</b> will be created" in out
    assert f"+ dest.endpoint: {EXPRESSION} (changes)" in out
    assert "| schedules | 1 | 0 | 0 | 0 | 0 |" in out and "| alerts | 1 | 1 | 0 | 0 | 1 |" in out
    assert "1 unmanaged alert(s)" in out


def test_json_gives_each_change_match_and_unmanaged_item_its_kind() -> None:
    data = json.loads(rendered()["json"])
    assert {c["key"]: c["kind"] for c in data["changes"]} == {
        "weekly": "schedules",
        "revenue_drop": "alerts",
        "page_oncall": "alerts",
    }
    assert data["summary"]["create"] == 2 and data["summary_by_kind"]["alerts"]["update"] == 1
    assert data["unmanaged"] == [
        {"kind": "alerts", "id": 8, "title": "Stray", "source": 'VizBlock "v-99"', "dest_type": "EmailDest"}
    ]
    assert data["matches"] == [
        {"kind": "alerts", "key": "page_oncall", "id": 7, "file": "schedules/alerts.yml", "recorded": True}
    ]
    (hidden,) = [d for c in data["changes"] for d in c["diff"] if d["path"] == "dest.endpoint"]
    assert hidden == {"path": "dest.endpoint", "old": EXPRESSION, "new": EXPRESSION, "hidden": True, "changes": True}


def test_a_plan_of_schedules_alone_says_no_kind_in_its_summary() -> None:
    plan = both_kinds()
    schedules_only = WorkspacePlan((plan.plans[0], build.plan([], [], kind=ALERTS)))
    text = plan_text.text(schedules_only).plain
    assert "Plan: 1 to create, 0 to update, 0 to delete. (0 unchanged, 0 unmanaged)" in text
    assert "| create | update | delete | unchanged | unmanaged |" in plan_markdown.markdown(schedules_only)


def test_a_saved_plan_holds_both_kinds_and_no_value_from_the_environment(tmp_path: Path) -> None:
    plan = both_kinds()
    yaml_file = tmp_path / "a.yml"
    yaml_file.write_text("alerts: {}\n")
    remote = {"schedules": [], "alerts": [served(webhook(OLD_SECRET), 7), served(alert("v-99"), 8)]}
    text = savedplan.dumps(
        plan, paths=[tmp_path], files=[yaml_file], remote=remote, workspace="http://x/api/v2", env={"PD_KEY": "f" * 64}
    )
    assert SECRET not in text and OLD_SECRET not in text and "s3cr3t" not in text
    out = tmp_path / "plan.json"
    out.write_text(text)
    loaded = savedplan.load(out)
    assert [p.kind for p in loaded.plan.plans] == ["schedules", "alerts"]
    assert [(c.kind, c.key) for c in loaded.plan.changes] == [(c.kind, c.key) for c in plan.changes]
    page = next(c for c in loaded.plan.changes if c.key == "page_oncall")
    assert page.env == ENV and page.body is not None and page.body["dest"]["endpoint"] == EXPRESSION
    assert loaded.env == {"PD_KEY": "f" * 64}
    # the changes a loaded plan shows are those of the plan made (unmanaged items are named by id alone)
    assert plan_text.text(loaded.plan).plain.split("Plan:")[0] == plan_text.text(plan).plain.split("Plan:")[0]
    assert savedplan.stale_reasons(loaded, "http://x/api/v2", [yaml_file], remote) == []
    edited = {**remote, "alerts": [served(webhook(SECRET), 7), served(alert("v-99"), 8)]}
    assert savedplan.stale_reasons(loaded, "http://x/api/v2", [yaml_file], edited) == [
        "remote alert 7 (page_oncall) changed"
    ]


def test_a_saved_plan_of_version_2_is_refused_with_what_to_do(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_text(json.dumps({"saved_plan": {"version": 2}}))
    try:
        savedplan.load(out)
    except savedplan.SavedPlanError as exc:
        assert "version 2 is not supported" in str(exc) and "reads version 3" in str(exc)
    else:
        raise AssertionError("a version 2 saved plan was read")
