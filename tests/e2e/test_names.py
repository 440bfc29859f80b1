"""Names, not numbers, end to end against the sandbox (in process): a schedule declared by the
names AML gives its dashboard and filters is created with their ids and plans clean after; unknown,
ambiguous and moved names; a server without list_metadata; import writing names; what a plan costs."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.sandbox import Sandbox
from tests.helpers import invoke, setup, writes

NAMED = """\
schedules:
  weekly-sales:
    title: Weekly sales (names)
    dashboard: sales_performance
    schedule: {repeat: "0 8 * * 1"}
    dynamic_filter_presets:
      - dynamic_filter: region
        preset_condition: {operator: is, values: [EMEA]}
    dest: {type: EmailDest, recipients: [finance@example.com]}
"""


def _paths(sb: Sandbox) -> list[str]:
    return [r["path"] for r in sb.control.requests()]


def test_a_schedule_declared_by_names_is_created_with_the_ids_and_plans_clean(sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, NAMED)
    shown = invoke(sandbox, "plan", cwd=tmp_path)
    assert shown.exit_code == 0, shown.output
    assert 'dashboard sales_performance "Sales Performance"' in shown.output
    assert "# dynamic_filter region" in shown.output
    applied = invoke(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert applied.exit_code == 0, applied.output
    [created] = sandbox.control.schedules()
    assert (created["source_type"], created["source_id"]) == ("Dashboard", 1234)
    assert [p["dynamic_filter_id"] for p in created["dynamic_filter_presets"]] == [7]
    again = invoke(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert again.exit_code == 0 and "No changes" in again.output, again.output


def test_a_saved_plan_creating_a_schedule_declared_by_names_applies(sandbox: Sandbox, tmp_path: Path) -> None:
    """`plan --out` in review, `apply FILE` on merge: the YAML read again for the check of each body
    resolves its names as the plan did (found by a hostile run: every such create was refused)."""
    setup(tmp_path, NAMED)
    assert invoke(sandbox, "plan", "--out", "plan.json", cwd=tmp_path).exit_code == 0
    applied = invoke(sandbox, "apply", "plan.json", cwd=tmp_path)
    assert applied.exit_code == 0, applied.output
    [created] = sandbox.control.schedules()
    assert (created["source_type"], created["source_id"]) == ("Dashboard", 1234)
    assert [p["dynamic_filter_id"] for p in created["dynamic_filter_presets"]] == [7]


def test_a_saved_plan_is_refused_when_a_name_now_stands_for_another_dashboard(sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, NAMED)
    assert invoke(sandbox, "plan", "--out", "plan.json", cwd=tmp_path).exit_code == 0
    sandbox.control.rename_dashboard("sales_performance", "sales_perf")
    sandbox.control.rename_dashboard("sales_perf", "sales_performance")  # the uname, on a new id
    refused = invoke(sandbox, "apply", "plan.json", cwd=tmp_path)
    assert refused.exit_code == 1 and "would send what the YAML does not say" in refused.output, refused.output
    assert writes(sandbox) == []


def test_a_saved_plan_of_entries_without_names_needs_no_catalog_for_a_scope_by_uname(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The check of a saved plan's bodies resolves the entries' names only, never the scope's (found by
    a second hostile run: a scope naming a dashboard by uname made it read the catalog, and refuse a
    plan of ids once the workspace stopped listing names)."""
    ids = NAMED.replace("dashboard: sales_performance", "source_type: Dashboard\n    source_id: 1234")
    setup(tmp_path, ids.replace("dynamic_filter: region", "dynamic_filter_id: 7"))
    (tmp_path / "holistics-schedules.yml").write_text("scope:\n  dashboards: [1234, sales_performance]\n")
    assert invoke(sandbox, "plan", "--out", "plan.json", cwd=tmp_path).exit_code == 0
    sandbox.control.set_list_metadata(False)
    applied = invoke(sandbox, "apply", "plan.json", cwd=tmp_path)
    assert applied.exit_code == 0, applied.output
    assert [s["source_id"] for s in sandbox.control.schedules()] == [1234]


def test_plan_json_names_the_dashboard_and_filter(sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, NAMED)
    result = invoke(sandbox, "plan", "--json", cwd=tmp_path)
    [change] = json.loads(result.output)["changes"]
    assert change["names"] == {"source_id": "sales_performance", "dynamic_filter_presets.0.dynamic_filter_id": "region"}
    assert change["source"] == 'dashboard sales_performance "Sales Performance"'


def test_an_unknown_name_is_an_error_at_its_line_with_the_closest_and_nothing_is_sent(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    setup(tmp_path, NAMED.replace("dashboard: sales_performance", "dashboard: sales_performence"))
    result = invoke(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.exit_code == 1
    assert "main.yml:4:" in result.output and "sales_performance" in result.output, result.output
    assert writes(sandbox) == []


def test_an_unknown_filter_names_the_dashboards_filters(sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, NAMED.replace("dynamic_filter: region", "dynamic_filter: regoin"))
    result = invoke(sandbox, "plan", cwd=tmp_path)
    assert result.exit_code == 1 and "main.yml:7:" in result.output and "region" in result.output, result.output


def test_an_ambiguous_name_names_its_candidates(sandbox: Sandbox, tmp_path: Path) -> None:
    other = sandbox.control.add_dashboard(
        {"title": "Sales (EU project)", "uname": "sales_performance", "project_id": 2}
    )
    setup(tmp_path, NAMED)
    result = invoke(sandbox, "plan", cwd=tmp_path)
    assert result.exit_code == 1, result.output
    assert "1234" in result.output and str(other["id"]) in result.output, result.output
    assert writes(sandbox) == []


def test_a_renamed_uname_plans_a_replacement_that_says_why(sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, NAMED)
    assert invoke(sandbox, "apply", "--auto-approve", cwd=tmp_path).exit_code == 0
    sandbox.control.rename_dashboard("sales_performance", "sales_perf")
    moved = sandbox.control.rename_dashboard("sales_perf", "sales_performance")  # the old uname, a new id
    result = invoke(sandbox, "plan", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "must be replaced" in result.output
    assert f"dashboard sales_performance now names dashboard {moved['id']} (it was 1234" in result.output


def test_without_list_metadata_names_are_an_error_and_ids_plan_as_before(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.control.set_list_metadata(False)
    setup(tmp_path, NAMED)
    refused = invoke(sandbox, "plan", cwd=tmp_path)
    assert refused.exit_code == 1 and "main.yml:4: weekly-sales.dashboard: names cannot be resolved" in refused.output
    setup(
        tmp_path,
        NAMED.replace("dashboard: sales_performance", "source_type: Dashboard\n    source_id: 1234").replace(
            "dynamic_filter: region", "dynamic_filter_id: 7"
        ),
    )
    sandbox.control.clear_requests()
    shown = invoke(sandbox, "plan", cwd=tmp_path)
    assert shown.exit_code == 0, shown.output
    assert 'dashboard 1234 "Sales Performance"' in shown.output  # the title read as before
    assert "/dashboards/1234" in _paths(sandbox)


def test_import_writes_names_and_the_next_plan_shows_no_changes(example_sandbox: Sandbox, tmp_path: Path) -> None:
    assert invoke(example_sandbox, "import", cwd=tmp_path).exit_code == 0
    text = "".join(p.read_text() for p in sorted((tmp_path / "schedules").glob("*.yml")))
    assert "dashboard: sales_performance" in text
    assert "source_id: 1277" in text  # a canvas dashboard keeps its id
    result = invoke(example_sandbox, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert result.exit_code == 0 and "No changes" in result.output, result.output


def test_import_ids_keeps_numbers_and_the_next_plan_shows_no_changes(example_sandbox: Sandbox, tmp_path: Path) -> None:
    assert invoke(example_sandbox, "import", "--ids", cwd=tmp_path).exit_code == 0
    text = "".join(p.read_text() for p in sorted((tmp_path / "schedules").glob("*.yml")))
    assert "dashboard:" not in text and "dynamic_filter:" not in text and "source_id: 1234" in text
    result = invoke(example_sandbox, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert result.exit_code == 0 and "No changes" in result.output, result.output


def test_a_plan_reads_no_dashboard_for_titles(example_sandbox: Sandbox, tmp_path: Path) -> None:
    assert invoke(example_sandbox, "import", "--ids", cwd=tmp_path).exit_code == 0
    example_sandbox.control.clear_requests()
    result = invoke(example_sandbox, "plan", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    paths = _paths(example_sandbox)
    assert paths.count("/dashboards/list_metadata") == 1
    assert not [p for p in paths if p.startswith("/dashboards/") and p != "/dashboards/list_metadata"], paths


def test_scope_by_uname_and_an_unknown_one_is_a_config_error(example_sandbox: Sandbox, tmp_path: Path) -> None:
    (tmp_path / "holistics-schedules.yml").write_text("scope:\n  dashboards: [sales_performance]\n")
    setup(tmp_path, NAMED)
    result = invoke(example_sandbox, "plan", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    (tmp_path / "holistics-schedules.yml").write_text("scope:\n  dashboards: [sales_performnce]\n")
    bad = invoke(example_sandbox, "plan", cwd=tmp_path)
    assert bad.exit_code == 1 and "sales_performnce" in bad.output and "sales_performance" in bad.output, bad.output


def test_validate_is_offline_and_validate_remote_resolves_names(sandbox: Sandbox, tmp_path: Path) -> None:
    setup(tmp_path, NAMED.replace("sales_performance", "no_such_dashboard"))
    assert invoke(sandbox, "validate", cwd=tmp_path).exit_code == 0
    assert _paths(sandbox) == []
    remote = invoke(sandbox, "validate", "--remote", cwd=tmp_path)
    assert remote.exit_code == 1 and "no_such_dashboard" in remote.output, remote.output


def test_import_with_a_scope_by_uname_imports_that_dashboards_schedules(
    example_sandbox: Sandbox, tmp_path: Path
) -> None:
    (tmp_path / "holistics-schedules.yml").write_text("scope:\n  dashboards: [marketing_funnel]\n")
    assert invoke(example_sandbox, "import", cwd=tmp_path).exit_code == 0
    text = "".join(p.read_text() for p in sorted((tmp_path / "schedules").glob("*.yml")))
    assert "dashboard: marketing_funnel" in text and "sales_performance" not in text
