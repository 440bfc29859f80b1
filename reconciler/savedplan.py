"""Saved plans: `plan --out plan.json` and `apply plan.json`.

A saved plan holds everything apply needs (each change's request body) plus fingerprints of the
YAML files and of every remote schedule it read, so that apply can refuse a plan that no longer
describes the world: the YAML changed, or a schedule the plan touches changed remotely.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler import render
from reconciler.plan import Action, Change, FieldDiff, Match, Plan, normalize

SAVED_PLAN_VERSION = 1


class SavedPlanError(Exception):
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
    titles: render.Titles | None = None,
) -> str:
    data = render.as_dict(plan, titles)
    data["saved_plan"] = {
        "titles": [[kind, source_id, title] for (kind, source_id), title in sorted((titles or {}).items())],
        "version": SAVED_PLAN_VERSION,
        "paths": [str(p) for p in paths],
        "yaml": yaml_fingerprints(files),
        "remote": remote_fingerprints(remote),
        "remote_ids": sorted(plan.remote_ids),
        # what the plan shows, plus what apply needs to make exactly these calls
        "changes": [
            {**shown, "field_lines": dict(c.field_lines), "body": c.body, "remote": c.remote}
            for shown, c in zip(data["changes"], plan.changes, strict=True)
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    paths: tuple[Path, ...]
    yaml: Mapping[str, str]
    remote: Mapping[str, str]
    titles: Mapping[tuple[str, int], str]


def load(path: Path) -> SavedPlan:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        saved = data["saved_plan"]
        if saved.get("version") != SAVED_PLAN_VERSION:
            raise SavedPlanError(f"{path}: saved plan version {saved.get('version')!r} is not supported")
        changes = tuple(
            Change(
                action=Action(c["action"]),
                key=c["key"],
                id=c["id"],
                diff=tuple(FieldDiff(d["path"], d["old"], d["new"]) for d in c["diff"]),
                body=c["body"],
                remote=c["remote"],
                file=c["file"],
                line=c["line"],
                field_lines=c["field_lines"],
            )
            for c in saved["changes"]
        )
        matches = tuple(Match(m["key"], m["id"], m["file"], m["recorded"]) for m in data["matches"])
        plan = Plan(
            changes=changes,
            matches=matches,
            unmanaged=tuple(data["unmanaged"]),
            remote_ids=frozenset(saved["remote_ids"]),
            prune=bool(data["prune"]),
            unsafe=data.get("unsafe"),  # a saved plan is as unsafe as when it was made: apply needs --force
        )
        titles = {(str(kind), int(source_id)): str(title) for kind, source_id, title in saved.get("titles", [])}
        return SavedPlan(plan, tuple(Path(p) for p in saved["paths"]), saved["yaml"], saved["remote"], titles)
    except SavedPlanError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
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
