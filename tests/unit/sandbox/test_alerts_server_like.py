"""Data alerts in the sandbox as a real server behaves beyond the spec (read-only extras, strict input)
and under every fault it can inject into a request: forced statuses, 429s, dropped connections, slow
answers, writes that land after their answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from reconciler.sandbox import Sandbox
from reconciler.sandbox.validation import split_documented
from tests.unit.sandbox.test_alerts import ALERTS, Client, assert_error, new_alert


@pytest.fixture
def server() -> Iterator[Client]:
    with Sandbox(seed="example", server_like=True) as sb:
        c = Client(sb)
        yield c
        c.session.close()


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[Client]:
    c = Client(sandbox)
    yield c
    c.session.close()


# ---- --server-like ----

EXTRA_TOP = {"created_at", "updated_at", "creator", "owner_id", "last_run_at", "last_run_status"}


def test_server_like_alerts_carry_read_only_extras(server: Client) -> None:
    created = server.create(
        new_alert(
            dynamic_filter_presets=[{"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["A"]}}]
        )
    )
    assert created.status_code == 201, created.text
    alert = created.json()["data_alert"]
    assert set(alert) >= EXTRA_TOP
    assert alert["dest"]["id"] not in (None, alert["id"]) and "next_run_at" in alert["schedule"]
    assert all(c["data_alert_id"] == alert["id"] for c in alert["viz_conditions"])
    assert all(p["data_alert_id"] == alert["id"] for p in alert["dynamic_filter_presets"])
    _, extras = split_documented(alert, "DataAlert")
    assert {"dest.id", "viz_conditions.0.data_alert_id", "dynamic_filter_presets.0.data_alert_id"} <= set(extras)
    listed = server.listing(limit=100)["data_alerts"]
    assert listed and all(set(a) >= EXTRA_TOP for a in listed)
    # schedule 4801 and alert 4801 are two records: their dests' record ids differ
    schedule = server.call("GET", "/data_schedules/4801").json()["data_schedule"]
    assert server.call("GET", f"{ALERTS}/4801").json()["data_alert"]["dest"]["id"] != schedule["dest"]["id"]


def test_last_run_shows_after_a_run(server: Client) -> None:
    before = server.call("GET", f"{ALERTS}/4802").json()["data_alert"]
    assert before["last_run_at"] is None and before["last_run_status"] is None
    server.call("POST", f"{ALERTS}/4802/submit_execute")
    after = server.call("GET", f"{ALERTS}/4802").json()["data_alert"]
    assert after["last_run_at"] is not None and after["last_run_status"] is not None


def test_strict_input_refuses_the_extras_sent_back_and_takes_the_documented_part(server: Client) -> None:
    alert = server.call("GET", f"{ALERTS}/4801").json()["data_alert"]
    refused = server.call("PUT", f"{ALERTS}/4801", json={"data_alert": alert})
    record = assert_error(refused, 422, "RecordError")["record"]
    documented, extras = split_documented(alert, "DataAlert")
    assert set(record) == set(extras) and "viz_conditions.0.data_alert_id" in record
    ok = server.call("PUT", f"{ALERTS}/4801", json={"data_alert": {**documented, "title": "Renamed"}})
    assert ok.status_code == 200, ok.text


def test_lenient_input_ignores_the_extras() -> None:
    with Sandbox(seed="example", server_like=True, strict_input=False) as sb:
        c = Client(sb)
        alert = c.call("GET", f"{ALERTS}/4801").json()["data_alert"]
        resp = c.call("PUT", f"{ALERTS}/4801", json={"data_alert": {**alert, "title": "Renamed"}})
        assert resp.status_code == 200, resp.text
        assert "data_alert_id" not in sb.control.alerts()[1]["viz_conditions"][0]  # stored without them


def test_the_plain_sandbox_adds_nothing(client: Client) -> None:
    alert = client.create(new_alert()).json()["data_alert"]
    assert split_documented(alert, "DataAlert")[1] == []


# ---- faults: each class the sandbox injects, on alert requests ----


def test_forced_status_before_the_write_leaves_state_untouched(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="POST", path=ALERTS, status=500)
    assert_error(client.create(new_alert()), 500, "InternalHolisticsError")
    assert sandbox.control.alerts() == []
    assert client.create(new_alert()).status_code == 201  # used up


def test_a_fault_on_schedules_does_not_touch_alerts(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="POST", path="/data_schedules", status=500)
    assert client.create(new_alert()).status_code == 201
    assert len(sandbox.control.faults()) == 1


def test_rate_limited_429_with_retry_after(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="GET", path=ALERTS, status=429)
    limited = client.call("GET", ALERTS)
    assert_error(limited, 429, "RateLimitExceedError")
    assert limited.headers["Retry-After"] == "1"
    assert client.call("GET", ALERTS).status_code == 200


def test_forced_status_after_the_write_stores_it(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="POST", path=ALERTS, status=504, when="after")
    assert_error(client.create(new_alert()), 504, "InternalHolisticsError")
    assert [a["title"] for a in sandbox.control.alerts()] == ["Revenue below 1,000"]


@pytest.mark.parametrize(("when", "stored"), [("before", 0), ("after", 1)])
def test_dropped_connection(client: Client, sandbox: Sandbox, when: str, stored: int) -> None:
    sandbox.control.add_fault(method="POST", path=ALERTS, status=None, drop=True, when=when)  # type: ignore[arg-type]
    with pytest.raises(requests.ConnectionError):
        client.create(new_alert())
    assert len(sandbox.control.alerts()) == stored
    assert sandbox.control.requests()[-1] == {"method": "POST", "path": ALERTS, "query": {}, "status": None}


def test_slow_answer_after_the_write(client: Client, sandbox: Sandbox) -> None:
    sandbox.control.add_fault(method="POST", path=ALERTS, status=None, delay_ms=2000, when="after")
    with pytest.raises(requests.ReadTimeout):
        client.call("POST", ALERTS, json={"data_alert": new_alert()}, timeout=0.3)
    assert len(sandbox.control.alerts()) == 1


@pytest.mark.parametrize("drop", [False, True])
def test_a_late_create_lands_after_its_answer(client: Client, sandbox: Sandbox, drop: bool) -> None:
    sandbox.control.add_fault(
        method="POST", path=ALERTS, status=None if drop else 504, drop=drop, when="late", delay_ms=60_000
    )
    if drop:
        with pytest.raises(requests.ConnectionError):
            client.create(new_alert())
    else:
        assert_error(client.create(new_alert()), 504, "InternalHolisticsError")
    assert client.listing()["data_alerts"] == []  # not there yet when the client looks at once
    assert sandbox.control.release_late_writes() == 1
    (late,) = sandbox.control.late_writes()
    (alert,) = sandbox.control.alerts()
    assert late["state"] == "done" and late["status"] == 201 and late["id"] == alert["id"]
    assert late["path"] == ALERTS


def test_late_update_and_delete_of_an_alert(example_sandbox: Sandbox) -> None:
    c = Client(example_sandbox)
    current = c.call("GET", f"{ALERTS}/4801").json()["data_alert"]
    example_sandbox.control.add_fault(method="PUT", path=f"{ALERTS}/*", status=502, when="late", delay_ms=60_000)
    example_sandbox.control.add_fault(
        method="DELETE", path=rf"^{ALERTS}/\d+$", status=503, when="late", delay_ms=60_000
    )
    assert c.call("PUT", f"{ALERTS}/4801", json={"data_alert": {**current, "title": "Late"}}).status_code == 502
    assert c.call("DELETE", f"{ALERTS}/4802").status_code == 503
    assert example_sandbox.control.wait_for_late_writes(timeout=0) is False
    example_sandbox.control.release_late_writes()
    outcomes = {(w["method"], w["status"], w["id"]) for w in example_sandbox.control.late_writes()}
    assert outcomes == {("PUT", 200, 4801), ("DELETE", 200, None)}
    titles = {a["id"]: a["title"] for a in example_sandbox.control.alerts()}
    assert titles[4801] == "Late" and 4802 not in titles
    assert c.call("GET", "/data_schedules/4802").status_code == 200  # the schedule of that id stays


def test_faults_on_alert_paths_over_the_control_endpoint(client: Client, sandbox: Sandbox) -> None:
    fault = {"method": "GET", "path": "/api/v2/data_alerts/*", "status": 500, "count": 2}
    assert requests.post(f"{sandbox.control_url}/faults", json=fault, timeout=5).status_code == 201
    created = client.create(new_alert()).json()["data_alert"]
    path = f"{ALERTS}/{created['id']}"
    assert [client.call("GET", path).status_code for _ in range(3)] == [500, 500, 200]


def test_submit_execute_faults(example_sandbox: Sandbox) -> None:
    c = Client(example_sandbox)
    example_sandbox.control.add_fault(method="POST", path=f"{ALERTS}/*/submit_execute", status=503, when="after")
    assert_error(c.call("POST", f"{ALERTS}/4801/submit_execute"), 503, "MaintenanceError")
    jobs: list[dict[str, Any]] = example_sandbox.control.jobs()
    assert [(j["source"]["type"], j["source"]["id"]) for j in jobs] == [("DataAlert", 4801)]
