"""The sandbox's workspace: data schedules and alerts, the dashboards and reports they point at, and
its jobs.

All access goes through one lock, so the threaded server sees consistent state. With a `state_file`
the whole workspace is written after every change (see `statefile`) and read back at start, so it
survives restarts. Each kind's records are a `store.Store` (its own ids: a schedule and an alert may
share one); how a record is stored is `records`'; how jobs move on, `jobs`'. A method that takes a
`kind` defaults to schedules, the kind the sandbox served first.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler.kinds import Kind
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.schedules import SCHEDULES
from reconciler.sandbox import dashboards as aml
from reconciler.sandbox.jobs import FIRST_JOB_ID, Jobs
from reconciler.sandbox.records import (
    NoSuchRecord,
    RecordRefused,
    missing_at_field,
    server_time,
    without_read_only,
)
from reconciler.sandbox.seed import Workspace
from reconciler.sandbox.statefile import read_state_file, write_state_file
from reconciler.sandbox.store import RULES, PartIds, Stamps, Store, fresh_stamps

FIRST_IDS = {"data_schedule": 1, "data_alert": 1, "preset": 1, "viz_condition": 1, "job": FIRST_JOB_ID}


class State:
    def __init__(self, workspace: Workspace, state_file: Path | None = None) -> None:
        self._lock = threading.RLock()
        self._state_file = state_file
        self._stores = {key: Store(rules) for key, rules in RULES.items()}
        self._jobs = Jobs(lambda: self._take_id("job"))
        self._next = dict(FIRST_IDS)
        if state_file is not None and state_file.exists():
            self._load(state_file)
        else:
            self._dashboards = {int(d["id"]): d for d in workspace.dashboards}
            self._reports = {int(r["id"]): r for r in workspace.query_reports}
            try:
                self.put(SCHEDULES, workspace.data_schedules)
                self.put(ALERTS, workspace.data_alerts)
            except ValueError as exc:
                raise ValueError(f"invalid seed: {exc}") from None

    def _store(self, kind: Kind) -> Store:
        return self._stores[kind.yaml_key]

    # ---- persistence ----

    def _load(self, path: Path) -> None:
        try:
            data = read_state_file(path)
            self._dashboards = {int(d["id"]): d for d in data["dashboards"]}
            self._reports = {int(r["id"]): r for r in data["query_reports"]}
            for store in self._stores.values():
                store.load(data)
            failing = [("DataSchedule", int(i)) for i in data["failing_schedules"]]
            failing += [("DataAlert", int(i)) for i in data.get("failing_alerts", [])]
            self._jobs.load(data["jobs"], failing)
            # files from before alerts have no alert counters: they start at the first id
            self._next = {**FIRST_IDS, **{k: int(v) for k, v in data["next_ids"].items()}}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot read sandbox state file {path}: {exc}") from None

    def _save(self) -> None:
        for store in self._stores.values():  # every write comes through here
            store.changed()
        if self._state_file is None:
            return
        data: dict[str, Any] = {
            "next_ids": self._next,
            "dashboards": list(self._dashboards.values()),
            "query_reports": list(self._reports.values()),
            "jobs": self._jobs.saved(),
            "failing_schedules": sorted(i for t, i in self._jobs.failing if t == "DataSchedule"),
            "failing_alerts": sorted(i for t, i in self._jobs.failing if t == "DataAlert"),
        }
        for store in self._stores.values():
            data.update(store.saved())
        write_state_file(self._state_file, data)

    # ---- ids ----

    def _take_id(self, counter: str) -> int:
        ident = self._next[counter]
        self._next[counter] = ident + 1
        return ident

    def _fresh_ids(self) -> PartIds:
        return PartIds(lambda _sent: self._take_id("preset"), lambda _sent: self._take_id("viz_condition"))

    # ---- stamps ----

    def stamps(self, ids: Iterable[int], kind: Kind = SCHEDULES) -> dict[int, Stamps]:
        """When each record was made, last changed and last run (None: never)."""
        with self._lock:
            known = self._store(kind).stamps
            return {i: dict(known.get(i) or fresh_stamps()) for i in ids}

    # ---- sources ----

    def dashboard(self, ident: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._dashboards.get(ident)
            return copy.deepcopy(found) if found is not None else None

    def dashboards(self) -> list[dict[str, Any]]:
        """Every dashboard as stored (with `uname` and `project_id`), by id."""
        with self._lock:
            return [copy.deepcopy(self._dashboards[i]) for i in sorted(self._dashboards)]

    def dashboards_metadata(self, query: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        with self._lock:
            return aml.list_metadata(self._dashboards.values(), query)

    def rename_dashboard(self, old_uname: str, new_uname: str, project_id: int | None = None) -> dict[str, Any]:
        """An AML rename, published (see `dashboards`): returns the new dashboard, as stored."""
        with self._lock:
            old = aml.named(self._dashboards.values(), old_uname, project_id)
            fresh, left = aml.renamed(list(self._dashboards.values()), old, new_uname)
            self._dashboards[int(left["id"])] = left
            self._dashboards[int(fresh["id"])] = fresh
            self._save()
            return copy.deepcopy(fresh)

    def add_dashboard(self, body: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            dashboard = aml.added(list(self._dashboards.values()), body)
            self._dashboards[int(dashboard["id"])] = dashboard
            self._save()
            return copy.deepcopy(dashboard)

    def query_report(self, ident: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._reports.get(ident)
            return copy.deepcopy(found) if found is not None else None

    def source_title(self, schedule: Mapping[str, Any]) -> str:
        with self._lock:
            sources = self._dashboards if schedule.get("source_type") == "Dashboard" else self._reports
            ident = schedule.get("source_id")
            source = sources.get(ident) if isinstance(ident, int) else None
            return str(source.get("title", "")) if source else ""

    # ---- validation ----

    def validate(self, body: Any, kind: Kind = SCHEDULES) -> dict[str, list[str]]:
        """The spec's checks (dest resolved by its discriminator), then the workspace's: a schedule's
        source must exist, and a dashboard's presets must name filters it has."""
        if not isinstance(body, dict):
            return {"base": [f"{kind.wrapper} must be an object"]}
        body = without_read_only(body)
        rules = RULES[kind.yaml_key]
        errors = missing_at_field(rules.check(body))
        source_type, source_id = body.get("source_type"), body.get("source_id")
        if "source_type" in errors or "source_id" in errors or source_type is None or source_id is None:
            return errors
        if rules.checks_source:
            self._check_source(errors, body, source_type, source_id)
        return errors

    def _check_source(
        self, errors: dict[str, list[str]], body: dict[str, Any], source_type: str, source_id: Any
    ) -> None:
        with self._lock:
            sources = self._dashboards if source_type == "Dashboard" else self._reports
            source = sources.get(source_id)
        if source is None:
            errors.setdefault("source_id", []).append(f"{source_type} {source_id} does not exist")
            return
        if source_type == "Dashboard":
            filters = source.get("dynamic_filters") or []
            names = {str(f.get("id")) for f in filters} | {str(f.get("uname")) for f in filters}
            for i, preset in enumerate(body.get("dynamic_filter_presets") or []):
                wanted = preset.get("dynamic_filter_id") if isinstance(preset, dict) else None
                if wanted is not None and str(wanted) not in names:
                    errors.setdefault(f"dynamic_filter_presets.{i}.dynamic_filter_id", []).append(
                        f"{wanted} is not a dynamic filter of Dashboard {source_id}"
                    )

    # ---- records of one kind ----

    def records(self, kind: Kind) -> list[dict[str, Any]]:
        with self._lock:
            store = self._store(kind)
            return [copy.deepcopy(store.records[i]) for i in sorted(store.records)]

    def schedules(self) -> list[dict[str, Any]]:
        return self.records(SCHEDULES)

    def alerts(self) -> list[dict[str, Any]]:
        return self.records(ALERTS)

    def snapshot(self, kind: Kind = SCHEDULES) -> list[dict[str, Any]]:
        """The stored records themselves, by id, for reading only: a write replaces a record's dict
        instead of changing it, so a reader never sees half a change (and a list page need not copy
        the whole workspace)."""
        with self._lock:
            return self._store(kind).snapshot()

    def get(self, ident: int, kind: Kind = SCHEDULES) -> dict[str, Any]:
        with self._lock:
            records = self._store(kind).records
            if ident not in records:
                raise NoSuchRecord(kind.schema, ident)
            return copy.deepcopy(records[ident])

    def get_schedule(self, ident: int) -> dict[str, Any]:
        return self.get(ident, SCHEDULES)

    def create(self, body: Mapping[str, Any], *, validate: bool = True, kind: Kind = SCHEDULES) -> dict[str, Any]:
        if validate and (errors := self.validate(body, kind)):
            raise RecordRefused(errors, kind.noun)
        with self._lock:
            store = self._store(kind)
            ident = self._take_id(store.rules.counter)
            stored = store.rules.stored(without_read_only(body), ident, self._fresh_ids(), False)
            store.records[ident] = stored
            store.stamps[ident] = fresh_stamps()
            self._save()
            return copy.deepcopy(stored)

    def replace(
        self, ident: int, body: Mapping[str, Any], *, immutable: Iterable[str] = (), kind: Kind = SCHEDULES
    ) -> dict[str, Any]:
        """PUT: the body becomes the whole record (id and archive flag kept, preset and condition ids
        new). A field in `immutable` may not take another value than the stored one."""
        self.get(ident, kind)  # an unknown id is 404 whatever the body
        if errors := self.validate(body, kind):
            raise RecordRefused(errors, kind.noun)
        with self._lock:
            store = self._store(kind)
            if ident not in store.records:  # deleted meanwhile
                raise NoSuchRecord(kind.schema, ident)
            current = store.records[ident]
            changed = {
                name: [
                    f"cannot be changed from {current.get(name)!r}: an existing {kind.noun}'s source cannot be replaced"
                ]
                for name in immutable
                if body.get(name) != current.get(name)  # "42" is not 42: a source id is kept as sent
            }
            if changed:
                raise RecordRefused(changed, kind.noun)
            archived = bool(current["schedule"].get("is_archived", False))
            stored = store.rules.stored(without_read_only(body), ident, self._fresh_ids(), archived)
            store.records[ident] = stored
            store.stamp(ident, updated_at=server_time())
            self._save()
            return copy.deepcopy(stored)

    def delete(self, ident: int, kind: Kind = SCHEDULES) -> None:
        with self._lock:
            store = self._store(kind)
            if store.records.pop(ident, None) is None:
                raise NoSuchRecord(kind.schema, ident)
            store.stamps.pop(ident, None)
            self._save()

    def put(self, kind: Kind, items: Iterable[Mapping[str, Any]], *, validate: bool = True) -> list[dict[str, Any]]:
        """Replace every record of `kind`. Given ids (and preset and condition ids) are kept, missing
        ones assigned; counters only move up, so no id is ever handed out twice."""
        items = list(items)
        seen = self._check_put(kind, items, validate)
        with self._lock:
            store = self._store(kind)
            self._next[store.rules.counter] = max(self._next[store.rules.counter], max(seen, default=0) + 1)
            ids = PartIds(
                self._keeping(items, "dynamic_filter_presets", "preset"),
                self._keeping(items, "viz_conditions", "viz_condition"),
            )
            stored = []
            for item in items:
                ident = item.get("id")
                schedule = item.get("schedule")
                archived = isinstance(schedule, dict) and bool(schedule.get("is_archived", False))
                given = ident if isinstance(ident, int) else self._take_id(store.rules.counter)
                stored.append(store.rules.stored(item, given, ids, archived))
            store.records = {s["id"]: s for s in stored}
            store.stamps = {i: fresh_stamps() for i in store.records}
            self._save()
            return [copy.deepcopy(s) for s in sorted(stored, key=lambda s: int(s["id"]))]

    def _check_put(self, kind: Kind, items: list[Mapping[str, Any]], validate: bool) -> set[int]:
        problems: list[str] = []
        seen: set[int] = set()
        for i, item in enumerate(items):
            ident = item.get("id")
            if ident is not None:
                if not isinstance(ident, int) or isinstance(ident, bool) or ident < 1:
                    problems.append(f"item {i}: id must be a positive integer, got {ident!r}")
                elif ident in seen:
                    problems.append(f"item {i}: duplicate id {ident}")
                else:
                    seen.add(ident)
            if validate and (errors := self.validate(item, kind)):
                fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
                problems.append(f"item {i} (id {ident}): {fields}")
        if problems:
            raise ValueError("; ".join(problems))
        return seen

    def _keeping(self, items: list[Mapping[str, Any]], name: str, counter: str) -> Any:
        """The part ids of a put: an id given (once) is kept, the counter moved past every given one."""
        given = [
            p["id"]
            for item in items
            for p in item.get(name) or []
            if isinstance(p, Mapping) and isinstance(p.get("id"), int)
        ]
        self._next[counter] = max(self._next[counter], max(given, default=0) + 1)
        used: set[int] = set()

        def part_id(sent: Any) -> int:
            ident = sent if isinstance(sent, int) and sent not in used else self._take_id(counter)
            used.add(ident)
            return ident

        return part_id

    def put_schedules(self, items: Iterable[Mapping[str, Any]], *, validate: bool = True) -> list[dict[str, Any]]:
        return self.put(SCHEDULES, items, validate=validate)

    def put_alerts(self, items: Iterable[Mapping[str, Any]], *, validate: bool = True) -> list[dict[str, Any]]:
        return self.put(ALERTS, items, validate=validate)

    def add(self, kind: Kind, body: Mapping[str, Any], *, validate: bool = True) -> dict[str, Any]:
        try:
            return self.create(body, validate=validate, kind=kind)
        except RecordRefused as exc:
            raise ValueError(str(exc)) from None

    def add_schedule(self, body: Mapping[str, Any], *, validate: bool = True) -> dict[str, Any]:
        return self.add(SCHEDULES, body, validate=validate)

    def add_alert(self, body: Mapping[str, Any], *, validate: bool = True) -> dict[str, Any]:
        return self.add(ALERTS, body, validate=validate)

    # ---- jobs ----

    def submit_execute(self, ident: int, kind: Kind = SCHEDULES) -> dict[str, Any]:
        with self._lock:
            store = self._store(kind)
            if ident not in store.records:
                raise NoSuchRecord(kind.schema, ident)
            job = self._jobs.submit(ident, store.rules.source_type)
            if job["status"] != "already_existed":
                store.stamp(ident, last_run_at=server_time())
            self._save()
            return job

    def advance_job(self, job_id: int) -> dict[str, Any]:
        """One step of the job per look (see `Jobs.advance`)."""
        with self._lock:
            records = {store.rules.source_type: store.records for store in self._stores.values()}
            job, changed = self._jobs.advance(job_id, records)
            if changed:
                self._save()
            return job

    def job(self, job_id: int) -> dict[str, Any]:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._jobs.all()

    def job_logs(self, job_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return self._jobs.logs(job_id)

    def fail_jobs(self, ident: int, fail: bool = True, kind: Kind = SCHEDULES) -> None:
        with self._lock:
            source = (RULES[kind.yaml_key].source_type, ident)
            if fail:
                self._jobs.failing.add(source)
            else:
                self._jobs.failing.discard(source)
            self._save()
