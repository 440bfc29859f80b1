"""End to end: the real CLI (a subprocess, as users and CI run it) against the real sandbox on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox
from tests.helpers import EMAIL, REPO, cli, write_schedules, writes


# every test here runs against the sandbox as the spec describes the API, and as a real server
# behaves (`server_like`): extra read-only fields on every schedule, undocumented input refused
@pytest.fixture(params=[False, True], ids=["plain", "server-like"])
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The conftest's sandbox (the example's sources, no schedules), in each mode."""
    with Sandbox(seed="empty", server_like=request.param) as sb:
        yield sb


@pytest.fixture(params=[False, True], ids=["plain", "server-like"])
def example_sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """The conftest's example sandbox (41 data schedules), in each mode."""
    with Sandbox(seed="example", server_like=request.param) as sb:
        yield sb


# ---- the full cycle ----


def test_plan_apply_plan_creates_records_ids_and_converges(sandbox: Sandbox, tmp_path: Path) -> None:
    path = write_schedules(tmp_path, EMAIL)
    plan = cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert plan.returncode == 2, plan.stderr
    assert "Plan: 2 to create, 0 to update, 0 to delete." in plan.stdout
    assert writes(sandbox) == []

    applied = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    posts = [r for r in writes(sandbox) if r["method"] == "POST"]
    assert len(posts) == 2 and all(r["status"] == 201 for r in posts)
    ids = {s["title"]: s["id"] for s in sandbox.control.schedules()}
    text = path.read_text()
    assert (
        f"  weekly-sales:\n    id: {ids['Weekly sales (e2e)']}\n" in text
    )  # recorded into the right entry, with its indentation

    again = cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes" in again.stdout


def test_applying_twice_without_recorded_ids_never_duplicates(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    pristine = tmp_path / "pristine"
    shutil.copytree(tmp_path / "schedules", pristine)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    # CI on merge that does not commit back: the ids are gone, the content still matches
    shutil.rmtree(tmp_path / "schedules")
    shutil.copytree(pristine, tmp_path / "schedules")
    second = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert second.returncode == 0
    assert len(sandbox.control.schedules()) == 2
    assert "No changes" in second.stdout


def test_update_is_a_full_put_and_untouched_schedules_are_never_written(
    example_sandbox: Sandbox, tmp_path: Path
) -> None:
    remote = {s["id"]: s for s in example_sandbox.control.schedules()}
    target, untouched = remote[4812], remote[4801]

    def entry(s: dict[str, Any], repeat: str) -> dict[str, Any]:
        return {
            "id": s["id"],
            "source_type": s["source_type"],
            "source_id": s["source_id"],
            "schedule": {"repeat": repeat, "paused": s["schedule"]["paused"]},
            "dest": {"type": s["dest"]["type"]}
            | ({"recipients": s["dest"]["recipients"]} if "recipients" in s["dest"] else {}),
        }

    doc = {
        "schedules": {"changed": entry(target, "15 9 * * 2"), "same": entry(untouched, untouched["schedule"]["repeat"])}
    }
    write_schedules(tmp_path, json.dumps(doc))  # JSON is YAML
    result = cli(example_sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert '~ schedule.repeat: "0 8 * * 1" -> "15 9 * * 2"' in result.stdout
    assert [(r["method"], r["path"]) for r in writes(example_sandbox)] == [("PUT", "/data_schedules/4812")]
    after = {s["id"]: s for s in example_sandbox.control.schedules()}
    assert after[4812]["schedule"]["repeat"] == "15 9 * * 2"
    # the fields the YAML leaves out kept their values: the PUT carried the whole object
    assert after[4812]["dest"]["options"] == target["dest"]["options"]
    assert (
        after[4812]["dynamic_filter_presets"][0]["preset_condition"]
        == target["dynamic_filter_presets"][0]["preset_condition"]
    )


def test_unmanaged_are_left_alone_and_only_prune_deletes(example_sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    total = len(example_sandbox.control.schedules())
    alerts = {a["id"] for a in example_sandbox.control.alerts()}  # unmanaged too: no YAML declares one
    plan = cli(example_sandbox, "plan", "--json", cwd=tmp_path)
    summary = json.loads(plan.stdout)["summary"]
    unmanaged = total + len(alerts)
    assert summary == {"create": 2, "update": 0, "delete": 0, "replace": 0, "unchanged": 0, "unmanaged": unmanaged}
    assert cli(example_sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    assert len(example_sandbox.control.schedules()) == total + 2

    pruned_plan = json.loads(cli(example_sandbox, "plan", "--json", "--prune", cwd=tmp_path).stdout)
    deletes = [c for c in pruned_plan["changes"] if c["action"] == "delete"]
    assert all(c["destructive"] and c["key"] is None for c in deletes)
    assert len([c for c in deletes if c["kind"] == "schedules"]) == total
    alert_deletes = {c["id"] for c in deletes if c["kind"] == "alerts"}
    assert alert_deletes and alert_deletes <= alerts
    # 41 of 43 managed is far above the 30% guard: refused without --force
    refused = cli(example_sandbox, "apply", "--auto-approve", "--prune", cwd=tmp_path)
    assert refused.returncode == 1 and "unsafe" in refused.stderr
    assert all(r["method"] != "DELETE" for r in example_sandbox.control.requests())
    forced = cli(example_sandbox, "apply", "--auto-approve", "--prune", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert {s["title"] for s in example_sandbox.control.schedules()} == {"Weekly sales (e2e)", None}
    assert {a["id"] for a in example_sandbox.control.alerts()} == alerts - alert_deletes, "alert ids are their own"


def test_import_then_plan_shows_no_changes(example_sandbox: Sandbox, tmp_path: Path) -> None:
    result = cli(example_sandbox, "import", "--out", "schedules", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    files = sorted(p.name for p in (tmp_path / "schedules").iterdir())
    # an alert by email or Slack beside the schedules of its destination, a webhook alert in its own file
    assert files == ["email-subscription.yml", "email.yml", "gsheet.yml", "sftp.yml", "slack.yml", "webhook.yml"]
    plan = cli(example_sandbox, "plan", "--json", "--detailed-exitcode", cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout
    summary = json.loads(plan.stdout)["summary"]
    every = len(example_sandbox.control.schedules()) + len(example_sandbox.control.alerts())
    assert summary["unchanged"] == every and summary["unmanaged"] == 0
    # keys are stable: importing again gives the same files byte for byte
    again = cli(example_sandbox, "import", "--out", "again", cwd=tmp_path)
    assert again.returncode == 0
    for name in files:
        assert (tmp_path / "again" / name).read_text() == (tmp_path / "schedules" / name).read_text()
    assert cli(example_sandbox, "import", "--out", "schedules", cwd=tmp_path).returncode == 1  # no silent overwrite


def test_repo_example_validates_and_plans(example_sandbox: Sandbox, tmp_path: Path) -> None:
    shutil.copytree(REPO / "schedules", tmp_path / "schedules")
    assert cli(None, "validate", cwd=tmp_path).returncode == 0
    types = {
        json.loads(json.dumps(t)) for t in ("EmailDest", "EmailSubscriptionDest", "SlackDest", "SftpDest", "GsheetDest")
    }
    text = "".join(p.read_text() for p in (tmp_path / "schedules").glob("*.yml"))
    assert all(f"type: {t}" in text for t in types)
    plan = cli(example_sandbox, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert plan.returncode == 2


# ---- output contract ----


def test_json_plan_contract(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    data = json.loads(cli(sandbox, "plan", "--format", "json", cwd=tmp_path).stdout)
    assert set(data["summary"]) >= {"create", "update", "delete", "unchanged", "unmanaged"}
    change = next(c for c in data["changes"] if c["key"] == "weekly-sales")
    assert set(change) >= {"action", "key", "id", "file", "diff"}
    assert change["file"].endswith("main.yml") and change["action"] == "create"
    assert {"path": "schedule.repeat", "old": None, "new": "0 8 * * 1"} in change["diff"]


def test_plan_out_file_and_markdown(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    md = cli(sandbox, "plan", "--format", "markdown", "--out", "plan.md", cwd=tmp_path)
    assert md.returncode == 0
    assert md.stdout == (tmp_path / "plan.md").read_text()
    assert "| create | update | delete | unchanged | unmanaged |" in md.stdout
    assert "s***@example.com" in md.stdout and "sales@example.com" not in md.stdout
    shown = cli(sandbox, "plan", "--format", "markdown", "--show-sensitive", cwd=tmp_path)
    assert "sales@example.com" in shown.stdout


def test_no_color_without_a_terminal(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    out = cli(sandbox, "plan", cwd=tmp_path).stdout
    assert "\x1b[" not in out


# ---- errors: clear messages, exit 1, nothing written ----


def test_invalid_yaml_lists_every_problem_and_sends_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL.replace("sales@example.com", "not-an-email").replace('"0 6 * * *"', '"0 6 * *"'))
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        result = cli(sandbox, *command, cwd=tmp_path)
        assert result.returncode == 1
        assert "main.yml:9: weekly-sales.dest.recipients.0: not a valid email address" in result.stderr
        assert "main.yml:14: ops-sheet.schedule.repeat: not a valid cron expression" in result.stderr
        assert "Traceback" not in result.stderr
    assert sandbox.control.requests() == [] or all(r["method"] == "GET" for r in sandbox.control.requests())


def test_401_says_the_key_was_rejected_and_never_shows_it(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    secret = "wrong-key-5f0c2a7e"
    result = cli(sandbox, "plan", "-v", cwd=tmp_path, key=secret)
    assert result.returncode == 1
    assert "key was rejected" in result.stderr
    assert secret not in result.stdout + result.stderr


def test_an_id_deleted_in_the_workspace_is_planned_as_a_create(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL.replace("  weekly-sales:\n", "  weekly-sales:\n    id: 999999\n"))
    result = cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "schedule 999999 was deleted in the workspace; it will be created again" in result.stdout
    assert "Plan: 2 to create, 0 to update, 0 to delete." in result.stdout


def test_403_names_the_schedule(example_sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(
        tmp_path,
        "schedules:\n  s:\n    id: 4812\n    source_type: Dashboard\n    source_id: 1234\n"
        "    schedule: {repeat: '0 9 * * 1'}\n    dest: {type: EmailDest, recipients: [a@example.com]}\n",
    )
    example_sandbox.control.add_fault(method="PUT", path="/data_schedules/4812", status=403, count=1)
    result = cli(example_sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 1
    assert "s (id 4812)" in result.stderr and "403" in result.stderr


def test_422_record_errors_point_at_file_and_line(sandbox: Sandbox, tmp_path: Path) -> None:
    # a dashboard id that passes offline validation but not the server's
    write_schedules(tmp_path, EMAIL.replace("source_id: 1234", "source_id: 4242"))
    offline = cli(None, "validate", cwd=tmp_path)
    assert offline.returncode == 0
    online = cli(sandbox, "validate", "--remote", cwd=tmp_path)
    assert (
        online.returncode == 1 and "main.yml:5: weekly-sales.source_id: Dashboard 4242 does not exist" in online.stderr
    )
    sandbox.control.add_fault(method="POST", path="/data_schedules", status=422, count=1)
    write_schedules(tmp_path, EMAIL)
    result = cli(sandbox, "apply", "--auto-approve", "--parallelism", "1", cwd=tmp_path)  # ops-sheet goes first
    assert result.returncode == 1
    assert "main.yml:11: ops-sheet: Sandbox fault: forced 422 response" in result.stderr
    assert len(sandbox.control.schedules()) == 1  # the other create still happened and was reported


def test_apply_without_terminal_refuses_without_auto_approve(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    result = cli(sandbox, "apply", cwd=tmp_path, stdin="yes\n")
    assert result.returncode == 1 and "--auto-approve" in result.stderr
    assert writes(sandbox) == []


def test_http_base_url_refused_unless_loopback(tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    env = {**os.environ, "HOLISTICS_API_KEY": "k", "HOLISTICS_BASE_URL": "http://example.com/api/v2"}
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "http" in result.stderr and "Traceback" not in result.stderr


def test_plan_follows_cursors_100_a_page(sandbox: Sandbox, tmp_path: Path) -> None:
    body = {
        "source_type": "QueryReport",
        "source_id": 5301,
        "schedule": {"repeat": "0 6 * * *", "paused": False},
        "dest": {"type": "GsheetDest", "sheet_url": "u", "sheet_title": "t"},
    }
    sandbox.control.put_schedules([dict(body) for _ in range(250)])
    write_schedules(tmp_path, "schedules: {}\n")
    sandbox.control.clear_requests()
    result = cli(sandbox, "plan", "--json", cwd=tmp_path)
    assert json.loads(result.stdout)["summary"]["unmanaged"] == 250
    lists = [r for r in sandbox.control.requests() if r["path"] == "/data_schedules"]
    # 3 pages; read from both ends, one more may be on its way when the walks meet
    assert len(lists) in (3, 4) and all(r["query"].get("limit") == "100" for r in lists)
    assert all(r["method"] == "GET" for r in sandbox.control.requests())


def run_on_a_terminal(sb: Sandbox, cwd: Path, **env: str) -> str:
    """The CLI with a pseudo-terminal as stdout, as a person runs it."""
    import pty

    leader, follower = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "HOLISTICS_REGION")}
    full_env |= {"HOLISTICS_BASE_URL": sb.base_url, "HOLISTICS_API_KEY": sb.key, "TERM": "xterm", **env}
    proc = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan"],
        cwd=cwd,
        env=full_env,
        stdout=follower,
        stderr=subprocess.PIPE,
        timeout=60,
        check=False,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.returncode == 0, proc.stderr
    return b"".join(chunks).decode()


def test_colour_on_a_terminal_and_none_with_no_color(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    coloured = run_on_a_terminal(sandbox, tmp_path)
    assert "\x1b[32m" in coloured and "Plan: 2 to create" in coloured
    plain = run_on_a_terminal(sandbox, tmp_path, NO_COLOR="1")
    assert "\x1b[" not in plain and "Plan: 2 to create" in plain


def test_demo_runs_from_the_repo_and_leaves_nothing_behind(tmp_path: Path) -> None:
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("holistics-demo-*"))
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Plan: 5 to create, 3 to update, 0 to delete." in result.stdout  # one of them an alert
    assert "✓ alert revenue-below-1000-slack (id " in result.stdout
    assert "No changes. The workspace matches the YAML." in result.stdout
    assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("holistics-demo-*")) == before
    assert (
        subprocess.run(["git", "status", "--porcelain", "schedules"], cwd=REPO, capture_output=True, text=True).stdout
        == ""
    )  # the repo's example is untouched


def test_import_skips_what_the_format_cannot_hold_and_says_so(example_sandbox: Sandbox, tmp_path: Path) -> None:
    lake = {
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 1 * * *", "paused": False},
        "dest": {"type": "Adls2Dest", "path": "/lake"},
        "title": "Lake export",
    }
    created = example_sandbox.control.add_schedule(lake, validate=False)
    result = cli(example_sandbox, "import", "--out", "schedules", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"skipped schedule {created['id']}" in result.stderr and "1 skipped" in result.stdout
    assert cli(example_sandbox, "validate", cwd=tmp_path).returncode == 0
    summary = json.loads(cli(example_sandbox, "plan", "--json", cwd=tmp_path).stdout)["summary"]
    assert summary["create"] == summary["update"] == 0 and summary["unmanaged"] == 1


def test_region_flag_beats_base_url_from_the_environment(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    env |= {"HOLISTICS_BASE_URL": sandbox.base_url, "HOLISTICS_API_KEY": sandbox.key, "HOLISTICS_RATE_LIMIT": "none"}
    # --region eu must go to eu.holistics.io, not the sandbox; with no network that fails to connect
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--region", "eu"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "eu.holistics.io" in result.stderr
    assert sandbox.control.requests() == []


def test_a_saved_plan_goes_alone(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    assert cli(sandbox, "plan", "--out", "plan.json", cwd=tmp_path).returncode == 0
    result = cli(sandbox, "apply", "plan.json", "schedules", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 1 and "on its own" in result.stderr


def test_a_record_error_is_shown_per_field_at_its_line(sandbox: Sandbox, tmp_path: Path) -> None:
    # the server finds a recipient the local check accepted (here: the sandbox's own format rule)
    write_schedules(tmp_path, EMAIL)
    body = {"type": "RecordError", "message": "invalid", "record": {"dest.recipients": ["is not valid"]}}
    from reconciler.remote.client import HolisticsClient, RecordInvalid
    from reconciler.usecases.applying import _field_errors
    from reconciler.usecases.config import ProjectConfig
    from reconciler.usecases.planning import make_plan

    with HolisticsClient(sandbox.base_url, sandbox.key) as client:
        plan = make_plan(client, ProjectConfig(paths=[str(tmp_path / "schedules")]), []).plan
    change = next(c for c in plan.changes if c.key == "weekly-sales")
    exc = RecordInvalid(
        "rejected",
        status=422,
        error_type="RecordError",
        api_message=body["message"],
        record={**body["record"], "base": ["twice"], "dest": ["twice", "twice"]},
        method="POST",
        path="/data_schedules",
    )
    lines = [str(problem) for problem in _field_errors(change, exc)]  # Problems now, printed as before
    assert lines[0].endswith("main.yml:9: weekly-sales.dest.recipients: is not valid")
    assert len([line for line in lines if line.endswith("weekly-sales.dest: twice")]) == 1
