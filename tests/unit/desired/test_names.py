"""Names for ids (issue 20): `dashboard: <uname>` and a preset's `dynamic_filter: <uname>` read offline
with their lines, one form or the other, cached, in the editor schema; and resolved against a
workspace's names into the very fields the ids would have written."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from reconciler.desired import names, schema, yamlread, yamlwrite
from reconciler.desired.entrycheck import checked
from reconciler.desired.filecache import FileCache
from reconciler.desired.yamlentries import parse
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.schedules import bucket, source_key
from reconciler.problems import InvalidSchedules

NAMED = """\
schedules:
  weekly-sales:
    title: Weekly sales
    dashboard: sales_performance
    schedule: {repeat: "0 8 * * 1"}
    dynamic_filter_presets:
      - dynamic_filter: region
        preset_condition: {operator: is, values: [EU]}
      - dynamic_filter_id: 7
        preset_condition: {operator: is, values: [x]}
    dest: {type: EmailDest, recipients: [sales@example.com]}
  by-id:
    source_type: Dashboard
    source_id: 12
    schedule: {repeat: "0 9 * * 1"}
    dest: {type: EmailDest, recipients: [ops@example.com]}
"""


class Catalog:
    """A workspace's names, in memory: uname -> [(id, project)], and each dashboard's filters."""

    def __init__(
        self,
        dashboards: Mapping[str, Sequence[tuple[int, int | None]]],
        filters: Mapping[int, Mapping[str, int | str]] | None = None,
    ) -> None:
        self.dashboards = dashboards
        self.filters = filters or {}
        self.calls = 0

    def dashboard_ids(self, uname: str) -> Sequence[tuple[int, int | None]]:
        self.calls += 1
        return self.dashboards.get(uname, ())

    def dashboard_unames(self) -> Sequence[str]:
        self.calls += 1
        return list(self.dashboards)

    def filter_ids(self, dashboard_id: int) -> Mapping[str, int | str] | None:
        self.calls += 1
        return self.filters.get(dashboard_id)


WORKSPACE = Catalog(
    {"sales_performance": [(12, 1)], "ops_overview": [(40, 1)], "finance": [(50, 1), (51, 2)]},
    {12: {"region": 41, "date_range": "f_date"}, 40: {}},
)


def write(directory: Path, text: str, name: str = "main.yml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def load(directory: Path, text: str) -> list[DesiredEntry]:
    return yamlread.load([write(directory, text)], cache=False)


def problems(directory: Path, text: str) -> list[str]:
    with pytest.raises(InvalidSchedules) as caught:
        load(directory, text)
    return [f"{p.line}: {p.path}: {p.message}" for p in caught.value.problems]


def entry(text: str, key: str | None = None) -> DesiredEntry:
    """The one (or `key`) entry of `text` read as `yamlread` reads it, without a file."""
    parsed = parse("main.yml", text)
    found = [checked("main.yml", e) for e in parsed.entries if key is None or e.key == key]
    assert len(found) == 1 and isinstance(found[0], DesiredEntry), found
    return found[0]


def schedule(key: str, body: str) -> str:
    return "schedules:\n" + textwrap.indent(f"{key}:\n" + textwrap.indent(textwrap.dedent(body), "  "), "  ")


BODY = """\
schedule: {repeat: "0 8 * * 1"}
dest: {type: EmailDest, recipients: [a@example.com]}
"""


# ---- reading ----


def test_names_are_read_as_written_with_their_lines(tmp_path: Path) -> None:
    named, by_id = load(tmp_path, NAMED)
    assert named.fields["dashboard"] == "sales_performance"
    assert "source_id" not in named.fields and "source_type" not in named.fields
    assert named.fields["dynamic_filter_presets"][0]["dynamic_filter"] == "region"
    assert "dynamic_filter_id" not in named.fields["dynamic_filter_presets"][0]
    assert named.fields["dynamic_filter_presets"][1]["dynamic_filter_id"] == 7
    assert named.line_of("dashboard") == 4
    assert named.line_of("dynamic_filter_presets.0.dynamic_filter") == 7
    assert named.names == {} and by_id.names == {}


def test_source_type_dashboard_may_stay_beside_a_dashboard_name(tmp_path: Path) -> None:
    (read,) = load(tmp_path, schedule("s", "source_type: Dashboard\ndashboard: sales_performance\n" + BODY))
    assert read.fields["source_type"] == "Dashboard" and read.fields["dashboard"] == "sales_performance"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "dashboard: sales_performance\nsource_id: 4\n",
            "4: s.source_id: give the source by `dashboard` (its uname) or `source_id`, not both",
        ),
        (
            "dashboard: sales_performance\nsource_type: QueryReport\n",
            "4: s.source_type: `dashboard` names a dashboard: with it, source_type is Dashboard or left out, "
            "not QueryReport",
        ),
        (
            "source_type: Dashboard\n",
            "2: s.source_id: missing required field (or give it by name: `dashboard: <uname>`)",
        ),
        (
            "dashboard: Sales Performance\n",
            "3: s.dashboard: not a uname: 'Sales Performance'; a uname is letters, digits and '_', "
            "as AML names the object",
        ),
        ("dashboard: ''\nsource_type: Dashboard\n", "3: s.dashboard: not a uname: ''"),
        ("dashboard: 12\n", "3: s.dashboard: Input should be a valid string"),
        ("dashbord: sales_performance\nsource_type: Dashboard\nsource_id: 1\n", "did you mean `dashboard`?"),
    ],
)
def test_a_source_given_both_ways_or_neither_is_an_error_at_its_line(tmp_path: Path, body: str, expected: str) -> None:
    found = problems(tmp_path, schedule("s", body + BODY))
    assert any(p.startswith(expected) or expected in p for p in found), found


PRESET = "preset_condition: {operator: is, values: [EU]}"


@pytest.mark.parametrize(
    ("source", "preset", "expected"),
    [
        (
            "dashboard: sales_performance",
            f"{{dynamic_filter: region, dynamic_filter_id: 41, {PRESET}}}",
            "5: s.dynamic_filter_presets.0.dynamic_filter_id: give the filter by `dynamic_filter` (its uname) or "
            "`dynamic_filter_id`, not both",
        ),
        (
            "dashboard: sales_performance",
            f"{{{PRESET}}}",
            "5: s.dynamic_filter_presets.0.dynamic_filter_id: missing required field (or give it by name: "
            "`dynamic_filter: <uname>`)",
        ),
        (
            "{source_type: QueryReport, source_id: 3}",
            f"{{dynamic_filter: region, {PRESET}}}",
            "5: s.dynamic_filter_presets: `dynamic_filter` is a dashboard filter's uname; a QueryReport's filters "
            "are given by `dynamic_filter_id`",
        ),
        (
            "dashboard: sales_performance",
            f"{{dynamic_filtr: region, {PRESET}}}",
            "5: s.dynamic_filter_presets.0.dynamic_filtr: unknown field; did you mean `dynamic_filter`?",
        ),
    ],
)
def test_a_filter_given_both_ways_or_on_a_report_is_an_error_at_its_line(
    tmp_path: Path, source: str, preset: str, expected: str
) -> None:
    if source.startswith("{"):  # two lines
        source = "\n".join(f"{k}: {v}" for k, v in yaml.safe_load(source).items())
    text = schedule("s", f"{source}\ndynamic_filter_presets:\n  - {preset}\n{BODY}")
    found = problems(tmp_path, text)
    assert expected in found, found


def test_alerts_name_nothing(tmp_path: Path) -> None:
    """An alert's source is a widget or a viz block, whose dashboard it does not name: no filter uname
    can be looked up, and `dashboard` is no alert field."""
    text = """\
    alerts:
      a:
        source_type: DashboardWidget
        source_id: 42
        dashboard: sales_performance
        schedule: {repeat: "0 * * * *"}
        dynamic_filter_presets:
          - {dynamic_filter: region, preset_condition: {operator: is, values: [EU]}}
        dest: {type: WebhookDest, endpoint: "https://example.com/h"}
    """
    found = problems(tmp_path, text)
    assert "5: a.dashboard: unknown field" in found, found
    assert any(p.startswith("8: a.dynamic_filter_presets.0.dynamic_filter: unknown field") for p in found), found


def test_a_named_entry_has_no_source_key_and_a_bucket_no_remote_item_has(tmp_path: Path) -> None:
    """Before resolution: nothing reads its source by id, and matching puts it with no remote schedule
    (a remote schedule always has a source type)."""
    named, by_id = load(tmp_path, NAMED)
    assert source_key(named.fields) is None
    assert bucket(named.fields)[:2] == (None, None)
    assert source_key(by_id.fields) == ("Dashboard", 12)


def test_the_file_cache_round_trips_named_entries(tmp_path: Path) -> None:
    path = write(tmp_path, NAMED)
    store = FileCache(tmp_path / "cache", tmp_path / "key")
    cold = yamlread.load([path], cache=store)
    assert list(store.directory.glob("*.entry"))
    warm = yamlread.load([path], cache=store)
    assert [(e.key, e.fields, dict(e.field_lines), e.names) for e in warm] == [
        (e.key, e.fields, dict(e.field_lines), e.names) for e in cold
    ]
    assert warm[0].fields["dashboard"] == "sales_performance"


# ---- the editor schema ----


def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema.schedule_file_schema())


def test_the_editor_schema_offers_names_one_way_or_the_other() -> None:
    check = validator()
    assert check.is_valid(yaml.safe_load(NAMED))
    base = yaml.safe_load(schedule("s", BODY))
    one = base["schedules"]["s"]
    preset = {"preset_condition": {"operator": "is", "values": ["EU"]}}
    good: list[dict[str, Any]] = [
        {"dashboard": "sales_performance"},
        {"dashboard": "sales_performance", "source_type": "Dashboard"},
        {"source_type": "QueryReport", "source_id": 3},
        {"dashboard": "d", "dynamic_filter_presets": [{"dynamic_filter": "region", **preset}]},
    ]
    bad: list[dict[str, Any]] = [
        {},
        {"dashboard": "sales_performance", "source_id": 3},
        {"dashboard": "Sales Performance"},
        {"source_id": None, "source_type": "Dashboard"},
        {"dashboard": "d", "dynamic_filter_presets": [{"dynamic_filter": "r", "dynamic_filter_id": 1, **preset}]},
        {"dashboard": "d", "dynamic_filter_presets": [preset]},
    ]
    for extra in good:
        assert check.is_valid({"schedules": {"s": {**one, **extra}}}), extra
    for extra in bad:
        assert not check.is_valid({"schedules": {"s": {**one, **extra}}}), extra


def test_the_schema_keeps_alert_presets_by_id() -> None:
    definitions = schema.schedule_file_schema()["definitions"]
    assert "dynamic_filter" not in definitions["DynamicFilterPreset"]["properties"]
    assert "dynamic_filter" in definitions["DashboardFilterPreset"]["properties"]


# ---- resolving ----


def test_names_become_ids_and_are_recorded(tmp_path: Path) -> None:
    named, by_id = load(tmp_path, NAMED)
    resolved = names.resolve_names([named, by_id], WORKSPACE)
    assert resolved[1] is by_id
    fields = resolved[0].fields
    assert "dashboard" not in fields
    assert (fields["source_type"], fields["source_id"]) == ("Dashboard", 12)
    assert fields["dynamic_filter_presets"][0] == {
        "dynamic_filter_id": 41,
        "preset_condition": {"operator": "is", "values": ["EU"]},
    }
    assert fields["dynamic_filter_presets"][1]["dynamic_filter_id"] == 7
    assert resolved[0].names == {
        "source_id": "sales_performance",
        "dynamic_filter_presets.0.dynamic_filter_id": "region",
    }
    # the ids are found where the names were written
    assert resolved[0].line_of("source_id") == resolved[0].line_of("source_type") == 4
    assert resolved[0].line_of("dynamic_filter_presets.0.dynamic_filter_id") == 7
    # and the entry read is untouched: the cache and a second plan see it as written
    assert named.fields["dashboard"] == "sales_performance" and named.names == {}
    assert source_key(resolved[0].fields) == ("Dashboard", 12)


def test_entries_without_names_are_the_same_objects_and_cost_no_lookup(tmp_path: Path) -> None:
    one = entry(schedule("s", "source_type: Dashboard\nsource_id: 12\n" + BODY))
    many = [one] * 10_000
    catalog = Catalog({})
    resolved = names.resolve_names(many, catalog)
    assert all(a is b for a, b in zip(resolved, many, strict=True))
    assert catalog.calls == 0


def test_an_entry_already_resolved_is_left_as_it_is(tmp_path: Path) -> None:
    (named, _) = names.resolve_names(load(tmp_path, NAMED), WORKSPACE)
    assert names.resolve_names([named], Catalog({}))[0] is named


def test_every_problem_at_once_at_its_line(tmp_path: Path) -> None:
    text = """\
    schedules:
      unknown:
        dashboard: sales_performence
        schedule: {repeat: "0 8 * * 1"}
        dest: {type: EmailDest, recipients: [a@example.com]}
      ambiguous:
        dashboard: finance
        schedule: {repeat: "0 8 * * 1"}
        dest: {type: EmailDest, recipients: [a@example.com]}
      no-such-filter:
        dashboard: sales_performance
        schedule: {repeat: "0 8 * * 1"}
        dynamic_filter_presets:
          - {dynamic_filter: regoin, preset_condition: {operator: is, values: [EU]}}
        dest: {type: EmailDest, recipients: [a@example.com]}
      filter-of-a-dashboard-by-id:
        source_type: Dashboard
        source_id: 40
        schedule: {repeat: "0 8 * * 1"}
        dynamic_filter_presets:
          - {dynamic_filter: region, preset_condition: {operator: is, values: [EU]}}
        dest: {type: EmailDest, recipients: [a@example.com]}
    """
    with pytest.raises(InvalidSchedules) as caught:
        names.resolve_names(load(tmp_path, text), WORKSPACE)
    found = {f"{p.line}: {p.path}: {p.message}" for p in caught.value.problems}
    assert found == {
        "3: unknown.dashboard: no dashboard in the workspace has the uname 'sales_performence'; "
        "did you mean `sales_performance`?",
        "7: ambiguous.dashboard: the uname 'finance' names 2 dashboards, one per AML project: 50 (project 1), "
        "51 (project 2); give the one meant by `source_type: Dashboard` and `source_id`",
        "14: no-such-filter.dynamic_filter_presets.0.dynamic_filter: dashboard sales_performance has no filter with "
        "the uname 'regoin'; did you mean `region`? (its filters: date_range, region)",
        "21: filter-of-a-dashboard-by-id.dynamic_filter_presets.0.dynamic_filter: dashboard 40 has no filter with "
        "the uname 'region' (its filters: none)",
    }
    assert all(p.file.endswith("main.yml") for p in caught.value.problems)


def test_an_unknown_name_with_nothing_close_suggests_nothing(tmp_path: Path) -> None:
    (read,) = load(tmp_path, schedule("s", "dashboard: zzz\n" + BODY))
    with pytest.raises(InvalidSchedules) as caught:
        names.resolve_names([read], WORKSPACE)
    assert [p.message for p in caught.value.problems] == ["no dashboard in the workspace has the uname 'zzz'"]


def test_the_dashboards_whose_filters_are_named_are_the_ones_to_read(tmp_path: Path) -> None:
    text = """\
    schedules:
      a:
        dashboard: sales_performance
        schedule: {repeat: "0 8 * * 1"}
        dynamic_filter_presets:
          - {dynamic_filter: region, preset_condition: {operator: is, values: [EU]}}
        dest: {type: EmailDest, recipients: [a@example.com]}
      b:
        dashboard: ops_overview
        schedule: {repeat: "0 8 * * 1"}
        dynamic_filter_presets:
          - {dynamic_filter_id: 3, preset_condition: {operator: is, values: [EU]}}
        dest: {type: EmailDest, recipients: [a@example.com]}
      c:
        source_type: Dashboard
        source_id: 40
        schedule: {repeat: "0 8 * * 1"}
        dynamic_filter_presets:
          - {dynamic_filter: region, preset_condition: {operator: is, values: [EU]}}
        dest: {type: EmailDest, recipients: [a@example.com]}
      d:
        source_type: Dashboard
        source_id: 41
        schedule: {repeat: "0 8 * * 1"}
        dest: {type: EmailDest, recipients: [a@example.com]}
    """
    read = load(tmp_path, text)
    assert names.entries_naming_filters(read) == {"sales_performance"}
    assert names.dashboards_naming_filters(read) == {40}


def test_filters_of_a_dashboard_not_read_are_a_programming_error(tmp_path: Path) -> None:
    named, _ = load(tmp_path, NAMED)
    with pytest.raises(AssertionError, match="filters of dashboard 12 were not read"):
        names.resolve_names([named], Catalog({"sales_performance": [(12, None)]}))


# ---- the property: a name is its id ----

unames = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
filter_ids = st.one_of(st.integers(min_value=1, max_value=10**6), st.from_regex(r"f_[a-z0-9]{1,8}", fullmatch=True))


@given(
    dashboard=unames,
    dashboard_id=st.integers(min_value=1, max_value=10**9),
    source_type_too=st.booleans(),
    presets=st.lists(st.tuples(unames, filter_ids, st.booleans()), max_size=4, unique_by=lambda p: p[0]),
)
def test_an_entry_written_with_names_resolves_to_the_entry_written_with_ids(
    dashboard: str, dashboard_id: int, source_type_too: bool, presets: list[tuple[str, Any, bool]]
) -> None:
    def text(by_name: bool) -> str:
        source = ("source_type: Dashboard\n" if source_type_too or not by_name else "") + (
            f"dashboard: {dashboard}\n" if by_name else f"source_id: {dashboard_id}\n"
        )
        lines = []
        for uname, filter_id, name_it in presets:
            which = f"dynamic_filter: {uname}" if by_name and name_it else f"dynamic_filter_id: {filter_id!r}"
            lines.append(f"  - {{{which}, preset_condition: {{operator: is, values: [v]}}}}\n")
        listed = ("dynamic_filter_presets:\n" + "".join(lines)) if lines else ""
        return schedule("s", source + listed + BODY).replace("'", '"')

    catalog = Catalog({dashboard: [(dashboard_id, 3)]}, {dashboard_id: {u: f for u, f, _ in presets}})
    by_ids = entry(text(by_name=False))
    (resolved,) = names.resolve_names([entry(text(by_name=True))], catalog)
    assert resolved.fields == by_ids.fields
    assert resolved == by_ids
    assert resolved.names["source_id"] == dashboard
    named_presets = {f"dynamic_filter_presets.{i}.dynamic_filter_id": u for i, (u, _, n) in enumerate(presets) if n}
    assert {k: v for k, v in resolved.names.items() if k != "source_id"} == named_presets


def test_a_name_cannot_come_from_the_environment_and_the_value_written_is_named(tmp_path: Path) -> None:
    """A uname decides which dashboard is delivered: it is written in the file, where review sees it.
    The refusal names `${DASH}`, not a stand-in tried for it."""
    assert problems(tmp_path, schedule("s", "dashboard: ${DASH}\n" + BODY)) == [
        "3: s.dashboard: not a uname: '${DASH}'; a uname is letters, digits and '_', as AML names the object"
    ]


def test_ids_are_written_back_into_an_entry_written_with_names(tmp_path: Path) -> None:
    path = write(tmp_path, NAMED)
    assert yamlwrite.record_ids({str(path): {"weekly-sales": 5}}, [path]) == []
    assert path.read_text() == NAMED.replace("  weekly-sales:\n", "  weekly-sales:\n    id: 5\n")
    (read, _) = yamlread.load([path], cache=False)
    assert read.id == 5 and read.fields["dashboard"] == "sales_performance"
