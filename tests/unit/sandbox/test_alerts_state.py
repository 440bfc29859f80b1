"""Data alerts in the sandbox's workspace: the example seed, a seed file, the state file (and one
written before alerts), and the control routes that put, show and add alerts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import requests

from reconciler.kinds.alerts.models import DataAlertSpec
from reconciler.sandbox import Sandbox
from reconciler.sandbox.seed import load_seed
from tests.unit.sandbox.test_alerts import ALERTS, WEBHOOK, Client, assert_error, new_alert

# ---- seed, state file, control ----


def test_the_example_seed_has_realistic_alerts() -> None:
    workspace = load_seed("example")
    alerts = {a["title"]: a for a in workspace.data_alerts}
    schedule_ids = {s["id"] for s in workspace.data_schedules}
    assert {a["dest"]["type"] for a in alerts.values()} == {"EmailDest", "SlackDest", "WebhookDest"}
    revenue = alerts["Revenue below 1,000"]
    assert revenue["source_type"] == "DashboardWidget" and revenue["dest"]["type"] == "EmailDest"
    condition = revenue["viz_conditions"][0]
    assert condition["aggregation"] == "sum" and condition["condition"]["operator"] == "less_than"
    assert condition["condition"]["values"] == [1000]
    slack = [a for a in alerts.values() if a["dest"]["type"] == "SlackDest"]
    assert any(c["name"] == "ops" for a in slack for c in a["dest"]["slack_channels"])
    webhook = next(a for a in alerts.values() if a["dest"]["type"] == "WebhookDest")
    assert webhook["source_type"] == "VizBlock" and isinstance(webhook["source_id"], str)
    assert webhook["dest"]["endpoint"].startswith("https://")
    assert any(a["id"] in schedule_ids for a in alerts.values())
    for alert in alerts.values():  # what the seed holds, the YAML format can express
        entry = copy.deepcopy(alert)
        del entry["schedule"]["is_archived"]
        for name in ("dynamic_filter_presets", "viz_conditions"):
            for part in entry[name]:
                del part["id"]
        DataAlertSpec.model_validate(entry)
    assert load_seed("empty").data_alerts == [] and len(load_seed("example").data_schedules) == 41


def test_seed_file_with_alerts(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"data_alerts": [new_alert(id=12)]}))
    with Sandbox(seed=seed) as sb:
        assert [a["id"] for a in sb.control.alerts()] == [12] and sb.control.schedules() == []
    seed.write_text(json.dumps({"data_alerts": [new_alert(dest=WEBHOOK | {"endpoint": "http://x.example"})]}))
    with pytest.raises(ValueError, match=r"invalid seed.*dest\.endpoint"):
        Sandbox(seed=seed)


def test_state_file_keeps_alerts_and_their_counters(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    with Sandbox(seed="empty", state_file=path) as sb:
        c = Client(sb)
        created = c.create(new_alert(source_type="VizBlock", source_id="42")).json()["data_alert"]
        sb.control.fail_alert_jobs(created["id"])
    assert json.loads(path.read_text())["data_alerts"] == [created]
    with Sandbox(seed="example", state_file=path) as sb:  # the file wins over the seed
        c = Client(sb)
        assert sb.control.alerts() == [created]
        again = c.create(new_alert()).json()["data_alert"]
        assert again["id"] > created["id"]
        assert again["viz_conditions"][0]["id"] > created["viz_conditions"][0]["id"]
        job = c.call("POST", f"{ALERTS}/{created['id']}/submit_execute").json()["job"]
        c.call("GET", f"/jobs/{job['id']}")
        assert c.call("GET", f"/jobs/{job['id']}").json()["job"]["status"] == "failure"  # fail flag kept


def test_a_state_file_from_before_alerts_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "sandbox.json"
    with Sandbox(seed="example", state_file=path):
        pass
    old = json.loads(path.read_text())
    for key in ("data_alerts", "alert_stamps", "failing_alerts"):
        del old[key]
    for key in ("data_alert", "viz_condition"):
        del old["next_ids"][key]
    for entry in old["jobs"]:
        entry.pop("source_type", None)
    path.write_text(json.dumps(old))
    with Sandbox(seed="example", state_file=path) as sb:
        assert sb.control.alerts() == [] and len(sb.control.schedules()) == 41
        assert Client(sb).create(new_alert()).json()["data_alert"]["id"] == 1


def test_control_routes_for_alerts(sandbox: Sandbox) -> None:
    control = sandbox.control_url
    routes = requests.get(control, timeout=5).json()["routes"]
    assert any(r.startswith("PUT /_sandbox/alerts") for r in routes)
    no_presets = {k: v for k, v in new_alert(id=300).items() if k != "dynamic_filter_presets"}
    no_presets["schedule"] = {"repeat": "0 * * * *"}  # as the YAML has it: paused defaults to false
    put = requests.put(f"{control}/alerts", json={"data_alerts": [no_presets, new_alert()]}, timeout=5)
    assert put.status_code == 200, put.text
    assert [a["id"] for a in put.json()["data_alerts"]] == [300, 301]
    assert put.json()["data_alerts"][0]["dynamic_filter_presets"] == []
    assert put.json()["data_alerts"][0]["schedule"]["paused"] is False
    listed = requests.get(f"{control}/alerts", timeout=5).json()["data_alerts"]
    assert listed == put.json()["data_alerts"]
    added = requests.post(f"{control}/alerts", json={"data_alert": new_alert(title="added")}, timeout=5)
    assert added.status_code == 201 and added.json()["data_alert"]["id"] == 302
    bad = requests.put(f"{control}/alerts", json={"data_alerts": [new_alert(dest={"type": "WebhookDest"})]}, timeout=5)
    assert_error(bad, 400, "InvalidParameterError")
    # the whole workspace at once; GET /state still answers with the schedules alone
    both = requests.put(f"{control}/state", json={"data_schedules": [], "data_alerts": [new_alert(id=9)]}, timeout=5)
    assert [a["id"] for a in both.json()["data_alerts"]] == [9]
    assert requests.get(f"{control}/state", timeout=5).json() == {"data_schedules": []}
    requests.put(f"{control}/state", json={"data_schedules": []}, timeout=5)  # leaves the alerts be
    assert [a["id"] for a in sandbox.control.alerts()] == [9]
    assert requests.post(f"{control}/jobs/fail", json={"alert_id": 9}, timeout=5).ok
    c = Client(sandbox)
    job = c.call("POST", f"{ALERTS}/9/submit_execute").json()["job"]
    c.call("GET", f"/jobs/{job['id']}")
    assert c.call("GET", f"/jobs/{job['id']}").json()["job"]["status"] == "failure"


def test_put_alerts_keeps_ids_and_counters_only_rise(sandbox: Sandbox) -> None:
    given = new_alert(id=40, viz_conditions=[{**new_alert()["viz_conditions"][0], "id": 700}])
    stored = sandbox.control.put_alerts([given, new_alert()])
    assert [a["id"] for a in stored] == [40, 41] and stored[0]["viz_conditions"][0]["id"] == 700
    assert stored[1]["viz_conditions"][0]["id"] == 701
    sandbox.control.put_alerts([new_alert(id=7)])
    assert sandbox.control.add_alert(new_alert())["id"] == 42
    with pytest.raises(ValueError, match="duplicate id"):
        sandbox.control.put_alerts([new_alert(id=7), new_alert(id=7)])
    assert (
        sandbox.control.add_schedule(
            {
                "source_type": "Dashboard",
                "source_id": 1234,
                "schedule": {"repeat": "0 8 * * 1", "paused": False},
                "dest": {"type": "EmailDest", "recipients": ["a@example.com"]},
            }
        )["id"]
        == 1
    )  # the schedules' sequence is their own
