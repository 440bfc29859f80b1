"""The audit for machines: JSON (a stable schema with a `version`) and CSV (one row per delivery,
stable columns). JSON keeps the server's text as it sent it, every non-ASCII or control character
escaped; CSV cells are made inert and cannot start a spreadsheet formula."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from reconciler.problems import inert
from reconciler.views.audit_model import DAYS, Audit, Delivery

JSON_VERSION = 1

CSV_COLUMNS = (
    "kind",
    "id",
    "title",
    "managed",
    "key",
    "file",
    "line",
    "source_type",
    "source_id",
    "source",
    "source_title",
    "dest_type",
    "recipients",
    "recipient_count",
    "recipient_domains",
    "slack_channels",
    "webhook",
    "sftp_data_source",
    "cron",
    "cadence",
    "paused",
    "filters",
    "violations",
    "exceptions",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def violation_text(rule: str, path: str, value: str, message: str) -> str:
    return f"{rule}: {path} {value}: {message}" if value else f"{rule}: {path}: {message}"


def _delivery_json(d: Delivery) -> dict[str, Any]:
    return {
        "kind": d.kind,
        "id": d.id,
        "title": d.title,
        "managed": d.managed,
        "key": d.key,
        "file": d.file,
        "line": d.line,
        "source": {
            "type": d.source_type,
            "id": d.source_id,
            "name": d.source,
            "uname": d.source_uname,
            "title": d.source_title,
        },
        "dest": {
            "type": d.dest_type,
            "recipients": list(d.recipients),
            "domains": dict(d.domains),
            "slack_channels": list(d.slack_channels),
            "webhook": d.webhook,
            "sftp_data_source": d.sftp_data_source,
        },
        "cadence": {"cron": d.cron, "words": d.cadence, "paused": d.paused},
        "filters": list(d.filters),
        "violations": [{"rule": v.rule, "path": v.path, "value": v.value, "message": v.message} for v in d.violations],
        "exceptions": [
            {
                "rule": e.violation.rule,
                "path": e.violation.path,
                "value": e.violation.value,
                "message": e.violation.message,
                "reason": e.reason,
            }
            for e in d.excepted
        ],
    }


def to_json(audit: Audit) -> str:
    """`{version, timezone, policy: {rules}, summary, deliveries: [...], starts: {days, by_hour}}`."""
    document = {
        "version": JSON_VERSION,
        "timezone": audit.timezone,
        "passes": audit.passes,
        "policy": {"rules": list(audit.rules)},
        "summary": audit.counts(),
        "deliveries": [_delivery_json(d) for d in audit.deliveries],
        "starts": {"days": list(DAYS), "by_hour": [list(row) for row in audit.grid]},
    }
    # ASCII: every control character of a title arrives as \u001b, never as the character
    return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def safe_cell(value: Any) -> str:
    """A CSV cell: the text inert (one line, controls escaped), and no formula a spreadsheet would
    run (a cell starting with = + - @, a tab or a carriage return gets a leading ')."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    raw = str(value)
    text = inert(raw)  # a tab or carriage return becomes `\t`: flagged still, as the server wrote it
    return "'" + text if raw.startswith(_FORMULA_START) or text.startswith(_FORMULA_START) else text


def _row(d: Delivery) -> list[str]:
    cells: list[Any] = [
        d.kind,
        d.id,
        d.title,
        d.managed,
        d.key,
        d.file,
        d.line,
        d.source_type,
        d.source_id,
        d.source,
        d.source_title,
        d.dest_type,
        "; ".join(d.recipients),
        len(d.recipients),
        "; ".join(f"{domain} ({n})" for domain, n in d.domains),
        "; ".join(d.slack_channels),
        d.webhook,
        d.sftp_data_source,
        d.cron,
        d.cadence,
        d.paused,
        "; ".join(d.filters),
        "; ".join(violation_text(v.rule, v.path, v.value, v.message) for v in d.violations),
        "; ".join(f"{e.violation.rule}: {e.reason}" for e in d.excepted),
    ]
    return [safe_cell(c) for c in cells]


def to_csv(audit: Audit) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for delivery in audit.deliveries:
        writer.writerow(_row(delivery))
    return out.getvalue()
