"""`max_same_minute` and the spread end to end, against the sandbox: a new entry's plan line counts the
other deliveries starting at its minute (unmanaged ones too) and names a quiet minute when crowded;
over the policy's limit plan, apply and validate refuse it at its `schedule.repeat` line with nothing
sent; an exception lets it through; a crowd of unmanaged deliveries never blocks an unchanged entry."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from reconciler.sandbox import Sandbox
from tests.helpers import cli, invoke, setup, writes

NEW_AT_NINE = """\
schedules:
  morning-sales:
    title: Morning sales
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 9 * * *"}
    dest: {type: EmailDest, recipients: [sales@example.com]}
"""
REPEAT_LINE = 6  # NEW_AT_NINE's `schedule:` line


def _config(root: Path, policy: str = "") -> None:
    text = "timezone: Europe/Berlin\n" + (textwrap.dedent(policy) if policy else "")
    (root / "holistics-schedules.yml").write_text(text)


def _unmanaged(sb: Sandbox, count: int, cron: str = "0 9 * * *", *, paused: bool = False) -> None:
    for i in range(count):
        sb.control.add_schedule(
            {
                "title": f"Someone else's {i}",
                "source_type": "QueryReport",
                "source_id": 5301,
                "schedule": {"repeat": cron, "paused": paused},
                "dest": {"type": "EmailDest", "recipients": [f"team{i}@example.com"]},
            }
        )


def test_a_new_entry_says_how_many_start_with_it_and_a_quiet_minute_when_crowded(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    _config(tmp_path)  # no policy: the line is said all the same, crowded above 5 in all
    setup(tmp_path, NEW_AT_NINE)
    _unmanaged(sandbox, 3)
    _unmanaged(sandbox, 4, paused=True)  # paused: they start at no minute
    shown = cli(sandbox, "plan", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "# starts at 09:00 with 3 other deliveries\n" in shown.stdout
    _unmanaged(sandbox, 2)
    text = cli(sandbox, "plan", cwd=tmp_path).stdout
    assert "# starts at 09:00 with 5 other deliveries; 09:01 is quiet" in text
    [change] = json.loads(cli(sandbox, "plan", "--json", cwd=tmp_path).stdout)["changes"]
    assert change["crowd"] == {"minute": "09:00", "others": 5, "quiet": "09:01"}
    markdown = cli(sandbox, "plan", "--format", "markdown", cwd=tmp_path).stdout
    assert "**Crowded:** _starts at 09:00 with 5 other deliveries; 09:01 is quiet_" in markdown
    assert writes(sandbox) == []


def test_a_lonely_entry_gets_no_crowd_line(sandbox: Sandbox, tmp_path: Path) -> None:
    _config(tmp_path)
    setup(tmp_path, NEW_AT_NINE)
    _unmanaged(sandbox, 3, "0 10 * * *")
    shown = cli(sandbox, "plan", "--json", cwd=tmp_path)
    [change] = json.loads(shown.stdout)["changes"]
    assert change["crowd"] == {"minute": "09:00", "others": 0, "quiet": None}  # machines get the zero too
    assert "other deliveries" not in cli(sandbox, "plan", cwd=tmp_path).stdout


def test_over_the_limit_plan_and_apply_refuse_at_the_line_and_send_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    _config(tmp_path, "policy:\n  max_same_minute: 3\n")
    setup(tmp_path, NEW_AT_NINE)
    _unmanaged(sandbox, 3)  # with the new entry: 4 at 09:00
    sandbox.control.clear_requests()
    for command in (["plan"], ["apply", "--auto-approve"]):
        result = cli(sandbox, *command, cwd=tmp_path)
        assert result.returncode == 1, result.stdout
        assert (
            f"main.yml:{REPEAT_LINE}: morning-sales.schedule.repeat: 4 deliveries would start at 09:00 "
            "(max_same_minute: 3); 09:01 is quiet" in result.stderr
        ), result.stderr
        assert "Traceback" not in result.stderr
    in_actions = cli(sandbox, "plan", cwd=tmp_path, env={"GITHUB_ACTIONS": "true"})
    assert (
        f"::error file=schedules/main.yml,line={REPEAT_LINE},title=morning-sales.schedule.repeat::" in in_actions.stderr
    )
    assert writes(sandbox) == []
    assert len(sandbox.control.schedules()) == 3


def test_at_the_limit_it_is_applied(sandbox: Sandbox, tmp_path: Path) -> None:
    _config(tmp_path, "policy:\n  max_same_minute: 4\n")
    setup(tmp_path, NEW_AT_NINE)
    _unmanaged(sandbox, 3)
    applied = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert len(sandbox.control.schedules()) == 4


def test_an_exception_lets_the_entry_through(sandbox: Sandbox, tmp_path: Path) -> None:
    _config(
        tmp_path,
        """\
        policy:
          max_same_minute: 2
          exceptions:
            - {key: morning-sales, rule: max_same_minute, reason: "The board reads it at 09:00 sharp"}
        """,
    )
    setup(tmp_path, NEW_AT_NINE)
    _unmanaged(sandbox, 3)
    shown = cli(sandbox, "plan", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "starts at 09:00 with 3 other deliveries; 09:01 is quiet" in shown.stdout
    assert "morning-sales: max_same_minute: The board reads it at 09:00 sharp" in shown.stdout  # listed in use
    [listed] = json.loads(cli(sandbox, "plan", "--json", cwd=tmp_path).stdout)["policy_exceptions"]
    assert listed["key"] == "morning-sales" and listed["rule"] == "max_same_minute"
    applied = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert len(sandbox.control.schedules()) == 4


def test_unmanaged_crowding_never_blocks_an_unchanged_entry(sandbox: Sandbox, tmp_path: Path) -> None:
    _config(tmp_path, "policy:\n  max_same_minute: 2\n")
    path = setup(tmp_path, NEW_AT_NINE)
    assert invoke(sandbox, "apply", "--auto-approve", cwd=tmp_path).exit_code == 0
    _unmanaged(sandbox, 5)  # the workspace crowds 09:00 behind the entry's back
    unchanged = cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert unchanged.returncode == 0, unchanged.stderr
    # a change that is not a new start (the title) is not checked either
    path.write_text(path.read_text().replace("Morning sales", "Morning sales (EMEA)"))
    retitled = cli(sandbox, "plan", cwd=tmp_path)
    assert retitled.returncode == 0, retitled.stderr
    assert "other deliveries" not in retitled.stdout
    # moved to another crowded minute, it is checked and the unmanaged ones count
    _unmanaged(sandbox, 2, "30 9 * * *")
    path.write_text(path.read_text().replace('"0 9 * * *"', '"30 9 * * *"'))
    moved = cli(sandbox, "plan", cwd=tmp_path)
    assert moved.returncode == 1
    assert "3 deliveries would start at 09:30 (max_same_minute: 2); 09:31 is quiet" in moved.stderr


def test_validate_checks_the_yaml_entries_among_themselves(tmp_path: Path) -> None:
    _config(tmp_path, "policy:\n  max_same_minute: 2\n")
    three = NEW_AT_NINE + "".join(
        textwrap.indent(
            textwrap.dedent(
                f"""\
                sales-{i}:
                  source_type: Dashboard
                  source_id: 1234
                  schedule: {{repeat: "0 9 * * 1-5"}}
                  dest: {{type: EmailDest, recipients: [sales{i}@example.com]}}
                """
            ),
            "  ",
        )
        for i in (1, 2)
    )
    setup(tmp_path, three)
    result = cli(None, "validate", "--format", "github", cwd=tmp_path)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert len(lines) == 3 and all("3 deliveries would start at 09:00" in line for line in lines), result.stdout
    weekends_only = three.replace('"0 9 * * 1-5"', '"0 9 * * 6,0"', 1)  # no longer meets the other one
    setup(tmp_path, weekends_only)
    assert cli(None, "validate", cwd=tmp_path).returncode == 0


def test_a_saved_plan_applied_later_is_checked_against_the_crowd_and_the_policy_of_now(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    _config(tmp_path, "policy:\n  max_same_minute: 3\n")
    setup(tmp_path, NEW_AT_NINE)
    _unmanaged(sandbox, 1)
    saved = cli(sandbox, "plan", "--out", "plan.json", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    _unmanaged(sandbox, 2)  # a crowd forms after the review: 4 at 09:00 with the new entry
    sandbox.control.clear_requests()
    crowded = cli(sandbox, "apply", "plan.json", cwd=tmp_path)
    assert crowded.returncode == 1
    assert f"schedules/main.yml:{REPEAT_LINE}: morning-sales.schedule.repeat: 4 deliveries" in crowded.stderr
    assert writes(sandbox) == []
    _config(tmp_path, "policy:\n  max_same_minute: 4\n")  # loosened in review: the same saved plan applies
    assert cli(sandbox, "apply", "plan.json", cwd=tmp_path).returncode == 0
    assert [w["method"] for w in writes(sandbox)] == ["POST"]


def test_a_cron_from_the_environment_is_counted_but_its_minute_never_said(sandbox: Sandbox, tmp_path: Path) -> None:
    _config(tmp_path)
    setup(tmp_path, NEW_AT_NINE.replace('"0 9 * * *"', '"${WHEN}"'))
    _unmanaged(sandbox, 6, "17 9 * * *")
    env = {"WHEN": "17 9 * * *"}
    for fmt in ("text", "json", "markdown"):
        shown = cli(sandbox, "plan", "--format", fmt, cwd=tmp_path, env=env)
        assert shown.returncode == 0, shown.stderr
        assert "09:17" not in shown.stdout and "17 9" not in shown.stdout and "other deliveries" not in shown.stdout
    _config(tmp_path, "policy:\n  max_same_minute: 3\n")
    refused = cli(sandbox, "plan", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert "7 deliveries would start at one of the minutes of ${WHEN} (max_same_minute: 3)" in refused.stderr
    assert "09:17" not in refused.stderr and "17 9" not in refused.stderr


def test_show_says_what_the_saved_plan_said_its_crowds_and_exceptions(sandbox: Sandbox, tmp_path: Path) -> None:
    _config(
        tmp_path,
        "policy:\n  max_same_minute: 2\n  exceptions:\n"
        "    - {key: morning-sales, rule: max_same_minute, reason: the sales stand-up}\n",
    )
    setup(tmp_path, NEW_AT_NINE)
    _unmanaged(sandbox, 3)
    saved = cli(sandbox, "plan", "--out", "plan.json", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    text = cli(None, "show", "plan.json", cwd=tmp_path).stdout
    assert "# starts at 09:00 with 3 other deliveries; 09:01 is quiet" in text
    assert "morning-sales: max_same_minute: the sales stand-up" in text
    shown = json.loads(cli(None, "show", "plan.json", "--format", "json", cwd=tmp_path).stdout)
    assert shown["policy_exceptions"][0]["reason"] == "the sales stand-up"
    assert shown["changes"][0]["crowd"] == {"minute": "09:00", "others": 3, "quiet": "09:01"}
    markdown = cli(None, "show", "plan.json", "--format", "markdown", cwd=tmp_path).stdout
    assert "Policy exceptions in use" in markdown and "**Crowded:**" in markdown
