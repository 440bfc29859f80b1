"""A uname that now names another dashboard (renamed and republished in AML) plans a replacement
whose reason says so; an id-only entry's replacement reads as before."""

from __future__ import annotations

from typing import Any

from reconciler.core.build import plan
from reconciler.core.model import Action
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.schedules import SCHEDULES

REMOTE: dict[str, Any] = {
    "id": 4801,
    "title": "Weekly",
    "source_type": "Dashboard",
    "source_id": 1234,
    "schedule": {"repeat": "0 8 * * 1", "paused": False},
    "dynamic_filter_presets": [],
    "dest": {"type": "EmailDest", "recipients": ["a@example.com"]},
}


def _entry(names: dict[str, str]) -> DesiredEntry:
    fields = {k: v for k, v in REMOTE.items() if k != "id"} | {"source_id": 1299}
    return DesiredEntry("weekly", 4801, fields, "main.yml", 2, names=names)


def test_a_moved_uname_says_why_the_schedule_is_replaced() -> None:
    [change] = plan([_entry({"source_id": "sales_performance"})], [REMOTE], kind=SCHEDULES).changes
    assert change.action is Action.REPLACE
    assert change.reason == (
        "dashboard sales_performance now names dashboard 1299 (it was 1234: renamed and republished in AML?); "
        "a schedule's source cannot change in place: it must be replaced"
    )


def test_an_id_only_replacement_reads_as_before() -> None:
    [change] = plan([_entry({})], [REMOTE], kind=SCHEDULES).changes
    assert change.reason == "the source of a schedule cannot be changed in place: it must be replaced"
