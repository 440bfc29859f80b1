"""Pull requests as the interface: markdown plans, saved plans, editor schema, reference checks, run."""

from __future__ import annotations

import json
import os
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result
from ruamel.yaml import YAML

from reconciler.cli import cli
from reconciler.core.model import Action, Change, FieldDiff, Plan
from reconciler.desired import schema
from reconciler.sandbox import Sandbox
from reconciler.usecases import config as configuration
from reconciler.views import cron_words, plan_json, plan_markdown, plan_text

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"

ENTRY = """\
schedules:
  weekly-sales:
    title: Weekly sales (review)
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dynamic_filter_presets:
      - dynamic_filter_id: 7
        preset_condition: {operator: is, values: [EMEA]}
    dest: {type: EmailDest, recipients: [finance@example.com]}
"""


def invoke(sb: Sandbox | None, *args: str, cwd: Path) -> Result:
    """The CLI in-process (CliRunner), in `cwd`, talking to the sandbox over loopback."""
    env: dict[str, str | None] = {"NO_COLOR": "1", "HOLISTICS_REGION": None, "HOLISTICS_BASE_URL": None}
    if sb is not None:
        env |= {"HOLISTICS_BASE_URL": sb.base_url, "HOLISTICS_API_KEY": sb.key}
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), env=env)
    finally:
        os.chdir(old)


def setup(tmp_path: Path, text: str = ENTRY) -> Path:
    (tmp_path / "schedules").mkdir(exist_ok=True)
    path = tmp_path / "schedules" / "main.yml"
    path.write_text(text)
    return path


# ---- markdown ----


def sample_plan(n_updates: int = 1) -> Plan:
    changes = [
        Change(
            Action.DELETE,
            None,
            9,
            (FieldDiff("title", "Old report", None),),
            remote={"title": "Old report", "source_type": "QueryReport", "source_id": 5301},
        ),
        *[
            Change(
                Action.UPDATE,
                f"sched-{i}",
                100 + i,
                (
                    FieldDiff("dest.recipients", ["ann@example.com"], ["ann@example.com", "bob@example.org"]),
                    FieldDiff("schedule.repeat", "0 8 * * 1", "0 9 * * 1-5"),
                ),
                body={"source_type": "Dashboard", "source_id": 1234},
                file="schedules/a.yml",
                line=3 + i,
            )
            for i in range(n_updates)
        ],
        Change(
            Action.CREATE,
            "new-one",
            None,
            (FieldDiff("schedule.repeat", None, "*/15 * * * *"),),
            body={"source_type": "Dashboard", "source_id": 1234},
            file="schedules/a.yml",
            line=40,
        ),
    ]
    return Plan(tuple(changes), (), (77,), frozenset({9, 77, *range(100, 100 + n_updates)}), prune=True)


def test_markdown_matches_the_golden_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cron_words, "now", lambda: datetime(2026, 12, 7, 6, 0, tzinfo=UTC))  # next runs count from it
    rendered = plan_markdown.markdown(sample_plan(), {("Dashboard", 1234): "Sales Performance"})
    # to update after an intended change: write `rendered` to the file and review the diff
    assert rendered == (GOLDEN / "plan.md").read_text()


def test_markdown_puts_deletions_first_masks_emails_and_explains_crons() -> None:
    md = plan_markdown.markdown(sample_plan(), {("Dashboard", 1234): "Sales Performance"})
    assert md.index("will be deleted") < md.index("will be updated") < md.index("will be created")
    assert "[!WARNING]" in md.split("<details>")[0]
    assert "a***@example.com" in md and "b***@example.org" in md and "ann@example.com" not in md
    assert "At 09:00, Monday through Friday" in md and "Every 15 minutes" in md
    assert 'dashboard 1234 "Sales Performance"' in md
    assert "ann@example.com" in plan_markdown.markdown(sample_plan(), show_sensitive=True)


def test_markdown_truncates_cleanly_under_the_comment_limit() -> None:
    md = plan_markdown.markdown(sample_plan(n_updates=2000))
    assert len(md) <= plan_markdown.GITHUB_COMMENT_LIMIT
    assert md.count("<details>") == md.count("</details>") and md.count("```diff") == md.count("```\n\n</details>")
    assert "The full plan is in the job summary" in md and md.rstrip().endswith("to delete.**")


def test_text_and_json_keep_emails() -> None:
    p = sample_plan()
    assert "ann@example.com" in plan_text.text(p).plain and "ann@example.com" in plan_json.to_json(p)


# ---- saved plans ----


def test_saved_plan_applies_exactly_and_refuses_when_stale(sandbox: Sandbox, tmp_path: Path) -> None:
    path = setup(tmp_path)
    made = invoke(sandbox, "plan", "--out", "plan.json", cwd=tmp_path)
    assert made.exit_code == 0, made.output
    saved = json.loads((tmp_path / "plan.json").read_text())
    assert saved["summary"]["create"] == 1 and saved["saved_plan"]["yaml"]

    path.write_text(ENTRY.replace("0 8 * * 1", "0 7 * * 1"))  # the YAML moves on
    stale = invoke(sandbox, "apply", "plan.json", "--auto-approve", cwd=tmp_path)
    assert stale.exit_code == 1 and "stale" in stale.output and "main.yml changed" in stale.output
    assert all(r["method"] == "GET" for r in sandbox.control.requests())

    path.write_text(ENTRY)
    ok = invoke(sandbox, "apply", "plan.json", "--auto-approve", cwd=tmp_path)
    assert ok.exit_code == 0, ok.output
    (created,) = sandbox.control.schedules()
    assert created["schedule"]["repeat"] == "0 8 * * 1"


def test_saved_plan_refuses_when_a_touched_remote_schedule_changed(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, ENTRY.replace("  weekly-sales:\n", "  weekly-sales:\n    id: 4812\n"))
    assert invoke(example_sandbox, "plan", "--out", "plan.json", cwd=tmp_path).exit_code == 0
    current = {s["id"]: s for s in example_sandbox.control.schedules()}
    current[4812]["schedule"]["paused"] = True  # someone pauses it in the UI
    example_sandbox.control.put_schedules(list(current.values()))
    result = invoke(example_sandbox, "apply", "plan.json", "--auto-approve", cwd=tmp_path)
    assert result.exit_code == 1 and "remote schedule 4812 (weekly-sales) changed" in result.output


def test_not_a_saved_plan_is_a_clear_error(sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{}")
    result = invoke(sandbox, "apply", "x.json", "--auto-approve", cwd=tmp_path)
    assert result.exit_code == 1 and "not a saved plan" in result.output


# ---- editor schema ----


def test_committed_schemas_are_current() -> None:
    assert (REPO / "schedules.schema.json").read_text() == schema.dumps(), "run: holistics-schedules schema"
    assert (REPO / "holistics-schedules.schema.json").read_text() == configuration.json_schema()


def load_yaml(path: Path) -> Any:
    return json.loads(json.dumps(YAML(typ="safe").load(path.read_text()), default=str))


@pytest.mark.parametrize("example", sorted((REPO / "schedules").glob("*.yml")), ids=lambda p: p.name)
def test_schema_accepts_the_examples(example: Path) -> None:
    jsonschema.Draft7Validator(schema.schedule_file_schema()).validate(load_yaml(example))


@pytest.mark.parametrize(
    "broken",
    [
        {"schedules": {"a": {"source_type": "Dashboard"}}},
        {
            "schedules": {
                "a": {
                    "source_type": "Dashboard",
                    "source_id": 1,
                    "schedule": {"repeat": "x"},
                    "dest": {"type": "FaxDest"},
                }
            }
        },
        {
            "schedules": {
                "a": {
                    "source_type": "Dashboard",
                    "source_id": 1,
                    "schedule": {"repeat": "x"},
                    "dest": {"type": "EmailDest", "recipients": ["a@b.co"], "colour": "red"},
                }
            }
        },
        {"schedules": {"bad key!": {}}},
        {"other": 1},
    ],
)
def test_schema_rejects_broken_files(broken: Any) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema.schedule_file_schema()).validate(broken)


def test_schema_command_prints_draft07() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert json.loads(result.output)["$schema"] == "http://json-schema.org/draft-07/schema#"


# ---- references ----


def test_validate_remote_checks_sources_and_filters_one_request_per_source(sandbox: Sandbox, tmp_path: Path) -> None:
    text = ENTRY + textwrap.indent(
        textwrap.dedent("""\
        second:
          source_type: Dashboard
          source_id: 1234
          schedule: {repeat: "0 9 * * 1"}
          dynamic_filter_presets:
            - dynamic_filter_id: 99
              preset_condition: {operator: is, values: [x]}
          dest: {type: EmailDest, recipients: [a@example.com]}
        third:
          source_type: QueryReport
          source_id: 9999
          schedule: {repeat: "0 9 * * 1"}
          dest: {type: GsheetDest, sheet_url: u, sheet_title: t}
        """),
        "  ",
    )
    setup(tmp_path, text)
    result = invoke(sandbox, "validate", "--remote", cwd=tmp_path)
    assert result.exit_code == 1
    assert (
        "main.yml:16: second.dynamic_filter_presets.0.dynamic_filter_id: dashboard 1234 has no dynamic filter 99"
        in result.output
    )
    assert "main.yml:21: third.source_id: QueryReport 9999 does not exist" in result.output
    paths = [r["path"] for r in sandbox.control.requests()]
    assert sorted(paths) == ["/dashboards/1234", "/query_reports/9999"]


# ---- run ----


def test_run_follows_the_job_to_success(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, ENTRY.replace("  weekly-sales:\n", "  weekly-sales:\n    id: 4812\n"))
    result = invoke(example_sandbox, "run", "weekly-sales", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "running" in result.output and "succeeded" in result.output


def test_run_failure_prints_error_logs_and_exits_1(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path)
    example_sandbox.control.fail_jobs(4812)
    result = invoke(example_sandbox, "run", "4812", cwd=tmp_path)
    assert result.exit_code == 1 and "failure" in result.output


def test_run_follows_an_already_existing_job(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path)
    assert invoke(example_sandbox, "run", "4812", "--no-wait", cwd=tmp_path).exit_code == 0
    result = invoke(example_sandbox, "run", "4812", cwd=tmp_path)
    assert result.exit_code == 0 and "already_existed" in result.output


def test_a_saved_plan_keeps_the_source_titles(example_sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path)
    assert invoke(example_sandbox, "plan", "--out", "plan.json", cwd=tmp_path).exit_code == 0
    shown = invoke(example_sandbox, "apply", "plan.json", "--auto-approve", cwd=tmp_path)
    assert shown.exit_code == 0 and 'dashboard 1234 "Sales Performance"' in shown.output
