"""End to end against a sandbox that behaves like the real server, not the spec's letter: the real CLI
(a subprocess) on loopback, where every schedule carries read-only fields the spec does not document,
undocumented input is refused (422), and a create can land after its answer said it failed."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox
from tests.helpers import EMAIL, REPO, cli, write_schedules

# what the server-like sandbox adds; each must be named once by `plan -v`, and reach nothing else
EXTRA_NAMES = ("created_at", "updated_at", "creator", "last_run_at", "next_run_at", "dest.id", "data_schedule_id")
# and on alerts (the example's alerts.yml), their conditions and presets
ALERT_EXTRA_NAMES = (
    "owner_id",
    "last_run_status",
    "viz_conditions[].data_alert_id",
    "dynamic_filter_presets[].data_alert_id",
)
ALERTS_FILE = "alerts.yml"  # the example's alerts: every other file holds schedules
NOTE = "fields the spec does not document"


@pytest.fixture
def server() -> Iterator[Sandbox]:
    """The example's dashboards and reports, no schedules; extra fields out, strict input in."""
    with Sandbox(seed="empty", server_like=True) as sb:
        yield sb


@pytest.fixture
def example_server() -> Iterator[Sandbox]:
    """The example workspace (41 schedules made "in the UI"), served as a real server would."""
    with Sandbox(seed="example", server_like=True) as sb:
        yield sb


def strip_ids(directory: Path) -> None:
    """What CI that does not commit the ids back leaves: every entry's `id:` line gone."""
    for path in directory.glob("*.yml"):
        path.write_text(re.sub(r"(?m)^[ \t]*id: \d+[ \t]*(#.*)?\n", "", path.read_text()))


def recorded_ids(directory: Path, alerts: bool = False) -> set[int]:
    """The ids written in the schedule files (or with `alerts`, in the alerts file): each kind's ids
    are its own, so an alert and a schedule may hold the same number."""
    paths = [p for p in directory.glob("*.yml") if (p.name == ALERTS_FILE) == alerts]
    return {int(m) for p in paths for m in re.findall(r"(?m)^[ \t]*id: (\d+)", p.read_text())}


def posts(sb: Sandbox, path: str = "/data_schedules") -> list[dict[str, Any]]:
    return [r for r in sb.control.requests() if r["method"] == "POST" and r["path"] == path]


def served(sb: Sandbox) -> dict[tuple[str, int], dict[str, Any]]:
    """Every schedule and alert the sandbox holds, by kind and id (each kind's ids are its own)."""
    return {("schedules", s["id"]): s for s in sb.control.schedules()} | {
        ("alerts", a["id"]): a for a in sb.control.alerts()
    }


def copy_repo_examples(root: Path) -> Path:
    """The repo's schedules/ (every destination type, presets, comments) as a fresh project: no ids."""
    target = root / "schedules"
    shutil.copytree(REPO / "schedules", target)
    strip_ids(target)
    return target


# ---- a) lost ids: adopted by content, whatever the server adds ----


def test_lost_ids_are_adopted_by_content_and_the_extras_named_once(server: Sandbox, tmp_path: Path) -> None:
    files = copy_repo_examples(tmp_path)
    made = cli(server, "apply", "--auto-approve", cwd=tmp_path)
    assert made.returncode == 0, made.stdout + made.stderr
    created = {s["id"] for s in server.control.schedules()}
    assert len(created) == len(posts(server)) >= 10 and recorded_ids(files) == created
    created_alerts = {a["id"] for a in server.control.alerts()}
    assert len(created_alerts) == len(posts(server, "/data_alerts")) == 3
    assert recorded_ids(files, alerts=True) == created_alerts

    strip_ids(files)
    server.control.clear_requests()
    plan = cli(server, "plan", "--json", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    summary = json.loads(plan.stdout)["summary"]
    unchanged = len(created) + len(created_alerts)  # every schedule and every alert adopted by content
    assert summary["create"] == 0 and summary["update"] == 0 and summary["unchanged"] == unchanged, summary

    verbose = cli(server, "plan", "-v", cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    notes = [line for line in verbose.stderr.splitlines() if NOTE in line]
    assert len(notes) == 1, verbose.stderr
    for name in EXTRA_NAMES + ALERT_EXTRA_NAMES:
        assert notes[0].count(name) == 1, (name, notes[0])  # named, and once (not once per schedule)
    assert all(name not in verbose.stdout for name in EXTRA_NAMES + ALERT_EXTRA_NAMES)  # never in the plan itself
    assert NOTE not in cli(server, "plan", cwd=tmp_path).stderr  # without -v, no note

    adopted = cli(server, "apply", "--auto-approve", cwd=tmp_path)
    assert adopted.returncode == 0, adopted.stdout + adopted.stderr
    assert posts(server) == [] and [r for r in server.control.requests() if r["method"] != "GET"] == []
    assert {s["id"] for s in server.control.schedules()} == created == recorded_ids(files)
    assert {a["id"] for a in server.control.alerts()} == created_alerts == recorded_ids(files, alerts=True)
    assert "created_at" not in "".join(p.read_text() for p in files.glob("*.yml"))


# ---- b) updates carry only documented fields ----


def test_an_update_against_the_strict_server_sends_only_documented_fields(
    example_server: Sandbox, tmp_path: Path
) -> None:
    imported = cli(example_server, "import", "--out", "schedules", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    texts = "".join(p.read_text() for p in (tmp_path / "schedules").glob("*.yml"))
    assert all(name not in texts for name in ("created_at", "creator", "last_run_at", "data_schedule_id"))
    assert cli(example_server, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0  # no changes

    # the first entry of each imported file (one per destination type; webhook.yml's is an alert)
    # changes its cron; each update is a full PUT of what was read
    before = served(example_server)
    changed: set[tuple[str, int]] = set()
    for path in (tmp_path / "schedules").glob("*.yml"):
        text = path.read_text()
        first = re.search(r"(?m)^    id: (\d+)\n", text)
        assert first is not None, path
        kind = re.findall(r"(?m)^(schedules|alerts):", text[: first.start()])[-1]  # the map the entry is in
        changed.add((kind, int(first[1])))
        # the first entry's `repeat` comes after its id
        at = first.end()
        text = text[:at] + re.sub(r"repeat: [^,}\n]+", 'repeat: "17 3 * * *"', text[at:], count=1)
        path.write_text(text)
    example_server.control.clear_requests()
    applied = cli(example_server, "apply", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    puts = [r for r in example_server.control.requests() if r["method"] == "PUT"]
    assert ("alerts", 4803) in changed  # an alert's update is held to the same strict input
    assert sorted((r["path"], r["status"]) for r in puts) == sorted((f"/data_{k}/{i}", 200) for k, i in changed)
    after = served(example_server)
    for ident in changed:
        assert after[ident]["schedule"]["repeat"] == "17 3 * * *"
        # nothing else moved: what the YAML leaves out went back as it was read
        assert after[ident]["dest"] == before[ident]["dest"] and after[ident]["title"] == before[ident]["title"]
    assert cli(example_server, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0


# ---- c, d) a create that lands after its answer said it failed ----


@pytest.mark.parametrize("answer", [{"status": 504}, {"drop": True}], ids=["504", "dropped"])
def test_a_late_create_is_never_sent_twice_and_the_next_apply_adopts_it(
    server: Sandbox, tmp_path: Path, answer: dict[str, Any]
) -> None:
    path = write_schedules(tmp_path, EMAIL)
    # the first POST: the gateway gives up (or hangs up) while the server stores it later
    server.control.add_fault(method="POST", path="/data_schedules", when="late", delay_ms=600_000, **answer)
    first = cli(server, "apply", "--auto-approve", cwd=tmp_path)
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert "not sent again" in output and "Traceback" not in output
    assert len(posts(server)) == 2  # one per entry: the failed one was not repeated
    assert [r["status"] for r in posts(server)].count(answer.get("status")) == 1
    assert len(server.control.schedules()) == 1  # the other entry's create went through

    assert server.control.release_late_writes() == 1  # the late write lands now
    (late,) = server.control.late_writes()
    assert late["status"] == 201 and late["id"] is not None
    assert len(server.control.schedules()) == 2

    server.control.clear_requests()
    second = cli(server, "apply", "--auto-approve", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert posts(server) == []  # adopted, not created again
    remote = {s["id"] for s in server.control.schedules()}
    assert len(remote) == 2 and recorded_ids(path.parent) == remote and late["id"] in remote
    assert "No changes" in cli(server, "plan", cwd=tmp_path).stdout


def test_a_late_create_that_lands_at_once_is_adopted_in_the_same_run(server: Sandbox, tmp_path: Path) -> None:
    path = write_schedules(tmp_path, EMAIL)
    server.control.add_fault(method="POST", path="/data_schedules", status=504, when="late", delay_ms=0)
    applied = cli(server, "apply", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert server.control.wait_for_late_writes(timeout=10)
    assert len(posts(server)) == 2  # one per entry, none repeated
    remote = {s["id"] for s in server.control.schedules()}
    assert len(remote) == 2 and recorded_ids(path.parent) == remote
