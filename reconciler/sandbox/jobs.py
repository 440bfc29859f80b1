"""The sandbox's jobs: what `submit_execute` starts, and how each job moves on when it is looked at.

Why apart from the schedules: a job's life (queued, running, success or failure, its logs, the
schedules told to fail) is the sandbox's own invention for tests, with no spec schema to follow.
Not locked: `state.State` calls it under its lock and saves after every change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from reconciler.sandbox.records import NoSuchRecord, server_time

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


def _log(level: str, message: str) -> dict[str, Any]:
    return {"level": level, "message": message, "timestamp": server_time()}


class Jobs:
    """Every job, the schedule it runs, its logs, and the schedules whose jobs fail.
    `take_id()` hands out job ids (the state file keeps the counter with the others)."""

    def __init__(self, take_id: Callable[[], int]) -> None:
        self._take_id = take_id
        self._jobs: dict[int, dict[str, Any]] = {}
        self._schedule_of: dict[int, int | None] = {}
        self._logs: dict[int, list[dict[str, Any]]] = {}
        self.failing: set[int] = set()

    def load(self, entries: list[dict[str, Any]], failing: list[int]) -> None:
        for entry in entries:
            job_id = int(entry["job"]["id"])
            self._jobs[job_id] = entry["job"]
            self._schedule_of[job_id] = entry["schedule_id"]
            self._logs[job_id] = entry["logs"]
        self.failing = set(failing)

    def saved(self) -> list[dict[str, Any]]:
        """Every job as the state file keeps it, by id."""
        return [
            {"job": self._jobs[i], "schedule_id": self._schedule_of[i], "logs": self._logs[i]}
            for i in sorted(self._jobs)
        ]

    def submit(self, schedule_id: int) -> dict[str, Any]:
        """A new job for the schedule; `already_existed` (pointing at it) while one is unfinished."""
        running = [
            j for j, s in self._schedule_of.items() if s == schedule_id and self._jobs[j]["status"] in UNFINISHED
        ]
        job_id = self._take_id()
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
            logs = [_log("INFO", f"Job #{running[0]} for this data schedule is still running")]
        else:
            logs = [_log("INFO", f"Job queued for DataSchedule #{schedule_id}")]
        self._jobs[job_id] = job
        self._schedule_of[job_id] = schedule_id
        self._logs[job_id] = logs
        return copy.deepcopy(job)

    def advance(self, job_id: int, schedules: Mapping[int, dict[str, Any]]) -> tuple[dict[str, Any], bool]:
        """One step of the job per look: queued -> running -> success (or failure when the schedule's
        jobs were set to fail). Deterministic, so tests need no timers. Also whether it changed."""
        job = self._jobs.get(job_id)
        if job is None:
            raise NoSuchRecord("Job", job_id)
        logs = self._logs[job_id]
        schedule_id = self._schedule_of[job_id]
        if job["status"] in ("created", "queued"):
            job.update(status="running", start_time=server_time())
            logs.append(_log("INFO", f"Running DataSchedule #{schedule_id}"))
        elif job["status"] == "running":
            job.update(end_time=server_time(), cancellable=False)
            if schedule_id in self.failing:
                schedule = schedules.get(schedule_id) if schedule_id is not None else None
                message = failure_message(str(((schedule or {}).get("dest") or {}).get("type")))
                job.update(status="failure", last_error_log=message)
                logs.append(_log("ERROR", message))
            else:
                job.update(status="success")
                logs.append(_log("INFO", "Data schedule delivered"))
        else:
            return copy.deepcopy(job), False
        return copy.deepcopy(job), True

    def get(self, job_id: int) -> dict[str, Any]:
        if job_id not in self._jobs:
            raise NoSuchRecord("Job", job_id)
        return copy.deepcopy(self._jobs[job_id])

    def all(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(self._jobs[i]) for i in sorted(self._jobs)]

    def logs(self, job_id: int) -> list[dict[str, Any]]:
        if job_id not in self._jobs:
            raise NoSuchRecord("Job", job_id)
        return copy.deepcopy(self._logs[job_id])
