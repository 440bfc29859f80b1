"""The audit as markdown, for a job summary or an issue: the counts, what breaks the policy first, the
exceptions in use, the inventory, and a week-by-hour grid of when deliveries start. Every string from
the server is inert and escaped for a table cell; recipient addresses are masked (`f***@example.com`)
as a plan masks them, their domains shown."""

from __future__ import annotations

from reconciler.problems import inert
from reconciler.views.audit_model import DAYS, Audit, Delivery, busiest
from reconciler.views.plan_markdown import _inline
from reconciler.views.plan_words import mask_emails

_COUNTED = (
    ("deliveries", "deliveries"),
    ("schedules", "schedules"),
    ("alerts", "alerts"),
    ("managed", "managed"),
    ("unmanaged", "unmanaged"),
    ("paused", "paused"),
    ("violating", "breaking the policy"),
    ("excepted", "exceptions in use"),
)


def cell(text: object) -> str:
    """Server text in a table cell: inert, addresses masked, markdown escaped (no row, link or
    heading can be added, no one mentioned)."""
    if text is None or text == "":
        return ""
    return _inline(mask_emails(inert(str(text))))


def name(d: Delivery) -> str:
    title = f" {cell(d.title)}" if d.title else ""
    return f"{d.noun} {d.id}{title}"


def markdown(audit: Audit) -> str:
    counts = audit.counts()
    lines = [
        "### Holistics schedules audit",
        "",
        "| " + " | ".join(label for _, label in _COUNTED) + " |",
        "|" + "---:|" * len(_COUNTED),
        "| " + " | ".join(str(counts[key]) for key, _ in _COUNTED) + " |",
        "",
    ]
    if not audit.rules:
        lines += ["No `policy:` is set in holistics-schedules.yml: this is the inventory alone.", ""]
    elif audit.passes:
        lines += [f"Every delivery keeps the policy ({', '.join(f'`{r}`' for r in audit.rules)}).", ""]
    else:
        lines += [
            f"> [!CAUTION]\n> **{counts['violating']} deliver{'y breaks' if counts['violating'] == 1 else 'ies break'} "
            f"the policy** ({counts['violations']} violation(s)).",
            "",
            *_violations(audit),
        ]
    lines += _exceptions(audit)
    lines += _inventory(audit)
    lines += _grid(audit)
    return "\n".join(lines)


def _violations(audit: Audit) -> list[str]:
    rows = [
        f"| {name(d)} | {_key(d)} | `{v.rule}` | {cell(v.path)} | {cell(v.value)} | {cell(v.message)} |"
        for d in audit.violating
        for v in d.violations
    ]
    return [
        "#### Violations",
        "",
        "| delivery | YAML key | rule | field | value | why |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def _exceptions(audit: Audit) -> list[str]:
    rows = [
        f"| {name(d)} | {_key(d)} | `{e.violation.rule}` | {cell(e.violation.value)} | {cell(e.reason)} |"
        for d in audit.deliveries
        for e in d.excepted
    ]
    if not rows:
        return []
    return [
        "#### Exceptions in use",
        "",
        "| delivery | YAML key | rule | value | reason |",
        "|---|---|---|---|---|",
        *rows,
        "",
    ]


def _key(d: Delivery) -> str:
    return f"{cell(d.key)} ({cell(d.file)}:{d.line})" if d.key else "unmanaged"


def _where(d: Delivery) -> str:
    """Where it goes: recipients' domains with counts, channels, a webhook's host, an SFTP data source."""
    parts = [f"{domain} ×{n}" for domain, n in d.domains]
    parts += list(d.slack_channels)
    if d.webhook:
        parts.append(d.webhook)
    if d.sftp_data_source is not None:
        parts.append(f"data source {d.sftp_data_source}")
    return cell(", ".join(parts))


def _cadence(d: Delivery) -> str:
    if not d.cron:
        return ""
    words = f" ({cell(d.cadence)})" if d.cadence else ""
    return f"{cell(d.cron)}{words}{' **paused**' if d.paused else ''}"


def _source(d: Delivery) -> str:
    title = f" “{cell(d.source_title)}”" if d.source_title else ""
    return f"{cell(d.source)}{title}"


def _inventory(audit: Audit) -> list[str]:
    rows = [
        f"| {d.noun} | {d.id} | {cell(d.title)} | {_source(d)} | {cell(d.dest_type)} | {_where(d)} | "
        f"{_cadence(d)} | {cell('; '.join(d.filters))} | {_key(d)} | {len(d.violations) or ''} |"
        for d in audit.deliveries
    ]
    return [
        f"#### Inventory ({len(audit.deliveries)} deliveries)",
        "",
        "| kind | id | title | source | destination | to | cadence | filters | YAML key | violations |",
        "|---|---:|---|---|---|---|---|---|---|---:|",
        *rows,
        "",
    ]


def _grid(audit: Audit) -> list[str]:
    """7 x 24: how many deliveries (not paused) start in each hour of each weekday."""
    if not audit.grid:
        return []
    peak = busiest(audit.grid)
    said = f" The busiest hour: {peak[0]}, {peak[1]} deliver{'y' if peak[1] == 1 else 'ies'}." if peak else ""
    head = "| | " + " | ".join(f"{h:02d}" for h in range(24)) + " |"
    rows = [
        f"| **{DAYS[day]}** | " + " | ".join(str(n) if n else "·" for n in row) + " |"
        for day, row in enumerate(audit.grid)
    ]
    return [
        f"#### When deliveries start ({cell(audit.timezone)})",
        "",
        f"How many deliveries start at least once in each hour of each weekday, over a year of runs.{said}",
        "",
        head,
        "|---|" + "--:|" * 24,
        *rows,
        "",
    ]
