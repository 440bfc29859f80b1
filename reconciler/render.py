"""Renderers of a Plan: text for terminals and logs, JSON for machines, markdown for pull requests.

Each takes the same Plan and returns a string (text returns rich Text, so colour is decided by
the console it is printed to: a terminal, and only without NO_COLOR).
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from reconciler.plan import Action, Change, Plan

JSON_FORMAT_VERSION = 1
_VERB = {Action.CREATE: "created", Action.UPDATE: "updated in place", Action.DELETE: "deleted"}
_SIGN = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}
_STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red"}


def value(v: Any) -> str:
    """A field value as the plan shows it: JSON, so strings are quoted and null is null."""
    return json.dumps(v, ensure_ascii=False, default=str)


def change_name(change: Change) -> str:
    if change.key is None:
        title = f" {value(change.title)}" if change.title else ""
        return f"unmanaged schedule id {change.id}{title}"
    return f"{change.key} (id {change.id})" if change.id is not None else change.key


def summary_line(plan: Plan) -> str:
    s = plan.summary
    return f"Plan: {s['create']} to create, {s['update']} to update, {s['delete']} to delete."


def text(plan: Plan) -> Text:
    out = Text()
    if not plan.has_changes:
        out.append("No changes. The workspace matches the YAML.\n", style="green")
    else:
        out.append("holistics-schedules will perform the following actions:\n\n")
        for change in plan.changes:
            style = _STYLE[change.action]
            out.append(f"  # {change_name(change)} will be {_VERB[change.action]}", style="bold")
            if change.file:
                out.append(f"  ({change.file}:{change.line})", style="dim")
            out.append("\n")
            for diff in change.diff:
                sign = _SIGN[change.action]
                out.append(f"    {sign} ", style=style)
                out.append(f"{diff.path}: ")
                if change.action is Action.UPDATE:
                    out.append(value(diff.old), style="red")
                    out.append(" -> ")
                    out.append(value(diff.new), style="green")
                else:
                    out.append(value(diff.new if change.action is Action.CREATE else diff.old), style=style)
                out.append("\n")
            out.append("\n")
    s = plan.summary
    out.append(summary_line(plan), style="bold")
    out.append(f" ({s['unchanged']} unchanged, {s['unmanaged']} unmanaged)\n")
    if plan.unmanaged:
        out.append(
            f"{len(plan.unmanaged)} remote schedule(s) are not declared in YAML and are left alone "
            "(ids: "
            + ", ".join(map(str, plan.unmanaged[:20]))
            + (", ..." if len(plan.unmanaged) > 20 else "")
            + "); --prune would delete them.\n",
            style="dim",
        )
    return out


def as_dict(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": JSON_FORMAT_VERSION,
        "summary": plan.summary,
        "prune": plan.prune,
        "changes": [
            {
                "action": c.action.value,
                "key": c.key,
                "id": c.id,
                "file": c.file,
                "line": c.line,
                "title": c.title,
                "destructive": c.action is Action.DELETE,
                "diff": [{"path": d.path, "old": d.old, "new": d.new} for d in c.diff],
            }
            for c in plan.changes
        ],
        "unmanaged": list(plan.unmanaged),
        "matches": [{"key": m.key, "id": m.id, "file": m.file, "recorded": m.recorded} for m in plan.matches],
    }


def to_json(plan: Plan) -> str:
    return json.dumps(as_dict(plan), indent=2, ensure_ascii=False, default=str) + "\n"


def markdown(plan: Plan) -> str:
    s = plan.summary
    lines = [
        "### Holistics schedules plan",
        "",
        "| create | update | delete | unchanged | unmanaged |",
        "|---:|---:|---:|---:|---:|",
        f"| {s['create']} | {s['update']} | {s['delete']} | {s['unchanged']} | {s['unmanaged']} |",
        "",
    ]
    if not plan.has_changes:
        lines += ["No changes. The workspace matches the YAML.", ""]
    for change in plan.changes:
        where = f" — `{change.file}:{change.line}`" if change.file else ""
        lines += [
            "<details>",
            f"<summary>{_SIGN[change.action]} <b>{_md(change_name(change))}</b> will be "
            f"{_VERB[change.action]}{where}</summary>",
            "",
            "```diff",
        ]
        for diff in change.diff:
            if change.action is Action.UPDATE:
                lines += [f"- {diff.path}: {value(diff.old)}", f"+ {diff.path}: {value(diff.new)}"]
            elif change.action is Action.CREATE:
                lines.append(f"+ {diff.path}: {value(diff.new)}")
            else:
                lines.append(f"- {diff.path}: {value(diff.old)}")
        lines += ["```", "", "</details>", ""]
    lines.append(f"**{summary_line(plan)}**")
    return "\n".join(lines) + "\n"


def _md(s: str) -> str:
    return s.replace("<", "&lt;").replace(">", "&gt;")
