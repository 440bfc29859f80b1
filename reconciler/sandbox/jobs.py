"""The sandbox's jobs: what `submit_execute` starts, and how each job moves on when it is looked at.

Why apart from the schedules: a job's life (queued, running, success or failure, its logs, the
schedules and alerts told to fail) is the sandbox's own invention for tests, with no spec schema to
follow. A job runs one record, named by its source type (`DataSchedule`, `DataAlert`) and id: a
schedule and an alert may share an id. Not locked: `state.State` calls it under its lock and saves
after every change.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
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
    "Webhook": "Webhook endpoint answered 503 Service Unavailable",
}


def failure_message(dest_type: str) -> str:
    for medium, message in _FAILURES_BY_MEDIUM.items():
        if dest_type.startswith(medium):
            return message
    return f"Delivery to {dest_type} failed"


SCHEDULE = "DataSchedule"
Source = tuple[str, int]  # (source type, record id): what a job runs


def _noun(source_type: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r" \1", source_type).lower()  # DataAlert -> data alert


def _log(level: str, message: str) -> dict[str, Any]:
    return {"level": level, "message": message, "timestamp": server_time()}


class Jobs:
    """Every job, the record it runs, its logs, and the records whose jobs fail.
    `take_id()` hands out job ids (the state file keeps the counter with the others)."""

    def __init__(self, take_id: Callable[[], int]) -> None:
        self._take_id = take_id
        self._jobs: dict[int, dict[str, Any]] = {}
        self._source_of: dict[int, Source] = {}
        self._logs: dict[int, list[dict[str, Any]]] = {}
        self.failing: set[Source] = set()

    def load(self, entries: list[dict[str, Any]], failing: Iterable[Source]) -> None:
        for entry in entries:
            job_id = int(entry["job"]["id"])
            self._jobs[job_id] = entry["job"]
            # files from before alerts name a schedule only
            self._source_of[job_id] = (str(entry.get("source_type", SCHEDULE)), entry["schedule_id"])
            self._logs[job_id] = entry["logs"]
        self.failing = set(failing)

    def saved(self) -> list[dict[str, Any]]:
        """Every job as the state file keeps it, by id (`schedule_id`: the id of the record it runs)."""
        return [
            {
                "job": self._jobs[i],
                "source_type": self._source_of[i][0],
                "schedule_id": self._source_of[i][1],
                "logs": self._logs[i],
            }
            for i in sorted(self._jobs)
        ]

    def submit(self, record_id: int, source_type: str = SCHEDULE) -> dict[str, Any]:
        """A new job for the record; `already_existed` (pointing at it) while one is unfinished."""
        source = (source_type, record_id)
        running = [j for j, s in self._source_of.items() if s == source and self._jobs[j]["status"] in UNFINISHED]
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
            "source": {"type": source_type, "id": record_id, "action": "execute", "details": None},
            "existing_job_id": None,
        }
        if running:
            job.update(status="already_existed", existing_job_id=running[0], cancellable=False)
            logs = [_log("INFO", f"Job #{running[0]} for this {_noun(source_type)} is still running")]
        else:
            logs = [_log("INFO", f"Job queued for {source_type} #{record_id}")]
        self._jobs[job_id] = job
        self._source_of[job_id] = source
        self._logs[job_id] = logs
        return copy.deepcopy(job)

    def advance(self, job_id: int, records: Mapping[str, Mapping[int, dict[str, Any]]]) -> tuple[dict[str, Any], bool]:
        """One step of the job per look: queued -> running -> success (or failure when the record's
        jobs were set to fail). Deterministic, so tests need no timers. `records`: each source type's
        records by id. Also whether it changed."""
        job = self._jobs.get(job_id)
        if job is None:
            raise NoSuchRecord("Job", job_id)
        logs = self._logs[job_id]
        source_type, record_id = self._source_of[job_id]
        if job["status"] in ("created", "queued"):
            job.update(status="running", start_time=server_time())
            logs.append(_log("INFO", f"Running {source_type} #{record_id}"))
        elif job["status"] == "running":
            job.update(end_time=server_time(), cancellable=False)
            if (source_type, record_id) in self.failing:
                record = records.get(source_type, {}).get(record_id)
                message = failure_message(str(((record or {}).get("dest") or {}).get("type")))
                job.update(status="failure", last_error_log=message)
                logs.append(_log("ERROR", message))
            else:
                job.update(status="success")
                logs.append(_log("INFO", f"{_noun(source_type).capitalize()} delivered"))
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
