"""Data schedules as a `Kind`: everything the pipeline knows only of schedules, in one place.

The facts plan, apply, import, config and the sandbox must agree on are each written once here: what
the server assigns, how schedules are bucketed for matching, the source key, what the YAML can
declare. The YAML format itself, as pydantic models, is `kinds.schedules.models`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reconciler.kinds import Bucket, Kind, SourceKey, bucket_part, is_mapping

if TYPE_CHECKING:
    from pydantic import BaseModel

SOURCE_FIELDS = ("source_type", "source_id")  # Holistics cannot change a schedule's source in place

SERVER_ASSIGNED_TOP = frozenset({"id"})
READ_ONLY_SCHEDULE = frozenset({"is_archived"})  # inside `schedule`
SERVER_ASSIGNED_PRESET = frozenset({"id"})  # inside each of `dynamic_filter_presets`


def without_server_fields(schedule: Mapping[str, Any], *, keep_id: bool = False) -> dict[str, Any]:
    """A shallow copy of `schedule` less the fields the server assigns (ids, is_archived, preset ids);
    `keep_id` keeps the schedule's own id (import writes it into the YAML)."""
    dropped = frozenset() if keep_id else SERVER_ASSIGNED_TOP
    out = {k: v for k, v in schedule.items() if k not in dropped}
    if is_mapping(out.get("schedule")):
        out["schedule"] = {k: v for k, v in out["schedule"].items() if k not in READ_ONLY_SCHEDULE}
    if isinstance(out.get("dynamic_filter_presets"), list):
        out["dynamic_filter_presets"] = [
            {k: v for k, v in p.items() if k not in SERVER_ASSIGNED_PRESET} if is_mapping(p) else p
            for p in out["dynamic_filter_presets"]
        ]
    return out


def bucket(schedule: Mapping[str, Any]) -> Bucket:
    """(source type, source id, dest type): entries are only ever matched to remote schedules of their
    own bucket, and apply runs the creates of one bucket one after another; both use this."""
    dest = schedule.get("dest")
    return (
        bucket_part(schedule.get("source_type")),
        bucket_part(schedule.get("source_id")),
        bucket_part(dest.get("type")) if isinstance(dest, Mapping) else None,
    )


def source_key(fields: Mapping[str, Any]) -> SourceKey | None:
    """The dashboard or report a schedule delivers, or None when the fields do not name one."""
    try:
        return str(fields["source_type"]), int(fields["source_id"])
    except (KeyError, TypeError, ValueError):
        return None


# as the models declare them (`kinds.schedules.models`), which are imported only to validate YAML
SOURCE_TYPES: tuple[str, ...] = ("Dashboard", "QueryReport")
DEST_TYPES: tuple[str, ...] = ("EmailDest", "EmailSubscriptionDest", "SftpDest", "SlackDest", "GsheetDest")


def _model() -> type[BaseModel]:
    from reconciler.kinds.schedules.models import DataScheduleSpec

    return DataScheduleSpec


SCHEDULES = Kind(
    yaml_key="schedules",
    noun="schedule",
    path="/data_schedules",
    wrapper="data_schedule",
    list_key="data_schedules",
    schema="DataSchedule",
    load_model=_model,
    source_types=SOURCE_TYPES,
    dest_types=DEST_TYPES,
    immutable=SOURCE_FIELDS,
    listing_sorts=True,
    listing_counts=True,
    without_server_fields=without_server_fields,
    bucket=bucket,
    source_key=source_key,
)
