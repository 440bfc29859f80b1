"""Names at plan time: entries that use names need the catalog (and say why without one), entries
that name nothing cost nothing, only the dashboards whose filters are named are read, and the
scope's unames resolve through the catalog (an unknown one is a config error naming it)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import InvalidSchedules
from reconciler.remote.catalog import Catalog
from reconciler.usecases import plan_names
from reconciler.usecases.config import ConfigFileError, ProjectConfig
from reconciler.usecases.import_names import named

META = [
    {"id": 1234, "title": "Sales", "uname": "sales_performance", "project_id": 1, "version": 4},
    {"id": 1240, "title": "Marketing", "uname": "marketing_funnel", "project_id": 1, "version": 4},
    {"id": 1277, "title": "Health", "uname": None, "project_id": None, "version": 3},
]


class Reader:
    """A client of the two calls, counting the dashboards read."""

    def __init__(self) -> None:
        self.read: list[int] = []

    def dashboards_metadata(self) -> list[dict[str, Any]]:
        return META

    def get_dashboard(self, dashboard_id: int) -> dict[str, Any]:
        self.read.append(dashboard_id)
        return {"id": dashboard_id, "dynamic_filters": [{"id": 7, "uname": "region"}]}


def _entry(fields: dict[str, Any], field_lines: dict[str, int] | None = None) -> DesiredEntry:
    return DesiredEntry("weekly", None, fields, "main.yml", 2, field_lines or {"dashboard": 4})


DEST = {"schedule": {"repeat": "0 8 * * 1"}, "dest": {"type": "EmailDest", "recipients": ["a@example.com"]}}


def test_entries_that_name_nothing_cost_nothing() -> None:
    client = Reader()
    entries = [_entry({"source_type": "Dashboard", "source_id": 1234, **DEST})]
    assert plan_names.resolved(entries, None, client, "no list_metadata") == entries  # no catalog needed
    assert client.read == []


def test_names_without_a_catalog_are_an_error_saying_why() -> None:
    with pytest.raises(InvalidSchedules) as caught:
        plan_names.resolved([_entry({"dashboard": "sales_performance", **DEST})], None, Reader(), "404: an older one")
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.path) == ("main.yml", 4, "weekly.dashboard")
    assert "404: an older one" in problem.message


def test_only_the_dashboards_whose_filters_are_named_are_read() -> None:
    client = Reader()
    catalog = Catalog(META)
    presets = [{"dynamic_filter": "region", "preset_condition": {"operator": "is", "values": ["EMEA"]}}]
    entries = [
        _entry({"dashboard": "sales_performance", "dynamic_filter_presets": presets, **DEST}),
        _entry({"dashboard": "marketing_funnel", **DEST}),
    ]
    [first, second] = plan_names.resolved(entries, catalog, client, None)
    assert client.read == [1234]
    assert first.fields["source_id"] == 1234 and first.fields["dynamic_filter_presets"][0]["dynamic_filter_id"] == 7
    assert second.fields["source_id"] == 1240


def test_scope_unames_resolve_and_an_unknown_one_is_a_config_error() -> None:
    config = ProjectConfig.model_validate({"scope": {"dashboards": ["sales_performance", 1277]}})
    scoped = plan_names.scoped(config, Catalog(META), None)
    assert scoped.scope.dashboards == [1234, 1277]
    bad = ProjectConfig.model_validate({"scope": {"dashboards": ["sales_performence"]}})
    with pytest.raises(ConfigFileError) as caught:
        plan_names.scoped(bad, Catalog(META), None)
    [problem] = caught.value.problems
    assert problem.path == "scope.dashboards" and "sales_performence" in problem.message
    assert "did you mean `sales_performance`" in problem.message
    with pytest.raises(ConfigFileError) as unavailable:
        plan_names.scoped(config, None, "404")
    assert "cannot be resolved: 404" in unavailable.value.problems[0].message


def test_import_names_dashboards_and_filters_and_keeps_ids_where_there_are_none() -> None:
    catalog = Catalog(META, {1234: {"dynamic_filters": [{"id": 7, "uname": "region"}]}})
    entry = {
        "id": 1,
        "source_type": "Dashboard",
        "source_id": 1234,
        "dynamic_filter_presets": [{"dynamic_filter_id": 7, "preset_condition": {}}, {"dynamic_filter_id": 8}],
    }
    assert named(entry, catalog) == {
        "id": 1,
        "dashboard": "sales_performance",
        "dynamic_filter_presets": [{"dynamic_filter": "region", "preset_condition": {}}, {"dynamic_filter_id": 8}],
    }
    canvas = {"source_type": "Dashboard", "source_id": 1277}
    assert named(canvas, catalog) == canvas
    assert named(entry, None) == entry
    twice = Catalog([*META, {"id": 9000, "title": "S", "uname": "sales_performance", "project_id": 2, "version": 4}])
    assert named(entry, twice) == entry  # ambiguous across projects: the id is what is unambiguous


def test_import_keeps_the_id_of_a_dashboard_or_filter_whose_uname_the_yaml_could_not_read_back() -> None:
    """Hostile round: a uname from the server outside AML's form (a newline, an escape) was written as
    `dashboard:`, and the next plan refused the file."""
    odd = {"id": 5555, "title": "T", "uname": "evil\n::error::x\x1b[31m", "project_id": 1, "version": 4}
    catalog = Catalog([*META, odd], {1234: {"dynamic_filters": [{"id": 7, "uname": "re gion"}]}})
    on_odd = {"source_type": "Dashboard", "source_id": 5555}
    assert named(on_odd, catalog) == on_odd
    odd_filter = {"source_type": "Dashboard", "source_id": 1234, "dynamic_filter_presets": [{"dynamic_filter_id": 7}]}
    assert named(odd_filter, catalog) == {
        "dashboard": "sales_performance",
        "dynamic_filter_presets": [{"dynamic_filter_id": 7}],
    }


def test_an_ambiguous_scope_uname_is_a_config_error_naming_the_candidates() -> None:
    """Hostile round: a scope uname two AML projects use silently took both, and --prune then
    deleted the other project's schedules."""
    twice = Catalog([*META, {"id": 9000, "title": "S", "uname": "sales_performance", "project_id": 2, "version": 4}])
    config = ProjectConfig.model_validate({"scope": {"dashboards": ["sales_performance"]}})
    with pytest.raises(ConfigFileError) as caught:
        plan_names.scoped(config, twice, None)
    [problem] = caught.value.problems
    assert (
        "ambiguous" in problem.message and "dashboard 1234" in problem.message and "dashboard 9000" in problem.message
    )
