"""The entries `import` writes: each remote schedule as a YAML entry (server-assigned and unknown
fields dropped) under a key of its own, and which schedules the YAML format cannot hold at all."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from reconciler.kinds.schedules import without_server_fields
from reconciler.kinds.schedules.models import DEST_TYPES, DataScheduleSpec

# dest type -> (file stem, short name for keys made without a title), for every type the YAML holds
_NAMES = {
    "EmailDest": ("email", "email"),
    "EmailSubscriptionDest": ("email-subscription", "subscription"),
    "SlackDest": ("slack", "slack"),
    "SftpDest": ("sftp", "sftp"),
    "GsheetDest": ("gsheet", "gsheet"),
}
assert set(_NAMES) == set(DEST_TYPES), "every destination type the YAML can declare has an import file"
FILE_BY_DEST = {dest: f"{_NAMES[dest][0]}.yml" for dest in DEST_TYPES}
_SHORT_DEST = {dest: _NAMES[dest][1] for dest in DEST_TYPES}
FIELD_ORDER = ("id", "title", "source_type", "source_id", "schedule", "dynamic_filter_presets", "dest")


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].rstrip("-")


def base_key(schedule: Mapping[str, Any]) -> str:
    """The key a schedule would like: its title as a slug, else its destination and source. Always
    valid (`yamlread.KEY_PATTERN`), whatever the server sent; not yet unique (see `entries`)."""
    slug = slugify(str(schedule.get("title") or ""))
    if slug:
        return slug
    dest = schedule.get("dest")
    short = _SHORT_DEST.get(str(dest.get("type") if isinstance(dest, Mapping) else None), "schedule")
    return slugify(f"{short} {schedule.get('source_type', 'source')} {schedule.get('source_id')}") or "schedule"


def unique_keys(remote: Iterable[Mapping[str, Any]], taken: Collection[str] = ()) -> dict[int, str]:
    """id -> key for each schedule: unique among them and apart from `taken`, by construction.

    A schedule whose wanted key (`base_key`) no other schedule wants and that is not taken gets it.
    The others take their id as a suffix (`weekly-1001`), not a counter, so a key does not change
    when another schedule comes or goes. Only when that too is in use (a schedule titled "Weekly
    1001", or a taken key) does a counter follow (`weekly-1001-2`). Every key is checked against
    all those given out before it, so no two are ever the same.
    """
    schedules = sorted(remote, key=lambda r: int(r["id"]))
    wanted = {int(s["id"]): base_key(s) for s in schedules}
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


def unrepresentable(remote: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """id -> why, for remote schedules the YAML format cannot hold (a destination type the spec
    documents no fields for, such as Adls2Dest, or values the API accepted but the format refuses):
    written out, they would make the next validate fail."""
    reasons = {}
    for schedule in remote:
        data = entry(schedule)
        if why := _unwritable(data):
            reasons[int(schedule["id"])] = why
            continue
        try:
            DataScheduleSpec.model_validate(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"] if p not in FILE_BY_DEST)
            reasons[int(schedule["id"])] = f"{where}: {first['msg']}"
    return reasons


def entries(remote: Iterable[Mapping[str, Any]], taken: Collection[str] = ()) -> dict[str, dict[str, Any]]:
    """key -> YAML entry for each remote schedule, keys unique and none of `taken` (the keys of
    entries that already exist elsewhere); see `unique_keys`."""
    schedules = list(remote)
    keys = unique_keys(schedules, taken)
    return {keys[int(s["id"])]: entry(s) for s in sorted(schedules, key=lambda r: int(r["id"]))}


def entry(schedule: Mapping[str, Any]) -> dict[str, Any]:
    """The YAML form of a remote schedule: server-assigned and unknown fields dropped."""
    data = without_server_fields({k: schedule[k] for k in FIELD_ORDER if k in schedule}, keep_id=True)
    if isinstance(data.get("dynamic_filter_presets"), list):
        data["dynamic_filter_presets"] = [p for p in data["dynamic_filter_presets"] if isinstance(p, Mapping)]
    # fields the API returns that the YAML format does not know (newer API versions) are left out
    for _ in range(20):
        try:
            DataScheduleSpec.model_validate(data)
            break
        except ValidationError as exc:
            extras = [e["loc"] for e in exc.errors() if e["type"] == "extra_forbidden"]
            if not extras:
                break
            for loc in extras:
                _drop(data, [p for p in loc if p not in FILE_BY_DEST])
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
