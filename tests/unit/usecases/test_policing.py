"""The policy over the YAML's entries: each violation at its entry's file and its field's line, the
exceptions applied and listed, stray exceptions refused at their line in the config, and values from
the environment judged by their value but shown as their expression."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler.desired.yamlread import load
from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import InvalidSchedules
from reconciler.usecases import config as configuration
from reconciler.usecases.policing import police, refuse

YAML = """\
schedules:
  weekly-sales:
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest:
      type: EmailDest
      recipients:
        - sales@example.com
        - partner@gmail.com
  ops-digest:
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "*/30 * * * *"}
    dest: {type: EmailDest, recipients: ["${BOSS}"]}
"""

CONFIG = """\
timezone: Europe/Berlin
policy:
  allowed_email_domains: [example.com]
  min_interval_minutes: 60
  exceptions:
{exceptions}
"""


def project(tmp_path: Path, exceptions: str = "    []") -> tuple[configuration.ProjectConfig, list[DesiredEntry]]:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "main.yml").write_text(YAML)
    (tmp_path / "holistics-schedules.yml").write_text(CONFIG.format(exceptions=textwrap.indent(exceptions, "    ")))
    config = configuration.load(tmp_path / "holistics-schedules.yml")
    return config, load([tmp_path / "schedules"], cache=False)


def test_each_violation_at_its_file_and_field_line(tmp_path: Path) -> None:
    config, desired = project(tmp_path)
    result = police(config, desired, environ={"BOSS": "boss@example.com"})
    lines = [(Path(p.file).name, p.line, p.path) for p in result.problems]
    assert lines == [
        ("main.yml", 10, "weekly-sales.dest.recipients[1]"),
        ("main.yml", 14, "ops-digest.schedule.repeat"),
    ]
    assert "partner@gmail.com" in result.problems[0].message
    assert "min_interval_minutes: 60" in result.problems[1].message and "*/30 * * * *" in result.problems[1].message


def test_an_exception_excuses_its_rule_and_is_listed_in_use(tmp_path: Path) -> None:
    config, desired = project(tmp_path, '- {key: ops-digest, rule: min_interval_minutes, reason: "Ops triage"}')
    result = police(config, desired, environ={"BOSS": "boss@example.com"})
    assert [p.path for p in result.problems] == ["weekly-sales.dest.recipients[1]"]
    assert [(e.key, e.rule, e.reason) for e in result.in_use] == [("ops-digest", "min_interval_minutes", "Ops triage")]


def test_a_value_from_the_environment_is_judged_and_shown_as_its_expression(tmp_path: Path) -> None:
    config, desired = project(tmp_path)
    result = police(config, desired, environ={"BOSS": "the.boss@gmail.com"})
    problem = next(p for p in result.problems if p.path == "ops-digest.dest.recipients[0]")
    assert problem.line == 15 and "${BOSS}" in problem.message
    assert "the.boss" not in str(result.problems)


def test_offline_an_unset_variable_is_not_guessed(tmp_path: Path) -> None:
    config, desired = project(tmp_path, '- {key: ops-digest, rule: allowed_email_domains, reason: "Board"}')
    result = police(config, desired, environ={})
    assert "ops-digest.dest.recipients[0]" not in [p.path for p in result.problems]
    assert not any("policy.exceptions" in p.path for p in result.problems), "its exception may well be needed"


def test_stray_exceptions_are_problems_at_their_config_line(tmp_path: Path) -> None:
    exceptions = """\
- {key: deleted-long-ago, rule: min_interval_minutes, reason: "gone"}
- {key: weekly-sales, rule: min_interval_minutes, reason: "never broke it"}
- {key: weekly-sales, rule: max_recipients, reason: "rule not set"}
- {key: weekly-sales, rule: allowed_email_domains, reason: "partner"}
- {key: weekly-sales, rule: allowed_email_domains, reason: "said twice"}
"""
    config, desired = project(tmp_path, exceptions)
    result = police(config, desired, environ={"BOSS": "boss@example.com"})
    stray = [(p.line, p.message) for p in result.problems if p.path.startswith("policy.exceptions")]
    assert [line for line, _ in stray] == [6, 7, 8, 10]
    assert "no schedule or alert has the key 'deleted-long-ago'" in stray[0][1]
    assert "weekly-sales does not break min_interval_minutes; remove it" in stray[1][1]
    assert "policy.max_recipients is not set" in stray[2][1]
    assert "a second exception for this key and rule" in stray[3][1]
    # with a subset of the files, the key may be in another one
    partial = police(config, desired, complete=False, environ={"BOSS": "boss@example.com"})
    assert "deleted-long-ago" not in str(partial.problems)


def test_refuse_raises_every_problem_and_says_nothing_was_sent(tmp_path: Path) -> None:
    config, desired = project(tmp_path)
    with pytest.raises(InvalidSchedules) as raised:
        refuse(config, desired)
    assert len(raised.value.problems) >= 2 and "against the delivery policy; nothing was sent" in str(raised.value)


def test_no_policy_no_problem(tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "main.yml").write_text(YAML)
    assert refuse(configuration.ProjectConfig(), load([tmp_path / "schedules"], cache=False)) == []


def test_the_documented_company_example_is_a_valid_config(tmp_path: Path) -> None:
    docs = (Path(__file__).parents[3] / "docs" / "POLICY.md").read_text()
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "holistics-schedules.yml").write_text(example)
    policy = configuration.load(tmp_path / "holistics-schedules.yml").policy
    assert policy.allowed_webhook_hosts == ["hooks.acme.com", "*.events.acme.com"]
    assert policy.excepted("late-shipments-over-50", "min_interval_minutes") is not None
