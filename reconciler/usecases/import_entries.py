"""The entries `import` writes: each remote schedule or alert as a YAML entry (server-assigned and
unknown fields dropped: an alert's condition ids too) under a key of its own, unique across the
kinds, and which items the YAML format cannot hold at all. Each function takes the kind of the items
it is given (schedules unless said)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from reconciler.kinds import Kind
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.schedules import SCHEDULES
from reconciler.kinds.schedules.models import DEST_TYPES

# dest type -> (file stem, short name for keys made without a title), for every type the YAML holds
_NAMES = {
    "EmailDest": ("email", "email"),
    "EmailSubscriptionDest": ("email-subscription", "subscription"),
    "SlackDest": ("slack", "slack"),
    "SftpDest": ("sftp", "sftp"),
    "GsheetDest": ("gsheet", "gsheet"),
}
assert set(_NAMES) == set(DEST_TYPES), "every destination type the YAML can declare has an import file"
_NAMES["WebhookDest"] = ("webhook", "webhook")  # alerts only; an alert by email or Slack goes beside the schedules
assert set(ALERTS.dest_types) <= set(_NAMES), "every destination type an alert can declare has an import file"
FILE_BY_DEST = {dest: f"{_NAMES[dest][0]}.yml" for dest in DEST_TYPES}
_SHORT_DEST = {dest: names[1] for dest, names in _NAMES.items()}
FIELD_ORDER = ("id", "title", "source_type", "source_id", "schedule", "dynamic_filter_presets", "dest")
ALERT_FIELD_ORDER = (
    "id", "title", "source_type", "source_id", "schedule", "viz_conditions", "dynamic_filter_presets", "dest",
)  # fmt: skip
_ORDER = {SCHEDULES.yaml_key: FIELD_ORDER, ALERTS.yaml_key: ALERT_FIELD_ORDER}


def file_name(dest_type: str) -> str:
    """The file an item of this destination type is imported into, whatever its kind."""
    return f"{_NAMES[dest_type][0]}.yml" if dest_type in _NAMES else "other.yml"


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].rstrip("-")


def base_key(schedule: Mapping[str, Any], kind: Kind = SCHEDULES) -> str:
    """The key an item would like: its title as a slug, else its destination and source. Always
    valid (`yamlread.KEY_PATTERN`), whatever the server sent; not yet unique (see `entries`)."""
    slug = slugify(str(schedule.get("title") or ""))
    if slug:
        return slug
    dest = schedule.get("dest")
    short = _SHORT_DEST.get(str(dest.get("type") if isinstance(dest, Mapping) else None), kind.noun)
    return slugify(f"{short} {schedule.get('source_type', 'source')} {schedule.get('source_id')}") or kind.noun


def unique_keys(
    remote: Iterable[Mapping[str, Any]], taken: Collection[str] = (), kind: Kind = SCHEDULES
) -> dict[int, str]:
    """id -> key for each schedule: unique among them and apart from `taken`, by construction.

    A schedule whose wanted key (`base_key`) no other schedule wants and that is not taken gets it.
    The others take their id as a suffix (`weekly-1001`), not a counter, so a key does not change
    when another schedule comes or goes. Only when that too is in use (a schedule titled "Weekly
    1001", or a taken key) does a counter follow (`weekly-1001-2`). Every key is checked against
    all those given out before it, so no two are ever the same.
    """
    schedules = sorted(remote, key=lambda r: int(r["id"]))
    wanted = {int(s["id"]): base_key(s, kind) for s in schedules}
    demand: dict[str, int] = {}
    for key in wanted.values():
        demand[key] = demand.get(key, 0) + 1
    used = set(taken)
    keys: dict[int, str] = {}
    for ident, key in wanted.items():  # first, every key that only one schedule wants
        if demand[key] == 1 and key not in used and ident not in keys:
            keys[ident] = key
            used.add(key)
    for ident, key in wanted.items():
        if ident in keys:
            continue
        candidate, counter = f"{key}-{ident}", 2  # a valid key, a hyphen and digits: valid too
        while candidate in used:
            candidate, counter = f"{key}-{ident}-{counter}", counter + 1
        keys[ident] = candidate
        used.add(candidate)
    return keys


def unrepresentable(remote: Iterable[Mapping[str, Any]], kind: Kind = SCHEDULES) -> dict[int, str]:
    """id -> why, for remote schedules the YAML format cannot hold (a destination type the spec
    documents no fields for, such as Adls2Dest, or values the API accepted but the format refuses):
    written out, they would make the next validate fail."""
    reasons = {}
    for schedule in remote:
        data = entry(schedule, kind)
        if why := _unwritable(data):
            reasons[int(schedule["id"])] = why
            continue
        try:
            kind.model.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"] if p not in _NAMES)
            reasons[int(schedule["id"])] = f"{where}: {first['msg']}"
    return reasons


def entries(
    remote: Iterable[Mapping[str, Any]], taken: Collection[str] = (), kind: Kind = SCHEDULES
) -> dict[str, dict[str, Any]]:
    """key -> YAML entry for each remote item of `kind`, keys unique and none of `taken` (the keys of
    entries that already exist elsewhere, of either kind: keys are unique across them); see `unique_keys`."""
    schedules = list(remote)
    keys = unique_keys(schedules, taken, kind)
    return {keys[int(s["id"])]: entry(s, kind) for s in sorted(schedules, key=lambda r: int(r["id"]))}


def entry(schedule: Mapping[str, Any], kind: Kind = SCHEDULES) -> dict[str, Any]:
    """The YAML form of a remote item: server-assigned (ids of presets and conditions) and unknown
    fields dropped; every value as the server gave it (an alert's source id stays a string or an int)."""
    order = _ORDER[kind.yaml_key]
    data = kind.without_server_fields({k: schedule[k] for k in order if k in schedule}, keep_id=True)
    for name in ("dynamic_filter_presets", "viz_conditions"):
        if isinstance(data.get(name), list):
            data[name] = [p for p in data[name] if isinstance(p, Mapping)]
    # fields the API returns that the YAML format does not know (newer API versions) are left out
    for _ in range(20):
        try:
            kind.model.model_validate(data)
            break
        except ValidationError as exc:
            extras = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extras:
                break
            for loc in extras:
                _drop(data, [p for p in loc if p not in _NAMES])
    return data


def _drop(data: Any, loc: list[Any]) -> None:
    for part in loc[:-1]:
        data = data[part]
    data.pop(loc[-1], None)


def _unwritable(value: Any, path: str = "") -> str | None:
    """Why a value cannot be written as YAML that reads back the same, or None: a lone surrogate
    (JSON can carry one, UTF-8 cannot) or a non-finite number (the reader refuses them)."""
    if isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value):
        return f"{path or 'a value'}: text with a lone surrogate cannot be written as UTF-8"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path or 'a value'}: {value} is not a finite number"
    children = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else ()
    for name, child in children:
        if why := _unwritable(child, f"{path}.{name}" if path else str(name)):
            return why
    return None
