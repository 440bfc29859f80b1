"""Data alerts as a `Kind`: everything the pipeline knows only of alerts, in one place.

An alert is a delivery that fires on a condition (`viz_conditions`) checked on a schedule. What sets
it apart from a schedule, for the pipeline: its source is a widget or a viz block (`source_id` an
integer or a string, kept as written), the server assigns each condition an id as it does each preset,
and its listing neither sorts nor counts (one forward walk).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.kinds import Bucket, Kind, SourceKey, bucket_part, is_mapping

if TYPE_CHECKING:
    from pydantic import BaseModel

# as the models declare them (`kinds.alerts.models`), which are imported only to validate YAML
SOURCE_TYPES: tuple[str, ...] = ("DashboardWidget", "VizBlock")
DEST_TYPES: tuple[str, ...] = ("EmailDest", "SlackDest", "WebhookDest")


def _model() -> type[BaseModel]:
    from reconciler.kinds.alerts.models import DataAlertSpec

    return DataAlertSpec


SERVER_ASSIGNED_TOP = frozenset({"id"})
READ_ONLY_SCHEDULE = frozenset({"is_archived"})  # inside `schedule`
SERVER_ASSIGNED_IN_LISTS = {"dynamic_filter_presets": frozenset({"id"}), "viz_conditions": frozenset({"id"})}


def without_server_fields(alert: Mapping[str, Any], *, keep_id: bool = False) -> dict[str, Any]:
    """A shallow copy of `alert` less what the server assigns (its id, preset and condition ids,
    `is_archived`); `keep_id` keeps the alert's own id (import writes it into the YAML)."""
    dropped = frozenset() if keep_id else SERVER_ASSIGNED_TOP
    out = {k: v for k, v in alert.items() if k not in dropped}
    if is_mapping(out.get("schedule")):
        out["schedule"] = {k: v for k, v in out["schedule"].items() if k not in READ_ONLY_SCHEDULE}
    for name, assigned in SERVER_ASSIGNED_IN_LISTS.items():
        if isinstance(out.get(name), list):
            out[name] = [
                {k: v for k, v in part.items() if k not in assigned} if is_mapping(part) else part for part in out[name]
            ]
    return out


def bucket(alert: Mapping[str, Any]) -> Bucket:
    """(source type, source id, dest type), the source id as sent: `42` and `"42"` are two sources."""
    dest = alert.get("dest")
    source_id = alert.get("source_id")
    return (
        bucket_part(alert.get("source_type")),
        (type(source_id).__name__, bucket_part(source_id)),
        bucket_part(dest.get("type")) if isinstance(dest, Mapping) else None,
    )


def source_key(fields: Mapping[str, Any]) -> SourceKey | None:
    """None: a widget or viz block has no title or existence check of its own in the API (a widget is
    read through its dashboard, which the alert does not name)."""
    return None


ALERTS = Kind(
    yaml_key="alerts",
    noun="alert",
    path="/data_alerts",
    wrapper="data_alert",
    list_key="data_alerts",
    schema="DataAlert",
    load_model=_model,
    source_types=SOURCE_TYPES,
    dest_types=DEST_TYPES,
    immutable=("source_type", "source_id"),
    listing_sorts=False,
    listing_counts=False,
    without_server_fields=without_server_fields,
    bucket=bucket,
    source_key=source_key,
)
