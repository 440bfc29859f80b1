"""The sandbox's data alerts, over real HTTP: routes, the listing (cursors only), validation by the
dest discriminator, server-assigned ids, seed, state file and control routes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from reconciler.sandbox import Sandbox

ALERTS = "/data_alerts"


class Client:
    """`requests` against one sandbox: its key on every call, paths relative to /api/v2."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.session.headers["X-Holistics-Key"] = sb.key

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.sb.base_url + path, timeout=kw.pop("timeout", 5), **kw)

    def create(self, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", ALERTS, json={"data_alert": body})

    def listing(self, **params: Any) -> dict[str, Any]:
        resp = self.call("GET", ALERTS, params=params)
        assert resp.status_code == 200, resp.text
        found: dict[str, Any] = resp.json()
        return found


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[Client]:
    c = Client(sandbox)
    yield c
    c.session.close()


@pytest.fixture
def example(example_sandbox: Sandbox) -> Iterator[Client]:
    c = Client(example_sandbox)
    yield c
    c.session.close()


def new_alert(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Revenue below 1,000",
        "source_type": "DashboardWidget",
        "source_id": 90101,
        "schedule": {"repeat": "0 * * * *", "paused": False},
        "viz_conditions": [
            {
                "field_path": {"field_name": "revenue", "model_id": 801},
                "aggregation": "sum",
                "condition": {"operator": "less_than", "values": [1000]},
            }
        ],
        "dynamic_filter_presets": [],
        "dest": {"type": "EmailDest", "title": "Revenue dropped", "recipients": ["finance@example.com"]},
    }
    body.update(changes)
    return body


SLACK = {"type": "SlackDest", "title": "Ops", "message": "Look", "slack_channels": [{"id": "C1", "name": "ops"}]}
WEBHOOK = {"type": "WebhookDest", "endpoint": "https://events.pagerduty.example/v2/enqueue/KEY"}


def assert_error(resp: requests.Response, status: int, type_: str) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["type"] == type_ and body["message"]
    return body


def record_of(resp: requests.Response) -> dict[str, list[str]]:
    record: dict[str, list[str]] = assert_error(resp, 422, "RecordError")["record"]
    return record


# ---- routes ----


def test_create_answers_201_with_the_wrapper_and_server_ids(client: Client, sandbox: Sandbox) -> None:
    body = new_alert(
        dynamic_filter_presets=[{"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["EMEA"]}}]
    )
    resp = client.create(body)
    assert resp.status_code == 201, resp.text
    created = resp.json()["data_alert"]
    assert isinstance(created["id"], int)
    assert isinstance(created["viz_conditions"][0]["id"], int)
    assert isinstance(created["dynamic_filter_presets"][0]["id"], int)
    assert created["schedule"]["is_archived"] is False
    assert created["viz_conditions"][0]["condition"] == {"operator": "less_than", "values": [1000], "modifier": None}
    assert sandbox.control.alerts() == [created]
    assert sandbox.control.schedules() == []  # a kind of its own


def test_ids_sent_by_the_client_are_the_servers_to_give(client: Client) -> None:
    body = new_alert(id=5, viz_conditions=[{**new_alert()["viz_conditions"][0], "id": 999}])
    created = client.create(body).json()["data_alert"]
    assert created["id"] != 5 and created["viz_conditions"][0]["id"] != 999
    again = client.create(new_alert()).json()["data_alert"]
    assert again["id"] > created["id"]
    assert again["viz_conditions"][0]["id"] > created["viz_conditions"][0]["id"]


def test_get_put_delete(client: Client) -> None:
    created = client.create(new_alert()).json()["data_alert"]
    path = f"{ALERTS}/{created['id']}"
    assert client.call("GET", path).json() == {"data_alert": created}
    # PUT replaces the whole object: what it leaves out is gone, condition ids are new
    replaced = {**new_alert(title="Renamed", dest=SLACK), "viz_conditions": created["viz_conditions"]}
    del replaced["title"]
    resp = client.call("PUT", path, json={"data_alert": replaced})
    assert resp.status_code == 200, resp.text
    stored = resp.json()["data_alert"]
    assert "title" not in stored and stored["dest"]["type"] == "SlackDest"
    assert stored["id"] == created["id"]
    assert stored["viz_conditions"][0]["id"] != created["viz_conditions"][0]["id"]
    assert client.call("GET", path).json()["data_alert"] == stored
    deleted = client.call("DELETE", path)
    assert deleted.status_code == 200 and deleted.json() == {"message": f"Data alert {created['id']} deleted"}
    assert_error(client.call("GET", path), 404, "BaseError")


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("PUT", ""), ("DELETE", ""), ("POST", "/submit_execute")])
def test_unknown_alert_is_404(client: Client, method: str, suffix: str) -> None:
    resp = client.call(method, f"{ALERTS}/424242{suffix}", json={"data_alert": new_alert()})
    body = assert_error(resp, 404, "BaseError")
    assert "DataAlert" in body["message"]


def test_an_alert_and_a_schedule_of_the_same_id_are_two_records(example: Client, example_sandbox: Sandbox) -> None:
    schedule_ids = {s["id"] for s in example_sandbox.control.schedules()}
    shared = sorted(a["id"] for a in example_sandbox.control.alerts() if a["id"] in schedule_ids)
    assert shared, "the seed has an alert whose id is a schedule's"
    alert = example.call("GET", f"{ALERTS}/{shared[0]}").json()["data_alert"]
    schedule = example.call("GET", f"/data_schedules/{shared[0]}").json()["data_schedule"]
    assert alert["title"] != schedule["title"]
    example.call("DELETE", f"{ALERTS}/{shared[0]}")
    assert example.call("GET", f"/data_schedules/{shared[0]}").status_code == 200


def test_submit_execute_is_a_job_of_the_alert(example: Client, example_sandbox: Sandbox) -> None:
    job = example.call("POST", f"{ALERTS}/4801/submit_execute").json()["job"]
    assert job["source"]["type"] == "DataAlert" and job["source"]["id"] == 4801
    # the schedule 4801 has no job running: its own submit is not `already_existed`
    assert example.call("POST", "/data_schedules/4801/submit_execute").json()["job"]["status"] == "queued"
    assert example.call("POST", f"{ALERTS}/4801/submit_execute").json()["job"]["status"] == "already_existed"
    statuses = [example.call("GET", f"/jobs/{job['id']}").json()["job"]["status"] for _ in range(3)]
    assert statuses == ["running", "success", "success"]
    example_sandbox.control.fail_alert_jobs(4803)
    failing = example.call("POST", f"{ALERTS}/4803/submit_execute").json()["job"]
    example.call("GET", f"/jobs/{failing['id']}")
    done = example.call("GET", f"/jobs/{failing['id']}").json()["job"]
    assert done["status"] == "failure" and "Webhook" in done["last_error_log"]
    ok = example.call("POST", "/data_schedules/4803/submit_execute").json()["job"]  # schedule 4803 not told
    example.call("GET", f"/jobs/{ok['id']}")
    assert example.call("GET", f"/jobs/{ok['id']}").json()["job"]["status"] == "success"


# ---- the listing: cursors, no sort, no page, no total_count ----


def test_listing_walks_forward_and_back_by_id_without_a_count(client: Client, sandbox: Sandbox) -> None:
    stored = sandbox.control.put_alerts([new_alert(title=f"Alert {i}") for i in range(23)])
    everything = [a["id"] for a in stored]
    pages: list[list[int]] = []
    params: dict[str, Any] = {"limit": 5}
    while True:
        body = client.listing(**params)
        assert set(body) == {"data_alerts", "cursors"}  # no total_count
        pages.append([a["id"] for a in body["data_alerts"]])
        if body["cursors"]["next"] is None:
            break
        params["after"] = body["cursors"]["next"]
    assert [i for page in pages for i in page] == everything and everything == sorted(everything)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    back = [pages[-1]]
    cursor = body["cursors"]["previous"]
    while cursor is not None:
        body = client.listing(limit=5, before=cursor)
        back.append([a["id"] for a in body["data_alerts"]])
        cursor = body["cursors"]["previous"]
    assert [i for page in back[::-1] for i in page] == everything
    assert len(client.listing()["data_alerts"]) == 20  # the spec's default limit


@pytest.mark.parametrize("name", ["sort", "page", "creator_roles"])
def test_the_schedule_listings_extras_are_refused(example: Client, name: str) -> None:
    body = assert_error(
        example.call("GET", ALERTS, params={name: "id_desc" if name == "sort" else "1"}), 400, "InvalidParameterError"
    )
    assert name in body["message"]


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_limit_is_bounded(example: Client, limit: str) -> None:
    assert_error(example.call("GET", ALERTS, params={"limit": limit}), 400, "InvalidParameterError")


def test_listing_filters(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.put_alerts(
        [
            new_alert(title="Revenue drop"),
            new_alert(title="Stale REVENUE feed", source_type="VizBlock", source_id="42", dest=WEBHOOK),
            new_alert(title="Ops", source_id=42, dest=SLACK),
        ]
    )

    def titles(**params: Any) -> list[str]:
        return [a["title"] for a in client.listing(**params)["data_alerts"]]

    assert titles(search_term="revenue") == ["Revenue drop", "Stale REVENUE feed"]
    assert titles(dest_type="SlackDest") == ["Ops"]
    assert titles(dest_type="EmailDest") == ["Revenue drop"]
    assert titles(source_type="VizBlock") == ["Stale REVENUE feed"]
    assert titles(source_id="42") == ["Stale REVENUE feed", "Ops"]  # 42 and "42" both, by their text
    assert titles(source_id="42", source_type="DashboardWidget") == ["Ops"]
    for dest_type in ("WebhookDest", "SftpDest", "nope"):  # the filter knows Email and Slack only
        resp = client.call("GET", ALERTS, params={"dest_type": dest_type})
        assert "dest_type" in assert_error(resp, 400, "InvalidParameterError")["message"]
    assert_error(client.call("GET", ALERTS, params={"source_type": "Dashboard"}), 400, "InvalidParameterError")


# ---- validation, by the discriminator ----


@pytest.mark.parametrize("dest", [new_alert()["dest"], SLACK, WEBHOOK])
def test_each_destination_is_accepted(client: Client, dest: dict[str, Any]) -> None:
    assert client.create(new_alert(dest=dest)).status_code == 201


@pytest.mark.parametrize(
    ("dest", "field"),
    [
        ({"type": "EmailDest", "title": "x"}, "dest.recipients"),
        ({"type": "EmailDest", "recipients": ["not-an-address"]}, "dest.recipients.0"),
        ({"type": "SlackDest", "title": "x"}, "dest.slack_channels"),
        ({"type": "WebhookDest"}, "dest.endpoint"),
        ({"type": "WebhookDest", "endpoint": "http://hooks.example.com/x"}, "dest.endpoint"),
        ({"type": "WebhookDest", "endpoint": "https:///no-host"}, "dest.endpoint"),
        ({"type": "SftpDest", "file_path": "/x"}, "dest.type"),
        ({"recipients": ["a@example.com"]}, "dest.type"),
    ],
)
def test_each_dest_is_checked_by_its_own_branch(client: Client, dest: dict[str, Any], field: str) -> None:
    assert field in record_of(client.create(new_alert(dest=dest)))


def test_presets_are_required(client: Client) -> None:
    body = new_alert()
    del body["dynamic_filter_presets"]
    assert record_of(client.create(body)) == {"dynamic_filter_presets": ["is required"]}


@pytest.mark.parametrize(
    ("condition", "ok"),
    [
        ({"operator": "between", "values": [1, 2]}, True),
        ({"operator": "between", "values": [1]}, False),
        ({"operator": "less_than", "values": []}, False),
        ({"operator": "is_null", "values": []}, True),
        ({"operator": "is_null", "values": [1]}, False),
        ({"operator": "bogus", "values": [1]}, False),
    ],
)
def test_condition_arity(client: Client, condition: dict[str, Any], ok: bool) -> None:
    viz = [{"field_path": {"field_name": "revenue"}, "condition": condition}]
    resp = client.create(new_alert(viz_conditions=viz))
    if ok:
        assert resp.status_code == 201, resp.text
    else:
        assert any(k.startswith("viz_conditions.0.condition") for k in record_of(resp))
    presets = [{"dynamic_filter_id": 7, "preset_condition": condition}]
    resp = client.create(new_alert(dynamic_filter_presets=presets))
    assert resp.status_code == 201 if ok else any(k.startswith("dynamic_filter_presets.0") for k in record_of(resp))


def test_viz_condition_fields(client: Client) -> None:
    viz = [{"aggregation": "total", "transformation": "datetrunc decade"}]
    record = record_of(client.create(new_alert(viz_conditions=viz)))
    assert {"viz_conditions.0.field_path", "viz_conditions.0.condition"} <= set(record)
    assert {"viz_conditions.0.aggregation", "viz_conditions.0.transformation"} <= set(record)
    assert "source_type" in record_of(client.create(new_alert(source_type="Dashboard")))
    assert "source_id" in record_of(client.create(new_alert(source_id=1.5)))


@pytest.mark.parametrize("source_id", [42, "42", "vb_orders"])
def test_source_id_is_kept_as_sent(client: Client, source_id: int | str) -> None:
    created = client.create(new_alert(source_type="VizBlock", source_id=source_id)).json()["data_alert"]
    assert created["source_id"] == source_id and type(created["source_id"]) is type(source_id)
    again = client.call("GET", f"{ALERTS}/{created['id']}").json()["data_alert"]
    assert type(again["source_id"]) is type(source_id)


def test_malformed_bodies_are_invalid_parameter(client: Client) -> None:
    assert_error(client.call("POST", ALERTS, json={"data_schedule": new_alert()}), 400, "InvalidParameterError")
    assert_error(client.call("POST", ALERTS, data=b"{"), 400, "InvalidParameterError")


# ---- --immutable-source ----


def test_immutable_source_refuses_a_changed_source() -> None:
    with Sandbox(seed="example", immutable_source=True) as sb:
        c = Client(sb)
        current = c.call("GET", f"{ALERTS}/4803").json()["data_alert"]
        for change in ({"source_id": "vb_other"}, {"source_type": "DashboardWidget", "source_id": 90101}):
            record = record_of(c.call("PUT", f"{ALERTS}/4803", json={"data_alert": {**current, **change}}))
            assert "source_id" in record
        renamed = c.call("PUT", f"{ALERTS}/4803", json={"data_alert": {**current, "title": "Renamed"}})
        assert renamed.status_code == 200, renamed.text
    with Sandbox(seed="example") as sb:  # without the flag a source may change
        c = Client(sb)
        current = c.call("GET", f"{ALERTS}/4803").json()["data_alert"]
        assert c.call("PUT", f"{ALERTS}/4803", json={"data_alert": {**current, "source_id": 7}}).status_code == 200


def test_a_source_id_of_another_type_is_another_source() -> None:
    with Sandbox(seed="empty", immutable_source=True) as sb:
        c = Client(sb)
        created = c.create(new_alert(source_type="VizBlock", source_id=42)).json()["data_alert"]
        resp = c.call("PUT", f"{ALERTS}/{created['id']}", json={"data_alert": {**created, "source_id": "42"}})
        assert "source_id" in record_of(resp)
