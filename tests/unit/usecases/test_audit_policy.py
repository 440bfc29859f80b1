"""The policy's checks as the audit asks them: one delivery's rules, and `max_same_minute` over the
whole workspace (paused deliveries start never; at the limit is allowed, over it is not)."""

from __future__ import annotations

from typing import Any

from reconciler.policy.model import Policy
from reconciler.usecases.audit_policy import crowding_violations, delivery_violations, week_hours


def _item(ident: int, cron: str, paused: bool = False) -> tuple[str, dict[str, Any]]:
    return ("schedules", {"id": ident, "schedule": {"repeat": cron, "paused": paused}, "dest": {"type": "EmailDest"}})


def test_over_the_limit_each_delivery_at_that_minute_breaks_it() -> None:
    items = [_item(1, "0 6 * * *"), _item(2, "0 6 * * *"), _item(3, "0 6 * * *"), _item(4, "0 7 * * *")]
    found = crowding_violations(items, Policy(max_same_minute=2), "UTC")
    assert sorted(found) == [("schedules", 1), ("schedules", 2), ("schedules", 3)]
    [violation] = found[("schedules", 1)]
    assert (violation.rule, violation.path, violation.value) == ("max_same_minute", "schedule.repeat", "0 6 * * *")
    assert "06:00" in violation.message


def test_at_the_limit_or_with_a_paused_one_nothing_breaks() -> None:
    items = [_item(1, "0 6 * * *"), _item(2, "0 6 * * *"), _item(3, "0 6 * * *", paused=True)]
    assert crowding_violations(items, Policy(max_same_minute=2), "UTC") == {}
    assert crowding_violations([*items, _item(4, "0 6 * * *")], Policy(), "UTC") == {}


def test_one_deliverys_rules_only_when_a_policy_is_set() -> None:
    kind, item = _item(1, "*/5 * * * *")
    assert delivery_violations(kind, item, Policy(), "UTC") == []
    [found] = delivery_violations(kind, item, Policy(min_interval_minutes=60), "UTC")
    assert found.rule == "min_interval_minutes"


def test_the_week_grid_leaves_paused_deliveries_out() -> None:
    grid = week_hours([_item(1, "30 9 * * 1-5"), _item(2, "0 9 * * *", paused=True)], "UTC")
    assert [row[9] for row in grid] == [1, 1, 1, 1, 1, 0, 0]
    assert sum(map(sum, grid)) == 5
