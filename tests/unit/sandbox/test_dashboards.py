"""The sandbox's dashboards as AML names them: `GET /dashboards/list_metadata`, the example seed's
unames, an AML rename (a new id; the old one left behind), a second project, and turning names off."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from reconciler.sandbox import Sandbox
from reconciler.sandbox import command as sandbox_command
from reconciler.sandbox.dashboards import added, list_metadata, renamed
from reconciler.sandbox.replies import ApiError
from reconciler.sandbox.seed import load_seed
from tests.helpers import REPO

METADATA = "/dashboards/list_metadata"
EXAMPLE_UNAMES = {
    1234: "sales_performance",
    1240: "marketing_funnel",
    1251: "operations_daily",
    1262: "finance_monthly_close",
    1277: None,  # Customer Health: a canvas dashboard
}


class Api:
    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.session.headers["X-Holistics-Key"] = sb.key

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.sb.base_url + path, timeout=5, **kw)

    def metadata(self, **params: Any) -> list[dict[str, Any]]:
        resp = self.get(METADATA, params=params)
        assert resp.status_code == 200, resp.text
        items: list[dict[str, Any]] = resp.json()["dashboards_metadata"]
        return items


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed="example") as sandbox:
        yield sandbox


@pytest.fixture
def api(sb: Sandbox) -> Iterator[Api]:
    client = Api(sb)
    yield client
    client.session.close()


# ---- list_metadata ----


def test_list_metadata_names_the_aml_dashboards_and_not_the_canvas_one(api: Api) -> None:
    items = api.metadata()
    assert {i["id"]: i["uname"] for i in items} == EXAMPLE_UNAMES
    assert [i["id"] for i in items] == sorted(EXAMPLE_UNAMES)
    by_id = {i["id"]: i for i in items}
    assert by_id[1262] == {
        "id": 1262,
        "title": "Finance Monthly Close",
        "uname": "finance_monthly_close",
        "project_id": 1,
        "version": 4,
    }
    assert by_id[1277] == {"id": 1277, "title": "Customer Health", "uname": None, "project_id": None, "version": 3}


def test_list_metadata_filters_by_version_and_checks_its_parameters(api: Api) -> None:
    assert [i["id"] for i in api.metadata(version=3)] == [1277]
    assert len(api.metadata(version=[3, 4])) == len(api.metadata(**{"version[]": [3, 4]})) == 5
    assert api.metadata(version="") == api.metadata()  # the spec's null: every version
    assert len(api.metadata(permission_action="destroy")) == 5  # the sandbox's key is an admin's
    for params in ({"version": "4.0"}, {"permission_action": "share"}):
        resp = api.get(METADATA, params=params)
        assert resp.status_code == 400 and resp.json()["type"] == "InvalidParameterError", params


def test_list_metadata_needs_the_key_and_is_logged(api: Api, sb: Sandbox) -> None:
    assert requests.get(sb.base_url + METADATA, timeout=5).status_code == 401
    api.metadata(version=4)
    assert sb.control.requests()[-1] == {"method": "GET", "path": METADATA, "query": {"version": "4"}, "status": 200}


def test_the_dashboard_read_leaves_out_what_only_list_metadata_says(api: Api, sb: Sandbox) -> None:
    dashboard = api.get("/dashboards/1234").json()["dashboard"]
    assert "uname" not in dashboard and "project_id" not in dashboard  # not in the spec's Dashboard
    assert [f["uname"] for f in dashboard["dynamic_filters"]] == ["region", "order_date", "product_category"]
    assert sb.control.dashboards()[0]["uname"] == "sales_performance"  # it is stored all the same


def test_every_filter_of_an_aml_dashboard_has_a_uname() -> None:
    seed = load_seed("example")
    aml = [d for d in seed.dashboards if d.get("uname")]
    assert len(aml) == 4 and all(d["version"] == 4 and d["project_id"] == 1 for d in aml)
    assert all(f.get("uname") for d in aml for f in d["dynamic_filters"])


def test_the_example_seed_keeps_its_ids_and_titles() -> None:
    seed = load_seed("example")
    assert [(d["id"], d["title"]) for d in seed.dashboards] == [
        (1234, "Sales Performance"),
        (1240, "Marketing Funnel"),
        (1251, "Operations Daily"),
        (1262, "Finance Monthly Close"),
        (1277, "Customer Health"),
    ]
    assert (len(seed.query_reports), len(seed.data_schedules), len(seed.data_alerts)) == (6, 41, 4)


# ---- turning names off: an older deployment ----


def test_list_metadata_off_answers_404_as_an_older_deployment() -> None:
    with Sandbox(seed="empty", list_metadata=False) as sb:
        api = Api(sb)
        resp = api.get(METADATA)
        assert resp.status_code == 404 and resp.json()["type"] == "BaseError"
        assert api.get("/dashboards/1234").status_code == 200  # ids keep working
        assert sb.control.requests()[-2]["status"] == 404
        sb.control.set_list_metadata(True)
        assert api.get(METADATA).status_code == 200


def test_list_metadata_is_turned_off_over_the_control_endpoint(api: Api, sb: Sandbox) -> None:
    config = requests.put(f"{sb.control_url}/config", json={"list_metadata": False}, timeout=5)
    assert config.status_code == 200 and config.json()["list_metadata"] is False
    assert api.get(METADATA).status_code == 404
    refused = requests.put(f"{sb.control_url}/config", json={"list_metadata": "no"}, timeout=5)
    assert refused.status_code == 400


def test_the_command_turns_names_off(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr("reconciler.sandbox.server.serve", lambda **kw: seen.update(kw))
    assert CliRunner().invoke(sandbox_command.sandbox, ["--no-list-metadata"]).exit_code == 0
    assert seen["list_metadata"] is False
    assert CliRunner().invoke(sandbox_command.sandbox, []).exit_code == 0
    assert seen["list_metadata"] is True


def test_the_command_says_names_are_off_and_answers_404() -> None:
    argv = [sys.executable, "-m", "reconciler.sandbox", "--port", "0", "--seed", "empty", "--no-list-metadata"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        lines = [proc.stdout.readline() for _ in range(4)]  # key, control, modes, press Ctrl-C
        assert "  modes:   no list_metadata\n" in lines
        resp = requests.get(base_url + METADATA, headers={"X-Holistics-Key": "sandbox-key"}, timeout=5)
        assert resp.status_code == 404
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


# ---- an AML rename: a new id under the new uname, the old id left behind ----


def test_rename_publishes_a_new_id_and_leaves_the_old_one(api: Api, sb: Sandbox) -> None:
    before = api.get("/dashboards/1262").json()["dashboard"]
    fresh = sb.control.rename_dashboard("finance_monthly_close", "month_end_close")
    assert fresh["id"] not in EXAMPLE_UNAMES and fresh["uname"] == "month_end_close" and fresh["project_id"] == 1
    items = {i["id"]: i for i in api.metadata()}
    assert items[fresh["id"]] == {
        "id": fresh["id"],
        "title": "Finance Monthly Close",
        "uname": "month_end_close",
        "project_id": 1,
        "version": 4,
    }
    # the old id stays (schedules on it keep pointing at it), named by nothing
    assert items[1262] == {
        "id": 1262,
        "title": "Finance Monthly Close",
        "uname": None,
        "project_id": None,
        "version": 4,
    }
    assert api.get("/dashboards/1262").json()["dashboard"] == before
    new = api.get(f"/dashboards/{fresh['id']}").json()["dashboard"]
    old_filters = {f["uname"]: f["id"] for f in before["dynamic_filters"]}
    new_filters = {f["uname"]: f["id"] for f in new["dynamic_filters"]}
    assert new_filters.keys() == old_filters.keys() == {"entity", "fiscal_period", "invoice_amount"}
    every_other_filter = {
        f["id"] for d in sb.control.dashboards() if d["id"] != fresh["id"] for f in d["dynamic_filters"]
    }
    assert not set(new_filters.values()) & every_other_filter  # new ids, none taken before
    on_old = [s for s in sb.control.schedules() if s["source_id"] == 1262]
    assert len(on_old) == 5  # untouched


def test_rename_over_http_and_its_refusals(sb: Sandbox) -> None:
    url = f"{sb.control_url}/dashboards/rename"
    done = requests.post(url, json={"from": "sales_performance", "to": "sales"}, timeout=5)
    assert done.status_code == 200 and done.json()["dashboard"]["uname"] == "sales"
    for body, says in [
        ({"from": "sales_performance", "to": "x"}, "no dashboard is named"),
        ({"from": "sales", "to": "operations_daily"}, "already has a dashboard named"),
        ({"from": "sales"}, "expected"),
        ({"from": "sales", "to": "y", "project_id": "1"}, "project_id"),
    ]:
        refused = requests.post(url, json=body, timeout=5)
        assert refused.status_code == 400 and says in refused.json()["message"], body
    listed = requests.get(f"{sb.control_url}", timeout=5).json()["routes"]
    assert any("/_sandbox/dashboards/rename" in r for r in listed)


def test_rename_survives_a_restart_with_a_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Sandbox(seed="example", state_file=state) as sb:
        fresh = sb.control.rename_dashboard("operations_daily", "ops_daily")
    with Sandbox(seed="example", state_file=state) as sb:
        items = {i["id"]: i["uname"] for i in Api(sb).metadata()}
    assert items[fresh["id"]] == "ops_daily" and items[1251] is None
    assert json.loads(state.read_text())["dashboards"][-1]["uname"] == "ops_daily"


# ---- a second AML project: the same uname twice ----


def test_a_second_project_with_the_same_uname(api: Api, sb: Sandbox) -> None:
    other = sb.control.add_dashboard(
        {
            "title": "Sales Performance (EU)",
            "uname": "sales_performance",
            "project_id": 2,
            "dynamic_filters": [{"uname": "region", "definition": {"label": "Region"}}],
        }
    )
    assert other["id"] not in EXAMPLE_UNAMES and other["version"] == 4 and other["dynamic_filters"][0]["id"]
    named = [(i["id"], i["project_id"]) for i in api.metadata() if i["uname"] == "sales_performance"]
    assert named == [(1234, 1), (other["id"], 2)]
    with pytest.raises(ValueError, match="several projects"):
        sb.control.rename_dashboard("sales_performance", "sales")
    assert sb.control.rename_dashboard("sales_performance", "sales", project_id=2)["project_id"] == 2
    over_http = requests.post(
        f"{sb.control_url}/dashboards", json={"dashboard": {"title": "Canvas", "version": 3}}, timeout=5
    )
    assert over_http.status_code == 201 and over_http.json()["dashboard"]["version"] == 3
    assert (
        requests.post(
            f"{sb.control_url}/dashboards", json={"dashboard": {"id": 1234, "title": "x"}}, timeout=5
        ).status_code
        == 400
    )


# ---- the rules alone ----


def test_renamed_and_added_as_plain_functions() -> None:
    dashboards = [
        {
            "id": 5,
            "title": "A",
            "uname": "a",
            "project_id": 1,
            "version": 4,
            "dynamic_filters": [{"id": 9, "uname": "f"}],
        },
        {"id": 7, "title": "B", "dynamic_filters": [{"id": "str-id", "uname": "g"}], "widgets": [{"id": 30}]},
    ]
    fresh, left = renamed(dashboards, dashboards[0], "a2")
    assert (fresh["id"], fresh["dynamic_filters"], left["uname"], left["id"]) == (
        8,
        [{"id": 10, "uname": "f"}],
        None,
        5,
    )
    new = added(dashboards, {"title": "C", "widgets": [{}], "dynamic_filters": [{"uname": "h"}]})
    assert (new["id"], new["version"], new["widgets"], new["dynamic_filters"][0]["id"]) == (8, 3, [{"id": 31}], 10)
    with pytest.raises(ApiError):
        list_metadata(dashboards, {"version": ["x"]})
    assert [i["version"] for i in list_metadata(dashboards, {})] == [4, 3]  # no version: canvas unless named
