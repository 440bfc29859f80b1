"""Saved plans: `plan --out plan.json` and `apply plan.json`.

A saved plan has a format of its own (see `dumps`), apart from the JSON view of a plan, so that view
can change for its readers without breaking saved plans. It holds everything apply needs (each
change's request body) plus fingerprints of the YAML files and of every remote schedule it read, so
that apply can refuse a plan that no longer describes the world: the YAML changed, or a schedule the
plan touches changed remotely.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, model_validator

from reconciler.core.compare import normalize
from reconciler.core.model import Action, Change, FieldDiff, Match, Plan, ProbableDuplicate
from reconciler.errors import UserError
from reconciler.kinds.schedules import SCHEDULES
from reconciler.kinds.schedules.models import Id
from reconciler.views.plan_words import Titles

SAVED_PLAN_VERSION = 2  # 1: the JSON view plus an appendix (before the format had its own shape)


class SavedPlanError(UserError):
    pass


def digest(data: Any) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def yaml_fingerprints(files: Iterable[Path]) -> dict[str, str]:
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(files)}


def remote_fingerprints(remote: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    # normalised, so a server reordering recipients does not make a plan stale
    return {str(r["id"]): digest(normalize(r, SCHEDULES)) for r in remote}


def dumps(
    plan: Plan,
    *,
    paths: Sequence[Path],
    files: Iterable[Path],
    remote: Iterable[Mapping[str, Any]],
    workspace: str,
    titles: Titles | None = None,
) -> str:
    """The saved-plan format (version 2).

    `summary` is for people and tools that peek (derived, never read back); everything apply reads
    is under `saved_plan`: its `version`, the `workspace` (API base URL) it was made for, the `paths`
    planned, fingerprints of the `yaml` files and of every `remote` schedule read, `remote_ids`,
    source `titles`, and the plan itself (`prune`, `unsafe`, `unmanaged`, `matches`, each change
    once, with the body apply sends, and the `probable_duplicates` it names, deleted or not).
    """
    saved = {
        "version": SAVED_PLAN_VERSION,
        "workspace": workspace,
        "paths": [str(p) for p in paths],
        "yaml": yaml_fingerprints(files),
        "remote": remote_fingerprints(remote),
        "remote_ids": sorted(plan.remote_ids),
        "titles": [[kind, source_id, title] for (kind, source_id), title in sorted((titles or {}).items())],
        "prune": plan.prune,
        "unsafe": plan.unsafe,
        "timezone": plan.timezone,
        "unmanaged": list(plan.unmanaged),
        "matches": [
            {"key": m.key, "id": m.id, "file": m.file, "recorded": m.recorded, "stale_id": m.stale_id}
            for m in plan.matches
        ],
        "changes": [_change_data(c) for c in plan.changes],
        # added within version 2: a plan saved before has none, and reads as naming none
        "probable_duplicates": [
            {"id": d.id, "key": d.key, "of": d.of, "remote": d.remote} for d in plan.probable_duplicates
        ],
    }
    return json.dumps({"summary": plan.summary, "saved_plan": saved}, indent=2, ensure_ascii=False, default=str) + "\n"


def _change_data(change: Change) -> dict[str, Any]:
    return {
        "action": change.action.value,
        "key": change.key,
        "id": change.id,
        "file": change.file,
        "line": change.line,
        "field_lines": dict(change.field_lines),
        "diff": [{"path": d.path, "old": d.old, "new": d.new} for d in change.diff],
        "body": change.body,
        "remote": change.remote,
        "reason": change.reason,
        "stale_id": change.stale_id,
    }


LineNumber = Annotated[StrictInt, Field(ge=0)]


class _Strict(BaseModel):
    # strict types, a lax model: JSON arrays are read as tuples, and nothing else is coerced
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Diff(_Strict):
    path: StrictStr
    old: Any
    new: Any


class _Change(_Strict):
    action: Action
    key: StrictStr | None
    id: Id | None
    file: StrictStr | None
    line: LineNumber | None
    field_lines: dict[str, LineNumber]
    diff: list[_Diff]
    body: dict[str, Any] | None
    remote: dict[str, Any] | None
    reason: StrictStr | None = None
    stale_id: Id | None = None

    @model_validator(mode="after")
    def _complete(self) -> _Change:
        # what apply needs for each action, so a hand-edited plan fails here and not halfway through
        if self.action is not Action.CREATE and self.id is None:
            raise ValueError(f"a {self.action.value} needs the schedule's id")
        if self.action is not Action.DELETE and self.body is None:
            raise ValueError(f"a {self.action.value} needs its body")
        if self.action is Action.CREATE and (self.id is not None or not self.key or not self.file):
            raise ValueError("a create has a key and a file, and no id yet")
        return self

    def change(self) -> Change:
        return Change(
            action=self.action,
            key=self.key,
            id=self.id,
            diff=tuple(FieldDiff(d.path, d.old, d.new) for d in self.diff),
            body=self.body,
            remote=self.remote,
            file=self.file,
            line=self.line,
            field_lines=self.field_lines,
            reason=self.reason,
            stale_id=self.stale_id,
        )


class _Match(_Strict):
    key: StrictStr
    id: Id
    file: StrictStr
    recorded: StrictBool
    stale_id: Id | None = None


class _Duplicate(_Strict):
    id: Id
    key: StrictStr
    of: Id
    remote: dict[str, Any]


class _SavedPlan(_Strict):
    version: StrictInt
    workspace: StrictStr
    paths: list[StrictStr]
    yaml: dict[str, StrictStr]
    remote: dict[str, StrictStr]
    remote_ids: list[Id]
    titles: list[tuple[StrictStr, StrictInt, StrictStr]]
    prune: StrictBool
    unsafe: StrictStr | None
    timezone: StrictStr = "UTC"
    unmanaged: list[Id]
    matches: list[_Match]
    changes: list[_Change]
    probable_duplicates: list[_Duplicate] = []


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    workspace: StrictStr
    paths: tuple[Path, ...]
    yaml: Mapping[str, str]
    remote: Mapping[str, str]
    titles: Mapping[tuple[str, int], str]


def load(path: Path) -> SavedPlan:
    not_one = f"{path} is not a saved plan written by `plan --out FILE.json`"
    if not path.is_file():  # a FIFO or a device would block the read, or never end
        raise SavedPlanError(f"{not_one} (not a regular file)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise SavedPlanError(f"{not_one} ({str(exc)[:200]})") from None
    saved = data.get("saved_plan") if isinstance(data, dict) else None
    if not isinstance(saved, dict):
        raise SavedPlanError(f"{not_one} (no `saved_plan` object)")
    if saved.get("version") != SAVED_PLAN_VERSION:
        raise SavedPlanError(
            f"{path}: saved plan format version {saved.get('version')!r} is not supported (this holistics-schedules "
            f"reads version {SAVED_PLAN_VERSION}); run `plan --out {path.name}` again"
        )
    try:
        model = _SavedPlan.model_validate(saved)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SavedPlanError(f"{not_one} (saved_plan.{where}: {first['msg']})") from None
    plan = Plan(
        changes=tuple(c.change() for c in model.changes),
        matches=tuple(Match(m.key, m.id, m.file, m.recorded, m.stale_id) for m in model.matches),
        unmanaged=tuple(model.unmanaged),
        remote_ids=frozenset(model.remote_ids),
        prune=model.prune,
        unsafe=model.unsafe,  # a saved plan is as unsafe as when it was made: apply needs --force
        timezone=model.timezone,
        probable_duplicates=tuple(ProbableDuplicate(d.id, d.key, d.of, d.remote) for d in model.probable_duplicates),
    )
    titles = {(kind, source_id): title for kind, source_id, title in model.titles}
    return SavedPlan(plan, model.workspace, tuple(Path(p) for p in model.paths), model.yaml, model.remote, titles)


def stale_reasons(
    saved: SavedPlan, workspace: str, files: Iterable[Path], remote: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Why the saved plan no longer applies; empty when it still does."""
    if saved.workspace.rstrip("/") != workspace.rstrip("/"):
        return [f"it was made for the workspace at {saved.workspace}, not {workspace}"]
    return _yaml_reasons(saved.yaml, yaml_fingerprints(files)) + _remote_reasons(saved, remote_fingerprints(remote))


def _yaml_reasons(was: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    reasons = []
    for file in sorted(set(was) | set(now)):
        if file not in now:
            reasons.append(f"{file} was removed")
        elif file not in was:
            reasons.append(f"{file} was added")
        elif now[file] != was[file]:
            reasons.append(f"{file} changed")
    return reasons


def _remote_reasons(saved: SavedPlan, now: Mapping[str, str]) -> list[str]:
    """A schedule the plan touches that changed or went since: its diff and body are out of date.
    For a duplicate the plan deletes, the schedule it copies too: without it, it is no copy."""
    touched = [(c.id, c.key or "unmanaged") for c in saved.plan.changes if c.id is not None]
    deleted = {c.id for c in saved.plan.of(Action.DELETE)}
    copied = [(d.of, f"{d.key}, which {d.id} copies") for d in saved.plan.probable_duplicates if d.id in deleted]
    reasons = []
    for schedule_id, what in touched + copied:
        name = f"remote schedule {schedule_id} ({what})"
        if str(schedule_id) not in now:
            reasons.append(f"{name} was deleted")
        elif saved.remote.get(str(schedule_id)) != now[str(schedule_id)]:
            reasons.append(f"{name} changed")
    return reasons
