"""`import`: an existing workspace as YAML, ids included, so that the next plan shows no changes."""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML

from reconciler.errors import UserError
from reconciler.models import DEST_TYPES, DataScheduleSpec
from reconciler.shape import without_server_fields
from reconciler.yamlwrite import atomic_write

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


class ImportConflict(UserError):
    pass


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].rstrip("-")


def base_key(schedule: Mapping[str, Any]) -> str:
    slug = slugify(str(schedule.get("title") or ""))
    if slug:
        return slug
    dest = _SHORT_DEST.get(str((schedule.get("dest") or {}).get("type")), "schedule")
    return f"{dest}-{slugify(str(schedule.get('source_type', 'source')))}-{schedule.get('source_id')}"


def unrepresentable(remote: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """id -> why, for remote schedules the YAML format cannot hold (a destination type the spec
    documents no fields for, such as Adls2Dest, or values the API accepted but the format refuses):
    written out, they would make the next validate fail."""
    reasons = {}
    for schedule in remote:
        try:
            DataScheduleSpec.model_validate(entry(schedule))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"] if p not in FILE_BY_DEST)
            reasons[int(schedule["id"])] = f"{where}: {first['msg']}"
    return reasons


def entries(remote: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """key -> YAML entry for each remote schedule. Keys come from titles; a clash takes the id as a
    suffix (not a counter), so a key never changes when another schedule comes or goes."""
    ordered = sorted(remote, key=lambda r: int(r["id"]))
    counts: dict[str, int] = {}
    for schedule in ordered:
        counts[base_key(schedule)] = counts.get(base_key(schedule), 0) + 1
    result: dict[str, dict[str, Any]] = {}
    for schedule in ordered:
        key = base_key(schedule)
        if counts[key] > 1:
            key = f"{key}-{schedule['id']}"
        result[key] = entry(schedule)
    return result


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


def render(schedules: Mapping[str, Mapping[str, Any]]) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    out.write("# Imported from the Holistics workspace by `holistics-schedules import`.\n")
    yaml.dump({"schedules": {k: dict(v) for k, v in schedules.items()}}, out)
    # a blank line before each entry after the first, so reviewers see where one ends
    lines = out.getvalue().splitlines(keepends=True)
    entry_starts = [i for i, line in enumerate(lines) if re.match(r"^  [^ #-]", line)]
    for i in reversed(entry_starts[1:]):
        lines.insert(i, "\n")
    return "".join(lines)


def write(remote: Iterable[Mapping[str, Any]], out_dir: Path, *, force: bool = False) -> dict[Path, int]:
    """Write one file per destination type; returns file -> number of schedules written. Pass only
    representable schedules (see `unrepresentable`)."""
    by_file: dict[str, dict[str, dict[str, Any]]] = {}
    for key, data in entries(remote).items():
        name = FILE_BY_DEST.get(str(data["dest"].get("type")), "other.yml")
        by_file.setdefault(name, {})[key] = data
    targets = {out_dir / name: schedules for name, schedules in sorted(by_file.items())}
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise ImportConflict(f"{', '.join(existing)} already exist; pass --force to overwrite")
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, schedules in targets.items():
        atomic_write(path, render(schedules))
    return {path: len(schedules) for path, schedules in targets.items()}
