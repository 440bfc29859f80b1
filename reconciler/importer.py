"""`import`: an existing workspace as YAML, ids included, so that the next plan shows no changes."""

from __future__ import annotations

import io
import math
import os
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from reconciler import yamlread
from reconciler.diagnostics import escape_controls
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


def _quoted_where_needed(value: Any) -> Any:
    """Strings holding anything but printable characters go in double quotes, with YAML's escapes
    (\\N, \\L, \\e, \\t): written raw, NEL and line separators are line breaks to libyaml, and a
    title would read back changed (the next plan a diff, the next apply an update)."""
    if isinstance(value, str):
        return value if value.isprintable() else DoubleQuotedScalarString(value)
    if isinstance(value, Mapping):
        return {k: _quoted_where_needed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_quoted_where_needed(v) for v in value]
    return value


def render(schedules: Mapping[str, Mapping[str, Any]]) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    out.write("# Imported from the Holistics workspace by `holistics-schedules import`.\n")
    yaml.dump({"schedules": {k: _quoted_where_needed(dict(v)) for k, v in schedules.items()}}, out)
    # a blank line before each entry after the first, so reviewers see where one ends
    lines = out.getvalue().splitlines(keepends=True)
    entry_starts = [i for i, line in enumerate(lines) if re.match(r"^  [^ #-]", line)]
    for i in reversed(entry_starts[1:]):
        lines.insert(i, "\n")
    return "".join(lines)


def write(
    remote: Iterable[Mapping[str, Any]],
    out_dir: Path,
    *,
    force: bool = False,
    taken: Collection[str] = (),
    new_files_only: bool = False,
) -> dict[Path, int]:
    """Write one file per destination type; returns file -> number of schedules written. Pass only
    representable schedules (see `unrepresentable`). With `new_files_only` (import --unmanaged),
    files are named `unmanaged-<type>.yml` and never replace one that exists (a number is added), and
    keys avoid `taken`, the keys the existing files declare."""
    by_file: dict[str, dict[str, dict[str, Any]]] = {}
    for key, data in entries(remote, taken).items():
        name = FILE_BY_DEST.get(str(data["dest"].get("type")), "other.yml")
        by_file.setdefault(f"unmanaged-{name}" if new_files_only else name, {})[key] = data
    targets = {
        (_free_name(out_dir, name) if new_files_only else out_dir / name): schedules
        for name, schedules in sorted(by_file.items())
    }
    existing = [str(p) for p in targets if os.path.lexists(p)]  # a dangling link too: it would be written
    if existing and not force:
        raise ImportConflict(escape_controls(f"{', '.join(existing)} already exist; pass --force to overwrite"))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImportConflict(escape_controls(f"cannot make the directory {out_dir}: {exc.strerror or exc}")) from None
    rendered = {path: _read_back(path, render(schedules), schedules) for path, schedules in targets.items()}
    for path, text in rendered.items():
        atomic_write(path, text)  # refuses (FileWriteError) what is not a regular file
    return {path: len(schedules) for path, schedules in targets.items()}


def _free_name(out_dir: Path, name: str) -> Path:
    """`out_dir/name`, or `name-2.yml`, `-3`... : the first that does not exist (not even as a link)."""
    stem, suffix = name.rsplit(".", 1)
    candidates = (out_dir / (name if n == 1 else f"{stem}-{n}.{suffix}") for n in range(1, 10_000))
    return next(p for p in candidates if not os.path.lexists(p))


def _read_back(path: Path, text: str, schedules: Mapping[str, Mapping[str, Any]]) -> str:
    """`text`, once the reader has read it back as exactly `schedules`: what import writes, the
    next plan reads as it was in the workspace."""
    try:
        read: dict[str | None, Any] = {e.key: e.data for e in yamlread.parse(str(path), text).entries}
    except yamlread.Unreadable as exc:
        read = {None: str(exc)}
    if read != {k: dict(v) for k, v in schedules.items()}:
        differ = sorted(k for k in schedules if read.get(k) != schedules[k])[:3]
        raise ImportConflict(escape_controls(f"{path}: the YAML would not read back as written ({', '.join(differ)})"))
    return text
