"""The policy's checks as `audit` asks them, in one place: one delivery's rules (`policy.rules`) and
the workspace's crowded minutes (`policy.crowding`), over the workspace's items as the API gives them
(the same fields as the YAML). Exceptions are not applied here: the audit applies them to managed
keys and lists them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.policy import crowding, rules
from reconciler.policy.model import Policy, Violation
from reconciler.usecases.spread import REPEAT, RULE, delivery_of

Item = tuple[str, Mapping[str, Any]]  # (kind, the item as the API gives it)
DeliveryId = tuple[str, int]  # (kind, id)


def delivery_violations(kind: str, item: Mapping[str, Any], policy: Policy, timezone: str) -> list[Violation]:
    """Every rule but `max_same_minute` over one delivery."""
    if policy.empty:
        return []
    return rules.violations(kind, item, policy, timezone=timezone)


def _starting(items: Sequence[Item]) -> list[crowding.Delivery]:
    """Every item with a cron, as the crowding rule counts it (paused ones start never)."""
    return [d for kind, item in items if (d := delivery_of(kind, item)) is not None]


def crowding_violations(items: Sequence[Item], policy: Policy, timezone: str) -> dict[DeliveryId, list[Violation]]:
    """`max_same_minute` over the whole workspace, by (kind, id): each delivery that starts in a
    minute more than that many deliveries start in."""
    limit = policy.max_same_minute
    if limit is None:
        return {}
    deliveries = _starting(items)
    found: dict[DeliveryId, list[Violation]] = {}
    for index, crowd in crowding.crowds(deliveries, timezone, limit).items():
        delivery = deliveries[index]
        if crowd.others + 1 <= limit or delivery.id is None:
            continue
        message = f"{crowd.sentence} ({RULE}: {limit})"
        found[(delivery.kind, delivery.id)] = [Violation(RULE, REPEAT, delivery.cron, message)]
    return found


def week_hours(items: Sequence[Item], timezone: str) -> tuple[tuple[int, ...], ...]:
    """7 x 24: how many deliveries (not paused) start in each hour of each weekday, over the year the
    crowding rule judges (so a monthly cron counts on the weekdays it really falls on)."""
    return tuple(tuple(row) for row in crowding.week_hours(_starting(items), timezone))
