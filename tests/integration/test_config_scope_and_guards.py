"""Safe by default: ownership scope, deletion guards, ignore rules, masking — end to end on the sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox
from reconciler.usecases import config as configuration
from tests.helpers import invoke, setup

SLACK_1234 = """\
schedules:
  sales-alerts:
    id: 4803
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 7 * * 1-5"}
    dest:
      type: SlackDest
      slack_channels: [{id: C01SALES01, name: sales-alerts, type: channel}]
"""


def write_config(root: Path, text: str) -> None:
    (root / configuration.CONFIG_FILE).write_text(textwrap.dedent(text))


def plan_json(sb: Sandbox, root: Path, *args: str) -> dict[str, Any]:
    result = invoke(sb, "plan", "--json", *args, cwd=root)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def cron_changes(schedules: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """YAML entries that own these schedules by id and change only their cron."""
    return {
        f"s{s['id']}": {
            "id": s["id"],
            "source_type": s["source_type"],
            "source_id": s["source_id"],
            "schedule": {"repeat": "1 1 * * *"},
            "dest": s["dest"],
        }
        for s in schedules
    }


def by_id(sb: Sandbox) -> dict[int, dict[str, Any]]:
    return {s["id"]: s for s in sb.control.schedules()}


def test_without_a_config_everything_is_in_scope(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, SLACK_1234)
    data = plan_json(example_sandbox, tmp_path)
    assert data["summary_by_kind"]["schedules"]["unmanaged"] == len(example_sandbox.control.schedules()) - 1
    assert data["summary_by_kind"]["alerts"]["unmanaged"] == len(example_sandbox.control.alerts())


def test_scope_hides_out_of_scope_schedules_from_plan_and_prune(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, SLACK_1234)
    write_config(tmp_path, "scope:\n  dashboards: [1234]\n  dest_types: [SlackDest]\n")
    in_scope = [
        s
        for s in example_sandbox.control.schedules()
        if s["source_type"] == "Dashboard" and s["source_id"] == 1234 and s["dest"]["type"] == "SlackDest"
    ]
    data = plan_json(example_sandbox, tmp_path, "--prune")
    deleted = {c["id"] for c in data["changes"] if c["action"] == "delete"}
    assert deleted == {s["id"] for s in in_scope} - {4803}
    assert data["summary"]["unmanaged"] == 0
    before = len(example_sandbox.control.schedules())
    result = invoke(example_sandbox, "apply", "--auto-approve", "--prune", "--force", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert len(example_sandbox.control.schedules()) == before - len(deleted)


def test_an_entry_outside_the_scope_is_a_validation_error(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, SLACK_1234)
    write_config(tmp_path, "scope:\n  query_reports: [5301]\n")
    result = invoke(None, "validate", cwd=tmp_path)
    assert result.exit_code == 1 and "main.yml:2: sales-alerts: outside this repo's scope" in result.output


def test_prune_over_part_of_the_schedule_paths_is_refused(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, SLACK_1234)
    (tmp_path / "schedules" / "team-b").mkdir()
    (tmp_path / "schedules" / "team-b" / "b.yml").write_text("schedules: {}\n")
    result = invoke(example_sandbox, "plan", "--prune", "schedules/team-b", cwd=tmp_path)
    assert result.exit_code == 1 and "only part of the schedule files" in result.output
    assert example_sandbox.control.requests() == []
    # the whole tree is fine
    assert invoke(example_sandbox, "plan", "--prune", "schedules", cwd=tmp_path).exit_code == 0


def test_threshold_marks_the_plan_unsafe_and_apply_needs_force(example_sandbox: Sandbox, tmp_path: Path) -> None:
    remote = example_sandbox.control.schedules()
    # update 12 of 41 (29%): safe; 13 (32%): unsafe with the default 30%
    entries = cron_changes(remote[:13])
    setup(tmp_path, json.dumps({"schedules": dict(list(entries.items())[:12])}))
    assert plan_json(example_sandbox, tmp_path)["unsafe"] is None
    setup(tmp_path, json.dumps({"schedules": entries}))
    data = plan_json(example_sandbox, tmp_path)
    assert "updates 13 and deletes 0 of 41 managed schedules (32%" in data["unsafe"]
    text = invoke(example_sandbox, "plan", cwd=tmp_path).output
    assert "Unsafe plan" in text
    refused = invoke(example_sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert refused.exit_code == 1 and "--force" in refused.output
    assert all(r["method"] == "GET" for r in example_sandbox.control.requests())
    forced = invoke(example_sandbox, "apply", "--auto-approve", "--force", cwd=tmp_path)
    assert forced.exit_code == 0, forced.output
    write_config(tmp_path, "safety: {max_change_share: 0.5}\n")
    setup(
        tmp_path, json.dumps({"schedules": {k: {**v, "schedule": {"repeat": "2 2 * * *"}} for k, v in entries.items()}})
    )
    assert plan_json(example_sandbox, tmp_path)["unsafe"] is None


def test_ignored_field_is_not_diffed_and_kept_on_update(example_sandbox: Sandbox, tmp_path: Path) -> None:
    original = by_id(example_sandbox)[4812]
    setup(
        tmp_path,
        textwrap.dedent("""\
        schedules:
          weekly-sales:
            id: 4812
            source_type: Dashboard
            source_id: 1234
            schedule: {repeat: "0 9 * * 1", paused: false}
            dest:
              type: EmailDest
              recipients: [someone-else@example.com]
        """),
    )
    write_config(tmp_path, "ignore:\n  fields: [recipients]\n  schedules:\n    weekly-sales: [schedule.paused]\n")
    data = plan_json(example_sandbox, tmp_path)
    (change,) = data["changes"]
    assert [d["path"] for d in change["diff"]] == ["schedule.repeat"]
    result = invoke(example_sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    after = by_id(example_sandbox)[4812]
    assert after["dest"]["recipients"] == original["dest"]["recipients"]
    assert after["schedule"] == {**original["schedule"], "repeat": "0 9 * * 1"}


def test_markdown_masks_recipients_by_default(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(
        tmp_path,
        SLACK_1234.replace("4803", "4812").replace(
            "type: SlackDest\n      slack_channels: [{id: C01SALES01, name: sales-alerts, type: channel}]",
            "type: EmailDest\n      recipients: [finance.lead@example.com]",
        ),
    )
    md = invoke(example_sandbox, "plan", "--format", "markdown", cwd=tmp_path).output
    assert "f***@example.com" in md and "finance.lead@example.com" not in md
    shown = invoke(example_sandbox, "plan", "--format", "markdown", "--show-sensitive", cwd=tmp_path).output
    assert "finance.lead@example.com" in shown


def test_connection_and_paths_come_from_the_config(example_sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "deliveries").mkdir()
    (tmp_path / "deliveries" / "a.yml").write_text(SLACK_1234)
    write_config(tmp_path, f"paths: [deliveries]\nconnection: {{base_url: '{example_sandbox.base_url}'}}\n")
    env_free = invoke(None, "plan", "--json", cwd=tmp_path)  # no HOLISTICS_BASE_URL, only the key
    assert "no API key" in env_free.output
    import os

    from click.testing import CliRunner

    from reconciler.cli import cli

    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(
            cli, ["plan", "--json"], env={"HOLISTICS_API_KEY": example_sandbox.key, "HOLISTICS_BASE_URL": None}
        )
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["update"] == 1


def test_a_region_given_by_flag_or_variable_beats_the_configs_host(example_sandbox: Sandbox, tmp_path: Path) -> None:
    """The options name the host over the config, whichever of region and base URL each gives: a
    `--region eu` goes to eu.holistics.io even where the config names the sandbox's base URL."""
    setup(tmp_path, SLACK_1234)
    write_config(tmp_path, f"connection: {{base_url: '{example_sandbox.base_url}'}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    env |= {"HOLISTICS_API_KEY": example_sandbox.key, "HOLISTICS_RATE_LIMIT": "none", "NO_COLOR": "1"}
    for how, extra in (("flag", {}), ("variable", {"HOLISTICS_REGION": "eu"})):
        argv = ["plan", "--region", "eu"] if how == "flag" else ["plan"]
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", *argv],
            cwd=tmp_path,
            env=env | extra,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1 and "eu.holistics.io" in result.stderr, (how, result.stderr)
    assert example_sandbox.control.requests() == []
    # without a region or base URL of its own, the command takes the config's
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "plan", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0 and example_sandbox.control.requests() != []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("connection: {api_key: abc}\n", "never goes in a file"),
        ("scope: {dest_types: [FaxDest]}\n", "scope.dest_types.0"),
        ("ignore: {fields: [colour]}\n", "not a field"),
        ("safety: {max_change_share: 2}\n", "safety.max_change_share"),
        ("unknown: 1\n", "unknown"),
    ],
)
def test_bad_config_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    setup(tmp_path, SLACK_1234)
    write_config(tmp_path, text)
    result = invoke(None, "validate", cwd=tmp_path)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_a_saved_unsafe_plan_still_needs_force(example_sandbox: Sandbox, tmp_path: Path) -> None:
    entries = cron_changes(example_sandbox.control.schedules()[:20])
    setup(tmp_path, json.dumps({"schedules": entries}))
    assert invoke(example_sandbox, "plan", "--out", "plan.json", cwd=tmp_path).exit_code == 0
    refused = invoke(example_sandbox, "apply", "plan.json", "--auto-approve", cwd=tmp_path)
    assert refused.exit_code == 1 and "unsafe" in refused.output
    assert all(r["method"] == "GET" for r in example_sandbox.control.requests())
    assert invoke(example_sandbox, "apply", "plan.json", "--auto-approve", "--force", cwd=tmp_path).exit_code == 0


def test_an_ignore_rule_for_a_key_no_schedule_has_is_an_error(tmp_path: Path) -> None:
    setup(tmp_path, SLACK_1234)
    write_config(tmp_path, "ignore:\n  schedules:\n    sales-alert: [schedule.paused]\n")  # typo: sales-alerts
    result = invoke(None, "validate", cwd=tmp_path)
    assert result.exit_code == 1 and "ignore.schedules.sales-alert: no schedule has this key" in result.output
