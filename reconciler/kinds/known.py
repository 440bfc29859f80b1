"""Every kind the tool manages, in the order plans show them and apply makes them."""

from __future__ import annotations

from reconciler.kinds import Kind
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.schedules import SCHEDULES

KINDS: tuple[Kind, ...] = (SCHEDULES, ALERTS)
BY_YAML_KEY: dict[str, Kind] = {kind.yaml_key: kind for kind in KINDS}


def kind_named(yaml_key: str) -> Kind:
    """The kind whose YAML key is `yaml_key` (`schedules`, `alerts`)."""
    return BY_YAML_KEY[yaml_key]
