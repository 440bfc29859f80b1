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


def _n(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def summary_line(audit: Audit) -> str:
    c = audit.counts()
    head = (
        f"Audit: {_n(c['deliveries'], 'delivery', 'deliveries')} ({_n(c['schedules'], 'schedule')}, "
        f"{_n(c['alerts'], 'alert')}; {c['managed']} managed, {c['unmanaged']} unmanaged)"
    )
    if not audit.rules:
        return head + "; no policy set."
    if audit.passes:
        return head + "; every one keeps the policy."
    breaks = "breaks" if c["violating"] == 1 else "break"
    return head + f"; {c['violating']} {breaks} the policy ({_n(c['violations'], 'violation')})."


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


TABLE_LIMIT = 500  # deliveries drawn as a table; more are printed a line each
COLUMNS = ("delivery", "title", "source", "to", "cadence", "filters", "key", "!")


def _cells(d: Delivery) -> tuple[str, ...]:
    # a uname says which dashboard; its title only when there is none (the other formats have both)
    source = _t(d.source) + (f' "{_t(d.source_title)}"' if d.source_title and not d.source_uname else "")
    to = _t(str(d.dest_type or "").removesuffix("Dest")) + (f": {_where(d)}" if _where(d) else "")
    cells = (f"{d.noun} {d.id}", _t(d.title), source, to, _cadence(d), _t("; ".join(d.filters)), _t(d.key))
    return (*cells, str(len(d.violations) or ""))


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
    title = f"Deliveries (cron times in {_t(audit.timezone)})"
    if len(audit.deliveries) > TABLE_LIMIT:
        # rich lays a table out cell by cell (25 s for 12,000 rows): a large workspace gets a line each
        parts.append(Text(f"{title}, one per line: {' | '.join(COLUMNS)}", style="bold"))
        parts.extend(Text(" | ".join(_cells(d)), style="red" if d.violations else "") for d in audit.deliveries)
    else:
        table = Table(title=title, title_justify="left")
        for column in COLUMNS:
            table.add_column(column, overflow="fold")
        for d in audit.deliveries:
            table.add_row(*(Text(c) for c in _cells(d)), style="red" if d.violations else None)
        parts.append(table)
    peak = busiest(audit.grid)
    if peak:
        parts.append(Text(f"Busiest hour of the week: {peak[0]} ({peak[1]} deliveries start then)."))
    return Group(*parts)


def plain(audit: Audit, width: int = 200) -> str:
    """The text audit without colour (for `--out FILE`)."""
    from rich.console import Console

    out = io.StringIO()
    Console(width=width, color_system=None, file=out, soft_wrap=False).print(text(audit))
    return out.getvalue()
