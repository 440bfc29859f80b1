"""How a plan's parts are said, in every format: a change's name and verb, its source, values,
list items, cron in words, the summary line and the schedules a plan leaves alone.

The text, markdown and JSON views of a plan (`plan_text`, `plan_markdown`, `plan_json`) are built
from these, so the three say the same thing the same way. They are also where the workspace's text
becomes display text: a value (titles, recipients, channels, hosts, presets) through `value`, a
source's title through `source_text`, both made inert (`reconciler.problems.inert`: one line, no
control character, no workflow command). The plan's data is never altered: a PUT sends the server's
own text, and `plan --json` carries it as JSON strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.core.model import Action, Brief, Change, FieldDiff, IgnoredDifference, Plan, WorkspacePlan
from reconciler.kinds.known import BY_YAML_KEY
from reconciler.kinds.schedules import SOURCE_FIELDS
from reconciler.problems import inert
from reconciler.views.cron_words import cron_in_words, dst_warnings, when_line

Titles = Mapping[tuple[str, int], str]  # the title of each (source type, source id), read once per source


class Labels(Mapping[tuple[str, int], str]):
    """Titles (a `Titles` mapping), and the names the workspace gives dashboards and their filters:
    dashboard id -> uname, (dashboard id, filter id as text) -> filter uname. Every view takes one
    where it takes titles, so a plan names what the catalog names, and only that."""

    def __init__(
        self,
        titles: Mapping[tuple[str, int], str] | None = None,
        unames: Mapping[int, str] | None = None,
        filters: Mapping[tuple[int, str], str] | None = None,
    ) -> None:
        self._titles = dict(titles or {})
        self.unames = dict(unames or {})
        self.filters = dict(filters or {})

    def __getitem__(self, key: tuple[str, int]) -> str:
        return self._titles[key]

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self._titles)

    def __len__(self) -> int:
        return len(self._titles)


def dashboard_uname(titles: Titles, dashboard_id: Any) -> str | None:
    return titles.unames.get(dashboard_id) if isinstance(titles, Labels) and isinstance(dashboard_id, int) else None


def filter_uname(titles: Titles, dashboard_id: Any, filter_id: Any) -> str | None:
    if not isinstance(titles, Labels) or not isinstance(dashboard_id, int):
        return None
    return titles.filters.get((dashboard_id, str(filter_id)))


VERB = {
    Action.CREATE: "will be created",
    Action.UPDATE: "will be updated in place",
    Action.DELETE: "will be deleted",
    Action.REPLACE: "must be replaced",
}
SIGN = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.REPLACE: "-/+"}
STYLE = {Action.CREATE: "green", Action.UPDATE: "yellow", Action.DELETE: "red", Action.REPLACE: "magenta"}
SHOWN = 50  # unmanaged schedules named one by one; past that, a count
# Any character an address may hold, ASCII or not (`kate.o'neil@`, `jöhn@`, `@bücher.de`, a fullwidth
# `.ＣＯＭ`): what a stricter pattern misses is printed unmasked. Quotes, brackets, separators and
# whitespace end it, as they do in the JSON, lists and sentences addresses are shown in.
_ADDRESS_CHAR = r"[^\s@\"<>()\[\]{},;:\\`|*]"
_EMAIL = re.compile(rf"({_ADDRESS_CHAR}){_ADDRESS_CHAR}*@({_ADDRESS_CHAR}+[.．。｡]{_ADDRESS_CHAR}+)")


def value(v: Any) -> str:
    """A field value as the plan shows it: JSON, so strings are quoted and null is null; and inert,
    since most values (titles, recipients, channels, presets) are the workspace's text."""
    return inert(json.dumps(v, ensure_ascii=False, default=str))


def mask_emails(text: str) -> str:
    """`finance@example.com` -> `f***@example.com`: addresses are personal data in PR comments."""
    return _EMAIL.sub(r"\1***@\2", text)


def noun(yaml_key: str) -> str:
    """One item of the kind, in words: `schedule`, `alert`."""
    kind = BY_YAML_KEY.get(yaml_key)
    return kind.noun if kind else yaml_key


def change_name(change: Change) -> str:
    """Which item a change is: its key (and id), or an unmanaged item's id and title. A schedule's key
    stands alone, as it always did; any other kind's is preceded by its noun (`alert revenue-drop`)."""
    if change.key is None:
        title = f" {value(change.title)}" if change.title else ""
        return f"unmanaged {noun(change.kind)} id {change.id}{title}"
    name = f"{change.key} (id {change.id})" if change.id is not None else change.key
    return name if change.kind == "schedules" else f"{noun(change.kind)} {name}"


def hidden_value(change: Change, diff: FieldDiff) -> str:
    """A field whose value comes from the environment: its `${NAME}` expression (both sides are
    masked already, see `core.hiding`) and whether the value changes; never the value."""
    old, new = (inert(v) if isinstance(v, str) else value(v) for v in (diff.old, diff.new))
    if change.action is Action.CREATE:
        return f"{new} (from the environment)"
    if change.action is Action.DELETE:
        return old
    changes = "(changes)" if diff.env_changes else "(unchanged)"
    return f"{new} {changes}" if isinstance(diff.new, str) else f"{old} -> {new} {changes}"


def source_label(change: Change, titles: Titles) -> str | None:
    """A schedule's dashboard or report (with its title), or an alert's widget or viz block."""
    source = change.source
    if source is not None:
        return source_text(source, titles)
    side = change.body or change.remote or {}
    source_id = side.get("source_id")
    if change.kind == "schedules" or "source_type" not in side or not isinstance(source_id, int | str):
        return None
    return raw_source_text((str(side["source_type"]), source_id))


def source_text(source: tuple[str, int], titles: Titles) -> str:
    """`dashboard sales_performance "Sales Performance"` (by its uname when the workspace gives one),
    `dashboard 1234 "Sales"`, `report 77`."""
    kind = "dashboard" if source[0] == "Dashboard" else "report"
    uname = dashboard_uname(titles, source[1]) if kind == "dashboard" else None
    name = inert(uname) if uname else source[1]
    title = titles.get(source)  # the workspace's text, or a saved plan's copy of it: made inert here
    return f'{kind} {name} "{inert(str(title))}"' if title else f"{kind} {name}"


def filter_note(change: Change, sign: str, item: Any, titles: Titles) -> str:
    """For a filter preset shown in a diff: `  # dynamic_filter region`, the filter's uname on the
    dashboard of that side (the workspace's for a removed item, the YAML's otherwise)."""
    if not isinstance(item, Mapping) or "dynamic_filter_id" not in item:
        return ""
    side = (change.remote if sign == "-" else change.body or change.remote) or {}
    uname = filter_uname(titles, side.get("source_id"), item["dynamic_filter_id"])
    return f"  # dynamic_filter {inert(uname)}" if uname else ""


def change_names(change: Change, titles: Titles) -> dict[str, str]:
    """The names of what a change's YAML side points at, by field path: `source_id` -> the dashboard's
    uname, `dynamic_filter_presets.N.dynamic_filter_id` -> the filter's (for `plan --json`)."""
    side = change.body or change.remote or {}
    if change.kind != "schedules" or side.get("source_type") != "Dashboard":
        return {}
    dashboard = side.get("source_id")
    names = {"source_id": uname} if (uname := dashboard_uname(titles, dashboard)) else {}
    for i, preset in enumerate(side.get("dynamic_filter_presets") or []):
        found = (
            filter_uname(titles, dashboard, preset.get("dynamic_filter_id")) if isinstance(preset, Mapping) else None
        )
        if found:
            names[f"dynamic_filter_presets.{i}.dynamic_filter_id"] = found
    return names


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


def _counts(s: Mapping[str, int]) -> str:
    replaced = f", {s['replace']} to replace" if s["replace"] else ""
    return f"{s['create']} to create, {s['update']} to update, {s['delete']} to delete{replaced}"


def summary_line(plan: Plan | WorkspacePlan) -> str:
    """`Plan: 1 to create, ...`, the totals; then each kind's, when more than one kind has anything
    (so a plan of schedules alone reads as it always did)."""
    whole = WorkspacePlan.of_plan(plan)
    line = f"Plan: {_counts(whole.summary)}."
    busy = whole.busy_kinds
    if len(busy) > 1:
        by_kind = whole.summary_by_kind
        line += " (" + "; ".join(f"{kind}: {_counts(by_kind[kind])}" for kind in busy) + ")"
    return line


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


def item_text(sign: str, item: Any) -> str:
    return f"# ({item})" if sign == "#" else value(item)


def replacement_note(change: Change, diff: FieldDiff) -> str:
    return "  # forces replacement" if change.action is Action.REPLACE and diff.path in SOURCE_FIELDS else ""


def raw_source_text(source: tuple[str, int | str]) -> str:
    """An alert's source as the item names it: `VizBlock "v-12"`, `DashboardWidget 42` (a string id
    quoted, so `42` and `"42"` read as the two sources they are)."""
    return f"{inert(source[0])} {value(source[1])}"


def brief_source(brief: Brief, titles: Titles) -> str | None:
    if brief.source is not None:
        return source_text(brief.source, titles)
    return raw_source_text(brief.raw_source) if brief.raw_source is not None else None


def brief_line(brief: Brief, titles: Titles) -> str:
    """`id 4801 "Weekly sales" — dashboard 1234 "Sales" — EmailDest`: which item, for a reviewer."""
    parts = [f"id {brief.id}" + (f" {value(brief.title)}" if brief.title else "")]
    source = brief_source(brief, titles)
    if source is not None:
        parts.append(source)
    if brief.dest_type:
        parts.append(inert(brief.dest_type))
    return " — ".join(parts)


def ignored_line(item: IgnoredDifference, config_file: str) -> str:
    if item.hidden:  # a value from the environment: the expression only, on both sides
        return (
            f"{item.file}:{item.line}: {item.key}.{item.path} is ignored by {config_file}: the workspace keeps its "
            f"value (the YAML's {value(item.yaml)} is never shown)"
        )
    return (
        f"{item.file}:{item.line}: {item.key}.{item.path} is ignored by {config_file}: the workspace keeps its "
        f"value ({value(item.workspace)}; the YAML says {value(item.yaml)})"
    )


def _ids(ids: list[int] | tuple[int, ...]) -> str:
    return ", ".join(map(str, ids[:20])) + (", ..." if len(ids) > 20 else "")


def not_manageable(plan: Plan) -> str:
    return (
        f"{len(plan.undeclarable)} remote {noun(plan.kind)}(s) are not manageable here: the YAML cannot declare their "
        f"destination or values (ids: {_ids(plan.undeclarable)}); they are left alone, also by --prune."
    )


def brief_dict(plan: Plan, schedule_id: int, titles: Titles) -> dict[str, Any]:
    brief = plan.briefs.get(schedule_id)
    if brief is None:
        return {"kind": plan.kind, "id": schedule_id, "title": None, "source": None, "dest_type": None}
    dest_type = inert(brief.dest_type) if brief.dest_type else brief.dest_type
    source = brief_source(brief, titles)
    return {"kind": plan.kind, "id": brief.id, "title": brief.title, "source": source, "dest_type": dest_type}
