"""`remote.catalog`: the workspace's dashboards by uname and id, and the filters of only the dashboards
asked for (a fake reader counts the reads; the sandbox checks the real answers)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.remote.catalog import Catalog, read_catalog
from reconciler.remote.client import HolisticsClient, NamesUnavailable
from reconciler.sandbox import Sandbox

METADATA: list[dict[str, Any]] = [
    {"id": 1262, "title": "Finance Monthly Close", "uname": "finance_monthly_close", "project_id": 1, "version": 4},
    {"id": 1277, "title": "Customer Health", "uname": None, "project_id": None, "version": 3},
    {
        "id": 2001,
        "title": "Finance Monthly Close (EU)",
        "uname": "finance_monthly_close",
        "project_id": 2,
        "version": 4,
    },
    {"id": 1234, "title": "Sales Performance", "uname": "sales_performance", "project_id": 1, "version": 4},
]
DASHBOARDS: dict[int, dict[str, Any]] = {
    1234: {"id": 1234, "dynamic_filters": [{"id": 7, "uname": "region"}, {"id": 8, "uname": "order_date"}]},
    1262: {"id": 1262, "dynamic_filters": [{"id": "fp", "uname": "fiscal_period"}, {"id": 43}]},
}


class FakeReader:
    def __init__(self) -> None:
        self.reads: list[int] = []
        self.metadata_calls = 0

    def dashboards_metadata(self) -> list[dict[str, Any]]:
        self.metadata_calls += 1
        return [dict(item) for item in METADATA]

    def get_dashboard(self, dashboard_id: int) -> dict[str, Any]:
        self.reads.append(dashboard_id)
        return DASHBOARDS[dashboard_id]


def test_a_uname_in_two_projects_is_every_match() -> None:
    catalog = Catalog(METADATA)
    assert catalog.dashboard_ids("finance_monthly_close") == [(1262, 1), (2001, 2)]
    assert catalog.dashboard_ids("sales_performance") == [(1234, 1)]
    assert catalog.dashboard_ids("sales") == []


def test_unames_titles_and_canvas_dashboards() -> None:
    catalog = Catalog(METADATA)
    assert catalog.dashboard_unames() == ["finance_monthly_close", "sales_performance"]
    assert catalog.title(2001) == "Finance Monthly Close (EU)" and catalog.title(1277) == "Customer Health"
    assert catalog.uname(1277) is None and catalog.uname(1234) == "sales_performance"
    assert (catalog.project_id(2001), catalog.version(1277)) == (2, 3)
    assert catalog.title(99) is None and catalog.uname(99) is None and not catalog.has(99)
    assert catalog.ids() == [1234, 1262, 1277, 2001]


def test_filters_are_read_only_for_the_dashboards_asked_for() -> None:
    reader = FakeReader()
    catalog = read_catalog(reader, filters_of=[1234, 1234])
    assert (reader.metadata_calls, reader.reads) == (1, [1234])
    assert catalog.filter_ids(1234) == {"region": 7, "order_date": 8}
    assert catalog.filter_ids(1262) is None  # not read: not "no filters"
    catalog.read_filters(reader, [1262, 1234])
    assert reader.reads == [1234, 1262]  # what was read is not read again
    assert catalog.filter_ids(1262) == {"fiscal_period": "fp"}  # a filter without a uname is left out


def test_filter_unames_by_id_as_number_or_text() -> None:
    catalog = Catalog(METADATA, DASHBOARDS)
    assert catalog.filter_uname(1234, 7) == catalog.filter_uname(1234, "7") == "region"
    assert catalog.filter_uname(1262, "fp") == "fiscal_period"
    assert catalog.filter_uname(1262, 43) is None  # no uname
    assert catalog.filter_uname(2001, 1) is None  # not read


def test_values_not_of_the_spec_type_count_as_absent() -> None:
    catalog = Catalog([{"id": 5, "title": 3, "uname": "", "project_id": True, "version": "4"}])
    assert (catalog.title(5), catalog.uname(5), catalog.project_id(5), catalog.version(5)) == (None, None, None, None)
    assert catalog.dashboard_unames() == []


def test_read_from_the_sandbox_after_a_rename() -> None:
    with Sandbox(seed="empty") as sb, HolisticsClient(sb.base_url, sb.key) as client:
        fresh = sb.control.rename_dashboard("sales_performance", "sales")
        catalog = read_catalog(client, filters_of=[fresh["id"]])
        assert catalog.dashboard_ids("sales") == [(fresh["id"], 1)]
        assert catalog.dashboard_ids("sales_performance") == []
        assert catalog.title(1234) == "Sales Performance" and catalog.uname(1234) is None
        new_ids = {f["uname"]: f["id"] for f in fresh["dynamic_filters"]}
        assert catalog.filter_ids(fresh["id"]) == new_ids and 7 not in new_ids.values()
        assert [r["path"] for r in sb.control.requests()] == ["/dashboards/list_metadata", f"/dashboards/{fresh['id']}"]


def test_reading_where_names_are_unavailable_raises() -> None:
    with (
        Sandbox(seed="empty", list_metadata=False) as sb,
        HolisticsClient(sb.base_url, sb.key) as client,
        pytest.raises(NamesUnavailable, match="answered 404"),
    ):
        read_catalog(client)
