"""The plan as markdown, for a pull request's comment and a job's summary: every string from the
network escaped for the context it lands in (a table cell, raw HTML), e-mail addresses masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from reconciler.core.model import Action, Change, Plan, WorkspacePlan
from reconciler.desired.discovery import CONFIG_FILE
from reconciler.policy.crowding import Crowd
from reconciler.policy.model import PolicyException
from reconciler.problems import escape_controls
from reconciler.views.plan_words import (
    SHOWN,
    SIGN,
    VERB,
    Titles,
    brief_dict,
    change_name,
    cron_note,
    cron_sides,
    filter_note,
    hidden_value,
    ignored_line,
    item_text,
    list_items,
    mask_emails,
    not_manageable,
    noun,
    replacement_note,
    source_label,
    summary_line,
    value,
)

GITHUB_COMMENT_LIMIT = 65_536


def markdown(
    plan: Plan | WorkspacePlan,
    titles: Titles | None = None,
    *,
    show_sensitive: bool = False,
    limit: int | None = GITHUB_COMMENT_LIMIT,
    full_plan_hint: str = "the job summary",
    exceptions: Sequence[PolicyException] = (),
    crowds: Mapping[str, Crowd] | None = None,
) -> str:
    """A comment-ready plan: summary table, then one collapsible section per change, deletions first
    under a warning. Longer than `limit`, it stops at a whole section and says where the rest is."""
    titles = titles or {}
    plan = WorkspacePlan.of_plan(plan)
    head = ["### Holistics schedules plan", "", *_summary_table(plan), ""]
    if plan.unsafe:
        head += [f"> [!CAUTION]\n> **Unsafe plan:** {_inline(plan.unsafe)}", ""]
    deletes = plan.of(Action.DELETE)
    if deletes:
        what = " and ".join(f"{n} {noun(k)}(s)" for k, n in _per_kind(deletes).items())
        head += [f"> [!WARNING]\n> **{what} will be deleted.** Deliveries stop and cannot be restored.", ""]
    if plan.partial:
        partial = f"only the entries selected by {_inline(plan.partial)}; nothing is deleted"
        head += [f"> [!NOTE]\n> **Partial plan:** {partial}.", ""]
    head += [line for part in plan.plans if part.undeclarable for line in (_inline(not_manageable(part)), "")]
    head += _md_exceptions(exceptions)
    if not plan.has_changes:
        head += ["No changes. The workspace matches the YAML.", ""]
    order = (*deletes, *plan.of(Action.REPLACE), *plan.of(Action.UPDATE), *plan.of(Action.CREATE))
    crowds = crowds or {}
    sections = [_section(c, titles, show_sensitive, plan.timezone, crowds.get(c.key or "")) for c in order]
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


def _md_exceptions(exceptions: Sequence[PolicyException]) -> list[str]:
    """The delivery policy's exceptions in use, in plain sight of the reviewer; the reasons are the
    config's text, escaped as any other."""
    if not exceptions:
        return []
    rows = [
        f"> - <code>{_md(escape_controls(e.key))}</code>: {e.rule}: {_inline(escape_controls(e.reason))}"
        for e in exceptions
    ]
    return [f"> [!IMPORTANT]\n> **Policy exceptions in use** ({_inline(CONFIG_FILE)}):\n" + "\n".join(rows), ""]


def _section(change: Change, titles: Titles, show_sensitive: bool, timezone: str, crowd: Crowd | None = None) -> str:
    # HTML, not backticks: GitHub renders no Markdown inside <summary>
    where = f" — <code>{_md(change.file)}:{change.line}</code>" if change.file else ""
    label = source_label(change, titles)
    lines = [
        "<details>",
        f"<summary>{SIGN[change.action]} <b>{_md(change_name(change))}</b> {VERB[change.action]}"
        f"{' — ' + _md(label) if label else ''}{where}</summary>",
        "",
        *([f"_{_inline(change.reason)}_", ""] if change.reason else []),
        *(
            [f"{'**Crowded:** ' if crowd.quiet is not None else ''}_{crowd.sentence}_", ""]
            if crowd and crowd.others
            else []
        ),
        "```diff",
    ]
    masked = (lambda text: text) if show_sensitive else mask_emails
    for diff in change.diff:
        if diff.hidden:  # from the environment: the expression, never the value
            sign = "-" if change.action is Action.DELETE else "+"
            lines.append(f"{sign} {diff.path}: {hidden_value(change, diff)}")
            continue
        old, new = masked(value(diff.old)), masked(value(diff.new))
        note = cron_note(diff, timezone) + replacement_note(change, diff)
        items = list_items(diff)
        if items is not None:
            sign = {Action.CREATE: "+", Action.DELETE: "-"}.get(change.action, " ")
            lines.append(f"{sign} {diff.path}:{note}")
            lines += [
                f"{'' if s == '#' else s}    {masked(item_text(s, v))}{filter_note(change, s, v, titles)}"
                for s, v in items
            ]
        elif change.action in (Action.UPDATE, Action.REPLACE):
            was, now = (f"  ({side})" if side else "" for side in cron_sides(diff, timezone))
            lines += [f"- {diff.path}: {old}{was}", f"+ {diff.path}: {new}{now}{replacement_note(change, diff)}"]
        elif change.action is Action.CREATE:
            lines.append(f"+ {diff.path}: {new}{note}")
        else:
            lines.append(f"- {diff.path}: {old}")
    lines += ["```", "", "</details>", ""]
    return "\n".join(lines) + "\n"


def _summary_table(plan: WorkspacePlan) -> list[str]:
    """The counts; a row per kind under the total when more than one kind has anything."""
    columns = ("create", "update", "delete", "unchanged", "unmanaged")
    busy = plan.busy_kinds
    rows = (
        [("", plan.summary)]
        if len(busy) < 2
        else [
            *((f"{k} | ", plan.summary_by_kind[k]) for k in busy),
            ("**total** | ", plan.summary),
        ]
    )
    head = ["| kind " if len(busy) > 1 else "", "|---" if len(busy) > 1 else ""]
    return [
        f"{head[0]}| {' | '.join(columns)} |",
        f"{head[1]}|{'---:|' * len(columns)}",
        *(f"| {label}{' | '.join(str(s[c]) for c in columns)} |" for label, s in rows),
    ]


def _per_kind(changes: list[Change]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.kind] = counts.get(change.kind, 0) + 1
    return counts


def _md_notes(plan: WorkspacePlan, titles: Titles, show_sensitive: bool) -> list[str]:
    """Collapsed lists of what the plan leaves alone or takes over, for reviewers who want them."""
    out = [line for part in plan.plans for line in _md_kind_notes(part, titles, show_sensitive)]
    for item in plan.ignored_differences:
        line = ignored_line(item, CONFIG_FILE)
        out += [f"> [!NOTE]\n> {_inline(line if show_sensitive else mask_emails(line))}", ""]
    return out


def _md_kind_notes(plan: Plan, titles: Titles, show_sensitive: bool) -> list[str]:
    out = _md_duplicates(plan, show_sensitive)
    prunable = [i for i in plan.unmanaged if i not in set(plan.undeclarable)]
    if prunable:
        rows = [
            f"| {b['id']} | {_cell(b['title'])} | {_cell(b['source'])} | {_cell(b['dest_type'])} |"
            for b in (brief_dict(plan, i, titles) for i in prunable[:SHOWN])
        ]
        more = ["", f"... and {len(prunable) - SHOWN} more."] if len(prunable) > SHOWN else []
        out += [
            "<details>",
            f"<summary>{len(prunable)} unmanaged {noun(plan.kind)}(s): no YAML declares them; left alone</summary>",
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
            f"<summary>{len(adopted)} entr{'y' if len(adopted) == 1 else 'ies'} matched to an existing "
            f"{noun(plan.kind)} by content (apply records the id)</summary>",
            "",
            *(f"- <code>{_md(m.key)}</code> → id {m.id} (<code>{_md(m.file)}</code>)" for m in adopted),
            "",
            "</details>",
            "",
        ]
    return out


def _md_duplicates(plan: Plan, show_sensitive: bool) -> list[str]:
    """Copies of an entry's schedule, in plain sight: each delivers what its entry delivers, again."""
    if not plan.probable_duplicates:
        return []
    masked = (lambda text: text) if show_sensitive else mask_emails
    deleted = {c.id for c in plan.of(Action.DELETE)}
    lines = [
        f"> [!WARNING]\n> **{len(plan.probable_duplicates)} probable duplicate(s):** no entry claims them, "
        "their content is an entry's."
    ]
    what = noun(plan.kind)
    for d in plan.probable_duplicates:
        title = d.remote.get("title") if "title" not in d.env else None  # a secret title stays one
        named = f"{what} {d.id}" + (f" {_inline(masked(value(title)))}" if title else "")
        fate = "this plan deletes it" if d.id in deleted else "<code>apply --prune-duplicates</code> deletes it"
        lines.append(
            f"> - {named} looks like a duplicate of <code>{_md(d.key)}</code> ({what} {d.of}, same content); {fate}"
        )
    return ["\n".join(lines), ""]


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
    HTML block and let the rest be read as Markdown. `@` as an entity: GitHub links a mention inside
    <summary> too, and a dashboard's title must not ping anyone from a plan comment."""
    escaped = _LINE_BREAKS.sub(" ", s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("@", "&#64;")
