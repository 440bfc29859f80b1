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
from typing import Any

from reconciler.errors import UserError
from reconciler.plan import Action, Change, FieldDiff, Match, Plan, normalize
from reconciler.render import Titles

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
    return {str(r["id"]): digest(normalize(r)) for r in remote}


def dumps(
    plan: Plan,
    *,
    paths: Sequence[Path],
    files: Iterable[Path],
    remote: Iterable[Mapping[str, Any]],
    titles: Titles | None = None,
) -> str:
    """The saved-plan format (version 2):

    `summary` is for people and tools that peek (derived, never read back); everything apply reads is
    under `saved_plan`: its `version`, the `paths` planned, fingerprints of the `yaml` files and of
    every `remote` schedule read, `remote_ids`, source `titles`, and the plan itself (`prune`,
    `unsafe`, `unmanaged`, `matches`, and each change once, with the body apply sends).
    """
    saved = {
        "version": SAVED_PLAN_VERSION,
        "paths": [str(p) for p in paths],
        "yaml": yaml_fingerprints(files),
        "remote": remote_fingerprints(remote),
        "remote_ids": sorted(plan.remote_ids),
        "titles": [[kind, source_id, title] for (kind, source_id), title in sorted((titles or {}).items())],
        "prune": plan.prune,
        "unsafe": plan.unsafe,
        "unmanaged": list(plan.unmanaged),
        "matches": [{"key": m.key, "id": m.id, "file": m.file, "recorded": m.recorded} for m in plan.matches],
        "changes": [_change_data(c) for c in plan.changes],
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
    }


def _change(data: Mapping[str, Any]) -> Change:
    return Change(
        action=Action(data["action"]),
        key=data["key"],
        id=data["id"],
        diff=tuple(FieldDiff(d["path"], d["old"], d["new"]) for d in data["diff"]),
        body=data["body"],
        remote=data["remote"],
        file=data["file"],
        line=data["line"],
        field_lines=data["field_lines"],
    )


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    paths: tuple[Path, ...]
    yaml: Mapping[str, str]
    remote: Mapping[str, str]
    titles: Mapping[tuple[str, int], str]


def load(path: Path) -> SavedPlan:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))["saved_plan"]
        version = saved.get("version")
        if version != SAVED_PLAN_VERSION:
            raise SavedPlanError(
                f"{path}: saved plan format version {version!r} is not supported (this holistics-schedules "
                f"reads version {SAVED_PLAN_VERSION}); run `plan --out {path.name}` again"
            )
        plan = Plan(
            changes=tuple(_change(c) for c in saved["changes"]),
            matches=tuple(Match(m["key"], m["id"], m["file"], m["recorded"]) for m in saved["matches"]),
            unmanaged=tuple(saved["unmanaged"]),
            remote_ids=frozenset(saved["remote_ids"]),
            prune=bool(saved["prune"]),
            unsafe=saved.get("unsafe"),  # a saved plan is as unsafe as when it was made: apply needs --force
        )
        titles = {(str(kind), int(source_id)): str(title) for kind, source_id, title in saved.get("titles", [])}
        return SavedPlan(plan, tuple(Path(p) for p in saved["paths"]), saved["yaml"], saved["remote"], titles)
    except SavedPlanError:
        raise
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SavedPlanError(f"{path} is not a saved plan written by `plan --out FILE.json` ({exc})") from None


def stale_reasons(saved: SavedPlan, files: Iterable[Path], remote: Iterable[Mapping[str, Any]]) -> list[str]:
    """Why the saved plan no longer applies; empty when it still does."""
    reasons = []
    now_yaml = yaml_fingerprints(files)
    for file in sorted(set(saved.yaml) | set(now_yaml)):
        if file not in now_yaml:
            reasons.append(f"{file} was removed")
        elif file not in saved.yaml:
            reasons.append(f"{file} was added")
        elif now_yaml[file] != saved.yaml[file]:
            reasons.append(f"{file} changed")
    now_remote = remote_fingerprints(remote)
    for change in saved.plan.changes:
        if change.id is None:
            continue
        was, now = saved.remote.get(str(change.id)), now_remote.get(str(change.id))
        if now is None:
            reasons.append(f"remote schedule {change.id} ({change.key or 'unmanaged'}) was deleted")
        elif was != now:
            reasons.append(f"remote schedule {change.id} ({change.key or 'unmanaged'}) changed")
    return reasons
