"""The sandbox's workspace: data schedules, the dashboards and reports they point at, and its jobs.

All access goes through one lock, so the threaded server sees consistent state. With a `state_file`
the whole workspace is written after every change (see `statefile`) and read back at start, so it
survives restarts. How a schedule is stored is `records`'; how jobs move on, `jobs`'.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from reconciler.sandbox.jobs import FIRST_JOB_ID, Jobs
from reconciler.sandbox.records import (
    NoSuchRecord,
    RecordRefused,
    missing_at_field,
    server_time,
    stored_form,
    without_read_only,
)
from reconciler.sandbox.seed import Workspace
from reconciler.sandbox.statefile import read_state_file, write_state_file
from reconciler.sandbox.validation import validate_data_schedule


class State:
    def __init__(self, workspace: Workspace, state_file: Path | None = None) -> None:
        self._lock = threading.RLock()
        self._state_file = state_file
        self._schedules: dict[int, dict[str, Any]] = {}
        self._jobs = Jobs(lambda: self._take_id("job"))
        self._snapshot: list[dict[str, Any]] | None = None  # sorted by id; dropped on every write
        # per schedule: created_at, updated_at, last_run_at (what a server-like sandbox shows beside the
        # spec's fields; kept in any mode, so switching modes shows true times)
        self._stamps: dict[int, dict[str, str | None]] = {}
        self._next = {"data_schedule": 1, "preset": 1, "job": FIRST_JOB_ID}
        if state_file is not None and state_file.exists():
            self._load(state_file)
        else:
            self._dashboards = {int(d["id"]): d for d in workspace.dashboards}
            self._reports = {int(r["id"]): r for r in workspace.query_reports}
            try:
                self.put_schedules(workspace.data_schedules)
            except ValueError as exc:
                raise ValueError(f"invalid seed: {exc}") from None

    # ---- persistence ----

    def _load(self, path: Path) -> None:
        try:
            data = read_state_file(path)
            self._dashboards = {int(d["id"]): d for d in data["dashboards"]}
            self._reports = {int(r["id"]): r for r in data["query_reports"]}
            self._schedules = {int(s["id"]): s for s in data["data_schedules"]}
            self._jobs.load(data["jobs"], data["failing_schedules"])
            self._next = {k: int(v) for k, v in data["next_ids"].items()}
            # files written before the stamps were kept have none: they start now
            stamps = {int(k): v for k, v in data.get("stamps", {}).items()}
            self._stamps = {i: stamps.get(i) or self._fresh_stamps() for i in self._schedules}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"cannot read sandbox state file {path}: {exc}") from None

    def _save(self) -> None:
        self._snapshot = None  # every write comes through here
        if self._state_file is None:
            return
        data = {
            "next_ids": self._next,
            "dashboards": list(self._dashboards.values()),
            "query_reports": list(self._reports.values()),
            "data_schedules": [self._schedules[i] for i in sorted(self._schedules)],
            "jobs": self._jobs.saved(),
            "failing_schedules": sorted(self._jobs.failing),
            "stamps": {str(i): self._stamps[i] for i in sorted(self._stamps)},
        }
        write_state_file(self._state_file, data)

    # ---- ids ----

    def _take_id(self, kind: str) -> int:
        ident = self._next[kind]
        self._next[kind] = ident + 1
        return ident

    def _fresh_preset_id(self, _sent: Any) -> int:
        return self._take_id("preset")

    # ---- stamps ----

    @staticmethod
    def _fresh_stamps() -> dict[str, str | None]:
        now = server_time()
        return {"created_at": now, "updated_at": now, "last_run_at": None}

    def stamps(self, ids: Iterable[int]) -> dict[int, dict[str, str | None]]:
        """When each schedule was made, last changed and last run (None: never)."""
        with self._lock:
            return {i: dict(self._stamps.get(i) or self._fresh_stamps()) for i in ids}

    # ---- sources ----

    def dashboard(self, ident: int) -> dict[str, Any] | None:
        with self._lock:
            found = self._dashboards.get(ident)
            return copy.deepcopy(found) if found is not None else None

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

    def validate(self, body: Any) -> dict[str, list[str]]:
        """The spec's checks (dest resolved by its discriminator), then the workspace's: the source
        must exist, and a dashboard's presets must name filters it has."""
        if not isinstance(body, dict):
            return {"base": ["data_schedule must be an object"]}
        body = without_read_only(body)
        errors = missing_at_field(validate_data_schedule(body))
        source_type, source_id = body.get("source_type"), body.get("source_id")
        if "source_type" in errors or "source_id" in errors or source_type is None or source_id is None:
            return errors
        with self._lock:
            sources = self._dashboards if source_type == "Dashboard" else self._reports
            source = sources.get(source_id)
        if source is None:
            errors.setdefault("source_id", []).append(f"{source_type} {source_id} does not exist")
            return errors
        if source_type == "Dashboard":
            filters = source.get("dynamic_filters") or []
            names = {str(f.get("id")) for f in filters} | {str(f.get("uname")) for f in filters}
            for i, preset in enumerate(body.get("dynamic_filter_presets") or []):
                wanted = preset.get("dynamic_filter_id") if isinstance(preset, dict) else None
                if wanted is not None and str(wanted) not in names:
                    errors.setdefault(f"dynamic_filter_presets.{i}.dynamic_filter_id", []).append(
                        f"{wanted} is not a dynamic filter of Dashboard {source_id}"
                    )
        return errors

    # ---- data schedules ----

    def schedules(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(self._schedules[i]) for i in sorted(self._schedules)]

    def snapshot(self) -> list[dict[str, Any]]:
        """The stored schedules themselves, by id, for reading only: a write replaces a schedule's
        dict instead of changing it, so a reader never sees half a change (and a list page need not
        copy the whole workspace)."""
        with self._lock:
            if self._snapshot is None:
                self._snapshot = [self._schedules[i] for i in sorted(self._schedules)]
            return self._snapshot

    def get_schedule(self, ident: int) -> dict[str, Any]:
        with self._lock:
            if ident not in self._schedules:
                raise NoSuchRecord("DataSchedule", ident)
            return copy.deepcopy(self._schedules[ident])

    def create(self, body: Mapping[str, Any], *, validate: bool = True) -> dict[str, Any]:
        if validate and (errors := self.validate(body)):
            raise RecordRefused(errors)
        with self._lock:
            stored = stored_form(
                without_read_only(body), schedule_id=self._take_id("data_schedule"), preset_id=self._fresh_preset_id
            )
            self._schedules[stored["id"]] = stored
            self._stamps[stored["id"]] = self._fresh_stamps()
            self._save()
            return copy.deepcopy(stored)

    def replace(self, ident: int, body: Mapping[str, Any], *, immutable: Iterable[str] = ()) -> dict[str, Any]:
        """PUT: the body becomes the whole schedule (id and archive flag kept, preset ids new). A field
        in `immutable` may not take another value than the stored one."""
        with self._lock:
            if ident not in self._schedules:
                raise NoSuchRecord("DataSchedule", ident)
        if errors := self.validate(body):
            raise RecordRefused(errors)
        with self._lock:
            if ident not in self._schedules:  # deleted meanwhile
                raise NoSuchRecord("DataSchedule", ident)
            current = self._schedules[ident]
            changed = {
                name: [
                    f"cannot be changed from {current.get(name)!r}: an existing schedule's source cannot be replaced"
                ]
                for name in immutable
                if body.get(name) != current.get(name)
            }
            if changed:
                raise RecordRefused(changed)
            archived = bool(current["schedule"].get("is_archived", False))
            stored = stored_form(
                without_read_only(body), schedule_id=ident, preset_id=self._fresh_preset_id, is_archived=archived
            )
            self._schedules[ident] = stored
            self._stamps[ident] = {**self._stamps.get(ident, self._fresh_stamps()), "updated_at": server_time()}
            self._save()
            return copy.deepcopy(stored)

    def delete(self, ident: int) -> None:
        with self._lock:
            if self._schedules.pop(ident, None) is None:
                raise NoSuchRecord("DataSchedule", ident)
            self._stamps.pop(ident, None)
            self._save()

    def put_schedules(self, items: Iterable[Mapping[str, Any]], *, validate: bool = True) -> list[dict[str, Any]]:
        """Replace every schedule. Given ids (and preset ids) are kept, missing ones assigned; counters
        only move up, so no id is ever handed out twice."""
        items = list(items)
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
            if validate and (errors := self.validate(item)):
                fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items())
                problems.append(f"item {i} (id {ident}): {fields}")
        if problems:
            raise ValueError("; ".join(problems))
        with self._lock:
            self._next["data_schedule"] = max(self._next["data_schedule"], max(seen, default=0) + 1)
            given = [
                p["id"]
                for item in items
                for p in item.get("dynamic_filter_presets") or []
                if isinstance(p, Mapping) and isinstance(p.get("id"), int)
            ]
            self._next["preset"] = max(self._next["preset"], max(given, default=0) + 1)
            used: set[int] = set()

            def preset_id(sent: Any) -> int:
                ident = sent if isinstance(sent, int) and sent not in used else self._take_id("preset")
                used.add(ident)
                return ident

            stored = []
            for item in items:
                ident = item.get("id")
                schedule = item.get("schedule")
                archived = isinstance(schedule, dict) and bool(schedule.get("is_archived", False))
                stored.append(
                    stored_form(
                        item,
                        schedule_id=ident if isinstance(ident, int) else self._take_id("data_schedule"),
                        preset_id=preset_id,
                        is_archived=archived,
                    )
                )
            self._schedules = {s["id"]: s for s in stored}
            self._stamps = {i: self._fresh_stamps() for i in self._schedules}
            self._save()
            return [copy.deepcopy(s) for s in sorted(stored, key=lambda s: int(s["id"]))]

    def add_schedule(self, body: Mapping[str, Any], *, validate: bool = True) -> dict[str, Any]:
        try:
            return self.create(body, validate=validate)
        except RecordRefused as exc:
            raise ValueError(str(exc)) from None

    # ---- jobs ----

    def submit_execute(self, schedule_id: int) -> dict[str, Any]:
        with self._lock:
            if schedule_id not in self._schedules:
                raise NoSuchRecord("DataSchedule", schedule_id)
            job = self._jobs.submit(schedule_id)
            if job["status"] != "already_existed":
                self._stamps[schedule_id] = {
                    **self._stamps.get(schedule_id, self._fresh_stamps()),
                    "last_run_at": server_time(),
                }
            self._save()
            return job

    def advance_job(self, job_id: int) -> dict[str, Any]:
        """One step of the job per look (see `Jobs.advance`)."""
        with self._lock:
            job, changed = self._jobs.advance(job_id, self._schedules)
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

    def fail_jobs(self, schedule_id: int, fail: bool = True) -> None:
        with self._lock:
            if fail:
                self._jobs.failing.add(schedule_id)
            else:
                self._jobs.failing.discard(schedule_id)
            self._save()
