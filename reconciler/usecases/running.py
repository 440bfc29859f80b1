"""`run`: which schedule or alert a key or an id names, then execute it now and follow its job to
the end, to test a delivery after an apply.

Ids are only unique within a kind: `run 7` where schedule 7 and alert 7 both exist is refused, naming
both, rather than guessed; a YAML key (unique across the kinds) or `--kind` says which.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.model import Plan, WorkspacePlan
from reconciler.errors import CommandFailed
from reconciler.kinds import Kind
from reconciler.kinds.known import KINDS, kind_named
from reconciler.policy.rules import violations
from reconciler.problems import escape_controls, inert
from reconciler.remote.client import HolisticsClient, NotFound, PermissionDenied
from reconciler.usecases.config import ProjectConfig
from reconciler.usecases.planning import load_desired, make_plan, schedule_paths

FINAL = {"success", "failure", "cancelled"}


@dataclass(frozen=True)
class Target:
    """What `run` executes: an item of `kind` and how it was named (`by id`, `key 'x' in FILE:LINE`);
    named by key, the entry's key and how its values from the environment are shown."""

    kind: Kind
    id: int
    named: str
    key: str | None = None
    shown: Mapping[str, str] = field(default_factory=dict)


def refuse_breaking_policy(client: HolisticsClient, config: ProjectConfig, target: Target) -> None:
    """The item as the workspace holds it (what the job would send), unless it breaks the delivery
    policy: running it sends data now, so the policy holds here as in apply. An exception applies to
    the entry named by its key; `max_same_minute` is about schedules, not a run now."""
    if config.policy.empty:
        return
    item = client.get(target.kind, target.id)
    found = [
        v
        for v in violations(target.kind.yaml_key, item, config.policy, timezone=config.timezone, shown=target.shown)
        if target.key is None or not config.policy.excepted(target.key, v.rule)
    ]
    if found:
        listed = "\n  - ".join(inert(f"{v.path}: {v.message}") for v in found)
        raise CommandFailed(
            f"{target.kind.noun} {target.id} breaks the delivery policy; nothing was run:\n  - {listed}"
        )


def resolve_target(
    config: ProjectConfig,
    target: str,
    paths: Sequence[Path],
    connect: Callable[[], HolisticsClient],
    *,
    kind: Kind | None = None,
) -> Target:
    """The schedule or alert `target` names (only one of `kind`, when given). A YAML key wins over an
    id: `run 7` runs the entry keyed "7" when there is one; an id is only taken when no entry has
    that key, and then the workspace says which kind has it (see `by_id`)."""
    numeric = re.fullmatch(r"[0-9]+", target) is not None  # not str.isdigit: "٧" is a digit too
    if numeric and not any(p.exists() for p in schedule_paths(config, paths)):
        return by_id(connect, int(target), kind)
    desired = load_desired(config, paths)
    entry = next((d for d in desired if d.key == target and (kind is None or d.kind == kind.yaml_key)), None)
    if entry is None:
        if numeric:
            return by_id(connect, int(target), kind)
        what = kind.noun if kind is not None else "schedule or alert"
        where = ", ".join(map(str, schedule_paths(config, paths)))
        raise CommandFailed(escape_controls(f"no {what} with key {target!r} in {where}"))
    found = kind_named(entry.kind)
    named = f"key {target!r} in {entry.file}:{entry.line}"
    if entry.id is not None:
        return Target(found, entry.id, named, entry.key, entry.env)
    with connect() as client:
        result = make_plan(client, config, paths, check_references=False)
    match = next((m for m in _matches(result.plan, entry.kind) if m.key == target), None)
    if match is None:
        raise CommandFailed(escape_controls(f"{target!r} does not exist in the workspace yet; apply it first"))
    return Target(found, match.id, named, entry.key, entry.env)


def _matches(plan: WorkspacePlan | Plan, kind: str) -> list[Any]:
    parts = plan.plans if isinstance(plan, WorkspacePlan) else (plan,)
    return [m for part in parts if part.kind == kind for m in part.matches]


def by_id(connect: Callable[[], HolisticsClient], ident: int, kind: Kind | None) -> Target:
    """Item `ident` of `kind`, or, without a kind, of the one kind whose item has that id in the
    workspace: none is an error, and so are two (the message names both)."""
    if kind is not None:
        return Target(kind, ident, "by id")
    with connect() as client:
        found = [(k, item) for k in KINDS if (item := _get(client, k, ident)) is not None]
    if len(found) == 1:
        return Target(found[0][0], ident, "by id")
    if not found:
        raise CommandFailed(f"the workspace has no {' or '.join(k.noun for k in KINDS)} with id {ident}")
    both = " and ".join(f"{k.noun} {ident}{_titled(item)}" for k, item in found)
    options = " or ".join(f"--kind {k.yaml_key}" for k, _ in found)
    raise CommandFailed(f"id {ident} is ambiguous: it is {both}; run it by its YAML key, or pass {options}")


def _get(client: HolisticsClient, kind: Kind, ident: int) -> dict[str, Any] | None:
    try:
        return client.get(kind, ident)
    except (NotFound, PermissionDenied):  # not one this key can run either
        return None


def _titled(item: dict[str, Any]) -> str:
    title = item.get("title")
    return f' "{inert(str(title))}"' if title else ""


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
    noun: str = "schedule",
) -> JobOutcome:
    """Poll the job with exponential backoff until it ends. A job that `already_existed` is replaced by
    the existing one it names, which is the run that will actually deliver."""
    if job.get("status") == "already_existed" and job.get("existing_job_id"):
        on_status(int(job["id"]), "already_existed")
        existing = int(job["existing_job_id"])
        on_note(f"a job for this {noun} was already running: following job {existing} instead")
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
