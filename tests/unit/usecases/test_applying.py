"""`applying.apply` over a workspace plan of schedules and alerts, against an in-memory workspace that
answers as the spec says the two listings do: each kind's calls go to its own path, the no-duplicate
guarantee (adoption of one made since the plan, after a 504, a dropped connection, a late write) holds
for alerts, whose listing has no `sort`, no `total_count` and a `dest_type` filter that knows only
Email and Slack. Ids are per kind: an alert and a schedule may both be 7.
"""

from __future__ import annotations

import copy
import itertools
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import pytest

from reconciler.core.model import Action, Change, Match, Plan, WorkspacePlan
from reconciler.errors import CommandFailed
from reconciler.kinds import Kind
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.alerts.models import DataAlertSpec
from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import HolisticsClient, InvalidParameters, OutcomeUnknown
from reconciler.usecases.applying import Report, apply, parts_of

WEBHOOK = {"type": "WebhookDest", "endpoint": "https://events.example.com/hook"}
SLACK = {"type": "SlackDest", "title": "Revenue", "slack_channels": [{"id": "C1", "name": "ops"}]}


def alert_body(title: str, *, source_id: int | str = "vb-42", dest: Mapping[str, Any] = WEBHOOK) -> dict[str, Any]:
    """An alert as the YAML gives it to a plan (`api_fields`)."""
    source_type = "VizBlock" if isinstance(source_id, str) else "DashboardWidget"
    return DataAlertSpec.model_validate(
        {
            "title": title,
            "source_type": source_type,
            "source_id": source_id,
            "schedule": {"repeat": "0 * * * *"},
            "viz_conditions": [{"field_path": {"field_name": "revenue", "is_metric": True}, "condition": _below(1000)}],
            "dest": dict(dest),
        }
    ).api_fields()


def _below(value: int) -> dict[str, Any]:
    return {"operator": "less_than", "values": [value]}


def schedule_body(title: str) -> dict[str, Any]:
    return {
        "title": title,
        "source_type": "Dashboard",
        "source_id": 10,
        "schedule": {"repeat": "0 8 * * *", "paused": False},
        "dest": {"type": "EmailDest", "recipients": ["a@example.com"], "options": {}},
    }


class Workspace:
    """The two collections, ids counted per kind (so an alert and a schedule can share one), and the
    faults a test sets: `lost` creates (stored, answer lost: a 504 or a dropped connection), `late`
    ones (answer lost, stored only after `late_after` listings more), `dropped` ones (lost, never stored)."""

    def __init__(self) -> None:
        self.items: dict[str, dict[int, dict[str, Any]]] = {"/data_schedules": {}, "/data_alerts": {}}
        self.next_id = {path: itertools.count(100) for path in self.items}
        self.calls: list[tuple[str, str, Any]] = []
        self.lost: dict[str, int] = {}  # path -> creates whose answer is lost after storing
        self.dropped: dict[str, int] = {}
        self.late: list[tuple[str, dict[str, Any], int]] = []  # (path, item, listings to wait)
        self.late_after = 0
        self.lock = threading.Lock()

    def seed(self, kind: Kind, body: Mapping[str, Any], *, item_id: int | None = None) -> int:
        new_id = item_id if item_id is not None else next(self.next_id[kind.path])
        self.items[kind.path][new_id] = self._stored(kind, body, new_id)
        return new_id

    @staticmethod
    def _stored(kind: Kind, body: Mapping[str, Any], new_id: int) -> dict[str, Any]:
        """What the server keeps: the body, its id, and the ids it assigns to conditions and presets."""
        item = {**copy.deepcopy(dict(body)), "id": new_id}
        for n, part in enumerate(item.get("viz_conditions") or []):
            part["id"] = 900 + n
        return item

    # -- the client's endpoints, as applying uses them

    def list(self, kind: Kind, **filters: Any) -> Iterator[dict[str, Any]]:
        with self.lock:
            self.calls.append(("LIST", kind.path, dict(filters)))
            if kind is ALERTS:
                assert "sort" not in filters, "the alert listing has no sort"
                if filters.get("dest_type") not in (None, "EmailDest", "SlackDest"):
                    raise InvalidParameters(
                        "bad dest_type", status=400, error_type="", api_message="", method="GET", path=kind.path
                    )
            self._land_late(kind)
            found = [
                copy.deepcopy(item)
                for item in self.items[kind.path].values()
                if all(str(item.get(name)) == str(value) for name, value in filters.items())  # a query string
            ]
        yield from found

    def _land_late(self, kind: Kind) -> None:
        waiting = []
        for path, item, listings in self.late:
            if path != kind.path:
                waiting.append((path, item, listings))
            elif listings <= 0:
                self.items[path][item["id"]] = item
            else:
                waiting.append((path, item, listings - 1))
        self.late = waiting

    def create(self, kind: Kind, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("POST", kind.path, dict(body)))
            if self.dropped.get(kind.path, 0) > 0:
                self.dropped[kind.path] -= 1
                raise OutcomeUnknown("connection dropped", method="POST", path=kind.path)
            new_id = next(self.next_id[kind.path])
            item = self._stored(kind, body, new_id)
            if self.late_after and self.lost.get(kind.path, 0) > 0:
                self.lost[kind.path] -= 1
                self.late.append((kind.path, item, self.late_after))
                raise OutcomeUnknown("timed out", method="POST", path=kind.path)
            self.items[kind.path][new_id] = item
            if self.lost.get(kind.path, 0) > 0:
                self.lost[kind.path] -= 1
                raise OutcomeUnknown("504 Gateway Timeout", method="POST", path=kind.path, status=504)
            return copy.deepcopy(item)

    def update(self, kind: Kind, item_id: int, body: Mapping[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.calls.append(("PUT", f"{kind.path}/{item_id}", dict(body)))
            self.items[kind.path][item_id] = self._stored(kind, body, item_id)
            return copy.deepcopy(self.items[kind.path][item_id])

    def delete(self, kind: Kind, item_id: int) -> None:
        with self.lock:
            self.calls.append(("DELETE", f"{kind.path}/{item_id}", None))
            del self.items[kind.path][item_id]

    # -- what tests look at

    def posts(self, path: str) -> int:
        return sum(1 for method, where, _ in self.calls if method == "POST" and where == path)

    def titles(self, kind: Kind) -> list[str]:
        return sorted(str(item.get("title")) for item in self.items[kind.path].values())

    def client(self) -> HolisticsClient:
        return cast(HolisticsClient, self)


def create(key: str, body: Mapping[str, Any], kind: Kind, line: int = 2) -> Change:
    return Change(Action.CREATE, key, None, (), body, file=None, line=line, kind=kind.yaml_key)


def part(
    kind: Kind, *changes: Change, remote_ids: frozenset[int] = frozenset(), matches: tuple[Match, ...] = ()
) -> Plan:
    return Plan(changes, matches, (), remote_ids=remote_ids, kind=kind.yaml_key)


def run(plan: WorkspacePlan, ws: Workspace, **options: Any) -> Report:
    return apply(plan, ws.client(), settle_waits=(0.0, 0.0, 0.0), **options)


# ---- each kind's calls at its own path ----------------------------------------------------------------


def test_each_kinds_changes_go_to_its_own_path_with_its_ids() -> None:
    ws = Workspace()
    schedule_id = ws.seed(SCHEDULES, schedule_body("s"), item_id=7)
    alert_id = ws.seed(ALERTS, alert_body("old"), item_id=7)  # the same id, another kind
    gone = ws.seed(ALERTS, alert_body("gone"), item_id=8)
    plan = WorkspacePlan(
        (
            part(SCHEDULES, Change(Action.UPDATE, "s", schedule_id, (), schedule_body("s2"))),
            part(
                ALERTS,
                Change(Action.UPDATE, "a", alert_id, (), alert_body("new"), kind="alerts"),
                Change(Action.DELETE, None, gone, (), kind="alerts"),
                create("fresh", alert_body("fresh"), ALERTS),
            ),
        )
    )
    report = run(plan, ws)
    assert report.ok, [r.message for r in report.failed]
    writes = sorted((m, p) for m, p, _ in ws.calls if m != "LIST")
    assert writes == [
        ("DELETE", "/data_alerts/8"),
        ("POST", "/data_alerts"),
        ("PUT", "/data_alerts/7"),
        ("PUT", "/data_schedules/7"),
    ]
    assert ws.titles(ALERTS) == ["fresh", "new"] and ws.titles(SCHEDULES) == ["s2"]
    assert {r.change.key: r.kind for r in report.results} == {
        "s": "schedules",
        "a": "alerts",
        None: "alerts",
        "fresh": "alerts",
    }
    assert {r.noun for r in report.results} == {"schedule", "alert"}


def test_a_bare_plan_is_the_workspace_plan_of_its_kind() -> None:
    plan = part(ALERTS)
    assert parts_of(plan) == (plan,)
    assert parts_of(WorkspacePlan((plan,))) == (plan,)


def test_a_kind_this_version_does_not_know_is_refused_before_any_request() -> None:
    ws = Workspace()
    odd = Plan((Change(Action.CREATE, "x", None, (), {"title": "x"}, kind="dashboards"),), (), (), kind="dashboards")
    with pytest.raises(CommandFailed, match="dashboards"):
        run(WorkspacePlan((odd,)), ws)
    assert ws.calls == []


# ---- no duplicate alert after a create whose answer is lost -------------------------------------------


@pytest.mark.parametrize("source_id", ["vb-42", 42])
@pytest.mark.parametrize("dest", [WEBHOOK, SLACK], ids=["webhook", "slack"])
def test_a_504_on_an_alert_create_is_confirmed_by_listing_not_sent_again(source_id: int | str, dest: Any) -> None:
    ws = Workspace()
    ws.lost["/data_alerts"] = 1
    report = run(
        WorkspacePlan((part(ALERTS, create("drop", alert_body("drop", source_id=source_id, dest=dest), ALERTS)),)), ws
    )
    assert report.ok, [r.message for r in report.failed]
    assert ws.posts("/data_alerts") == 1 and ws.titles(ALERTS) == ["drop"]
    assert "confirmed by listing again" in report.results[0].message
    lists = [filters for method, path, filters in ws.calls if method == "LIST" and path == "/data_alerts"]
    # looked for by source: never by dest_type (a webhook alert would not be found), the id as written
    assert lists and all(f == {"source_type": f["source_type"], "source_id": source_id} for f in lists)


def test_a_dropped_connection_is_reported_not_sent_again_and_the_next_run_creates_it() -> None:
    ws = Workspace()
    ws.dropped["/data_alerts"] = 1
    plan = WorkspacePlan((part(ALERTS, create("drop", alert_body("drop"), ALERTS)),))
    report = run(plan, ws)
    assert not report.ok and ws.posts("/data_alerts") == 1 and ws.titles(ALERTS) == []
    assert "it adopts the alert if it appears" in report.results[0].message
    assert run(plan, ws).ok and ws.titles(ALERTS) == ["drop"]


def test_a_late_write_is_adopted_by_the_next_run_not_created_twice() -> None:
    ws = Workspace()
    ws.lost["/data_alerts"] = 1
    ws.late_after = 10  # lands after this run stopped looking for it
    plan = WorkspacePlan((part(ALERTS, create("late", alert_body("late"), ALERTS)),))
    assert not run(plan, ws).ok
    ws.late = [(path, item, 0) for path, item, _ in ws.late]  # it has landed now
    again = run(plan, ws)  # the same plan applied again (a saved plan, a re-run job)
    assert again.ok and "adopted, not created again" in again.results[0].message
    assert ws.posts("/data_alerts") == 1 and ws.titles(ALERTS) == ["late"]


def test_an_alert_id_equal_to_a_schedule_id_read_at_plan_time_can_still_be_adopted() -> None:
    """Ids are per kind: schedule 7 existing at plan time says nothing of alert 7."""
    ws = Workspace()
    ws.seed(SCHEDULES, schedule_body("s"), item_id=7)
    made = ws.seed(ALERTS, alert_body("a"), item_id=7)  # made since the plan (an earlier run of it)
    plan = WorkspacePlan(
        (part(SCHEDULES, remote_ids=frozenset({7})), part(ALERTS, create("a", alert_body("a"), ALERTS)))
    )
    report = run(plan, ws)
    assert report.ok and report.results[0].id == made and ws.posts("/data_alerts") == 0


def test_an_alert_that_existed_at_plan_time_is_never_adopted() -> None:
    ws = Workspace()
    existing = ws.seed(ALERTS, alert_body("a"))
    plan = WorkspacePlan((part(ALERTS, create("a", alert_body("a"), ALERTS), remote_ids=frozenset({existing})),))
    report = run(plan, ws)
    assert report.ok and report.results[0].id != existing and ws.posts("/data_alerts") == 1


def test_a_string_source_id_is_not_the_integer_one() -> None:
    """Adoption compares as the plan does: an alert on widget 42 is not one on viz block "42"."""
    ws = Workspace()
    ws.seed(ALERTS, {**alert_body("a", source_id=42), "source_type": "VizBlock"})
    report = run(WorkspacePlan((part(ALERTS, create("a", alert_body("a", source_id="42"), ALERTS)),)), ws)
    assert report.ok and ws.posts("/data_alerts") == 1
    assert [type(i["source_id"]) for i in ws.items["/data_alerts"].values()] == [int, str]


def test_identical_alert_creates_in_one_bucket_after_lost_answers_never_take_each_others() -> None:
    ws = Workspace()
    ws.lost["/data_alerts"] = 2
    plan = WorkspacePlan(
        (part(ALERTS, create("one", alert_body("same"), ALERTS), create("two", alert_body("same"), ALERTS)),)
    )
    report = run(plan, ws, parallelism=4)
    assert report.ok, [r.message for r in report.failed]
    assert len({r.id for r in report.results}) == 2 and ws.posts("/data_alerts") == 2


# ---- ids written back, each into its entry ------------------------------------------------------------


def test_ids_are_recorded_by_key_with_the_kind_known(tmp_path: Path) -> None:
    ws = Workspace()
    path = tmp_path / "team.yml"
    path.write_text("schedules:\n  s:\n    title: s\n")
    plan = WorkspacePlan(
        (
            part(SCHEDULES, Change(Action.CREATE, "s", None, (), schedule_body("s"), file=str(path), line=2)),
            part(ALERTS, matches=(Match("a", 7, str(path), recorded=True),)),
        )
    )
    report = run(plan, ws, schedule_files=[path])
    assert report.recorded == {str(path): {"s": 100}} and "id: 100" in path.read_text()
    assert report.kind_of("s") == "schedules" and report.kind_of("a") == "alerts"
