"""The sandbox as a real server behaves beyond the spec: extra read-only fields, strict input, a
source that cannot be replaced, and writes that land after their answer (late faults)."""

from __future__ import annotations

import copy
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from reconciler.sandbox import Sandbox
from reconciler.sandbox.faults import Fault
from reconciler.sandbox.jobs import failure_message
from reconciler.sandbox.validation import split_documented
from reconciler.spec import dest_branches
from tests.helpers import REPO

ROOT = REPO

# what the server-like sandbox adds, as dotted paths (preset fields at their list index)
EXTRA_TOP = {"created_at", "updated_at", "creator", "last_run_at"}
EXTRA_NESTED = {"schedule.next_run_at", "dest.id"}
PRESET_EXTRA = "data_schedule_id"


class Api:
    """`requests` against one sandbox: its key on every call, paths relative to /api/v2."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.session = requests.Session()
        self.session.headers["X-Holistics-Key"] = sb.key

    def call(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.sb.base_url + path, timeout=kw.pop("timeout", 5), **kw)

    def schedule(self, ident: int) -> dict[str, Any]:
        resp = self.call("GET", f"/data_schedules/{ident}")
        assert resp.status_code == 200, resp.text
        found: dict[str, Any] = resp.json()["data_schedule"]
        return found

    def put(self, ident: int, body: dict[str, Any]) -> requests.Response:
        return self.call("PUT", f"/data_schedules/{ident}", json={"data_schedule": body})

    def post(self, body: dict[str, Any], **kw: Any) -> requests.Response:
        return self.call("POST", "/data_schedules", json={"data_schedule": body}, **kw)


@pytest.fixture
def server() -> Iterator[Api]:
    """The example workspace, served as a real server would: extra fields, strict input."""
    with Sandbox(seed="example", server_like=True) as sb:
        api = Api(sb)
        yield api
        api.session.close()


@pytest.fixture
def plain() -> Iterator[Api]:
    with Sandbox(seed="example") as sb:
        api = Api(sb)
        yield api
        api.session.close()


def new_schedule(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Server-like",
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dynamic_filter_presets": [{"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["A"]}}],
        "dest": {"type": "EmailDest", "recipients": ["a@example.com"], "options": {"include_header": True}},
    }
    return body | changes


def extras_of(schedule: dict[str, Any]) -> set[str]:
    return set(split_documented(schedule)[1])


def expected_extras(schedule: dict[str, Any]) -> set[str]:
    presets = {f"dynamic_filter_presets.{i}.{PRESET_EXTRA}" for i in range(len(schedule["dynamic_filter_presets"]))}
    return EXTRA_TOP | EXTRA_NESTED | presets


# ---- extra read-only fields ----


def test_every_schedule_it_returns_carries_fields_the_spec_does_not_document(server: Api, plain: Api) -> None:
    listed = server.call("GET", "/data_schedules", params={"limit": 100}).json()["data_schedules"]
    plain_listed = plain.call("GET", "/data_schedules", params={"limit": 100}).json()["data_schedules"]
    assert len(listed) == len(plain_listed) == 41
    for served, spec_only in zip(listed, plain_listed, strict=True):
        # the extras are exactly what the spec does not document (judged by the spec, not by a list)...
        assert extras_of(served) == expected_extras(served), served["id"]
        # ...and the rest is the plain sandbox's answer, field for field
        assert split_documented(served)[0] == spec_only
        assert extras_of(spec_only) == set()
    one = server.schedule(4804)
    assert one["creator"] == {"id": 1, "name": "Sandbox Admin"} and one["last_run_at"] is None
    assert one["dest"]["id"] != one["id"] and all(p[PRESET_EXTRA] == 4804 for p in one["dynamic_filter_presets"])
    assert server.sb.control.schedules()[0].keys() == plain_listed[0].keys()  # the stored form stays the spec's


def test_created_and_updated_answers_carry_them_too_and_the_stamps_move(server: Api) -> None:
    created = server.post(new_schedule())
    assert created.status_code == 201, created.text
    made = created.json()["data_schedule"]
    assert extras_of(made) == expected_extras(made)
    assert made["created_at"] == made["updated_at"] and made["last_run_at"] is None
    changed = server.put(made["id"], split_documented(made)[0] | {"title": "Renamed"}).json()["data_schedule"]
    assert changed["created_at"] == made["created_at"] and changed["updated_at"] >= made["updated_at"]
    job = server.call("POST", f"/data_schedules/{made['id']}/submit_execute").json()["job"]
    assert job["status"] == "queued"
    assert server.schedule(made["id"])["last_run_at"] is not None


def test_lenient_server_ignores_what_it_returned(server: Api) -> None:
    server.sb.control.set_strict_input(False)
    current = server.schedule(4804)
    stored_before = {s["id"]: s for s in server.sb.control.schedules()}[4804]
    resp = server.put(4804, current)  # everything it returned, extras and all
    assert resp.status_code == 200, resp.text
    stored = {s["id"]: s for s in server.sb.control.schedules()}[4804]
    assert extras_of(stored) == set()  # none of it was stored
    strip_ids = [{k: v for k, v in p.items() if k != "id"} for p in stored["dynamic_filter_presets"]]
    assert strip_ids == [{k: v for k, v in p.items() if k != "id"} for p in stored_before["dynamic_filter_presets"]]
    assert {k: v for k, v in stored.items() if k != "dynamic_filter_presets"} == {
        k: v for k, v in stored_before.items() if k != "dynamic_filter_presets"
    }


# ---- strict input ----


def test_strict_server_refuses_each_undocumented_attribute_by_its_path(server: Api) -> None:
    current = server.schedule(4804)
    resp = server.put(4804, current)
    assert resp.status_code == 422, resp.text
    body = resp.json()
    assert body["type"] == "RecordError"
    assert set(body["record"]) == expected_extras(current) == extras_of(current)
    refusal = ["is not a permitted attribute (the spec does not document it)"]
    assert all(messages == refusal for messages in body["record"].values())
    created = server.post(new_schedule(owner={"id": 3}, dest={"type": "EmailDest", "recipients": [], "cc": ["x"]}))
    assert created.status_code == 422 and set(created.json()["record"]) == {"owner", "dest.cc"}
    assert len(server.sb.control.schedules()) == 41  # nothing stored


def test_strict_server_accepts_every_documented_field(server: Api) -> None:
    current = server.schedule(4804)
    documented = split_documented(current)[0]
    assert "id" in documented and "is_archived" in documented["schedule"]  # read-only, but documented
    assert server.put(4804, documented).status_code == 200
    # each destination type the example holds, as read less the extras, goes back as it came
    for schedule in server.call("GET", "/data_schedules", params={"limit": 100}).json()["data_schedules"]:
        resp = server.put(schedule["id"], split_documented(schedule)[0])
        assert resp.status_code == 200, (schedule["dest"]["type"], resp.text)


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        # the discriminator is documented even where its branch forgets to list it
        (
            {"dest": {"type": "EmailSubscriptionDest", "recipients": ["a@example.com"]}},
            set(),
        ),
        # Slack channels are free-form objects: whatever they hold is documented
        ({"dest": {"type": "SlackDest", "slack_channels": [{"id": "C1", "anything": {"deep": 1}}]}}, set()),
        # a condition is read by the branch its operator names; `modifier` is the base's
        (
            {
                "dynamic_filter_presets": [
                    {
                        "dynamic_filter_id": 7,
                        "preset_condition": {"operator": "between", "values": [1, 2], "modifier": None, "unit": "d"},
                    }
                ]
            },
            {"dynamic_filter_presets.0.preset_condition.unit"},
        ),
        ({"dest": {"type": "EmailDest", "recipients": [], "options": {"colour": "red"}}}, {"dest.options.colour"}),
        ({"schedule": {"repeat": "0 8 * * 1", "paused": False, "timezone": "UTC"}}, {"schedule.timezone"}),
    ],
)
def test_what_counts_as_documented_follows_the_spec(server: Api, change: dict[str, Any], refused: set[str]) -> None:
    resp = server.post(new_schedule(**change))
    if refused:
        assert resp.status_code == 422 and set(resp.json()["record"]) == refused, resp.text
    else:
        assert resp.status_code == 201, resp.text


def test_strict_input_alone_and_the_plain_default(plain: Api) -> None:
    # the plain sandbox passes unknown top-level keys to its store, which drops them (as before)
    assert plain.post(new_schedule(created_at="x")).status_code == 201
    plain.sb.control.set_strict_input(True)
    resp = plain.post(new_schedule(created_at="x"))
    assert resp.status_code == 422 and set(resp.json()["record"]) == {"created_at"}
    assert extras_of(plain.schedule(4801)) == set()  # strict input does not add fields to answers


def test_a_refused_field_never_echoes_the_key() -> None:
    key = "sbx-SECRET-strict"
    with Sandbox(key=key, seed="empty", server_like=True) as sb:
        api = Api(sb)
        resp = api.post(new_schedule(**{key: 1}))
        assert resp.status_code == 422 and key not in resp.text and "[redacted]" in resp.text


# ---- a source that cannot be replaced ----


@pytest.mark.parametrize(
    "source", [{"source_id": 1240}, {"source_type": "QueryReport", "source_id": 5301}], ids=["id", "type"]
)
def test_immutable_source_refuses_a_new_source_on_put(source: dict[str, Any]) -> None:
    with Sandbox(seed="example", immutable_source=True) as sb:
        api = Api(sb)
        current = api.schedule(4801)
        body = {**current, **source, "dynamic_filter_presets": []}
        resp = api.put(4801, body)
        assert resp.status_code == 422 and resp.json()["type"] == "RecordError"
        assert set(resp.json()["record"]) == set(source)
        assert api.schedule(4801) == current
        assert api.put(4801, {**current, "title": "Same source"}).status_code == 200  # other changes go through


def test_source_changes_are_accepted_by_default(plain: Api) -> None:
    current = plain.schedule(4801)
    resp = plain.put(4801, {**current, "source_id": 1240, "dynamic_filter_presets": []})
    assert resp.status_code == 200 and resp.json()["data_schedule"]["source_id"] == 1240


# ---- the options from every side: constructor, control route, command line ----


def test_config_route_switches_the_modes(plain: Api) -> None:
    control = plain.sb.control_url
    config = requests.put(f"{control}/config", json={"server_like": True}, timeout=5).json()
    assert (config["server_like"], config["strict_input"], config["immutable_source"]) == (True, True, False)
    assert extras_of(plain.schedule(4801)) == expected_extras(plain.schedule(4801))
    config = requests.put(
        f"{control}/config", json={"server_like": True, "strict_input": False, "immutable_source": True}, timeout=5
    ).json()
    assert (config["server_like"], config["strict_input"], config["immutable_source"]) == (True, False, True)
    assert plain.put(4801, plain.schedule(4801)).status_code == 200
    refused = requests.put(f"{control}/config", json={"server_like": "yes"}, timeout=5)
    assert refused.status_code == 400 and "server_like" in refused.json()["message"]
    assert Sandbox(server_like=True, strict_input=False).control.config()["strict_input"] is False


def test_cli_flags_choose_the_modes() -> None:
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "reconciler.sandbox", "--port", "0", "--seed", "example"),
            *("--server-like", "--lenient-input", "--immutable-source"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip().rsplit(" ", 1)[-1]
        lines = [proc.stdout.readline() for _ in range(4)]  # key, control, modes, press Ctrl-C
        control = next(line for line in lines if "control:" in line).split()[-1]
        assert "  modes:   server_like, immutable_source\n" in lines
        config = requests.get(f"{control}/config", timeout=5).json()
        assert (config["server_like"], config["strict_input"], config["immutable_source"]) == (True, False, True)
        resp = requests.get(f"{base_url}/data_schedules/4801", headers={"X-Holistics-Key": "sandbox-key"}, timeout=5)
        assert "created_at" in resp.json()["data_schedule"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


# ---- late writes: the gateway answers, the server goes on ----


@pytest.mark.parametrize("answer", [{"status": 504}, {"drop": True}], ids=["504", "drop"])
def test_a_late_create_lands_after_its_failed_answer(server: Api, answer: dict[str, Any]) -> None:
    control = server.sb.control
    control.add_fault(method="POST", path="/data_schedules", when="late", delay_ms=60_000, **answer)
    before = len(control.schedules())
    if "drop" in answer:
        with pytest.raises(requests.ConnectionError):
            server.post(new_schedule(title="Late"))
    else:
        resp = server.post(new_schedule(title="Late"))
        assert resp.status_code == 504 and resp.json()["type"] == "InternalHolisticsError"
    # a client that looks again at once finds nothing
    titles = [s["title"] for s in server.call("GET", "/data_schedules", params={"limit": 100}).json()["data_schedules"]]
    assert "Late" not in titles and len(control.schedules()) == before
    assert [w["state"] for w in control.late_writes()] == ["pending"]
    assert control.wait_for_late_writes(timeout=0) is False
    assert control.release_late_writes() == 1
    assert control.wait_for_late_writes(timeout=0) is True
    (late,) = control.late_writes()
    assert (late["state"], late["status"], late["method"]) == ("done", 201, "POST")
    stored = {s["id"]: s for s in control.schedules()}
    assert len(stored) == before + 1 and stored[late["id"]]["title"] == "Late"
    posts = [r for r in control.requests() if r["method"] == "POST"]
    assert posts == [{"method": "POST", "path": "/data_schedules", "query": {}, "status": answer.get("status")}]
    assert control.release_late_writes() == 0  # carried out once


def test_a_late_write_comes_by_itself_after_its_delay(server: Api) -> None:
    control = server.sb.control
    control.add_fault(method="PUT", path="/data_schedules/4801", status=502, when="late", delay_ms=20)
    current = split_documented(server.schedule(4801))[0]
    assert server.put(4801, {**current, "title": "Late rename"}).status_code == 502
    assert control.wait_for_late_writes(timeout=10) is True  # no sleep: the write says when it landed
    assert server.schedule(4801)["title"] == "Late rename"
    assert control.late_writes()[0]["status"] == 200


def test_a_late_write_the_server_refuses_stores_nothing(server: Api) -> None:
    control = server.sb.control
    control.add_fault(method="POST", path="/data_schedules", status=504, when="late", delay_ms=0)
    assert server.post(new_schedule(source_id=9)).status_code == 504
    assert control.wait_for_late_writes(timeout=10)
    assert control.late_writes()[0]["status"] == 422 and control.late_writes()[0]["id"] is None
    assert len(control.schedules()) == 41


def test_late_writes_over_the_control_routes(server: Api) -> None:
    control = server.sb.control_url
    fault = requests.post(
        f"{control}/faults",
        json={"method": "DELETE", "path": "/data_schedules/*", "status": 504, "when": "late", "delay_ms": 60_000},
        timeout=5,
    )
    assert fault.status_code == 201 and fault.json()["fault"]["when"] == "late"
    assert server.call("DELETE", "/data_schedules/4801").status_code == 504
    assert server.call("GET", "/data_schedules/4801").status_code == 200  # not yet
    waited = requests.post(f"{control}/late_writes/wait", json={"timeout_seconds": 0}, timeout=5)
    assert waited.status_code == 408 and waited.json()["late_writes"][0]["state"] == "pending"
    released = requests.post(f"{control}/late_writes/release", timeout=5).json()
    assert released["released"] == 1 and released["late_writes"][0]["status"] == 200
    assert requests.post(f"{control}/late_writes/wait", timeout=5).status_code == 200
    assert server.call("GET", "/data_schedules/4801").status_code == 404
    assert requests.get(f"{control}/late_writes", timeout=5).json()["late_writes"][0]["state"] == "done"
    routes = requests.get(control, timeout=5).json()["routes"]
    assert {"POST /_sandbox/late_writes/release", "GET /_sandbox/late_writes"} <= set(routes)
    for bad in ({"timeout_seconds": -1}, {"timeout_seconds": "soon"}, {"timeout_seconds": 999}, {"other": 1}):
        assert requests.post(f"{control}/late_writes/wait", json=bad, timeout=5).status_code == 400, bad


def test_stopping_forgets_pending_late_writes() -> None:
    sb = Sandbox(seed="empty", server_like=True).start()
    sb.control.add_fault(method="POST", path="/data_schedules", status=504, when="late", delay_ms=60_000)
    assert Api(sb).post(new_schedule()).status_code == 504
    sb.stop()
    assert sb.control.late_writes()[0]["state"] == "cancelled" and sb.control.schedules() == []
    assert sb.control.wait_for_late_writes(timeout=0) is True


def test_a_late_fault_needs_an_answer_to_give() -> None:
    with pytest.raises(ValueError, match="late"):
        Fault(status=None, when="late", delay_ms=10)
    assert Fault(status=None, drop=True, when="late").to_dict()["when"] == "late"
    with pytest.raises(ValueError, match="before, after, late"):
        Fault(when="never")  # type: ignore[arg-type]


def test_faults_are_taken_first_registered_first_across_moments(server: Api) -> None:
    control = server.sb.control
    control.add_fault(method="POST", path="/data_schedules", status=500, when="before")
    control.add_fault(method="POST", path="/data_schedules", status=504, when="late", delay_ms=60_000)
    assert [server.post(new_schedule()).status_code for _ in range(3)] == [500, 504, 201]
    assert len(control.late_writes()) == 1


# ---- destination types from the spec ----


def test_every_destination_type_has_its_own_failure_message() -> None:
    generic = failure_message("NoSuchDest")
    assert generic == "Delivery to NoSuchDest failed"
    assert all(failure_message(dest) != generic for dest in dest_branches())


def test_server_like_state_survives_restart_with_its_stamps(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    with Sandbox(seed="empty", state_file=path, server_like=True) as sb:
        made = Api(sb).post(new_schedule()).json()["data_schedule"]
    data = json.loads(path.read_text())
    assert data["stamps"][str(made["id"])]["created_at"] == made["created_at"]
    with Sandbox(seed="empty", state_file=path, server_like=True) as sb:
        again = Api(sb).schedule(made["id"])
        assert again["created_at"] == made["created_at"] and again["updated_at"] == made["updated_at"]
    old = copy.deepcopy(data)
    del old["stamps"]  # a file from before the stamps were kept still loads
    path.write_text(json.dumps(old))
    with Sandbox(seed="empty", state_file=path, server_like=True) as sb:
        assert Api(sb).schedule(made["id"])["created_at"]
