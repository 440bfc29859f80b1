"""`run` by id (`running.by_id`): the kind whose item has the id in the workspace; an id that a schedule
and an alert both have is refused naming both (ids are only unique within a kind); `--kind` decides."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest

from reconciler.errors import CommandFailed
from reconciler.kinds import Kind
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import HolisticsClient, NotFound
from reconciler.usecases.running import by_id


class Workspace:
    def __init__(self, **items: dict[int, dict[str, Any]]) -> None:
        self.items = {SCHEDULES.path: items.get("schedules", {}), ALERTS.path: items.get("alerts", {})}
        self.gets: list[str] = []

    def get(self, kind: Kind, item_id: int) -> dict[str, Any]:
        self.gets.append(f"{kind.path}/{item_id}")
        try:
            return self.items[kind.path][item_id]
        except KeyError:
            raise NotFound(
                "not found", status=404, error_type="RecordError", api_message="", method="GET", path=kind.path
            ) from None

    def connect(self) -> Any:
        @contextmanager
        def connected() -> Iterator[HolisticsClient]:
            yield cast(HolisticsClient, self)

        return connected


def test_an_id_only_an_alert_has_runs_the_alert() -> None:
    ws = Workspace(alerts={7: {"id": 7, "title": "Revenue drop"}})
    found = by_id(ws.connect(), 7, None)
    assert (found.kind, found.id, found.named) == (ALERTS, 7, "by id")


def test_an_id_only_a_schedule_has_runs_the_schedule() -> None:
    ws = Workspace(schedules={7: {"id": 7}})
    assert by_id(ws.connect(), 7, None).kind is SCHEDULES


def test_an_id_both_kinds_have_is_refused_naming_both() -> None:
    ws = Workspace(schedules={7: {"id": 7, "title": "Weekly\x1b[31m sales"}}, alerts={7: {"id": 7, "title": "Drop"}})
    with pytest.raises(CommandFailed) as refused:
        by_id(ws.connect(), 7, None)
    message = str(refused.value)
    assert "schedule 7" in message and 'alert 7 "Drop"' in message
    assert "--kind schedules or --kind alerts" in message and "by its YAML key" in message
    assert "\x1b" not in message, "the workspace's titles are inert"


def test_an_id_no_kind_has_is_an_error_before_any_submit() -> None:
    with pytest.raises(CommandFailed, match="no schedule or alert with id 7"):
        by_id(Workspace().connect(), 7, None)


def test_the_kind_given_decides_without_asking_the_workspace() -> None:
    ws = Workspace(schedules={7: {"id": 7}}, alerts={7: {"id": 7}})
    assert by_id(ws.connect(), 7, ALERTS).kind is ALERTS and ws.gets == []
