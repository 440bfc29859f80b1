"""Alerts through apply, import, run and --prune-since, with the guarantees schedules have (mirroring
test_no_duplicates_and_saved_plans, test_plan_apply_cycle and test_import_command): ids recorded in the
alert entries, a saved plan applied twice creates once, two applies at once create once, a create
whose answer is lost is adopted not repeated, an alert deleted in the UI is created again, one made
in the UI is adopted by content, unmanaged alerts are named, nothing the YAML cannot hold is pruned,
and an import round-trips. The sandbox's control of alerts is named as its schedules' are
(`alerts`, `put_alerts`, `add_alert`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired.yamlread import load
from reconciler.sandbox import Sandbox
from tests.helpers import NOT_YET, alerts_end_to_end, cli, write_schedules

pytestmark = pytest.mark.skipif(not alerts_end_to_end(), reason=NOT_YET)

BOTH = """\
schedules:
  weekly-sales:
    title: Weekly sales
    source_type: QueryReport
    source_id: 5301
    schedule: {repeat: "0 8 * * 1"}
    dest: {type: EmailDest, recipients: [finance@example.com]}
alerts:
  revenue-drop:
    title: Revenue drop
    source_type: VizBlock
    source_id: "42"
    schedule: {repeat: "0 * * * *"}
    viz_conditions:
      - field_path: {field_name: revenue, is_metric: true}
        condition: {operator: less_than, values: [1000]}
    dest: {type: WebhookDest, endpoint: "https://events.example.com/hook"}
  stale-data:
    title: Stale data
    source_type: DashboardWidget
    source_id: 77
    schedule: {repeat: "*/30 * * * *"}
    viz_conditions:
      - field_path: {field_name: rows}
        condition: {operator: is, values: [0]}
    dest: {type: SlackDest, title: Stale, slack_channels: [{id: C01, name: ops}]}
"""


def alert_posts(sb: Sandbox) -> int:
    return sum(1 for r in sb.control.requests() if r["method"] == "POST" and r["path"] == "/data_alerts")


def strip_ids(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not re.match(r"\s+id: \d+$", line)))


def ids_of(path: Path, kind: str) -> dict[str, int | None]:
    return {d.key: d.id for d in load([path]) if d.kind == kind}


def test_apply_creates_alerts_records_their_ids_and_converges(sandbox: Sandbox, tmp_path: Path) -> None:
    path = write_schedules(tmp_path, BOTH)
    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "alert revenue-drop" in result.stdout and "(1 schedule(s), 2 alert(s))" in result.stdout
    alerts = {a["title"]: a for a in sandbox.control.alerts()}
    assert alerts["Revenue drop"]["source_id"] == "42", "a viz block's id stays a string"
    assert alerts["Stale data"]["source_id"] == 77
    assert ids_of(path, "alerts") == {
        "revenue-drop": alerts["Revenue drop"]["id"],
        "stale-data": alerts["Stale data"]["id"],
    }
    assert cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0


def test_apply_json_names_each_kind(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, BOTH)
    result = cli(sandbox, "apply", "--json", "--auto-approve", cwd=tmp_path)
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = {o["key"]: o["kind"] for o in objects if o["type"] == "change"}
    assert kinds == {"weekly-sales": "schedule", "revenue-drop": "alert", "stale-data": "alert"}
    recorded = {o["key"]: o["kind"] for o in objects if o["type"] == "recorded"}
    assert recorded == kinds
    assert objects[-1]["by_kind"]["alert"] == {"changes": 2, "applied": 2, "failed": 0}


def test_a_saved_plan_applied_twice_from_two_checkouts_creates_each_alert_once(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_schedules(first, BOTH)
    assert cli(sandbox, "plan", "--out", "plan.json", cwd=first).returncode == 0
    shutil.copytree(first, second)
    shown = cli(sandbox, "show", "plan.json", cwd=first)
    assert shown.returncode == 0 and "alert revenue-drop will be created" in shown.stdout, shown.stdout
    assert "weekly-sales will be created" in shown.stdout
    assert cli(sandbox, "apply", "plan.json", "--auto-approve", cwd=first).returncode == 0
    again = cli(sandbox, "apply", "plan.json", "--auto-approve", cwd=second)
    assert again.returncode == 0, again.stderr
    assert "adopted, not created again" in again.stdout
    assert alert_posts(sandbox) == 2 and len(sandbox.control.alerts()) == 2
    assert set(ids_of(second / "schedules/main.yml", "alerts").values()) == {a["id"] for a in sandbox.control.alerts()}


def test_two_applies_at_once_never_create_an_alert_twice(tmp_path: Path) -> None:
    write_schedules(tmp_path, BOTH)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    with Sandbox(seed="empty", latency_ms=30) as sb:
        env |= {"HOLISTICS_BASE_URL": sb.base_url, "HOLISTICS_API_KEY": sb.key, "NO_COLOR": "1"}
        argv = [sys.executable, "-m", "reconciler", "apply", "--auto-approve"]
        runs = [
            subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outcomes = [(run.wait(timeout=120), run.communicate()[1]) for run in runs]
        assert len(sb.control.alerts()) == 2, outcomes
        for code, err in outcomes:
            assert code == 0 or "another holistics-schedules run is working on" in err, err


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"status": 504, "when": "after"}, id="504-after-store"),
        pytest.param({"status": None, "drop": True, "when": "after"}, id="dropped-after-store"),
        pytest.param({"status": 504, "when": "late", "delay_ms": 300}, id="late-write"),
    ],
)
def test_an_alert_create_whose_answer_is_lost_is_never_duplicated(
    sandbox: Sandbox, tmp_path: Path, fault: dict[str, Any]
) -> None:
    path = write_schedules(tmp_path, BOTH)
    sandbox.control.add_fault(method="POST", path="/data_alerts", count=1, **fault)
    cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert sandbox.control.wait_for_late_writes(timeout=10)
    again = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)  # adopts whatever the first left unknown
    assert again.returncode == 0, again.stderr
    assert sorted(a["title"] for a in sandbox.control.alerts()) == ["Revenue drop", "Stale data"]
    assert None not in ids_of(path, "alerts").values()


def test_an_alert_deleted_in_the_ui_is_created_again(sandbox: Sandbox, tmp_path: Path) -> None:
    path = write_schedules(tmp_path, BOTH)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    old = ids_of(path, "alerts")["revenue-drop"]
    sandbox.control.put_alerts([a for a in sandbox.control.alerts() if a["id"] != old])
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    new = ids_of(path, "alerts")["revenue-drop"]
    assert new != old and new in {a["id"] for a in sandbox.control.alerts()}


def test_an_alert_made_in_the_ui_is_adopted_by_content(sandbox: Sandbox, tmp_path: Path) -> None:
    path = write_schedules(tmp_path, BOTH)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    strip_ids(path)
    sandbox.control.clear_requests()
    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert alert_posts(sandbox) == 0 and len(sandbox.control.alerts()) == 2
    assert None not in ids_of(path, "alerts").values()


def test_unmanaged_alerts_are_named_and_only_declarable_ones_pruned(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, BOTH)
    base = {
        "source_type": "VizBlock",
        "source_id": "9",
        "schedule": {"repeat": "0 * * * *", "paused": False},
        "viz_conditions": [{"field_path": {"field_name": "x"}, "condition": {"operator": "is", "values": [1]}}],
        "dynamic_filter_presets": [],
    }
    ui = sandbox.control.add_alert(
        {**base, "title": "From the UI", "dest": {"type": "EmailDest", "recipients": ["a@example.com"]}}
    )
    odd = sandbox.control.add_alert(
        {**base, "title": "Plain http", "dest": {"type": "WebhookDest", "endpoint": "http://plain.example.com"}},
        validate=False,
    )
    text = cli(sandbox, "plan", cwd=tmp_path).stdout
    assert "From the UI" in text and str(ui["id"]) in text
    assert cli(sandbox, "apply", "--prune", "--auto-approve", cwd=tmp_path).returncode == 0
    left = {a["id"] for a in sandbox.control.alerts()}
    assert ui["id"] not in left, "a declarable unmanaged alert is pruned"
    assert odd["id"] in left, "what the YAML cannot hold is never pruned"
    assert not [
        r for r in sandbox.control.requests() if r["method"] == "DELETE" and r["path"].startswith("/data_schedules")
    ]


def test_run_an_alert_by_key_and_by_id(sandbox: Sandbox, tmp_path: Path) -> None:
    path = write_schedules(tmp_path, BOTH)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    alert_id = ids_of(path, "alerts")["stale-data"]
    by_key = cli(sandbox, "run", "stale-data", "--no-wait", cwd=tmp_path)
    assert by_key.returncode == 0, by_key.stderr
    assert f"Submitted alert {alert_id} (key 'stale-data' in schedules/main.yml:" in by_key.stdout
    assert any(r["path"] == f"/data_alerts/{alert_id}/submit_execute" for r in sandbox.control.requests())
    others = tmp_path / "elsewhere"
    others.mkdir()
    by_id = cli(sandbox, "run", str(alert_id), "--no-wait", "--kind", "alerts", cwd=others)
    assert f"Submitted alert {alert_id} (by id)" in by_id.stdout


def test_an_id_both_kinds_have_is_refused_naming_both(sandbox: Sandbox, tmp_path: Path) -> None:
    path = write_schedules(tmp_path, BOTH)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    schedule_id = ids_of(path, "schedules")["weekly-sales"]
    alert = next(a for a in sandbox.control.alerts() if a["title"] == "Stale data")
    sandbox.control.put_alerts([{**alert, "id": schedule_id}])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli(sandbox, "run", str(schedule_id), "--no-wait", cwd=elsewhere)
    assert result.returncode == 1
    assert f"schedule {schedule_id}" in result.stderr and f'alert {schedule_id} "Stale data"' in result.stderr
    assert not [r for r in sandbox.control.requests() if r["path"].endswith("submit_execute")]


def test_import_writes_alerts_beside_schedules_and_round_trips(sandbox: Sandbox, tmp_path: Path) -> None:
    source = tmp_path / "source"
    write_schedules(source, BOTH)
    assert cli(sandbox, "apply", "--auto-approve", cwd=source).returncode == 0
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    result = cli(sandbox, "import", cwd=fresh)
    assert result.returncode == 0, result.stderr
    assert "Imported 1 schedule(s) and 2 alert(s)" in result.stdout
    webhook = (fresh / "schedules" / "webhook.yml").read_text()
    assert "alerts:" in webhook and "source_id: '42'" in webhook and "schedules:" not in webhook
    assert "\n    id: " not in webhook.split("viz_conditions:")[1].split("dest:")[0], "no condition id is written"
    assert cli(sandbox, "plan", "--detailed-exitcode", cwd=fresh).returncode == 0


def test_import_unmanaged_takes_only_undeclared_alerts(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, BOTH)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    ui = sandbox.control.add_alert(
        {
            "title": "From the UI",
            "source_type": "DashboardWidget",
            "source_id": 5,
            "schedule": {"repeat": "0 * * * *", "paused": False},
            "viz_conditions": [{"field_path": {"field_name": "x"}, "condition": {"operator": "is", "values": [1]}}],
            "dynamic_filter_presets": [],
            "dest": {"type": "EmailDest", "recipients": ["a@example.com"]},
        }
    )
    result = cli(sandbox, "import", "--unmanaged", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    written = (tmp_path / "schedules" / "unmanaged-email.yml").read_text()
    assert f"id: {ui['id']}" in written and "Revenue drop" not in written and "Stale data" not in written
    assert cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0


def test_prune_since_deletes_a_removed_alert(sandbox: Sandbox, tmp_path: Path) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=tmp_path, check=True)

    path = write_schedules(tmp_path, BOTH)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "applied")
    removed = ids_of(path, "alerts")["stale-data"]
    text = path.read_text()
    path.write_text(text[: text.index("  stale-data:")])
    git("commit", "-qam", "stale-data removed")
    result = cli(sandbox, "apply", "--prune-since", "HEAD~1", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    deletes = [r["path"] for r in sandbox.control.requests() if r["method"] == "DELETE"]
    assert deletes == [f"/data_alerts/{removed}"]
