"""`audit` end to end: the real CLI against the sandbox, on a workspace with managed and unmanaged
deliveries breaking each rule of the policy, in every format; exit 1 with violations and 0 without;
addresses masked in markdown; no formula in a CSV cell; a hostile title inert; nothing written."""

from __future__ import annotations

import csv
import io
import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from reconciler.sandbox import Sandbox
from tests.helpers import cli, writes

HOSTILE = "::error::pwned \x1b[31mred\x1b[0m <img src=x onerror=alert(1)> [click](http://evil.test) | row"
FORMULA = '=HYPERLINK("http://evil.test","x")'

POLICY = """\
timezone: UTC
policy:
  allowed_email_domains: [example.com]
  allowed_slack_channels: [C04OPS0001]
  allowed_webhook_hosts: [hooks.example.com]
  allowed_sftp_data_sources: [61]
  min_interval_minutes: 60
  max_recipients: 3
  max_same_minute: 2
  exceptions:
    - {key: ops-half-hourly, rule: min_interval_minutes, reason: "Ops triage needs 30 minutes (OPS-412)"}
"""


def _email(sid: int, title: str, cron: str, recipients: list[str], **more: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "title": title,
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": cron, "paused": False},
        "dest": {"type": "EmailDest", "recipients": recipients, "options": {}},
        **more,
    }


SCHEDULES = [
    _email(101, "Weekly sales", "0 8 * * 1", ["sales@example.com"]),  # managed, clean
    _email(102, HOSTILE, "5 8 * * 1", ["eve@evil.test"]),  # unmanaged: email domain
    _email(103, "Too many", "10 9 * * *", [f"p{i}@example.com" for i in range(4)]),  # managed: max_recipients
    {
        **_email(104, "Leaky Slack", "15 10 * * *", []),  # unmanaged: slack channel
        "dest": {"type": "SlackDest", "slack_channels": [{"id": "C99LEAK01", "name": "leak"}]},
    },
    {
        **_email(105, "Upload", "20 11 * * *", []),  # managed: sftp data source
        "source_type": "QueryReport",
        "source_id": 5301,
        "dest": {"type": "SftpDest", "data_source_id": 99, "file_path": "/x.csv", "format": "csv"},
    },
    _email(106, FORMULA, "7-59/15 * * * *", ["ops@example.com"]),  # unmanaged: interval
    _email(107, "Crowd A", "0 6 * * *", ["a@example.com"]),  # same minute, three of them
    _email(108, "Crowd B", "0 6 * * *", ["b@example.com"]),
    _email(109, "Crowd C", "0 6 * * *", ["c@example.com"]),  # managed
    _email(110, "Ops half-hourly", "3,33 * * * *", ["ops@example.com"]),  # managed, excepted
]


def _webhook(aid: int, title: str, cron: str, endpoint: str) -> dict[str, Any]:
    return {
        "id": aid,
        "title": title,
        "source_type": "DashboardWidget",
        "source_id": 90101,
        "schedule": {"repeat": cron, "paused": False},
        "dynamic_filter_presets": [],
        "viz_conditions": [
            {
                "field_path": {"field_name": "revenue", "model_id": 801, "data_set_id": 801, "is_metric": False},
                "aggregation": "sum",
                "condition": {"operator": "less_than", "values": [1000]},
            }
        ],
        "dest": {"type": "WebhookDest", "endpoint": endpoint},
    }


ALERTS = [
    _webhook(201, "Plain http", "40 * * * *", "http://hooks.example.com/in"),  # unmanaged: http
    _webhook(202, "Elsewhere", "45 12 * * *", "https://collector.evil.test/hook?token=s3cret"),  # managed: host
]

MANAGED = {
    "weekly-sales": SCHEDULES[0],
    "too-many": SCHEDULES[2],
    "upload": SCHEDULES[4],
    "crowd-c": SCHEDULES[8],
    "ops-half-hourly": SCHEDULES[9],
}


def _yaml(entries: dict[str, dict[str, Any]], alerts: dict[str, dict[str, Any]]) -> str:
    """Entries as YAML flow mappings (JSON), one per line; the alert's endpoint from the environment."""
    lines = ["schedules:"] + [f"  {key}: {json.dumps(entry)}" for key, entry in entries.items()]
    lines += ["alerts:"] + [f"  {key}: {json.dumps(entry)}" for key, entry in alerts.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def workspace(sandbox: Sandbox, tmp_path: Path) -> Path:
    sandbox.control.put_schedules(SCHEDULES)
    # Holistics refuses a plain-http webhook today; one made before that rule (unchecked here) is still caught
    sandbox.control.put_alerts(ALERTS, validate=False)
    sandbox.control.clear_requests()
    (tmp_path / "holistics-schedules.yml").write_text(POLICY)
    alert = {**ALERTS[1], "dest": {"type": "WebhookDest", "endpoint": "${HOOK_URL}"}}
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "main.yml").write_text(_yaml(MANAGED, {"collector-hook": alert}))
    return tmp_path


def _audit(sb: Sandbox, root: Path, *args: str) -> Any:
    return cli(sb, "audit", *args, cwd=root, env={"HOOK_URL": "https://env-secret.example.com/SECRETPATH"})


def _json(sb: Sandbox, root: Path) -> dict[str, Any]:
    result = _audit(sb, root, "--format", "json")
    assert result.returncode == 1, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_every_rule_is_found_on_managed_and_unmanaged_deliveries(sandbox: Sandbox, workspace: Path) -> None:
    data = _json(sandbox, workspace)
    rules = {(d["kind"], d["id"]): {v["rule"] for v in d["violations"]} for d in data["deliveries"]}
    assert rules[("schedules", 102)] == {"allowed_email_domains"}
    assert rules[("schedules", 103)] == {"max_recipients"}
    assert rules[("schedules", 104)] == {"allowed_slack_channels"}
    assert rules[("schedules", 105)] == {"allowed_sftp_data_sources"}
    assert rules[("schedules", 106)] == {"min_interval_minutes"}
    assert {i for (_, i), found in rules.items() if "max_same_minute" in found} == {107, 108, 109}
    assert rules[("alerts", 201)] == {"allowed_webhook_hosts"}
    assert rules[("alerts", 202)] == {"allowed_webhook_hosts"}
    assert rules[("schedules", 101)] == set() and rules[("schedules", 110)] == set()
    assert data["version"] == 1 and data["passes"] is False
    assert writes(sandbox) == []


def test_managed_deliveries_carry_their_key_and_the_exception_is_listed(sandbox: Sandbox, workspace: Path) -> None:
    data = _json(sandbox, workspace)
    by_id = {(d["kind"], d["id"]): d for d in data["deliveries"]}
    assert by_id[("schedules", 103)]["key"] == "too-many" and by_id[("schedules", 103)]["managed"] is True
    assert by_id[("alerts", 202)]["key"] == "collector-hook"
    assert by_id[("schedules", 102)]["key"] is None
    [exception] = by_id[("schedules", 110)]["exceptions"]
    assert exception["rule"] == "min_interval_minutes" and "OPS-412" in exception["reason"]
    assert data["summary"]["managed"] == 6 and data["summary"]["excepted"] == 1
    assert by_id[("schedules", 101)]["source"]["name"] == "dashboard sales_performance"
    assert by_id[("schedules", 103)]["dest"]["domains"] == {"example.com": 4}


def test_text_lists_the_violations_and_exits_1(sandbox: Sandbox, workspace: Path) -> None:
    result = _audit(sandbox, workspace)
    assert result.returncode == 1, result.stderr
    assert "break the policy" in result.stdout
    assert "allowed_webhook_hosts" in result.stdout and "collector-hook" in result.stdout
    assert "Ops triage needs 30 minutes" in result.stdout
    assert "\x1b" not in result.stdout and "\n::error" not in "\n" + result.stdout


def test_markdown_masks_addresses_and_keeps_a_hostile_title_inert(sandbox: Sandbox, workspace: Path) -> None:
    result = _audit(sandbox, workspace, "--format", "markdown")
    assert result.returncode == 1, result.stderr
    md = result.stdout
    assert "#### Violations" in md and md.index("#### Violations") < md.index("#### Inventory")
    assert "eve@evil.test" not in md and "sales@example.com" not in md
    assert "e\\*\\*\\*@evil\\.test" in md or "e***@evil.test" in md.replace("\\", "")
    # every punctuation of server text backslash-escaped: no tag, link or cell border reaches the renderer
    assert not re.search(r"(?<!\\)<img|(?<!\\)\[click", md) and "\x1b" not in md
    assert "\\<img src\\=x" in md
    assert not any(line.lstrip().startswith("::") for line in md.splitlines())
    assert "#### When deliveries start" in md and "| **Mon** |" in md


def test_csv_has_a_row_per_delivery_and_no_formula(sandbox: Sandbox, workspace: Path) -> None:
    result = _audit(sandbox, workspace, "--format", "csv")
    assert result.returncode == 1, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(SCHEDULES) + len(ALERTS)
    formula = next(r for r in rows if r["id"] == "106")
    assert formula["title"].startswith("'=")
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    hostile = next(r for r in rows if r["id"] == "102")
    assert "\x1b" not in hostile["title"] and not hostile["title"].startswith("::")


def test_a_value_from_the_environment_never_appears(sandbox: Sandbox, workspace: Path) -> None:
    for fmt in ("text", "markdown", "csv", "json"):
        result = _audit(sandbox, workspace, "--format", fmt)
        assert "SECRETPATH" not in result.stdout + result.stderr and "env-secret" not in result.stdout
        assert "s3cret" not in result.stdout  # a webhook shows its host, never its query
    assert writes(sandbox) == []


def test_out_writes_the_file_and_a_clean_workspace_exits_0(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.control.put_schedules([SCHEDULES[0]])
    (tmp_path / "holistics-schedules.yml").write_text(POLICY)
    out = tmp_path / "audit.md"
    result = cli(sandbox, "audit", "--format", "markdown", "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Every delivery keeps the policy" in out.read_text()
    assert "keeps the policy" in result.stderr and result.stdout == ""
    assert writes(sandbox) == []


def test_a_connection_error_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = cli(None, "audit", cwd=tmp_path, base_url="http://127.0.0.1:9/api/v2", key="k")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.strip()


def test_invalid_yaml_is_refused_before_any_request(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "main.yml").write_text(textwrap.dedent("schedules:\n  x: {title: 1\n"))
    result = cli(sandbox, "audit", cwd=tmp_path)
    assert result.returncode == 1 and "main.yml" in result.stderr, result.stderr
    assert sandbox.control.requests() == []


def test_without_a_policy_the_inventory_alone_exits_0(sandbox: Sandbox, workspace: Path) -> None:
    (workspace / "holistics-schedules.yml").write_text("timezone: UTC\n")
    result = _audit(sandbox, workspace, "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["passes"] is True and data["policy"]["rules"] == [] and data["summary"]["violations"] == 0
    assert len(data["deliveries"]) == len(SCHEDULES) + len(ALERTS)
