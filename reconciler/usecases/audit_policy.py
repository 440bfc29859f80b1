"""The policy's checks as `audit` asks them, in one place: one delivery's rules (`policy.rules`) and
the workspace's crowded minutes (`policy.crowding`), over the workspace's items as the API gives them
(the same fields as the YAML)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.policy import rules
from reconciler.policy.model import Policy, Violation

Item = tuple[str, Mapping[str, Any]]  # (kind, the item as the API gives it)
DeliveryId = tuple[str, int]  # (kind, id)


def _policy_module(name: str) -> Any:
    """`reconciler.policy.NAME`, or None while it is not there yet."""
    try:
        return importlib.import_module(f"reconciler.policy.{name}")
    except ModuleNotFoundError:
        return None


def delivery_violations(kind: str, item: Mapping[str, Any], policy: Policy, timezone: str) -> list[Violation]:
    """Every rule but `max_same_minute` over one delivery; exceptions not applied."""
    if policy.empty:
        return []
    return rules.violations(kind, item, policy, timezone=timezone)


def _starting(items: Sequence[Item], keys: Mapping[DeliveryId, str | None], crowding: Any) -> list[Any]:
    """Each item with a cron, as `crowding.Delivery`."""
    out = []
    for kind, item in items:
        schedule = item.get("schedule") if isinstance(item.get("schedule"), Mapping) else None
        cron = schedule.get("repeat") if schedule is not None else None
        if isinstance(cron, str) and cron:
            key = keys.get((kind, int(item["id"])))
            paused = schedule is not None and schedule.get("paused") is True
            out.append(crowding.Delivery(kind, int(item["id"]), key, cron, paused))
    return out


def crowding_violations(
    items: Sequence[Item], keys: Mapping[DeliveryId, str | None], policy: Policy, timezone: str
) -> dict[DeliveryId, list[Violation]]:
    """`max_same_minute` over the whole workspace: each delivery starting in a minute that more than
    that many start in, by (kind, id); exceptions not applied."""
    crowding = _policy_module("crowding")
    limit = policy.max_same_minute
    if limit is None or crowding is None:
        return {}
    deliveries = _starting(items, keys, crowding)
    found: dict[DeliveryId, list[Violation]] = {}
    for index, crowd in crowding.crowds(deliveries, timezone, limit).items():
        if crowd.others + 1 <= limit:
            continue
        delivery = deliveries[index]
        message = f"{crowd.sentence}: at most {limit} deliveries may start in the same minute"
        violation = Violation("max_same_minute", "schedule.repeat", delivery.cron, message)
        found[(delivery.kind, delivery.id)] = [violation]
    return found


def week_hours(items: Sequence[Item], timezone: str) -> tuple[tuple[int, ...], ...] | None:
    """7 x 24: how many deliveries (not paused) start in each hour of each weekday, over the year the
    crowding rule judges; None while `policy.crowding` is not there."""
    crowding = _policy_module("crowding")
    if crowding is None:
        return None
    grid = crowding.week_hours(_starting(items, {}, crowding), timezone)
    return tuple(tuple(row) for row in grid)
