"""One kind's records in the sandbox's workspace (data schedules, data alerts): what differs by kind.

Why a module of its own: the workspace (`state.State`) keeps every kind alike (by id, with stamps, a
snapshot for listings, its own id sequence: a schedule and an alert may have the same id, as they do
in a real workspace, where they are separate tables). What a kind adds is said once here: how the
server stores one (`records`), which spec checks it runs (`validation`), what a job runs, and where
the state file keeps it. The kind's API facts (path, wrapper, schema) are `reconciler.kinds`'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.kinds import Kind
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.known import KINDS
from reconciler.kinds.schedules import SCHEDULES
from reconciler.sandbox.records import server_time, stored_alert, stored_form
from reconciler.sandbox.validation import validate_data_alert, validate_data_schedule

Stamps = dict[str, str | None]
IdFor = Callable[[Any], int]  # the id a part gets, given the id it was sent with (if any)


@dataclass(frozen=True)
class PartIds:
    """Who gives the ids of a record's parts: presets, and (alerts) viz conditions."""

    preset: IdFor
    condition: IdFor


def _stored_schedule(body: Mapping[str, Any], ident: int, ids: PartIds, archived: bool) -> dict[str, Any]:
    return stored_form(body, schedule_id=ident, preset_id=ids.preset, is_archived=archived)


def _stored_alert(body: Mapping[str, Any], ident: int, ids: PartIds, archived: bool) -> dict[str, Any]:
    return stored_alert(body, alert_id=ident, preset_id=ids.preset, condition_id=ids.condition, is_archived=archived)


@dataclass(frozen=True)
class Rules:
    """What the sandbox does differently for one kind."""

    kind: Kind
    counter: str  # its id sequence, as the state file's `next_ids` names it
    stamps_key: str  # where the state file keeps its stamps
    stored: Callable[[Mapping[str, Any], int, PartIds, bool], dict[str, Any]]
    check: Callable[[Any], dict[str, list[str]]]  # the spec's checks of a request body
    # whether the workspace checks its source (a dashboard or report the sandbox has); the sandbox
    # knows no viz blocks, and widgets only as dashboards list them, so an alert's source is not checked
    checks_source: bool

    @property
    def source_type(self) -> str:
        """What a job says it runs: `DataSchedule`, `DataAlert` (the spec's schema name)."""
        return self.kind.schema


RULES: dict[str, Rules] = {
    SCHEDULES.yaml_key: Rules(SCHEDULES, "data_schedule", "stamps", _stored_schedule, validate_data_schedule, True),
    ALERTS.yaml_key: Rules(ALERTS, "data_alert", "alert_stamps", _stored_alert, validate_data_alert, False),
}
assert set(RULES) == {kind.yaml_key for kind in KINDS}, "the sandbox serves every kind the tool manages"


def fresh_stamps() -> Stamps:
    now = server_time()
    return {"created_at": now, "updated_at": now, "last_run_at": None}


@dataclass
class Store:
    """One kind's records by id, and per record when it was made, changed and last run (what a
    server-like sandbox shows beside the spec's fields; kept in any mode, so switching modes shows
    true times). Not locked: `state.State` holds its lock around every use."""

    rules: Rules
    records: dict[int, dict[str, Any]] = field(default_factory=dict)
    stamps: dict[int, Stamps] = field(default_factory=dict)
    _snapshot: list[dict[str, Any]] | None = None  # sorted by id; dropped on every write

    def snapshot(self) -> list[dict[str, Any]]:
        if self._snapshot is None:
            self._snapshot = [self.records[i] for i in sorted(self.records)]
        return self._snapshot

    def changed(self) -> None:
        self._snapshot = None

    def stamp(self, ident: int, **changes: str | None) -> None:
        self.stamps[ident] = {**self.stamps.get(ident, fresh_stamps()), **changes}

    def load(self, data: Mapping[str, Any]) -> None:
        self.records = {int(r["id"]): r for r in data.get(self.rules.kind.list_key, [])}
        # files written before the stamps (or alerts) were kept have none: they start now
        stamps = {int(k): v for k, v in data.get(self.rules.stamps_key, {}).items()}
        self.stamps = {i: stamps.get(i) or fresh_stamps() for i in self.records}
        self.changed()

    def saved(self) -> dict[str, Any]:
        return {
            self.rules.kind.list_key: [self.records[i] for i in sorted(self.records)],
            self.rules.stamps_key: {str(i): self.stamps[i] for i in sorted(self.stamps)},
        }
