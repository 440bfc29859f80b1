"""`run`: which schedule a key or an id names, then execute it now and follow its job to the end, to
test a delivery after an apply."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.errors import CommandFailed
from reconciler.problems import inert
from reconciler.remote.client import HolisticsClient
from reconciler.usecases.config import ProjectConfig
from reconciler.usecases.planning import load_desired, make_plan, schedule_paths

FINAL = {"success", "failure", "cancelled"}


def resolve_target(
    config: ProjectConfig, target: str, paths: Sequence[Path], connect: Callable[[], HolisticsClient]
) -> tuple[int, str]:
    """The schedule `target` names, and how it was named. A YAML key wins over an id: `run 7` runs
    the entry keyed "7" when there is one; an id is only taken when no schedule file declares it."""
    numeric = re.fullmatch(r"[0-9]+", target) is not None  # not str.isdigit: "٧" is a digit too
    if numeric and not any(p.exists() for p in schedule_paths(config, paths)):
        return int(target), "by id"
    desired = load_desired(config, paths)
    entry = next((d for d in desired if d.key == target), None)
    if entry is None:
        if numeric:
            return int(target), "by id"
        raise CommandFailed(f"no schedule with key {target!r} in {', '.join(map(str, schedule_paths(config, paths)))}")
    named = f"key {target!r} in {entry.file}:{entry.line}"
    if entry.id is not None:
        return entry.id, named
    with connect() as client:
        result = make_plan(client, config, paths, check_references=False)
    match = next((m for m in result.plan.matches if m.key == target), None)
    if match is None:
        raise CommandFailed(f"{target!r} does not exist in the workspace yet; apply it first")
    return match.id, named


@dataclass(frozen=True)
class JobOutcome:
    job_id: int
    status: str
    error_logs: tuple[str, ...] = ()
    last_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "success"


def follow(
    client: HolisticsClient,
    job: dict[str, Any],
    *,
    on_status: Callable[[int, str], None] = lambda job_id, status: None,
    on_note: Callable[[str], None] = lambda note: None,
    sleep: Callable[[float], None] = time.sleep,
    first_wait: float = 0.5,
    max_wait: float = 10.0,
    timeout: float = 3600.0,
) -> JobOutcome:
    """Poll the job with exponential backoff until it ends. A job that `already_existed` is replaced by
    the existing one it names, which is the run that will actually deliver."""
    if job.get("status") == "already_existed" and job.get("existing_job_id"):
        on_status(int(job["id"]), "already_existed")
        existing = int(job["existing_job_id"])
        on_note(f"a job for this schedule was already running: following job {existing} instead")
        job = client.get_job(existing)
    job_id = int(job["id"])
    status = str(job.get("status"))
    on_status(job_id, status)
    wait, waited = first_wait, 0.0
    while status not in FINAL:
        if waited >= timeout:
            return JobOutcome(job_id, f"still {status} after {timeout:.0f}s")
        sleep(wait)
        waited += wait
        wait = min(wait * 2, max_wait)
        job = client.get_job(job_id)
        if job.get("status") != status:
            status = str(job.get("status"))
            on_status(job_id, status)
    if status == "success":
        return JobOutcome(job_id, status)
    logs = client.get_job_logs(job_id)
    errors = tuple(inert(str(entry.get("message"))) for entry in logs if entry.get("level") == "ERROR")
    last_error = job.get("last_error_log")
    return JobOutcome(job_id, status, errors, inert(str(last_error)) if last_error else None)
