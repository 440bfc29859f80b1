"""What `audit` found: every delivery of the workspace (schedules and alerts, managed or not) as
plain data, with its policy violations, which every format (text, markdown, CSV, JSON) renders.

Strings here are the server's text as it sent it (titles, addresses, channel names): each view makes
them inert for where they land. Nothing here comes from the environment: the YAML gives only keys,
files and lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from reconciler.policy.model import Violation
from reconciler.views import cron_words

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Excepted:
    """A violation the config's `policy.exceptions` allow, with the reason a reviewer reads."""

    violation: Violation
    reason: str


@dataclass(frozen=True)
class Delivery:
    """One schedule or alert of the workspace, as the audit shows it."""

    kind: str  # "schedules" | "alerts"
    id: int
    title: str | None
    source_type: str | None
    source_id: int | str | None
    source_uname: str | None  # a dashboard's uname, from the catalog
    source_title: str | None  # a dashboard's title, from the catalog
    dest_type: str | None
    recipients: tuple[str, ...] = ()
    slack_channels: tuple[str, ...] = ()  # "#name (id)", "id" or "#name"
    webhook: str | None = None  # scheme://host of a webhook's endpoint, never its path or query
    sftp_data_source: int | str | None = None
    cron: str | None = None
    paused: bool = False
    filters: tuple[str, ...] = ()  # "region is EMEA"
    key: str | None = None  # the YAML key, when the repo manages it
    file: str | None = None
    line: int | None = None
    violations: tuple[Violation, ...] = ()
    excepted: tuple[Excepted, ...] = ()

    @property
    def noun(self) -> str:
        return "alert" if self.kind == "alerts" else "schedule"

    @property
    def managed(self) -> bool:
        return self.key is not None

    @property
    def source(self) -> str:
        """`dashboard sales_performance`, `dashboard 1234`, `report 5301`, `widget 90101`: the name the
        workspace gives, else the id (what a reader can search the UI for)."""
        kind = {"Dashboard": "dashboard", "QueryReport": "report", "DashboardWidget": "widget"}.get(
            str(self.source_type), "viz block" if self.source_type == "VizBlock" else str(self.source_type).lower()
        )
        return f"{kind} {self.source_uname or self.source_id}"

    @property
    def domains(self) -> tuple[tuple[str, int], ...]:
        """Each recipients' domain (lower case) and how many recipients are at it, most first."""
        counted = Counter(r.rpartition("@")[2].lower() for r in self.recipients if "@" in r)
        return tuple(sorted(counted.items(), key=lambda item: (-item[1], item[0])))

    @property
    def cadence(self) -> str | None:
        """The cron in words ("At 08:00, only on Monday"), None when it cannot be said."""
        return cron_words.cron_in_words(self.cron) if self.cron else None


@dataclass(frozen=True)
class Audit:
    deliveries: tuple[Delivery, ...]
    timezone: str
    rules: tuple[str, ...]  # the policy's rules that are set (none: the inventory alone)
    # [weekday][hour]: how many deliveries start then (over the year the crowding rule judges)
    grid: tuple[tuple[int, ...], ...] = field(default_factory=tuple)

    @property
    def violating(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.violations)

    @property
    def violations(self) -> int:
        return sum(len(d.violations) for d in self.deliveries)

    @property
    def passes(self) -> bool:
        return not self.violating

    def counts(self) -> dict[str, int]:
        """The summary every format gives."""
        return {
            "deliveries": len(self.deliveries),
            "schedules": sum(1 for d in self.deliveries if d.kind == "schedules"),
            "alerts": sum(1 for d in self.deliveries if d.kind == "alerts"),
            "managed": sum(1 for d in self.deliveries if d.managed),
            "unmanaged": sum(1 for d in self.deliveries if not d.managed),
            "paused": sum(1 for d in self.deliveries if d.paused),
            "violating": len(self.violating),
            "violations": self.violations,
            "excepted": sum(len(d.excepted) for d in self.deliveries),
        }


# ---- reading one delivery's fields ----


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` when it is an object, else an empty one: the server's shapes are not trusted."""
    return value if isinstance(value, Mapping) else {}


def channel_names(channels: Any) -> tuple[str, ...]:
    """`slack_channels` ([{id, name}]) as `#name (id)`."""
    out = []
    for channel in channels if isinstance(channels, list) else []:
        if not isinstance(channel, Mapping):
            continue
        cid, name = channel.get("id"), channel.get("name")
        if name and cid:
            out.append(f"#{str(name).removeprefix('#')} ({cid})")
        elif cid or name:
            out.append(f"#{str(name).removeprefix('#')}" if name else str(cid))
    return tuple(out)


def webhook_of(endpoint: Any) -> str | None:
    """scheme://host[:port] of an endpoint: where the rows go, without a path or query (which may
    carry a token)."""
    if not isinstance(endpoint, str) or not endpoint:
        return None
    try:
        parts = urlsplit(endpoint.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    return f"{parts.scheme}://{host}{port}" if parts.scheme else host or "(unreadable URL)"


def filter_texts(presets: Any, uname_of: Any) -> tuple[str, ...]:
    """Each dynamic filter preset as `region is EMEA` (`filter 7 ...` when no uname is known)."""
    out = []
    for preset in presets if isinstance(presets, list) else []:
        if not isinstance(preset, Mapping):
            continue
        fid = preset.get("dynamic_filter_id")
        uname = uname_of(fid)
        condition = mapping(preset.get("preset_condition"))
        operator = str(condition.get("operator") or "")
        values = condition["values"] if isinstance(condition.get("values"), list) else []
        said = ", ".join(str(v) for v in values)
        modifier = f" ({condition['modifier']})" if condition.get("modifier") else ""
        out.append(f"{uname or f'filter {fid}'} {operator.replace('_', ' ')} {said}".rstrip() + modifier)
    return tuple(out)


# ---- when deliveries start ----


def busiest(grid: Sequence[Sequence[int]]) -> tuple[str, int] | None:
    """The busiest weekday and hour ("Mon 08:00", 12), None on an empty grid."""
    cells = ((count, day, hour) for day, row in enumerate(grid) for hour, count in enumerate(row))
    best = max(cells, key=lambda cell: (cell[0], -cell[1], -cell[2]), default=None)  # the first of a tie
    if best is None or best[0] == 0:
        return None
    return f"{DAYS[best[1]]} {best[2]:02d}:00", best[0]
