"""`apply --json`: JSON Lines on stdout, an object per change as it completes and a summary last,
in process against the sandbox, and as a subprocess that imports neither rich nor ruamel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.sandbox import Sandbox
from tests.helpers import EMAIL, REPO, write_schedules


def apply_json(sb: Sandbox, cwd: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    monkeypatch.chdir(cwd)
    for name in ("HOLISTICS_REGION", "HOLISTICS_SCHEDULES_NO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOLISTICS_BASE_URL", sb.base_url)
    monkeypatch.setenv("HOLISTICS_API_KEY", sb.key)
    monkeypatch.setenv("HOLISTICS_RATE_LIMIT", "none")
    with pytest.raises(SystemExit) as exited:
        main(["apply", "--auto-approve", "--json"])
    out, err = capsys.readouterr()
    return exited.value.code, [json.loads(line) for line in out.splitlines()], err


def test_one_object_per_change_then_the_ids_then_the_summary(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_schedules(tmp_path, EMAIL)
    sandbox.control.add_fault("POST", "/data_schedules", status=422, count=1)  # the first create is refused
    code, objects, err = apply_json(sandbox, tmp_path, monkeypatch, capsys)
    assert code == 1
    assert err == "", "nothing but JSON is printed for a failed change"
    changes = [o for o in objects if o["type"] == "change"]
    assert sorted(o["key"] for o in changes) == ["ops-sheet", "weekly-sales"]
    assert all(o["kind"] == "schedule" and o["action"] == "create" for o in changes)
    failed = [o for o in changes if o["outcome"] == "failed"]
    applied = [o for o in changes if o["outcome"] == "applied"]
    assert len(failed) == 1 and failed[0]["id"] is None and failed[0]["message"]
    assert failed[0]["errors"] and failed[0]["errors"][0]["file"] == "schedules/main.yml"
    assert len(applied) == 1 and isinstance(applied[0]["id"], int) and applied[0]["message"] == "created"
    assert [o["type"] for o in objects] == ["change", "change", "recorded", "summary"]
    recorded = objects[2]
    assert recorded == {
        "type": "recorded",
        "kind": "schedule",
        "file": "schedules/main.yml",
        "key": applied[0]["key"],
        "id": applied[0]["id"],
    }
    summary = objects[-1]
    assert summary["changes"] == 2 and summary["applied"] == 1 and summary["failed"] == 1
    assert summary["recorded"] == 1 and summary["unrecorded"] == 0 and summary["complete"] is False

    code, objects, err = apply_json(sandbox, tmp_path, monkeypatch, capsys)  # the rest, then nothing
    assert code == 0 and [o["type"] for o in objects] == ["change", "recorded", "summary"]
    assert objects[-1]["complete"] is True
    code, objects, err = apply_json(sandbox, tmp_path, monkeypatch, capsys)
    assert code == 0 and objects == [
        {
            "type": "summary",
            "kind": "schedule",
            "changes": 0,
            "applied": 0,
            "failed": 0,
            "recorded": 0,
            "unrecorded": 0,
            "partial": 0,
            "complete": True,
            "by_action": {},
            "by_kind": {},
        }
    ]


def test_an_error_that_stops_the_apply_is_an_object_too(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_schedules(tmp_path, EMAIL)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["apply", "--json", "--base-url", sandbox.base_url, "--api-key", sandbox.key])  # no --auto-approve
    out, err = capsys.readouterr()
    assert exited.value.code == 1 and "Error: apply --json asks no question" in err
    assert [json.loads(line)["type"] for line in out.splitlines()] == ["error"]
    assert sandbox.control.schedules() == []


@pytest.mark.slow
def test_a_subprocess_prints_json_lines_without_importing_rich_or_ruamel(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    probe = (
        "import sys, json\n"
        "from reconciler.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit as exc:\n"
        "    loaded = sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'ruamel'})\n"
        "    sys.stderr.write('LOADED ' + json.dumps(loaded) + '\\n')\n"
        "    raise\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    env |= {"HOLISTICS_BASE_URL": sandbox.base_url, "HOLISTICS_API_KEY": sandbox.key, "HOLISTICS_RATE_LIMIT": "none"}
    done = subprocess.run(
        [sys.executable, "-c", probe, "apply", "--auto-approve", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "LOADED []"
    lines = done.stdout.splitlines()
    assert all(line.isascii() and "\n" not in json.loads(json.dumps(line)) for line in lines)
    objects = [json.loads(line) for line in lines]
    assert [o["type"] for o in objects] == ["change", "change", "recorded", "recorded", "summary"]
    assert objects[-1]["applied"] == 2 and len(sandbox.control.schedules()) == 2


def test_a_replacement_refused_halfway_says_what_no_longer_delivers_and_the_next_plan_creates_it(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18: delete first, then create; when the create is refused the delete still happened,
    and the summary, the JSON and the next plan all say so."""
    write_schedules(tmp_path, EMAIL)
    assert apply_json(sandbox, tmp_path, monkeypatch, capsys)[0] == 0
    path = tmp_path / "schedules" / "main.yml"
    old_id = next(s["id"] for s in sandbox.control.schedules() if s["source_id"] == 1234)
    path.write_text(path.read_text().replace("source_id: 1234", "source_id: 1262"))  # a new source: a replacement
    sandbox.control.add_fault("POST", "/data_schedules", status=422, count=1)

    code, objects, err = apply_json(sandbox, tmp_path, monkeypatch, capsys)
    assert code == 1 and err == ""
    change = next(o for o in objects if o["type"] == "change")
    assert change["action"] == "replace" and change["outcome"] == "partial" and change["deleted_id"] == old_id
    assert change["old_id"] == old_id and change["id"] is None and "delivers nothing" in change["message"]
    summary = objects[-1]
    assert summary["changes"] == 1 and summary["applied"] == 0 and summary["failed"] == 1 and summary["partial"] == 1
    assert old_id not in {s["id"] for s in sandbox.control.schedules()}, "the delete happened"

    # the text form names the schedule that no longer delivers
    sandbox.control.add_fault("POST", "/data_schedules", status=422, count=1)
    monkeypatch.setenv("NO_COLOR", "1")
    with pytest.raises(SystemExit):
        main(["plan", "--json"])
    planned = json.loads(capsys.readouterr().out)
    (again,) = planned["changes"]
    assert again["action"] == "create" and again["key"] == "weekly-sales" and str(old_id) in again["reason"]
    with pytest.raises(SystemExit) as exited:
        main(["apply", "--auto-approve"])
    out, err = capsys.readouterr()
    assert exited.value.code == 1 and "Apply incomplete: 0 of 1 change(s) made, 1 failed." in out
    sandbox.control.clear_faults()

    code, objects, err = apply_json(sandbox, tmp_path, monkeypatch, capsys)  # the next apply creates it
    assert code == 0 and objects[0]["action"] == "create" and objects[0]["outcome"] == "applied"
    assert any(s["source_id"] == 1262 and s["id"] == objects[0]["id"] for s in sandbox.control.schedules())


def test_the_text_summary_counts_the_delete_of_a_replacement_that_failed_halfway(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_schedules(tmp_path, EMAIL)
    assert apply_json(sandbox, tmp_path, monkeypatch, capsys)[0] == 0
    path = tmp_path / "schedules" / "main.yml"
    old_id = next(s["id"] for s in sandbox.control.schedules() if s["source_id"] == 1234)
    path.write_text(path.read_text().replace("source_id: 1234", "source_id: 1262"))
    sandbox.control.add_fault("POST", "/data_schedules", status=422, count=1)
    monkeypatch.setenv("NO_COLOR", "1")
    with pytest.raises(SystemExit) as exited:
        main(["apply", "--auto-approve"])
    out, err = capsys.readouterr()
    assert exited.value.code == 1
    assert (
        "Apply incomplete: 0 of 1 change(s) made, 1 failed "
        "(1 of them half made: the old schedule deleted, the new one not created)." in out
    )
    assert f"weekly-sales: schedule {old_id} was deleted and its replacement was not created" in out
    assert f"deleted {old_id}, but the new schedule was not made" in err


HOSTILE = "Q\n::warning title=pwn::owned\r\n::stop-commands::x\u2028\x1b[31mred\u202e"


def test_hostile_titles_stay_inert_in_the_json_and_in_what_the_action_prints(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 18: text from the server (here an unmanaged schedule's title, which --prune deletes or
    fails to) is one JSON string on one ASCII line, and the action's log lines and annotations made
    from it hold no line break, no control character and no leading `::`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("action_run_inert", REPO / "scripts" / "action-run.py")
    assert spec is not None and spec.loader is not None
    ar = importlib.util.module_from_spec(spec)
    sys.modules["action_run_inert"] = ar
    spec.loader.exec_module(ar)

    write_schedules(tmp_path, EMAIL)
    template = {"source_type": "Dashboard", "source_id": 1234, "schedule": {"repeat": "0 8 * * *", "paused": False}}
    for n in range(2):
        dest = {"type": "EmailDest", "recipients": [f"x{n}@example.com"], "title": HOSTILE}
        sandbox.control.add_schedule({**template, "title": HOSTILE, "dest": dest})
    sandbox.control.add_fault("DELETE", "/data_schedules/*", status=403, count=1)  # one delete fails
    monkeypatch.chdir(tmp_path)
    for name, value in {"HOLISTICS_BASE_URL": sandbox.base_url, "HOLISTICS_API_KEY": sandbox.key}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("HOLISTICS_RATE_LIMIT", "none")
    with pytest.raises(SystemExit):
        main(["apply", "--auto-approve", "--json", "--prune"])
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert all(line.isascii() and line.startswith("{") for line in lines)
    deletes = [o for o in map(json.loads, lines) if o["type"] == "change" and o["action"] == "delete"]
    assert len(deletes) == 2 and all("::warning title=pwn" in d["name"] for d in deletes)
    assert {d["outcome"] for d in deletes} == {"applied", "failed"}

    parsed = ar.parse_apply(out)
    shown = [ar.log_line(json.loads(line)) for line in lines] + ar.failure_commands(parsed, tmp_path, tmp_path)
    for text in filter(None, shown):
        assert "\n" not in text and "\r" not in text and "\x1b" not in text and "\u2028" not in text
        assert "\u202e" not in text
    assert not any(text.lstrip().startswith("::") for text in filter(None, shown[: len(lines)]))
    (command,) = ar.failure_commands(parsed, tmp_path, tmp_path)
    assert command.startswith("::error title=") and len(command.splitlines()) == 1, "one command, its own"


ALERT_YAML = """
alerts:
  revenue-drop:
    source_type: DashboardWidget
    source_id: 90101
    schedule: {repeat: "0 * * * *"}
    viz_conditions:
      - field_path: {field_name: revenue}
        condition: {operator: less_than, values: [1000]}
    dest: {type: SlackDest, slack_channels: [{id: C1, name: ops}]}
"""


def test_an_alert_is_named_as_one_in_the_json_and_in_the_actions_report(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("action_run_kinds", REPO / "scripts" / "action-run.py")
    assert spec is not None and spec.loader is not None
    ar = importlib.util.module_from_spec(spec)
    sys.modules["action_run_kinds"] = ar
    spec.loader.exec_module(ar)

    write_schedules(tmp_path, EMAIL)
    (tmp_path / "schedules" / "alerts.yml").write_text(ALERT_YAML, encoding="utf-8")
    code, objects, err = apply_json(sandbox, tmp_path, monkeypatch, capsys)
    assert code == 0, err
    changes = {o["key"]: o for o in objects if o["type"] == "change"}
    assert changes["revenue-drop"]["kind"] == "alert" and changes["weekly-sales"]["kind"] == "schedule"
    alert_id = changes["revenue-drop"]["id"]
    assert [a["id"] for a in sandbox.control.alerts()] == [alert_id]

    out = "\n".join(json.dumps(o) for o in objects)
    report = ar._report(ar.parse_apply(out), 0, 100)
    assert f"- alert `revenue-drop`: id {alert_id}" in report
    assert "- `weekly-sales`: id" in report
