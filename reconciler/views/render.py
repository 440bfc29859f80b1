"""Renderers of a Plan: text for terminals and logs, JSON for machines, markdown for pull requests.

Each takes the same Plan (and, optionally, source titles read once per source) and returns a
string; text returns rich Text, so colour is decided by the console that prints it (a terminal,
and only without NO_COLOR).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.text import Text

from reconciler.core.model import Action, Brief, Change, FieldDiff, IgnoredDifference, Plan
from reconciler.kinds.schedules import SOURCE_FIELDS
from reconciler.usecases.config import CONFIG_FILE
from reconciler.views.cron_words import cron_in_words, dst_warnings, when_line

JSON_FORMAT_VERSION = 2  # 2: unmanaged schedules are objects; replacements, reasons, ignored differences
GITHUB_COMMENT_LIMIT = 65_536
Titles = Mapping[tuple[str, int], str]

_VERB = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in place",
    Action.DELETE: "will be deleted",
    Action.REPLACE: "must be replaced",
}
_SIGN = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.REPLACE: "-/+"}
_STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red", Action.REPLACE: "magenta"}
_SHOWN = 50  # unmanaged schedules named one by one; past that, a count
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def value(v: Any) -> str:
    """A field value as the plan shows it: JSON, so strings are quoted and null is null."""
    return json.dumps(v, ensure_ascii=False, default=str)


def mask_emails(text: str) -> str:
    """`finance@example.com` -> `f***@example.com`: addresses are personal data in PR comments."""
    return _EMAIL.sub(r"\1***@\2", text)


def change_name(change: Change) -> str:
    if change.key is None:
        title = f" {value(change.title)}" if change.title else ""
        return f"unmanaged schedule id {change.id}{title}"
    return f"{change.key} (id {change.id})" if change.id is not None else change.key


def source_label(change: Change, titles: Titles) -> str | None:
    source = change.source
    return _source_text(source, titles) if source is not None else None


def _source_text(source: tuple[str, int], titles: Titles) -> str:
    kind = "dashboard" if source[0] == "Dashboard" else "report"
    title = titles.get(source)
    return f'{kind} {source[1]} "{title}"' if title else f"{kind} {source[1]}"


def cron_note(diff: FieldDiff, timezone: str = "UTC") -> str:
    """For schedule.repeat: what the crontab means, so reviewers need not decode it, and for a new
    or changed one when it runs next in `timezone` and what the year's clock changes do to it."""
    if diff.path != "schedule.repeat":
        return ""
    words = [cron_in_words(v) if isinstance(v, str) else None for v in (diff.old, diff.new)]
    shown = [w for w in words if w]
    parts = [" -> ".join(shown)] if shown else []
    if isinstance(diff.new, str) and diff.new != diff.old:
        parts += _cron_times(diff.new, timezone)
    return f"  ({'; '.join(parts)})" if parts else ""


def cron_sides(diff: FieldDiff, timezone: str = "UTC") -> tuple[str, str]:
    """For a changed schedule.repeat: the old meaning and the new one (with its next runs and clock
    changes), each for its own line, so a reviewer reads one against the other."""
    if diff.path != "schedule.repeat":
        return "", ""
    old = cron_in_words(diff.old) if isinstance(diff.old, str) else None
    new_parts = [w for w in [cron_in_words(diff.new) if isinstance(diff.new, str) else None] if w]
    if isinstance(diff.new, str) and diff.new != diff.old:
        new_parts += _cron_times(diff.new, timezone)
    return old or "", "; ".join(new_parts)


def _cron_times(expression: str, timezone: str) -> list[str]:
    """["next: Mon 2026-12-07 08:00, ... Europe/Berlin", "DST: ..."], counted from `describe.now()`."""
    warnings = dst_warnings(expression, timezone)
    return [p for p in (when_line(expression, timezone), *(f"DST: {w}" for w in warnings)) if p]


def summary_line(plan: Plan) -> str:
    s = plan.summary
    replaced = f", {s['replace']} to replace" if s["replace"] else ""
    return f"Plan: {s['create']} to create, {s['update']} to update, {s['delete']} to delete{replaced}."


_CONTEXT = 5  # unchanged items of a list shown around the changed ones, as Terraform does


def list_items(diff: FieldDiff) -> list[tuple[str, Any]] | None:
    """For a list field (recipients, formats, channels, presets): each item as (sign, item), "-"
    removed, "+" added, " " unchanged (the first few, for context; then a count), so a plan shows
    what comes and goes line by line; None for any other field."""
    old, new = diff.old, diff.new
    if not (isinstance(old, list) or isinstance(new, list)) or not all(isinstance(v, list | None) for v in (old, new)):
        return None
    before, after = [value(v) for v in old or []], [value(v) for v in new or []]
    kept = [(" ", v) for v, text in zip(new or [], after, strict=True) if text in before]
    hidden = kept[_CONTEXT:]
    lines = [
        *kept[:_CONTEXT],
        *(("-", v) for v, text in zip(old or [], before, strict=True) if text not in after),
        *(("+", v) for v, text in zip(new or [], after, strict=True) if text not in before),
    ]
    if not lines:
        return None  # an empty list: shown as `[]`, a header with nothing under it says nothing
    return lines + ([("#", f"{len(hidden)} more unchanged")] if hidden else [])


def _item_text(sign: str, item: Any) -> str:
    return f"# ({item})" if sign == "#" else value(item)


def replacement_note(change: Change, diff: FieldDiff) -> str:
    return "  # forces replacement" if change.action is Action.REPLACE and diff.path in SOURCE_FIELDS else ""


def brief_line(brief: Brief, titles: Titles) -> str:
    """`id 4801 "Weekly sales" — dashboard 1234 "Sales" — EmailDest`: which schedule, for a reviewer."""
    parts = [f"id {brief.id}" + (f" {value(brief.title)}" if brief.title else "")]
    if brief.source is not None:
        parts.append(_source_text(brief.source, titles))
    if brief.dest_type:
        parts.append(brief.dest_type)
    return " — ".join(parts)


def ignored_line(item: IgnoredDifference, config_file: str) -> str:
    return (
        f"{item.file}:{item.line}: {item.key}.{item.path} is ignored by {config_file}: the workspace keeps its "
        f"value ({value(item.workspace)}; the YAML says {value(item.yaml)})"
    )


def text(plan: Plan, titles: Titles | None = None, *, config_file: str = CONFIG_FILE) -> Text:
    titles = titles or {}
    from rich.text import Text  # imported here: the JSON and markdown renderers do not need rich

    out = Text()
    if not plan.has_changes:
        out.append("No changes. The workspace matches the YAML.\n\n", style="green")
    else:
        out.append("holistics-schedules will perform the following actions:\n\n")
    for change in plan.changes:
        _text_change(out, change, titles, plan.timezone)
    s = plan.summary
    out.append(summary_line(plan), style="bold")
    out.append(f" ({s['unchanged']} unchanged, {s['unmanaged']} unmanaged)\n")
    _text_notes(out, plan, titles, config_file)
    return out


def _text_change(out: Text, change: Change, titles: Titles, timezone: str) -> None:
    style = _STYLE[change.action]
    out.append(f"  # {change_name(change)} {_VERB[change.action]}", style="bold")
    label = source_label(change, titles)
    if label:
        out.append(f" — {label}")
    if change.file:
        out.append(f"  ({change.file}:{change.line})", style="dim")
    out.append("\n")
    if change.reason:
        out.append(f"    # {change.reason}\n", style="dim")
    for diff in change.diff:
        out.append(f"    {_SIGN[change.action]} ", style=style)
        items = list_items(diff)
        if items is not None:
            out.append(f"{diff.path}:")
            out.append(replacement_note(change, diff), style="dim")
            out.append("\n")
            for sign, item in items:
                item_style = {"-": "red", "+": "green"}.get(sign, "dim")
                out.append(f"        {sign} {_item_text(sign, item)}\n", style=item_style)
            continue
        out.append(f"{diff.path}: ")
        if change.action in (Action.UPDATE, Action.REPLACE):
            out.append(value(diff.old), style="red")
            out.append(" -> ")
            out.append(value(diff.new), style="green")
            out.append(replacement_note(change, diff) + "\n", style="dim")
            was, now = cron_sides(diff, timezone)
            for label, note in (("was", was), ("now", now)):
                if note:
                    out.append(f"        {label}: {note}\n", style="dim")
            continue
        out.append(value(diff.new if change.action is Action.CREATE else diff.old), style=style)
        out.append(cron_note(diff, timezone) + replacement_note(change, diff), style="dim")
        out.append("\n")
    out.append("\n")


def _text_notes(out: Text, plan: Plan, titles: Titles, config_file: str) -> None:
    """What the plan leaves alone, and why: unmanaged, not manageable, adopted, ignored, partial."""
    prunable = [i for i in plan.unmanaged if i not in set(plan.undeclarable)]
    if prunable:
        out.append(f"{len(prunable)} remote schedule(s) no YAML declares are left alone; --prune would delete them:\n")
        for schedule_id in prunable[:_SHOWN]:
            brief = plan.briefs.get(schedule_id)
            out.append(f"  {brief_line(brief, titles) if brief else f'id {schedule_id}'}\n", style="dim")
        if len(prunable) > _SHOWN:
            out.append(f"  ... and {len(prunable) - _SHOWN} more (plan --json lists them all)\n", style="dim")
    if plan.undeclarable:
        out.append(f"{_not_manageable(plan)}\n", style="dim")
    adopted = [m for m in plan.matches if not m.recorded]
    if adopted:
        out.append(
            f"{len(adopted)} entr{'y' if len(adopted) == 1 else 'ies'} without an id match an existing schedule by "
            "content; apply records the id: "
            + ", ".join(f"{m.key} -> {m.id}" for m in adopted[:20])
            + (", ..." if len(adopted) > 20 else "")
            + "\n",
            style="dim",
        )
    for item in plan.ignored_differences:
        out.append(f"{ignored_line(item, config_file)}\n", style="yellow")
    if plan.partial:
        out.append(f"Partial plan: only the entries selected by {plan.partial}; nothing is deleted.\n", style="bold")
    if plan.unsafe:
        out.append(f"Unsafe plan: {plan.unsafe}\n", style="bold red")


def _ids(ids: list[int] | tuple[int, ...]) -> str:
    return ", ".join(map(str, ids[:20])) + (", ..." if len(ids) > 20 else "")


def _not_manageable(plan: Plan) -> str:
    return (
        f"{len(plan.undeclarable)} remote schedule(s) are not manageable here: the YAML cannot declare their "
        f"destination or values (ids: {_ids(plan.undeclarable)}); they are left alone, also by --prune."
    )


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
        "unmanaged": [_brief_dict(plan, i, titles) for i in plan.unmanaged],
        "not_manageable": list(plan.undeclarable),
        "matches": [{"key": m.key, "id": m.id, "file": m.file, "recorded": m.recorded} for m in plan.matches],
        "ignored_differences": [
            {"key": d.key, "path": d.path, "yaml": d.yaml, "workspace": d.workspace, "file": d.file, "line": d.line}
            for d in plan.ignored_differences
        ],
        "partial": plan.partial,
        "timezone": plan.timezone,
    }


def _brief_dict(plan: Plan, schedule_id: int, titles: Titles) -> dict[str, Any]:
    brief = plan.briefs.get(schedule_id)
    if brief is None:
        return {"id": schedule_id, "title": None, "source": None, "dest_type": None}
    source = _source_text(brief.source, titles) if brief.source else None
    return {"id": brief.id, "title": brief.title, "source": source, "dest_type": brief.dest_type}


def to_json(plan: Plan, titles: Titles | None = None) -> str:
    return json.dumps(as_dict(plan, titles), indent=2, ensure_ascii=False, default=str) + "\n"


def markdown(
    plan: Plan,
    titles: Titles | None = None,
    *,
    show_sensitive: bool = False,
    limit: int | None = GITHUB_COMMENT_LIMIT,
    full_plan_hint: str = "the job summary",
) -> str:
    """A comment-ready plan: summary table, then one collapsible section per change, deletions first
    under a warning. Longer than `limit`, it stops at a whole section and says where the rest is."""
    titles = titles or {}
    s = plan.summary
    head = [
        "### Holistics schedules plan",
        "",
        "| create | update | delete | unchanged | unmanaged |",
        "|---:|---:|---:|---:|---:|",
        f"| {s['create']} | {s['update']} | {s['delete']} | {s['unchanged']} | {s['unmanaged']} |",
        "",
    ]
    if plan.unsafe:
        head += [f"> [!CAUTION]\n> **Unsafe plan:** {_inline(plan.unsafe)}", ""]
    deletes = plan.of(Action.DELETE)
    if deletes:
        head += [
            f"> [!WARNING]\n> **{len(deletes)} schedule(s) will be deleted.** Deliveries stop and cannot be restored.",
            "",
        ]
    if plan.partial:
        partial = f"only the entries selected by {_inline(plan.partial)}; nothing is deleted"
        head += [f"> [!NOTE]\n> **Partial plan:** {partial}.", ""]
    if plan.undeclarable:
        head += [_inline(_not_manageable(plan)), ""]
    if not plan.has_changes:
        head += ["No changes. The workspace matches the YAML.", ""]
    order = (*deletes, *plan.of(Action.REPLACE), *plan.of(Action.UPDATE), *plan.of(Action.CREATE))
    sections = [_section(c, titles, show_sensitive, plan.timezone) for c in order]
    tail = [*_md_notes(plan, titles, show_sensitive), f"**{summary_line(plan)}**", ""]
    document = "\n".join(head) + "\n" + "".join(sections) + "\n".join(tail)
    if limit is None or len(document) <= limit:
        return document
    note = (
        "\n> [!NOTE]\n> The plan is longer than a comment allows: {shown} of {total} changes are shown here. "
        f"The full plan is in {full_plan_hint}.\n\n"
    )
    budget = limit - len("\n".join(head)) - len("\n".join(tail)) - len(note) - 20
    kept: list[str] = []
    for section in sections:
        if sum(map(len, kept)) + len(section) > budget:
            break
        kept.append(section)
    return "\n".join(head) + "\n" + "".join(kept) + note.format(shown=len(kept), total=len(sections)) + "\n".join(tail)


def _section(change: Change, titles: Titles, show_sensitive: bool, timezone: str) -> str:
    # HTML, not backticks: GitHub renders no Markdown inside <summary>
    where = f" — <code>{_md(change.file)}:{change.line}</code>" if change.file else ""
    label = source_label(change, titles)
    lines = [
        "<details>",
        f"<summary>{_SIGN[change.action]} <b>{_md(change_name(change))}</b> {_VERB[change.action]}"
        f"{' — ' + _md(label) if label else ''}{where}</summary>",
        "",
        *([f"_{_inline(change.reason)}_", ""] if change.reason else []),
        "```diff",
    ]
    masked = (lambda text: text) if show_sensitive else mask_emails
    for diff in change.diff:
        old, new = masked(value(diff.old)), masked(value(diff.new))
        note = cron_note(diff, timezone) + replacement_note(change, diff)
        items = list_items(diff)
        if items is not None:
            sign = {Action.CREATE: "+", Action.DELETE: "-"}.get(change.action, " ")
            lines.append(f"{sign} {diff.path}:{note}")
            lines += [f"{'' if s == '#' else s}    {masked(_item_text(s, v))}" for s, v in items]
        elif change.action in (Action.UPDATE, Action.REPLACE):
            was, now = (f"  ({side})" if side else "" for side in cron_sides(diff, timezone))
            lines += [f"- {diff.path}: {old}{was}", f"+ {diff.path}: {new}{now}{replacement_note(change, diff)}"]
        elif change.action is Action.CREATE:
            lines.append(f"+ {diff.path}: {new}{note}")
        else:
            lines.append(f"- {diff.path}: {old}")
    lines += ["```", "", "</details>", ""]
    return "\n".join(lines) + "\n"


def _md_notes(plan: Plan, titles: Titles, show_sensitive: bool) -> list[str]:
    """Collapsed lists of what the plan leaves alone or takes over, for reviewers who want them."""
    out: list[str] = []
    prunable = [i for i in plan.unmanaged if i not in set(plan.undeclarable)]
    if prunable:
        rows = [
            f"| {b['id']} | {_cell(b['title'])} | {_cell(b['source'])} | {_cell(b['dest_type'])} |"
            for b in (_brief_dict(plan, i, titles) for i in prunable[:_SHOWN])
        ]
        more = ["", f"... and {len(prunable) - _SHOWN} more."] if len(prunable) > _SHOWN else []
        out += [
            "<details>",
            f"<summary>{len(prunable)} unmanaged schedule(s): no YAML declares them; left alone</summary>",
            "",
            "| id | title | source | destination |",
            "|---:|---|---|---|",
            *rows,
            *more,
            "",
            "</details>",
            "",
        ]
    adopted = [m for m in plan.matches if not m.recorded]
    if adopted:
        out += [
            "<details>",
            f"<summary>{len(adopted)} entr{'y' if len(adopted) == 1 else 'ies'} matched to an existing schedule by "
            "content (apply records the id)</summary>",
            "",
            *(f"- <code>{_md(m.key)}</code> → id {m.id} (<code>{_md(m.file)}</code>)" for m in adopted),
            "",
            "</details>",
            "",
        ]
    for item in plan.ignored_differences:
        line = ignored_line(item, CONFIG_FILE)
        out += [f"> [!NOTE]\n> {_inline(line if show_sensitive else mask_emails(line))}", ""]
    return out


_LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]+")
_MARKDOWN = re.compile(r"([!-/:-@\[-`{-~])")


def _cell(text: str | None) -> str:
    return _inline(text) if text else ""


def _inline(text: str) -> str:
    """Text from the network in a Markdown context (a table cell, a callout): one line, with every
    ASCII punctuation backslash-escaped, so a title cannot add a heading, a link, an image or a row."""
    return _MARKDOWN.sub(r"\\\1", _LINE_BREAKS.sub(" ", text))


def _md(s: str) -> str:
    """Text inside raw HTML (a <summary>): escaped HTML, on one line; a line break would end the
    HTML block and let the rest be read as Markdown."""
    return _LINE_BREAKS.sub(" ", s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
