"""The delivery policy end to end, for each rule, through the real CLI against the sandbox: a YAML
that breaks it is refused by validate, plan and apply at the violating field's line, with the rule
and the value, and nothing is sent; the allowed case goes through; an exception is honoured and
listed in the plan. Then what holds across rules: stray exceptions, values from the environment,
remote deliveries no entry declares, saved plans, GitHub annotations."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.helpers import cli, write_schedules, writes

SCHEDULE = """\
schedules:
  the-delivery:
    title: Policy e2e
    source_type: Dashboard
    source_id: 1234
    schedule: {{repeat: "{cron}"}}
    dest:
{dest}
"""

ALERT = """\
alerts:
  the-delivery:
    title: Policy e2e alert
    source_type: DashboardWidget
    source_id: 77
    schedule: {{repeat: "{cron}"}}
    viz_conditions:
      - field_path: {{field_name: rows}}
        condition: {{operator: is, values: [0]}}
    dest:
{dest}
"""


@dataclass(frozen=True)
class Case:
    rule: str
    policy: str  # the rule's line(s) under `policy:`
    bad: str  # the entry breaking it
    good: str  # the entry it allows
    path: str  # where the violation is reported
    marker: str  # text on the violating line of the bad file
    value: str  # the offending value as the message shows it
    timezone: str = "UTC"


def entry(template: str, dest: str, cron: str = "0 8 * * 1") -> str:
    return template.format(cron=cron, dest=textwrap.indent(textwrap.dedent(dest), "      "))


CASES = [
    Case(
        "allowed_email_domains",
        "allowed_email_domains: [example.com]",
        entry(SCHEDULE, "type: EmailDest\nrecipients:\n  - sales@example.com\n  - partner@gmail.com\n"),
        entry(SCHEDULE, "type: EmailDest\nrecipients:\n  - sales@example.com\n  - eu@mail.example.com\n"),
        "the-delivery.dest.recipients[1]",
        "partner@gmail.com",
        "partner@gmail.com",
    ),
    Case(
        "max_recipients",
        "max_recipients: 2",
        entry(SCHEDULE, "type: EmailDest\nrecipients: [a@example.com, b@example.com, c@example.com]\n"),
        entry(SCHEDULE, "type: EmailDest\nrecipients: [a@example.com, b@example.com]\n"),
        "the-delivery.dest.recipients",
        "recipients:",
        "3 recipients",
    ),
    Case(
        "allowed_slack_channels",
        "allowed_slack_channels: [C04FIN0001, ops]",
        entry(SCHEDULE, "type: SlackDest\nslack_channels:\n  - {id: C09RANDOM, name: random}\n"),
        entry(SCHEDULE, "type: SlackDest\nslack_channels:\n  - {id: C04FIN0001, name: finance}\n"),
        "the-delivery.dest.slack_channels[0]",
        "C09RANDOM",
        "C09RANDOM (#random)",
    ),
    Case(
        "allowed_webhook_hosts",
        "allowed_webhook_hosts: [hooks.example.com]",
        entry(ALERT, 'type: WebhookDest\nendpoint: "https://collector.example.net/T0/s3cret"\n'),
        entry(ALERT, 'type: WebhookDest\nendpoint: "https://hooks.example.com/T0/s3cret"\n'),
        "the-delivery.dest.endpoint",
        "endpoint:",
        "https://collector.example.net",
    ),
    Case(
        "allowed_sftp_data_sources",
        "allowed_sftp_data_sources: [7]",
        entry(SCHEDULE, "type: SftpDest\ndata_source_id: 61\nfile_path: /exports/orders.csv\n"),
        entry(SCHEDULE, "type: SftpDest\ndata_source_id: 7\nfile_path: /exports/orders.csv\n"),
        "the-delivery.dest.data_source_id",
        "data_source_id:",
        "SFTP data source 61",
    ),
    Case(
        "min_interval_minutes",
        "min_interval_minutes: 90",
        # two hours apart by its syntax, one real hour apart the night Berlin springs forward
        entry(SCHEDULE, "type: EmailDest\nrecipients: [a@example.com]\n", cron="30 1,3 * * *"),
        entry(SCHEDULE, "type: EmailDest\nrecipients: [a@example.com]\n", cron="30 1,4 * * *"),
        "the-delivery.schedule.repeat",
        "repeat:",
        "30 1,3 * * *",
        timezone="Europe/Berlin",
    ),
]
IDS = [c.rule for c in CASES]


def project(root: Path, case: Case, yaml: str, exceptions: str = "") -> Path:
    config = f"timezone: {case.timezone}\npolicy:\n  {case.policy}\n"
    if exceptions:
        config += f"  exceptions:\n{textwrap.indent(exceptions, '    ')}"
    (root / "holistics-schedules.yml").write_text(config)
    return write_schedules(root, yaml)


def line_of(path: Path, marker: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if marker in line)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_violation_is_refused_by_validate_plan_and_apply_at_its_line(
    sandbox: Sandbox, tmp_path: Path, case: Case
) -> None:
    path = project(tmp_path, case, case.bad)
    where = f"schedules/main.yml:{line_of(path, case.marker)}: {case.path}: "
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        result = cli(sandbox, *command, cwd=tmp_path)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        said = next((line for line in result.stderr.splitlines() if line.startswith(where)), "")
        assert said, (command, where, result.stderr)
        assert f"policy.{case.rule}" in said and case.value in said, said
    assert "nothing was sent" in result.stderr
    assert writes(sandbox) == []
    assert "s3cret" not in result.stderr  # a webhook's path (its secret) is never shown


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_allowed_case_goes_through(sandbox: Sandbox, tmp_path: Path, case: Case) -> None:
    project(tmp_path, case, case.good)
    assert cli(sandbox, "validate", cwd=tmp_path).returncode == 0
    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [w["method"] for w in writes(sandbox)] == ["POST"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_an_exception_is_honoured_and_listed_in_the_plan(sandbox: Sandbox, tmp_path: Path, case: Case) -> None:
    project(tmp_path, case, case.bad, f'- {{key: the-delivery, rule: {case.rule}, reason: "Agreed in SEC-1"}}\n')
    plan = cli(sandbox, "plan", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert f"Policy exceptions in use (holistics-schedules.yml):\n  the-delivery: {case.rule}: Agreed in SEC-1" in (
        plan.stdout
    )
    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert [w["method"] for w in writes(sandbox)] == ["POST"]


def test_the_exceptions_in_use_in_json_and_markdown_reasons_escaped(sandbox: Sandbox, tmp_path: Path) -> None:
    case = CASES[0]
    reason = "Partner audit [see](https://evil.io) <b>@board</b>"
    project(tmp_path, case, case.bad, f'- {{key: the-delivery, rule: {case.rule}, reason: "{reason}"}}\n')
    listed = json.loads(cli(sandbox, "plan", "--json", cwd=tmp_path).stdout)["policy_exceptions"]
    assert listed == [{"key": "the-delivery", "rule": "allowed_email_domains", "reason": reason}]
    markdown = cli(sandbox, "plan", "--format", "markdown", cwd=tmp_path).stdout
    assert "**Policy exceptions in use**" in markdown and "allowed\\_email\\_domains" not in markdown
    said = next(line for line in markdown.splitlines() if "Partner audit" in line)
    assert said == (
        "> - <code>the-delivery</code>: allowed_email_domains: "
        "Partner audit \\[see\\]\\(https\\:\\/\\/evil\\.io\\) \\<b\\>\\@board\\<\\/b\\>"
    )
    assert writes(sandbox) == []


def test_a_stray_exception_is_refused_at_its_config_line(sandbox: Sandbox, tmp_path: Path) -> None:
    case = CASES[0]
    exceptions = (
        '- {key: the-delivery, rule: allowed_email_domains, reason: "still needed"}\n'
        '- {key: deleted-last-year, rule: allowed_email_domains, reason: "long gone"}\n'
        '- {key: the-delivery, rule: max_recipients, reason: "no such rule set"}\n'
    )
    project(tmp_path, case, case.bad, exceptions)
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        result = cli(sandbox, *command, cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert (
            "holistics-schedules.yml:6: policy.exceptions[1]: no schedule or alert has the key 'deleted-last-year'"
        ) in result.stderr
        assert "holistics-schedules.yml:7: policy.exceptions[2]: an exception that excuses nothing" in result.stderr
    assert writes(sandbox) == []


def test_a_recipient_from_the_environment_is_judged_by_value_and_shown_as_its_expression(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    case = CASES[0]
    path = project(tmp_path, case, entry(SCHEDULE, 'type: EmailDest\nrecipients: [a@example.com, "${BOARD}"]\n'))
    # offline, unset: not guessed
    assert cli(None, "validate", cwd=tmp_path).returncode == 0
    for command in (["validate"], ["plan"], ["apply", "--auto-approve"]):
        result = cli(sandbox, *command, cwd=tmp_path, env={"BOARD": "chair.person@gmail.com"})
        assert result.returncode == 1, result.stderr
        where = f"schedules/main.yml:{line_of(path, 'BOARD')}: the-delivery.dest.recipients[1]: recipient ${{BOARD}}"
        assert where in result.stderr
        assert "chair.person" not in result.stdout + result.stderr
    assert writes(sandbox) == []
    allowed = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path, env={"BOARD": "chair@example.com"})
    assert allowed.returncode == 0, allowed.stderr


def test_remote_deliveries_no_entry_declares_never_block_a_plan(sandbox: Sandbox, tmp_path: Path) -> None:
    case = CASES[0]
    sandbox.control.add_schedule(
        {
            "title": "Made in the UI",
            "source_type": "Dashboard",
            "source_id": 1234,
            "schedule": {"repeat": "* * * * *", "paused": False},
            "dest": {"type": "EmailDest", "recipients": ["someone@gmail.com"]},
        }
    )
    (tmp_path / "holistics-schedules.yml").write_text(
        "policy:\n  allowed_email_domains: [example.com]\n  min_interval_minutes: 60\n"
    )
    write_schedules(tmp_path, case.good)
    plan = cli(sandbox, "plan", cwd=tmp_path)
    assert plan.returncode == 0, plan.stderr
    assert "1 to create" in plan.stdout and "1 remote schedule(s) no YAML declares are left alone" in plan.stdout


def test_applying_a_saved_plan_that_now_breaks_the_policy_sends_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    case = CASES[0]
    write_schedules(tmp_path, case.bad)
    saved = cli(sandbox, "plan", "--out", "plan.json", cwd=tmp_path)
    assert saved.returncode == 0, saved.stderr
    (tmp_path / "holistics-schedules.yml").write_text("policy:\n  allowed_email_domains: [example.com]\n")
    result = cli(sandbox, "apply", "plan.json", cwd=tmp_path)
    assert result.returncode == 1
    assert "the-delivery.dest.recipients[1]: recipient partner@gmail.com" in result.stderr
    assert writes(sandbox) == []


def test_plan_in_github_actions_annotates_each_violation(sandbox: Sandbox, tmp_path: Path) -> None:
    case = CASES[-1]
    path = project(tmp_path, case, case.bad)
    result = cli(sandbox, "plan", cwd=tmp_path, env={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 1
    line = line_of(path, case.marker)
    assert f"::error file=schedules/main.yml,line={line},title=the-delivery.schedule.repeat::repeat 30 1" in (
        result.stderr
    )
    github = cli(None, "validate", "--format", "github", cwd=tmp_path)
    assert f"::error file=schedules/main.yml,line={line}," in github.stdout
    assert writes(sandbox) == []


def test_run_sends_nothing_a_policy_forbids_and_runs_what_it_allows(sandbox: Sandbox, tmp_path: Path) -> None:
    def made_in_the_ui(recipient: str) -> int:
        item = {
            "title": "Made in the UI",
            "source_type": "Dashboard",
            "source_id": 1234,
            "schedule": {"repeat": "0 8 * * 1", "paused": False},
            "dest": {"type": "EmailDest", "recipients": [recipient]},
        }
        return int(sandbox.control.add_schedule(item)["id"])

    (tmp_path / "holistics-schedules.yml").write_text("policy:\n  allowed_email_domains: [example.com]\n")
    outside = made_in_the_ui("someone@gmail.com")
    refused = cli(sandbox, "run", str(outside), "--no-wait", cwd=tmp_path)
    assert refused.returncode == 1 and "breaks the delivery policy; nothing was run" in refused.stderr
    assert "dest.recipients[0]: recipient someone@gmail.com is not at an allowed domain" in refused.stderr
    assert sandbox.control.jobs() == []
    inside = made_in_the_ui("someone@example.com")
    assert cli(sandbox, "run", str(inside), "--no-wait", cwd=tmp_path).returncode == 0
    assert len(sandbox.control.jobs()) == 1


def test_run_judges_as_audit_does_by_id_or_key_values_from_the_environment_unsaid(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    (tmp_path / "holistics-schedules.yml").write_text(
        "policy:\n  allowed_email_domains: [example.com]\n  exceptions:\n"
        "    - {key: the-delivery, rule: allowed_email_domains, reason: partner under NDA}\n"
    )
    write_schedules(tmp_path, entry(SCHEDULE, 'type: EmailDest\nrecipients: [a@example.com, "${EXT}"]\n'))
    env = {"EXT": "partner@gmail.com"}
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path, env=env).returncode == 0
    [schedule] = sandbox.control.schedules()
    # what the YAML declares, the exception covers: by key and by id alike
    for target in ("the-delivery", str(schedule["id"])):
        ran = cli(sandbox, "run", target, "--no-wait", cwd=tmp_path, env=env)
        assert ran.returncode == 0, ran.stderr
    # an address added in the UI was never reviewed: refused, and the secret one never said
    recipients = [*schedule["dest"]["recipients"], "cfo.private@evil.io"]
    sandbox.control.put_schedules([{**schedule, "dest": {**schedule["dest"], "recipients": recipients}}])
    for target in ("the-delivery", str(schedule["id"])):
        refused = cli(sandbox, "run", target, "--no-wait", cwd=tmp_path, env=env)
        assert refused.returncode == 1 and "breaks the delivery policy; nothing was run" in refused.stderr
        assert "partner@gmail.com" not in refused.stdout + refused.stderr and "${EXT}" in refused.stderr
    # a field the rules cannot read is not a pass
    odd = sandbox.control.add_schedule(
        {**schedule, "dest": {"type": "EmailDest", "recipients": "leak@evil.io, a@example.com"}}, validate=False
    )
    unreadable = cli(sandbox, "run", str(odd["id"]), "--no-wait", cwd=tmp_path, env=env)
    assert unreadable.returncode == 1 and "cannot be judged" in unreadable.stderr
    assert len(sandbox.control.jobs()) == 2


def test_a_field_the_workspace_keeps_under_ignore_is_judged_by_the_value_it_keeps(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    case = CASES[0]  # allowed_email_domains: [example.com]
    path = project(tmp_path, case, case.good)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    [schedule] = sandbox.control.schedules()
    recipients = ["leak@gmail.com"]  # curated in the UI, where the config says the team curates them
    sandbox.control.put_schedules([{**schedule, "dest": {**schedule["dest"], "recipients": recipients}}])
    config = tmp_path / "holistics-schedules.yml"
    config.write_text(config.read_text() + "ignore:\n  fields: [recipients]\n")
    sandbox.control.clear_requests()
    refused = cli(sandbox, "plan", cwd=tmp_path)
    assert refused.returncode == 1
    assert "recipient leak@gmail.com is not at an allowed domain" in refused.stderr
    assert "the workspace keeps it (ignore: dest.recipients)" in refused.stderr
    assert str(path.relative_to(tmp_path)) in refused.stderr
    assert writes(sandbox) == []
