"""The audit for a terminal or a log: the counts, the violations and exceptions, then the inventory
as a table. rich renders it; every cell is a Text of inert server text, so no title is read as
markup, an escape sequence or a workflow command."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from reconciler.problems import inert
from reconciler.views.audit_model import Audit, Delivery, busiest

if TYPE_CHECKING:
    from rich.console import Group


def _t(value: object) -> str:
    return inert(str(value)) if value is not None else ""


def summary_line(audit: Audit) -> str:
    c = audit.counts()
    head = (
        f"Audit: {c['deliveries']} deliveries ({c['schedules']} schedules, {c['alerts']} alerts; "
        f"{c['managed']} managed, {c['unmanaged']} unmanaged)"
    )
    if not audit.rules:
        return head + "; no policy set."
    if audit.passes:
        return head + "; every one keeps the policy."
    return head + f"; {c['violating']} break the policy ({c['violations']} violation(s))."


def delivery_name(d: Delivery) -> str:
    title = f' "{_t(d.title)}"' if d.title else ""
    key = f" [{_t(d.key)}]" if d.key else " (unmanaged)"
    return f"{d.noun} {d.id}{title}{key}"


def _where(d: Delivery) -> str:
    parts = [f"{domain} x{n}" for domain, n in d.domains]
    parts += list(d.slack_channels)
    if d.webhook:
        parts.append(d.webhook)
    if d.sftp_data_source is not None:
        parts.append(f"data source {d.sftp_data_source}")
    return _t(", ".join(parts))


def _cadence(d: Delivery) -> str:
    if not d.cron:
        return ""
    words = f" ({d.cadence})" if d.cadence else ""
    return _t(d.cron + words + (" paused" if d.paused else ""))


def text(audit: Audit) -> Group:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Text | Table] = [Text(summary_line(audit), style="bold")]
    for d in audit.violating:
        for v in d.violations:
            value = f" {_t(v.value)}" if v.value else ""
            parts.append(Text(f"  ✗ {delivery_name(d)}: {v.rule}: {_t(v.path)}{value}: {_t(v.message)}", style="red"))
    for d in audit.deliveries:
        for e in d.excepted:
            parts.append(Text(f"  ~ {delivery_name(d)}: {e.violation.rule} allowed: {_t(e.reason)}", style="yellow"))
    table = Table(title=f"Deliveries (cron times in {_t(audit.timezone)})", title_justify="left")
    for column in ("delivery", "title", "source", "to", "cadence", "filters", "key", "!"):
        table.add_column(column, overflow="fold")
    for d in audit.deliveries:
        source = _t(d.source) + (f' "{_t(d.source_title)}"' if d.source_title else "")
        to = _t(str(d.dest_type or "").removesuffix("Dest")) + (f": {_where(d)}" if _where(d) else "")
        cells = (f"{d.noun} {d.id}", _t(d.title), source, to, _cadence(d), _t("; ".join(d.filters)), _t(d.key))
        table.add_row(*(Text(c) for c in (*cells, str(len(d.violations) or ""))), style="red" if d.violations else None)
    parts.append(table)
    peak = busiest(audit.grid)
    if peak:
        parts.append(Text(f"Busiest hour of the coming week: {peak[0]} ({peak[1]} deliveries start)."))
    return Group(*parts)


def plain(audit: Audit, width: int = 200) -> str:
    """The text audit without colour (for `--out FILE`)."""
    from rich.console import Console

    console = Console(width=width, color_system=None, record=True, file=io.StringIO())
    console.print(text(audit))
    return console.export_text()
