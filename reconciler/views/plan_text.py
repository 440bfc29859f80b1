"""The plan as text, for terminals and logs: rich Text, so colour is decided by the console that
prints it (a terminal, and only without NO_COLOR). rich is imported only when text is rendered: the
JSON and markdown views do not need it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.text import Text

from reconciler.core.model import Action, Change, FieldDiff, Plan, ProbableDuplicate, WorkspacePlan
from reconciler.desired.discovery import CONFIG_FILE
from reconciler.policy.crowding import Crowd
from reconciler.policy.model import PolicyException
from reconciler.problems import inert
from reconciler.views.plan_words import (
    SHOWN,
    SIGN,
    STYLE,
    VERB,
    Titles,
    brief_line,
    change_name,
    cron_note,
    cron_sides,
    filter_note,
    hidden_value,
    ignored_line,
    item_text,
    list_items,
    not_manageable,
    noun,
    replacement_note,
    source_label,
    summary_line,
    value,
)


def text(
    plan: Plan | WorkspacePlan,
    titles: Titles | None = None,
    *,
    config_file: str = CONFIG_FILE,
    exceptions: Sequence[PolicyException] = (),
    crowds: Mapping[str, Crowd] | None = None,
) -> Text:
    """The plan of every kind: the changes (each says its kind), the summary (each kind counted when
    more than one has anything), then what each kind leaves alone, and the policy exceptions in use.
    `crowds`: per key, how many other deliveries start at the entry's minute (`usecases.spread`), said
    under its change."""
    titles = titles or {}
    plan = WorkspacePlan.of_plan(plan)
    from rich.text import Text  # imported here: the JSON and markdown renderers do not need rich

    out = Text()
    if not plan.has_changes:
        out.append("No changes. The workspace matches the YAML.\n\n", style="green")
    else:
        out.append("holistics-schedules will perform the following actions:\n\n")
    for change in plan.changes:
        _text_change(out, change, titles, plan.timezone, (crowds or {}).get(change.key or ""))
    s = plan.summary
    out.append(summary_line(plan), style="bold")
    out.append(f" ({s['unchanged']} unchanged, {s['unmanaged']} unmanaged)\n")
    _text_notes(out, plan, titles, config_file)
    _text_exceptions(out, exceptions, config_file)
    return out


def _text_exceptions(out: Text, exceptions: Sequence[PolicyException], config_file: str) -> None:
    """Each entry allowed to break a rule of the delivery policy, and why (the config's own words)."""
    if not exceptions:
        return
    out.append(f"Policy exceptions in use ({config_file}):\n", style="bold yellow")
    for e in exceptions:
        out.append(f"  {inert(e.key)}: {e.rule}: {inert(e.reason)}\n", style="yellow")


def _text_change(out: Text, change: Change, titles: Titles, timezone: str, crowd: Crowd | None) -> None:
    out.append(f"  # {change_name(change)} {VERB[change.action]}", style="bold")
    label = source_label(change, titles)
    if label:
        out.append(f" — {label}")
    if change.file:
        out.append(f"  ({change.file}:{change.line})", style="dim")
    out.append("\n")
    if change.reason:
        out.append(f"    # {change.reason}\n", style="dim")
    if crowd is not None and crowd.others:
        out.append(f"    # {crowd.sentence}\n", style="yellow" if crowd.quiet is not None else "dim")
    for diff in change.diff:
        _text_diff(out, change, diff, timezone, titles)
    out.append("\n")


def _text_diff(out: Text, change: Change, diff: FieldDiff, timezone: str, titles: Titles) -> None:
    style = STYLE[change.action]
    out.append(f"    {SIGN[change.action]} ", style=style)
    if diff.hidden:  # from the environment: the expression, never the value
        out.append(f"{diff.path}: ")
        out.append(hidden_value(change, diff), style=style)
        out.append("\n")
        return
    items = list_items(diff)
    if items is not None:
        out.append(f"{diff.path}:")
        out.append(replacement_note(change, diff), style="dim")
        out.append("\n")
        for sign, item in items:
            item_style = {"-": "red", "+": "green"}.get(sign, "dim")
            out.append(f"        {sign} {item_text(sign, item)}", style=item_style)
            out.append(f"{filter_note(change, sign, item, titles)}\n", style="dim")
        return
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
        return
    out.append(value(diff.new if change.action is Action.CREATE else diff.old), style=style)
    out.append(cron_note(diff, timezone) + replacement_note(change, diff), style="dim")
    out.append("\n")


def _text_notes(out: Text, plan: WorkspacePlan, titles: Titles, config_file: str) -> None:
    """What the plan leaves alone, and why: each kind's unmanaged, not manageable, duplicates and
    adopted items; then ignored differences, partial, unsafe."""
    for part in plan.plans:
        _text_kind_notes(out, part, titles)
    for item in plan.ignored_differences:
        out.append(f"{ignored_line(item, config_file)}\n", style="yellow")
    if plan.partial:
        out.append(f"Partial plan: only the entries selected by {plan.partial}; nothing is deleted.\n", style="bold")
    if plan.unsafe:
        out.append(f"Unsafe plan: {plan.unsafe}\n", style="bold red")


def _text_kind_notes(out: Text, plan: Plan, titles: Titles) -> None:
    prunable = [i for i in plan.unmanaged if i not in set(plan.undeclarable)]
    if prunable:
        out.append(
            f"{len(prunable)} remote {noun(plan.kind)}(s) no YAML declares are left alone; --prune would delete them:\n"
        )
        for schedule_id in prunable[:SHOWN]:
            brief = plan.briefs.get(schedule_id)
            out.append(f"  {brief_line(brief, titles) if brief else f'id {schedule_id}'}\n", style="dim")
        if len(prunable) > SHOWN:
            out.append(f"  ... and {len(prunable) - SHOWN} more (plan --json lists them all)\n", style="dim")
    if plan.undeclarable:
        out.append(f"{not_manageable(plan)}\n", style="dim")
    _text_duplicates(out, plan)
    adopted = [m for m in plan.matches if not m.recorded]
    if adopted:
        out.append(
            f"{len(adopted)} entr{'y' if len(adopted) == 1 else 'ies'} without an id match an existing "
            f"{noun(plan.kind)} by content; apply records the id: "
            + ", ".join(f"{m.key} -> {m.id}" for m in adopted[:20])
            + (", ..." if len(adopted) > 20 else "")
            + "\n",
            style="dim",
        )


def _text_duplicates(out: Text, plan: Plan) -> None:
    """Copies of an entry's schedule (two applies at once, a create that landed late): each by id,
    title and the entry it copies, and what deletes it."""
    if not plan.probable_duplicates:
        return
    deleted = {c.id for c in plan.of(Action.DELETE)}
    out.append(
        f"{len(plan.probable_duplicates)} probable duplicate(s): no entry claims them, their content is an entry's:\n"
    )
    for duplicate in plan.probable_duplicates:
        fate = "this plan deletes it" if duplicate.id in deleted else "`apply --prune-duplicates` deletes it"
        out.append(f"  {_duplicate_line(duplicate, noun(plan.kind))}; {fate}\n", style="yellow")


def _duplicate_line(duplicate: ProbableDuplicate, what: str) -> str:
    title = duplicate.remote.get("title") if "title" not in duplicate.env else None  # a secret title stays one
    named = f"{what} {duplicate.id}" + (f" {value(title)}" if title else "")
    return f"{named} looks like a duplicate of {duplicate.key} ({what} {duplicate.of}, same content)"
