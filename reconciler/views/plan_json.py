"""The plan as JSON, for machines (`plan --json`, saved plans are their own format)."""

from __future__ import annotations

import json
from typing import Any

from reconciler.core.model import Action, Plan
from reconciler.views.plan_words import Titles, brief_dict, replacement_note, source_label

# 2: unmanaged schedules are objects; replacements, reasons, ignored differences. A field added since
# (timezone, probable_duplicates) keeps the version: readers ignore what they do not know.
JSON_FORMAT_VERSION = 2


def as_dict(plan: Plan, titles: Titles | None = None) -> dict[str, Any]:
    titles = titles or {}
    return {
        "format_version": JSON_FORMAT_VERSION,
        "summary": plan.summary,
        "prune": plan.prune,
        "unsafe": plan.unsafe,
        "changes": [
            {
                "action": c.action.value,
                "key": c.key,
                "id": c.id,
                "file": c.file,
                "line": c.line,
                "title": c.title,
                "source": source_label(c, titles),
                "destructive": c.action in (Action.DELETE, Action.REPLACE),
                "reason": c.reason,
                "forces_replacement": [d.path for d in c.diff if replacement_note(c, d)],
                "diff": [{"path": d.path, "old": d.old, "new": d.new} for d in c.diff],
            }
            for c in plan.changes
        ],
        "unmanaged": [brief_dict(plan, i, titles) for i in plan.unmanaged],
        "not_manageable": list(plan.undeclarable),
        "matches": [{"key": m.key, "id": m.id, "file": m.file, "recorded": m.recorded} for m in plan.matches],
        "ignored_differences": [
            {"key": d.key, "path": d.path, "yaml": d.yaml, "workspace": d.workspace, "file": d.file, "line": d.line}
            for d in plan.ignored_differences
        ],
        "probable_duplicates": [
            {"id": d.id, "key": d.key, "of": d.of, "title": _title(d.remote.get("title"))}
            for d in plan.probable_duplicates
        ],
        "partial": plan.partial,
        "timezone": plan.timezone,
    }


def _title(title: Any) -> str | None:
    return str(title) if title else None


def to_json(plan: Plan, titles: Titles | None = None) -> str:
    return json.dumps(as_dict(plan, titles), indent=2, ensure_ascii=False, default=str) + "\n"
