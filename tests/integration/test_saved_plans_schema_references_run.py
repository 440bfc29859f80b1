"""Pull requests as the interface, in process against the sandbox: saved plans, the editor schema,
reference checks, run. (The markdown plan's own tests are in tests/unit/views/.)"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from reconciler.cli import cli
from reconciler.desired import schema
from reconciler.sandbox import Sandbox
from reconciler.usecases import config as configuration
from tests.helpers import ENTRY, REPO, invoke, setup

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
    # one list_metadata (titles and existence of every dashboard), the dashboard with presets for its filters
    assert sorted(paths) == ["/dashboards/1234", "/dashboards/list_metadata", "/query_reports/9999"]


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
