"""Saved plans: `plan --out plan.json` and `apply plan.json`.

A saved plan has a format of its own (see `dumps`), apart from the JSON view of a plan, so that view
can change for its readers without breaking saved plans. It holds everything apply needs (each
change's request body, every kind's part) plus fingerprints of the YAML files and of every remote
item it read, so that apply can refuse a plan that no longer describes the world: the YAML changed,
or an item the plan touches changed remotely. A value from the environment is never in it: each is
its `${NAME}` expression, and each variable a keyed fingerprint of its value (`env`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, ValidationError, model_validator

from reconciler.core.compare import normalize
from reconciler.core.hiding import masked_fields, masked_remote
from reconciler.core.model import Action, Change, FieldDiff, Match, Plan, ProbableDuplicate, WorkspacePlan
from reconciler.errors import UserError
from reconciler.kinds import Kind
from reconciler.kinds.known import BY_YAML_KEY, kind_named
from reconciler.kinds.schedules.models import Id
from reconciler.policy.crowding import Crowd
from reconciler.policy.model import PolicyException
from reconciler.views.plan_words import Titles

# 1: the JSON view plus an appendix (before the format had its own shape); 2: schedules alone;
# 3: a part per kind (`kinds`), remote fingerprints per kind, values from the environment masked
SAVED_PLAN_VERSION = 3
RemoteItems = Mapping[str, Iterable[Mapping[str, Any]]]  # per kind (YAML key), the items read


class SavedPlanError(UserError):
    pass


def digest(data: Any, key: bytes | None = None) -> str:
    """A fingerprint of `data`; keyed (`key`) when it may hold a value from the environment, so that
    the plan file alone cannot be used to test guesses of that value offline."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    if key is None:
        return hashlib.sha256(canonical).hexdigest()
    return "hmac-sha256:" + hmac.new(key, canonical, hashlib.sha256).hexdigest()


def key_check(key: bytes) -> str:
    """What tells, at apply, that the key that keyed a saved plan's fingerprints is the one at hand."""
    return digest("holistics-schedules saved plan key", key)


def yaml_fingerprints(files: Iterable[Path]) -> dict[str, str]:
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(files)}


def remote_fingerprints(remote: Iterable[Mapping[str, Any]], kind: Kind, key: bytes | None = None) -> dict[str, str]:
    # normalised, so a server reordering recipients does not make a plan stale; keyed in a plan that
    # takes values from the environment (a workspace item holds them: an endpoint's integration key)
    return {str(r["id"]): digest(normalize(r, kind), key) for r in remote}


def _by_kind(remote: RemoteItems | Iterable[Mapping[str, Any]]) -> RemoteItems:
    """Items per kind; a plain list of items is schedules (what callers of one kind pass)."""
    return remote if isinstance(remote, Mapping) else {"schedules": remote}


def dumps(
    plan: WorkspacePlan | Plan,
    *,
    paths: Sequence[Path],
    files: Iterable[Path],
    remote: RemoteItems | Iterable[Mapping[str, Any]],
    workspace: str,
    titles: Titles | None = None,
    env: Mapping[str, str] | None = None,
    remote_key: bytes | None = None,
    exceptions: Sequence[PolicyException] = (),
    crowds: Mapping[str, Crowd] | None = None,
) -> str:
    """The saved-plan format (version 3).

    `summary` and `summary_by_kind` are for people and tools that peek (derived, never read back);
    everything apply reads is under `saved_plan`: its `version`, the `workspace` (API base URL) it
    was made for, the `paths` planned, fingerprints of the `yaml` files and of every `remote` item
    read (per kind; keyed by `remote_key`, with its `key_check`, when the plan takes values from the
    environment), source `titles`, the `timezone`, the keyed fingerprint of each variable taken from
    the environment (`env`), and per kind (`kinds`) its part of the plan (`prune`, `unsafe`,
    `remote_ids`, `unmanaged`, `matches`, each change once, with the body apply sends, and the
    `probable_duplicates` it names, deleted or not).
    """
    whole = WorkspacePlan.of_plan(plan)
    by_kind = _by_kind(remote)
    saved = {
        "version": SAVED_PLAN_VERSION,
        "workspace": workspace,
        "paths": [str(p) for p in paths],
        "yaml": yaml_fingerprints(files),
        "remote": {key: remote_fingerprints(items, kind_named(key), remote_key) for key, items in by_kind.items()},
        "key_check": key_check(remote_key) if remote_key is not None else None,
        "titles": [[kind, source_id, title] for (kind, source_id), title in sorted((titles or {}).items())],
        "timezone": whole.timezone,
        "env": dict(sorted((env or {}).items())),
        "kinds": [_part_data(part) for part in whole.plans],
        # what the plan's views said beside the changes, so that `show` says it too (apply judges anew)
        "policy_exceptions": [e.model_dump() for e in exceptions],
        "crowds": {key: [c.minute, c.others, c.quiet] for key, c in sorted((crowds or {}).items())},
    }
    peek = {"summary": whole.summary, "summary_by_kind": whole.summary_by_kind, "saved_plan": saved}
    return json.dumps(peek, indent=2, ensure_ascii=False, default=str) + "\n"


def _part_data(plan: Plan) -> dict[str, Any]:
    return {
        "kind": plan.kind,
        "remote_ids": sorted(plan.remote_ids),
        "prune": plan.prune,
        "unsafe": plan.unsafe,
        "partial": plan.partial,
        "unmanaged": list(plan.unmanaged),
        "matches": [
            {"key": m.key, "id": m.id, "file": m.file, "recorded": m.recorded, "stale_id": m.stale_id}
            for m in plan.matches
        ],
        "changes": [_change_data(c) for c in plan.changes],
        "probable_duplicates": [
            {"id": d.id, "key": d.key, "of": d.of, "remote": masked_remote(d.remote, d.env), "env": dict(d.env)}
            for d in plan.probable_duplicates
        ],
    }


def _change_data(change: Change) -> dict[str, Any]:
    """A change as saved: its diff is already masked (`core.hiding`); its body and the remote item
    hold each value from the environment as its expression."""
    return {
        "action": change.action.value,
        "key": change.key,
        "id": change.id,
        "file": change.file,
        "line": change.line,
        "field_lines": dict(change.field_lines),
        "diff": [_diff_data(d) for d in change.diff],
        "body": masked_fields(change.body, change.env),
        "remote": masked_remote(change.remote, change.env),
        "reason": change.reason,
        "stale_id": change.stale_id,
        "env": dict(change.env),
    }


def _diff_data(diff: FieldDiff) -> dict[str, Any]:
    data = {"path": diff.path, "old": diff.old, "new": diff.new}
    return data if diff.env_changes is None else {**data, "env_changes": diff.env_changes}


LineNumber = Annotated[StrictInt, Field(ge=0)]


class _Strict(BaseModel):
    # strict types, a lax model: JSON arrays are read as tuples, and nothing else is coerced
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Diff(_Strict):
    path: StrictStr
    old: Any
    new: Any
    env_changes: StrictBool | None = None


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
    env: dict[StrictStr, StrictStr] = {}

    @model_validator(mode="after")
    def _complete(self) -> _Change:
        # what apply needs for each action, so a hand-edited plan fails here and not halfway through
        if self.action is not Action.CREATE and self.id is None:
            raise ValueError(f"a {self.action.value} needs the item's id")
        if self.action is not Action.DELETE and self.body is None:
            raise ValueError(f"a {self.action.value} needs its body")
        if self.action is Action.CREATE and (self.id is not None or not self.key or not self.file):
            raise ValueError("a create has a key and a file, and no id yet")
        return self

    def change(self, kind: str) -> Change:
        return Change(
            action=self.action,
            key=self.key,
            id=self.id,
            diff=tuple(FieldDiff(d.path, d.old, d.new, d.env_changes) for d in self.diff),
            body=self.body,
            remote=self.remote,
            file=self.file,
            line=self.line,
            field_lines=self.field_lines,
            reason=self.reason,
            stale_id=self.stale_id,
            kind=kind,
            env=self.env,
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
    env: dict[StrictStr, StrictStr] = {}


class _Part(_Strict):
    kind: StrictStr
    remote_ids: list[Id]
    prune: StrictBool
    unsafe: StrictStr | None
    partial: StrictStr | None = None
    unmanaged: list[Id]
    matches: list[_Match]
    changes: list[_Change]
    probable_duplicates: list[_Duplicate] = []

    @model_validator(mode="after")
    def _known(self) -> _Part:
        if self.kind not in BY_YAML_KEY:
            raise ValueError(f"{self.kind!r} is not a kind this holistics-schedules knows")
        return self

    def plan(self, timezone: str) -> Plan:
        return Plan(
            changes=tuple(c.change(self.kind) for c in self.changes),
            matches=tuple(Match(m.key, m.id, m.file, m.recorded, m.stale_id) for m in self.matches),
            unmanaged=tuple(self.unmanaged),
            remote_ids=frozenset(self.remote_ids),
            prune=self.prune,
            unsafe=self.unsafe,  # a saved plan is as unsafe as when it was made: apply needs --force
            partial=self.partial,
            timezone=timezone,
            probable_duplicates=tuple(
                ProbableDuplicate(d.id, d.key, d.of, d.remote, d.env) for d in self.probable_duplicates
            ),
            kind=self.kind,
        )


class _SavedPlan(_Strict):
    version: StrictInt
    workspace: StrictStr
    paths: list[StrictStr]
    yaml: dict[str, StrictStr]
    remote: dict[StrictStr, dict[str, StrictStr]]
    titles: list[tuple[StrictStr, StrictInt, StrictStr]]
    timezone: StrictStr = "UTC"
    env: dict[StrictStr, StrictStr] = {}
    key_check: StrictStr | None = None
    kinds: list[_Part]
    policy_exceptions: list[PolicyException] = []
    crowds: dict[StrictStr, tuple[StrictInt, StrictInt, StrictInt | None]] = {}


@dataclass(frozen=True)
class SavedPlan:
    plan: WorkspacePlan  # each body as saved: a value from the environment is its expression
    workspace: StrictStr
    paths: tuple[Path, ...]
    yaml: Mapping[str, str]
    remote: Mapping[str, Mapping[str, str]]  # per kind, per id, the fingerprint of the item read
    titles: Mapping[tuple[str, int], str]
    env: Mapping[str, str] = field(default_factory=dict)  # per variable, the keyed fingerprint of its value
    key_check: str | None = None  # set when `remote` is keyed (see `dumps`)
    exceptions: tuple[PolicyException, ...] = ()  # the policy's in use when it was made (shown, not trusted)
    crowds: Mapping[str, Crowd] = field(default_factory=dict)


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
    parts = {part.kind: part.plan(model.timezone) for part in model.kinds}
    plan = WorkspacePlan(tuple(parts[k] for k in BY_YAML_KEY if k in parts))  # in the order of the kinds
    titles = {(kind, source_id): title for kind, source_id, title in model.titles}
    paths = tuple(Path(p) for p in model.paths)
    crowds = {key: Crowd(*values) for key, values in model.crowds.items()}
    return SavedPlan(
        plan,
        model.workspace,
        paths,
        model.yaml,
        model.remote,
        titles,
        model.env,
        model.key_check,
        tuple(model.policy_exceptions),
        crowds,
    )


def stale_reasons(
    saved: SavedPlan,
    workspace: str,
    files: Iterable[Path],
    remote: RemoteItems | Iterable[Mapping[str, Any]],
    key: bytes | None = None,
) -> list[str]:
    """Why the saved plan no longer applies; empty when it still does. `remote`: per kind, the items
    listed now (a kind not given is one the plan does not touch); `key`: the key of its fingerprints."""
    if saved.workspace.rstrip("/") != workspace.rstrip("/"):
        return [f"it was made for the workspace at {saved.workspace}, not {workspace}"]
    key = key if saved.key_check is not None else None
    now = {name: remote_fingerprints(items, kind_named(name), key) for name, items in _by_kind(remote).items()}
    reasons = _yaml_reasons(saved.yaml, yaml_fingerprints(files))
    for part in saved.plan.plans:
        reasons += _remote_reasons(part, saved.remote.get(part.kind, {}), now.get(part.kind, {}))
    return reasons


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


def _remote_reasons(plan: Plan, was: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """An item of the plan's kind that it touches and that changed or went since: its diff and body
    are out of date. For a duplicate the plan deletes, the item it copies too: without it, it is no copy."""
    touched = [(c.id, c.key or "unmanaged") for c in plan.changes if c.id is not None]
    deleted = {c.id for c in plan.of(Action.DELETE)}
    copied = [(d.of, f"{d.key}, which {d.id} copies") for d in plan.probable_duplicates if d.id in deleted]
    noun = BY_YAML_KEY[plan.kind].noun
    reasons = []
    for item_id, what in touched + copied:
        name = f"remote {noun} {item_id} ({what})"
        if str(item_id) not in now:
            reasons.append(f"{name} was deleted")
        elif was.get(str(item_id)) != now[str(item_id)]:
            reasons.append(f"{name} changed")
    return reasons
