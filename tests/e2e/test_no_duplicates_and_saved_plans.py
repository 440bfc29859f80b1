"""Issue 10's promises, end to end (the real CLI against the real sandbox): no duplicate however a
plan is re-applied, a saved plan only where and as it was made, undocumented server fields and
undeclarable destinations kept out of the way."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from reconciler.sandbox import Sandbox
from reconciler.usecases import lock
from tests.helpers import EMAIL, cli, write_schedules, writes

UI_EXTRAS = {"created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z", "owner": {"id": 9}}


def posts(sb: Sandbox) -> int:
    return sum(1 for r in writes(sb) if r["method"] == "POST")


def strip_ids(path: Path) -> None:
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if not re.match(r"\s+id: \d+$", line)))


# ---- a saved plan ----


def test_a_saved_plan_applied_twice_from_two_checkouts_creates_once(sandbox: Sandbox, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_schedules(first, EMAIL)
    assert cli(sandbox, "plan", "--out", "plan.json", cwd=first).returncode == 0
    shutil.copytree(first, second)  # a second checkout (a re-run CI job) with the same plan file

    assert cli(sandbox, "apply", "plan.json", "--auto-approve", cwd=first).returncode == 0
    again = cli(sandbox, "apply", "plan.json", "--auto-approve", cwd=second)

    assert again.returncode == 0, again.stderr
    assert "adopted, not created again" in again.stdout
    assert posts(sandbox) == 2 and len(sandbox.control.schedules()) == 2
    ids = {s["id"] for s in sandbox.control.schedules()}
    recorded = (second / "schedules/main.yml").read_text()
    assert all(f"id: {i}" in recorded for i in ids), "the second checkout records them"


def test_a_saved_plan_is_refused_by_another_workspace(tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    with Sandbox(seed="empty") as made_for, Sandbox(seed="empty", key=made_for.key) as other:
        assert cli(made_for, "plan", "--out", "plan.json", cwd=tmp_path).returncode == 0
        result = cli(other, "apply", "plan.json", "--auto-approve", cwd=tmp_path)
        assert result.returncode == 1
        assert f"made for the workspace at {made_for.base_url}, not {other.base_url}" in result.stderr
        assert writes(other) == [] and writes(made_for) == []


def test_a_saved_plan_of_format_1_is_refused_naming_the_version(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    old = {"format_version": 1, "summary": {"create": 1}, "changes": [], "saved_plan": {"version": 1, "changes": []}}
    (tmp_path / "plan.json").write_text(json.dumps(old))
    result = cli(sandbox, "apply", "plan.json", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 1
    assert "saved plan format version 1 is not supported" in result.stderr and "version 3" in result.stderr
    assert "Traceback" not in result.stderr and writes(sandbox) == []


def _valid_plan(sb: Sandbox, cwd: Path) -> dict[str, Any]:
    write_schedules(cwd, EMAIL)
    assert cli(sb, "plan", "--out", "plan.json", cwd=cwd).returncode == 0
    data: dict[str, Any] = json.loads((cwd / "plan.json").read_text())
    return data


def first_kind(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """`data` with `fields` set in the saved plan's first kind (each kind's changes are its own)."""
    saved = data["saved_plan"]
    return {**data, "saved_plan": {**saved, "kinds": [{**saved["kinds"][0], **fields}, *saved["kinds"][1:]]}}


def first_change(data: dict[str, Any], **fields: Any) -> dict[str, Any]:
    changes = data["saved_plan"]["kinds"][0]["changes"]
    return first_kind(data, changes=[{**changes[0], **fields}, *changes[1:]])


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda d: "[" * 200_000, id="deep-json"),
        pytest.param(lambda d: first_kind(d, changes="x"), id="changes-not-a-list"),
        pytest.param(lambda d: first_kind(d, changes=[None]), id="null-change"),
        pytest.param(lambda d: first_change(d, body=None), id="create-without-body"),
        pytest.param(lambda d: first_change(d, id="7"), id="id-as-text"),
        pytest.param(lambda d: first_change(d, id=True), id="id-as-bool"),
        pytest.param(lambda d: first_change(d, action="explode"), id="unknown-action"),
        pytest.param(lambda d: first_change(d, field_lines={"title": "x"}), id="line-as-text"),
        pytest.param(lambda d: first_kind(d, remote_ids=[None]), id="null-remote-id"),
        pytest.param(lambda d: first_kind(d, kind="dashboards"), id="unknown-kind"),
        pytest.param(lambda d: {**d, "saved_plan": {**d["saved_plan"], "titles": [[1, 2]]}}, id="short-title"),
        pytest.param(lambda d: {**d, "saved_plan": None}, id="null-saved-plan"),
        pytest.param(lambda d: [d], id="a-list"),
    ],
)
def test_a_malformed_saved_plan_is_a_clear_error(sandbox: Sandbox, tmp_path: Path, damage: Any) -> None:
    data = _valid_plan(sandbox, tmp_path)
    damaged = damage(data)
    (tmp_path / "plan.json").write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    result = cli(sandbox, "apply", "plan.json", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 1
    assert "is not a saved plan" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert writes(sandbox) == []


# ---- two runs at once ----


def test_an_apply_while_another_holds_the_checkout_is_refused_naming_it(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    with lock.exclusive(lock.checkout_root(tmp_path), "apply (the test)"):
        result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 1
    assert "another holistics-schedules run is working on" in result.stderr
    assert f"apply (the test), pid {os.getpid()}" in result.stderr
    assert sandbox.control.requests() == [], "nothing was sent, not even a read"
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0, "released when its holder is done"


def test_two_applies_at_once_never_create_twice(tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    with Sandbox(seed="empty", latency_ms=30) as sb:
        env |= {"HOLISTICS_BASE_URL": sb.base_url, "HOLISTICS_API_KEY": sb.key, "NO_COLOR": "1"}
        argv = [sys.executable, "-m", "reconciler", "apply", "--auto-approve"]
        runs = [
            subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outcomes = [(run.wait(timeout=120), run.communicate()[1]) for run in runs]
        assert len(sb.control.schedules()) == 2, outcomes
        for code, err in outcomes:
            assert code == 0 or "another holistics-schedules run is working on" in err, err
        assert cli(sb, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0


# ---- a server that is more than the spec ----


def test_an_ignored_content_field_does_not_stop_adoption(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "holistics-schedules.yml").write_text("ignore: {fields: [recipients]}\n")
    path = write_schedules(tmp_path, EMAIL)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    strip_ids(path)
    result = cli(sandbox, "plan", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)["summary"]
    assert summary["create"] == 0 and summary["unmanaged"] == 0, summary


def test_an_undeclarable_destination_is_never_pruned_nor_counted(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    adls = {
        "title": "Lake export",
        "source_type": "QueryReport",
        "source_id": 5301,
        "schedule": {"repeat": "0 1 * * *", "paused": False},
        "dest": {"type": "Adls2Dest", "path": "/x"},
    }
    made = sandbox.control.add_schedule(adls, validate=False)

    planned = cli(sandbox, "plan", "--prune", "--json", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    data = json.loads(planned.stdout)
    assert data["summary"]["delete"] == 0 and data["not_manageable"] == [made["id"]]
    text = cli(sandbox, "plan", "--prune", cwd=tmp_path).stdout
    assert "not manageable here" in text and str(made["id"]) in text

    assert cli(sandbox, "apply", "--prune", "--auto-approve", cwd=tmp_path).returncode == 0
    assert made["id"] in {s["id"] for s in sandbox.control.schedules()}
    assert all(r["method"] != "DELETE" for r in writes(sandbox))


# ---- smaller promises ----


@pytest.mark.parametrize("module", ["click", "rich"])  # click loads at start-up; rich when an error is said
def test_ctrl_c_while_the_tool_loads_is_a_quiet_exit_130(tmp_path: Path, module: str) -> None:
    """A dependency whose import is interrupted stands in for Ctrl-C, deterministically."""
    (tmp_path / "fake" / module).mkdir(parents=True)
    (tmp_path / "fake" / module / "__init__.py").write_text("raise KeyboardInterrupt\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "fake")}
    script = str(Path(sys.executable).parent / "holistics-schedules")
    for argv in ([sys.executable, "-m", "reconciler", "validate"], [script, "plan"]):
        result = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == 130, result.stderr
        assert result.stderr == "Error: interrupted\n"


RUN_7 = """\
schedules:
  "7":
    source_type: QueryReport
    source_id: 5301
    schedule: {repeat: "0 6 * * *"}
    dest: {type: GsheetDest, sheet_url: "https://docs.google.com/spreadsheets/d/x", sheet_title: Orders}
"""


def test_run_takes_a_yaml_key_before_an_id_and_says_which(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, RUN_7)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    (keyed,) = sandbox.control.schedules()
    other = sandbox.control.add_schedule({**keyed, "id": None, "dest": {**keyed["dest"], "sheet_title": "Other"}})
    assert keyed["id"] != 7

    result = cli(sandbox, "run", "7", "--no-wait", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert f"Submitted schedule {keyed['id']} (key '7' in schedules/main.yml:2)" in result.stdout
    by_id = cli(sandbox, "run", str(other["id"]), "--no-wait", cwd=tmp_path)
    assert f"Submitted schedule {other['id']} (by id)" in by_id.stdout


class _FakeApi(BaseHTTPRequestHandler):
    """An independent fake of the API: a fixed listing, one report, and every create refused with a
    RecordError that names no field (`record: {base: []}`) and says why only in `message`."""

    listing: ClassVar[list[Any]] = []

    def do_GET(self) -> None:
        if self.path.startswith("/api/v2/data_schedules"):
            page = {"data_schedules": self.listing, "total_count": len(self.listing)}
            self._json(200, {**page, "cursors": {"previous": None, "next": None}})
        elif self.path.startswith("/api/v2/query_reports/"):
            self._json(200, {"query_report": {"id": 5301, "title": "Orders"}})
        else:
            self._json(404, {"type": "RecordError", "message": "not found"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        refusal = {"type": "RecordError", "message": "Schedule limit of the plan reached", "record": {"base": []}}
        self._json(422, refusal)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def against_fake(cwd: Path, *args: str, listing: list[Any] | None = None) -> subprocess.CompletedProcess[str]:
    handler = type("Fake", (_FakeApi,), {"listing": listing or []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
        env |= {"HOLISTICS_BASE_URL": f"http://127.0.0.1:{server.server_port}/api/v2", "HOLISTICS_API_KEY": "k"}
        argv = [sys.executable, "-m", "reconciler", *args]
        return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    finally:
        server.shutdown()
        server.server_close()


def test_a_422_without_field_errors_keeps_the_servers_message(tmp_path: Path) -> None:
    write_schedules(tmp_path, RUN_7)
    result = against_fake(tmp_path, "apply", "--auto-approve")
    assert result.returncode == 1
    assert "schedules/main.yml:2: 7: Schedule limit of the plan reached" in result.stderr, result.stderr


GSHEET = {
    "source_type": "QueryReport",
    "source_id": 5301,
    "schedule": {"repeat": "0 6 * * *", "paused": False},
    "dest": {"type": "GsheetDest", "sheet_url": "https://x", "sheet_title": "O"},
}


@pytest.mark.parametrize(
    "item",
    [
        pytest.param(GSHEET, id="no-id"),
        pytest.param({**GSHEET, "id": None}, id="null-id"),
        pytest.param({**GSHEET, "id": "12"}, id="id-as-text"),
        pytest.param({**GSHEET, "id": True}, id="id-as-bool"),
        pytest.param({**GSHEET, "id": -3}, id="negative-id"),
        pytest.param("not a schedule", id="a-string"),
        pytest.param(None, id="null"),
    ],
)
def test_a_listed_schedule_without_a_valid_id_is_a_clear_error(tmp_path: Path, item: Any) -> None:
    write_schedules(tmp_path, RUN_7)
    for command in (("plan",), ("apply", "--auto-approve"), ("import", "--out", "imported")):
        result = against_fake(tmp_path, *command, listing=[{**GSHEET, "id": 1}, item])
        assert result.returncode == 1, (command, result.stderr)
        assert "returned a schedule without a valid id" in result.stderr, (command, result.stderr)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr


SLACK = """\
schedules:
  slack:
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest:
      type: SlackDest
      slack_channels: [{id: C1, name: general, type: public_channel}]
"""


def test_enriched_free_form_items_cause_no_diff_and_no_duplicate(sandbox: Sandbox, tmp_path: Path) -> None:
    """The spec leaves a Slack channel "an object": a server adding `is_member` to it is not a change."""
    path = write_schedules(tmp_path, SLACK)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    stored = sandbox.control.schedules()
    stored[0]["dest"]["slack_channels"][0] |= {"is_member": True, "num_members": 12}
    sandbox.control.put_schedules(stored, validate=False)

    assert cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0, "no perpetual update"
    strip_ids(path)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    assert len(sandbox.control.schedules()) == 1, "adopted, not created again"


def test_the_lock_leaves_no_file_behind_and_still_excludes(tmp_path: Path) -> None:
    path = lock.lock_path(tmp_path)
    with lock.exclusive(tmp_path, "first"):
        assert path.exists()
        with pytest.raises(lock.LockHeld, match="first, pid"), lock.exclusive(tmp_path, "second"):
            pass
    assert not path.exists(), "temporary checkouts must not fill the temporary directory"
    with lock.exclusive(tmp_path, "again"):
        assert path.exists()


BASE = {
    "source_type": "Dashboard",
    "source_id": 1234,
    "schedule": {"repeat": "0 8 * * 1", "paused": False},
    "dest": {"type": "EmailDest", "recipients": ["a@example.com"]},
}


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param({"schedule": {"repeat": "@daily", "paused": False}}, id="cron-macro"),
        pytest.param({"schedule": {"repeat": "0 0 8 * * *", "paused": False}}, id="six-field-cron"),
        pytest.param({"dest": {"type": "EmailDest", "recipients": ["not-an-email"]}}, id="bad-email"),
        pytest.param({"dest": {"type": "SlackDest", "slack_channels": ["general"]}}, id="channel-as-text"),
    ],
)
def test_prune_never_deletes_what_the_yaml_cannot_hold(sandbox: Sandbox, tmp_path: Path, odd: dict[str, Any]) -> None:
    write_schedules(tmp_path, EMAIL)
    made = sandbox.control.add_schedule({**BASE, **odd}, validate=False)
    data = json.loads(cli(sandbox, "plan", "--prune", "--json", cwd=tmp_path).stdout)
    assert data["summary"]["delete"] == 0 and made["id"] in data["not_manageable"]
    assert cli(sandbox, "apply", "--prune", "--auto-approve", cwd=tmp_path).returncode == 0
    assert made["id"] in {s["id"] for s in sandbox.control.schedules()}


def test_an_empty_prune_since_is_refused_not_ignored(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    result = cli(sandbox, "plan", "--prune-since", "", cwd=tmp_path)
    assert result.returncode == 1 and "--prune-since needs a git REF" in result.stderr
    assert sandbox.control.requests() == []
