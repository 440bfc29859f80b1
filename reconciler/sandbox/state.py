"""The sandbox's workspace: data schedules, jobs, and the dashboards and reports they point at.

All access goes through one lock, so the threaded server sees consistent state. With a `state_file`
the whole workspace is written after every change (to a temporary file, then renamed over the old one,
so a crash never leaves half a file) and read back at start, so it survives restarts.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from reconciler import spec
from reconciler.sandbox.seed import Workspace
from reconciler.sandbox.validation import validate_data_schedule

STATE_FORMAT = "holistics-sandbox-state/1"
UNFINISHED = frozenset({"created", "queued", "running"})
FIRST_JOB_ID = 70001  # far from schedule ids, so a client mixing the two up fails loudly
USER_ID = 1  # the user the sandbox key belongs to

# why a job fails when a test asks for failing jobs: by what the destination type delivers to, so a
# type the spec adds gets a message without a list of types here to keep up to date
_FAILURES_BY_MEDIUM = {
    "Email": "Failed to send email: 550 5.1.1 recipient mailbox unavailable",
    "Slack": "Slack API error: channel_not_found",
    "Sftp": "SFTP upload failed: Permission denied",
    "Gsheet": "Google Sheets API error: The caller does not have permission",
}


def failure_message(dest_type: str) -> str:
    for medium, message in _FAILURES_BY_MEDIUM.items():
        if dest_type.startswith(medium):
            return message
    return f"Delivery to {dest_type} failed"


class NotFound(Exception):
    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"Couldn't find {kind} with 'id'={ident}")


class RecordInvalid(Exception):
    def __init__(self, record: dict[str, list[str]]) -> None:
        self.record = record
        fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in record.items())
        super().__init__(f"Data schedule is invalid: {fields}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- what the server fills in for fields the client left out ----


def _is_nullable(node: Mapping[str, Any]) -> bool:
    if node.get("nullable"):
        # OpenAPI 3.0.3: an enum must list null itself for null to be valid (SftpDest.separator doesn't)
        return "enum" not in node or None in node["enum"]
    refs = [b["$ref"].rsplit("/", 1)[-1] for b in node.get("anyOf", []) if "$ref" in b]
    return any(spec.schema(name).get("nullable") for name in refs)


@cache
def _spec_defaults(schema_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, node in spec.properties(spec.schema(schema_name)).items():
        if "default" in node:
            out[name] = node["default"]
        elif _is_nullable(node):
            out[name] = None
    return out


def _defaults(schema_name: str) -> dict[str, Any]:
    """Absent properties as a serializer would render them: the spec's `default`, else null when
    nullable. Fields without either are left absent (the spec gives no value to invent)."""
    return copy.deepcopy(_spec_defaults(schema_name))


def normalize(
    body: Mapping[str, Any],
    *,
    schedule_id: int,
    preset_id: Callable[[Any], int],
    is_archived: bool = False,
) -> dict[str, Any]:
    """A data schedule as the server stores and returns it: `id`, preset ids and
    `schedule.is_archived` set by the server, absent nullable fields null, everything else as sent.
    Unknown top-level keys are dropped (as strong parameters would); `dest` keeps all it was sent.
    `preset_id(sent_id)` decides each preset's id."""
    top = _defaults("DataSchedule")
    out: dict[str, Any] = {
        "id": schedule_id,
        "title": body.get("title", top.get("title")),
        "source_type": body.get("source_type"),
        "source_id": body.get("source_id"),
    }
    schedule = {k: v for k, v in dict(body.get("schedule") or {}).items() if k != "is_archived"}
    out["schedule"] = {**schedule, "is_archived": is_archived}
    preset_defaults = _defaults("DynamicFilterPreset")
    condition_defaults = _defaults("Condition")
    presets = []
    for sent in body.get("dynamic_filter_presets") or []:
        if not isinstance(sent, Mapping):
            continue
        preset = {k: v for k, v in sent.items() if k != "id"}
        condition = dict(preset.get("preset_condition") or {})
        for key, value in condition_defaults.items():
            condition.setdefault(key, value)
        stored = {"id": preset_id(sent.get("id")), **preset, "preset_condition": condition}
        for key, value in preset_defaults.items():
            stored.setdefault(key, value)
        presets.append(stored)
    out["dynamic_filter_presets"] = presets
    dest = dict(body.get("dest") or {})
    branch = spec.dest_branches().get(str(dest.get("type")))
    if branch is not None:
        dest = {**_defaults(branch), **dest}
    out["dest"] = {"type": dest.pop("type", None), **dest}
    return out


def _strip_read_only(body: Mapping[str, Any]) -> dict[str, Any]:
    """The client's body without what the server assigns (a real server ignores these)."""
    out = {k: copy.deepcopy(v) for k, v in body.items() if k != "id"}
    if isinstance(out.get("schedule"), dict):
        out["schedule"].pop("is_archived", None)
    for preset in out.get("dynamic_filter_presets") or []:
        if isinstance(preset, dict):
            preset.pop("id", None)
    return out


_REQUIRED = re.compile(r"'([^']+)' is a required property")


def _missing_at_field(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """A missing required field is reported under its own path (`schedule.paused: is required`)
    rather than its parent's, as a client would show it next to the field."""
    out: dict[str, list[str]] = {}
    for path, messages in errors.items():
        for message in messages:
            if match := _REQUIRED.fullmatch(message):
                key = match[1] if path == "base" else f"{path}.{match[1]}"
                out.setdefault(key, []).append("is required")
            else:
                out.setdefault(path, []).append(message)
    return out


class State:
    def __init__(self, workspace: Workspace, state_file: Path | None = None) -> None:
        self._lock = threading.RLock()
        self._state_file = state_file
        self._schedules: dict[int, dict[str, Any]] = {}
        self._jobs: dict[int, dict[str, Any]] = {}
        self._job_schedule: dict[int, int | None] = {}
        self._job_logs: dict[int, list[dict[str, Any]]] = {}
        self._failing: set[int] = set()
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
            data = json.loads(path.read_text())
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"not a sandbox state file ({STATE_FORMAT})")
            self._dashboards = {int(d["id"]): d for d in data["dashboards"]}
            self._reports = {int(r["id"]): r for r in data["query_reports"]}
            self._schedules = {int(s["id"]): s for s in data["data_schedules"]}
            for entry in data["jobs"]:
                job_id = int(entry["job"]["id"])
                self._jobs[job_id] = entry["job"]
                self._job_schedule[job_id] = entry["schedule_id"]
                self._job_logs[job_id] = entry["logs"]
            self._failing = set(data["failing_schedules"])
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
            "format": STATE_FORMAT,
            "next_ids": self._next,
            "dashboards": list(self._dashboards.values()),
            "query_reports": list(self._reports.values()),
            "data_schedules": [self._schedules[i] for i in sorted(self._schedules)],
            "jobs": [
                {"job": self._jobs[i], "schedule_id": self._job_schedule[i], "logs": self._job_logs[i]}
                for i in sorted(self._jobs)
            ],
            "failing_schedules": sorted(self._failing),
            "stamps": {str(i): self._stamps[i] for i in sorted(self._stamps)},
        }
        path = self._state_file
        path.parent.mkdir(parents=True, exist_ok=True)
        # no fsync: the file must survive a restart of the sandbox, not a power cut
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(data, fh, indent=1)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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
        now = _now()
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
        body = _strip_read_only(body)
        errors = _missing_at_field(validate_data_schedule(body))
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
                raise NotFound("DataSchedule", ident)
            return copy.deepcopy(self._schedules[ident])

    def create(self, body: Mapping[str, Any], *, validate: bool = True) -> dict[str, Any]:
        if validate and (errors := self.validate(body)):
            raise RecordInvalid(errors)
        with self._lock:
            stored = normalize(
                _strip_read_only(body), schedule_id=self._take_id("data_schedule"), preset_id=self._fresh_preset_id
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
                raise NotFound("DataSchedule", ident)
        if errors := self.validate(body):
            raise RecordInvalid(errors)
        with self._lock:
            if ident not in self._schedules:  # deleted meanwhile
                raise NotFound("DataSchedule", ident)
            current = self._schedules[ident]
            changed = {
                name: [
                    f"cannot be changed from {current.get(name)!r}: an existing schedule's source cannot be replaced"
                ]
                for name in immutable
                if body.get(name) != current.get(name)
            }
            if changed:
                raise RecordInvalid(changed)
            archived = bool(current["schedule"].get("is_archived", False))
            stored = normalize(
                _strip_read_only(body), schedule_id=ident, preset_id=self._fresh_preset_id, is_archived=archived
            )
            self._schedules[ident] = stored
            self._stamps[ident] = {**self._stamps.get(ident, self._fresh_stamps()), "updated_at": _now()}
            self._save()
            return copy.deepcopy(stored)

    def delete(self, ident: int) -> None:
        with self._lock:
            if self._schedules.pop(ident, None) is None:
                raise NotFound("DataSchedule", ident)
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
                    normalize(
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
        except RecordInvalid as exc:
            raise ValueError(str(exc)) from None

    # ---- jobs ----

    def submit_execute(self, schedule_id: int) -> dict[str, Any]:
        with self._lock:
            if schedule_id not in self._schedules:
                raise NotFound("DataSchedule", schedule_id)
            running = [
                j for j, s in self._job_schedule.items() if s == schedule_id and self._jobs[j]["status"] in UNFINISHED
            ]
            job_id = self._take_id("job")
            job: dict[str, Any] = {
                "id": job_id,
                "user_id": USER_ID,
                "status": "queued",
                "start_time": None,
                "end_time": None,
                "cancellable": True,
                "last_error_log": None,
                "data_source_stats": None,
                "source": {"type": "DataSchedule", "id": schedule_id, "action": "execute", "details": None},
                "existing_job_id": None,
            }
            if running:
                job.update(status="already_existed", existing_job_id=running[0], cancellable=False)
                logs = [self._log("INFO", f"Job #{running[0]} for this data schedule is still running")]
            else:
                logs = [self._log("INFO", f"Job queued for DataSchedule #{schedule_id}")]
            self._jobs[job_id] = job
            self._job_schedule[job_id] = schedule_id
            self._job_logs[job_id] = logs
            if not running:
                self._stamps[schedule_id] = {
                    **self._stamps.get(schedule_id, self._fresh_stamps()),
                    "last_run_at": _now(),
                }
            self._save()
            return copy.deepcopy(job)

    @staticmethod
    def _log(level: str, message: str) -> dict[str, Any]:
        return {"level": level, "message": message, "timestamp": _now()}

    def advance_job(self, job_id: int) -> dict[str, Any]:
        """One step of the job per look: queued -> running -> success (or failure when the schedule's
        jobs were set to fail). Deterministic, so tests need no timers."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFound("Job", job_id)
            logs = self._job_logs[job_id]
            schedule_id = self._job_schedule[job_id]
            if job["status"] in ("created", "queued"):
                job.update(status="running", start_time=_now())
                logs.append(self._log("INFO", f"Running DataSchedule #{schedule_id}"))
            elif job["status"] == "running":
                job.update(end_time=_now(), cancellable=False)
                if schedule_id in self._failing:
                    schedule = self._schedules.get(schedule_id) or {}
                    dest_type = str((schedule.get("dest") or {}).get("type"))
                    message = failure_message(dest_type)
                    job.update(status="failure", last_error_log=message)
                    logs.append(self._log("ERROR", message))
                else:
                    job.update(status="success")
                    logs.append(self._log("INFO", "Data schedule delivered"))
            else:
                return copy.deepcopy(job)
            self._save()
            return copy.deepcopy(job)

    def job(self, job_id: int) -> dict[str, Any]:
        with self._lock:
            if job_id not in self._jobs:
                raise NotFound("Job", job_id)
            return copy.deepcopy(self._jobs[job_id])

    def jobs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(self._jobs[i]) for i in sorted(self._jobs)]

    def job_logs(self, job_id: int) -> list[dict[str, Any]]:
        with self._lock:
            if job_id not in self._jobs:
                raise NotFound("Job", job_id)
            return copy.deepcopy(self._job_logs[job_id])

    def fail_jobs(self, schedule_id: int, fail: bool = True) -> None:
        with self._lock:
            if fail:
                self._failing.add(schedule_id)
            else:
                self._failing.discard(schedule_id)
            self._save()
