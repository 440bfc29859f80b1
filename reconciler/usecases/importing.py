"""`import`: an existing workspace as YAML, ids included, so that the next plan shows no changes.

What is written reads like YAML a person wrote: no nulls and no values the next read fills in the
same way (see `concise`), the editor's schema line at the top, and each entry under a comment naming
its dashboard or report by title (see `comment`). Each file is read back before it is written.
"""

from __future__ import annotations

import io
import math
import os
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from reconciler import spec
from reconciler.core.compare import FREE_FORM_ITEMS, differences, is_content
from reconciler.core.matching import adoptable
from reconciler.desired import yamlentries
from reconciler.desired.yamlwrite import atomic_write
from reconciler.errors import UserError
from reconciler.kinds import SourceKey
from reconciler.kinds.schedules import SCHEDULES, source_key, without_server_fields
from reconciler.kinds.schedules.models import DEST_TYPES, DataScheduleSpec, Schedule
from reconciler.problems import escape_controls
from reconciler.remote.client import APIError, HolisticsClient, NotFound, UnexpectedResponse
from reconciler.remote.reads import RemoteSchedules, Source, read_sources

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


class ImportRefused(UserError):
    """`import ID...` named schedules it cannot import; said before anything is written."""


def parse_ids(args: Sequence[str]) -> list[int]:
    """The ids `import ID...` names, in order, each once. ASCII digits only, as `run` reads them."""
    bad = [a for a in args if not re.fullmatch(r"[0-9]+", a) or int(a) == 0]
    if bad:
        named = ", ".join(repr(a) for a in bad)
        raise ImportRefused(escape_controls(f"not a schedule id: {named} (an id is a positive number, as plans show)"))
    return list(dict.fromkeys(int(a) for a in args))


def select(
    client: HolisticsClient,
    listed: Iterable[Mapping[str, Any]],
    ids: Sequence[int],
    *,
    in_scope: Callable[[Mapping[str, Any]], bool],
    declared: Mapping[int, str] | None = None,
) -> list[dict[str, Any]]:
    """The schedules `ids` name, from `listed`, else read by id (the listing leaves out schedules
    made by embed users). Every id that cannot be imported is refused at once, before anything is
    written: one the workspace does not have, one outside the repo's scope (the next validate would
    refuse its entry), and, with `declared` (id -> the entry that holds it, for --unmanaged), one a
    YAML entry already declares."""
    declared = declared or {}
    by_id = {int(r["id"]): dict(r) for r in listed}
    extra, unknown = RemoteSchedules(SCHEDULES), []
    for ident in ids:
        if ident in by_id or ident in declared:
            continue
        try:
            extra.add(client.get(SCHEDULES, ident), f"GET /data_schedules/{ident}")
        except NotFound:
            unknown.append(ident)
    by_id.update({int(r["id"]): r for r in extra.schedules})
    problems = []
    if unknown:
        problems.append(f"the workspace has no schedule {', '.join(map(str, unknown))}")
    if already := [f"{i} ({declared[i]})" for i in ids if i in declared]:
        problems.append(f"already declared in the YAML: {', '.join(already)}")
    if outside := [str(i) for i in ids if i in by_id and i not in declared and not in_scope(by_id[i])]:
        problems.append(f"outside this repo's scope (see holistics-schedules.yml): {', '.join(outside)}")
    if problems:
        raise ImportRefused(escape_controls("; ".join(problems) + "; nothing was written"))
    return [by_id[i] for i in ids]


def read_titles(
    client: HolisticsClient, schedules: Iterable[Mapping[str, Any]], warn: Callable[[str], None]
) -> dict[SourceKey, Source]:
    """The dashboards and reports `schedules` deliver, one request per distinct source. A title is
    only a comment: a source that cannot be read (an error after retries) is warned about and its
    entries get none, rather than the import failing. The network failing altogether still fails."""
    sources: dict[SourceKey, Source] = {}
    for key in sorted({k for k in map(source_key, schedules) if k is not None}):
        try:
            sources.update(read_sources(client, [key]))
        except (APIError, UnexpectedResponse) as exc:
            kind = _SOURCE_KINDS.get(key[0], _safe(key[0]))
            warn(escape_controls(f"could not read the title of {kind} {key[1]} ({exc}); its entries have no title"))
    return sources


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:60].rstrip("-")


def base_key(schedule: Mapping[str, Any]) -> str:
    """The key a schedule would like: its title as a slug, else its destination and source. Always
    valid (`yamlentries.KEY_PATTERN`), whatever the server sent; not yet unique (see `entries`)."""
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


# ---- the concise form: what a person would write ----


# the format's own default that it manages even when left out: the next read fills in the same value
_PAUSED_DEFAULT = Schedule.model_fields["paused"].default


def concise(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` (an `entry`) without what a person would not write, every omission safe for the next
    plan, apply and adoption by content:

    - nulls, anywhere (a field left out is not managed; the server renders an unset field as null);
    - `schedule.paused: false`, the format's default, which it manages even when left out;
    - `dynamic_filter_presets: []`, the server's rendering of "no presets";
    - a value equal to the spec's documented `default` (`public_hidden: false`), only where it is
      not content (see `is_content`), so adoption still matches;
    - a mapping left empty by the above (`options: {}` manages nothing, as no `options` does).

    Free-form items (Slack channels) are kept whole: their keys decide what plan compares.
    `write` checks each result against its remote schedule and keeps `data` whole if it fell short.
    """
    out = _concise_object(data, spec.documented(spec.schema(SCHEDULES.schema), data, every_branch=True) or {})
    schedule = out.get("schedule")
    if isinstance(schedule, dict) and "paused" in schedule and schedule["paused"] is _PAUSED_DEFAULT:
        del schedule["paused"]
    if out.get("dynamic_filter_presets") == []:
        del out["dynamic_filter_presets"]
    return out


def _concise_object(value: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        node = props.get(key) or {}
        if item is None or (not is_content(item) and "default" in node and node["default"] == item):
            continue
        if key in FREE_FORM_ITEMS:
            out[key] = item
        elif isinstance(item, Mapping):
            child = _concise_object(item, spec.documented(node, item, every_branch=True) or {})
            if child:
                out[key] = child
        elif isinstance(item, list):
            props = spec.documented(node.get("items") or {}, every_branch=True) or {}
            out[key] = [_concise_object(i, props) if isinstance(i, Mapping) else i for i in item]
        else:
            out[key] = item
    return out


def _no_worse(full: Mapping[str, Any], short: Mapping[str, Any], remote: Mapping[str, Any]) -> bool:
    """Whether the concise entry means as much as the full one against its remote schedule: it
    validates, the next plan finds no difference where the full one found none, and it is adoptable
    by content (its id stripped) wherever the full one was."""
    try:
        want_full = DataScheduleSpec.model_validate(full).api_fields()
        want = DataScheduleSpec.model_validate(short).api_fields()
    except ValidationError:
        return False
    if differences(want, remote, SCHEDULES) and not differences(want_full, remote, SCHEDULES):
        return False
    return adoptable(want, remote, SCHEDULES) or not adoptable(want_full, remote, SCHEDULES)


# ---- the comments: the file's schema line, each entry's source ----

_SOURCE_KINDS = {"Dashboard": "dashboard", "QueryReport": "query report"}
TITLE_LIMIT = 120  # characters of a title shown in a comment; the rest is elided


def comment(schedule: Mapping[str, Any], sources: Mapping[SourceKey, Source]) -> str | None:
    """`dashboard 1234 "Sales Performance"`: the source an entry delivers, by title when it could be
    read. The title is the workspace's text: quoted, with `"` and `\\` escaped and every character
    that is not printable (a line break, a control, a bidi override) written as its escape, so it
    can neither end the comment nor add a key."""
    key = source_key(schedule)
    if key is None:
        return None
    kind = _SOURCE_KINDS.get(key[0], _safe(key[0]))
    text = f"{kind} {key[1]}"
    source = sources.get(key)
    if source is not None and not source.exists:
        return f"{text} (not found)"
    if source is not None and source.title:
        return f'{text} "{_safe(str(source.title), TITLE_LIMIT)}"'
    return text


def _safe(text: str, limit: int | None = None) -> str:
    """`text` escaped for a comment, cut to `limit` characters (then "...")."""
    if limit is not None and len(text) > limit:
        return "".join(map(_escape, text[:limit])) + "..."
    return "".join(map(_escape, text))


@cache
def _escape(char: str) -> str:
    """A quote and a backslash escaped; anything not printable as Python writes it (`\\n`, `\\x1b`, `\\u2028`)."""
    if char in '\\"':
        return "\\" + char
    return char if char.isprintable() else char.encode("unicode_escape").decode("ascii")


SCHEMA_FILE = "schedules.schema.json"  # `holistics-schedules schema > schedules.schema.json`, at the project root


def schema_reference(out_dir: Path, root: Path) -> str:
    """The `$schema` a file in `out_dir` names: the project's schema file, relative to the file
    (`../schedules.schema.json` for `schedules/`), as a URI reference (a space or a line break in a
    directory name is percent-encoded, so the modeline stays one line and one token)."""
    target = Path(os.path.abspath(root / SCHEMA_FILE))
    try:
        relative = Path(os.path.relpath(target, os.path.abspath(out_dir))).as_posix()
    except ValueError:  # another drive
        relative = target.as_posix()
    return quote(relative, safe="/._-~")


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


HEADER = "# Imported from the Holistics workspace by `holistics-schedules import`."


def render(
    schedules: Mapping[str, Mapping[str, Any]],
    *,
    comments: Mapping[str, str | None] | None = None,
    schema: str | None = None,
) -> str:
    """A schedule file: the schema line (when `schema` is given), then each entry under its comment
    (`comments`: key -> text), a blank line between entries. Each entry is dumped on its own, so
    where one starts is known, not guessed from the text."""
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    parts = [f"# yaml-language-server: $schema={schema}\n" if schema is not None else "", HEADER + "\n", "schedules:\n"]
    for n, (key, data) in enumerate(schedules.items()):
        out = io.StringIO()
        yaml.dump({"schedules": {key: _quoted_where_needed(dict(data))}}, out)
        text = out.getvalue().removeprefix("schedules:\n")
        note = (comments or {}).get(key)
        parts += ["\n" if n else "", f"  # {note}\n" if note else "", text]
    return "".join(parts)


def write(
    remote: Iterable[Mapping[str, Any]],
    out_dir: Path,
    *,
    force: bool = False,
    taken: Collection[str] = (),
    new_files_only: bool = False,
    sources: Mapping[SourceKey, Source] | None = None,
    schema: str | None = None,
    hint: str = "",
) -> dict[Path, int]:
    """Write one file per destination type; returns file -> number of schedules written. Pass only
    representable schedules (see `unrepresentable`). Entries are `concise`; `sources` give the title
    comments, `schema` the schema line. With `new_files_only` (import --unmanaged), files are named
    `unmanaged-<type>.yml` and never replace one that exists (a number is added), and keys avoid
    `taken`, the keys the existing files declare. `hint` ends the refusal to overwrite."""
    schedules = list(remote)
    by_id = {int(r["id"]): r for r in schedules}
    by_file: dict[str, dict[str, dict[str, Any]]] = {}
    notes: dict[str, str | None] = {}
    for key, data in entries(schedules, taken).items():
        have = by_id[int(data["id"])]
        short = concise(data)
        name = FILE_BY_DEST.get(str(data["dest"].get("type")), "other.yml")
        by_file.setdefault(f"unmanaged-{name}" if new_files_only else name, {})[key] = (
            short if _no_worse(data, short, have) else data
        )
        notes[key] = comment(have, sources or {})
    targets = {
        (_free_name(out_dir, name) if new_files_only else out_dir / name): entries_of_file
        for name, entries_of_file in sorted(by_file.items())
    }
    existing = [str(p) for p in targets if os.path.lexists(p)]  # a dangling link too: it would be written
    if existing and not force:
        raise ImportConflict(escape_controls(f"{', '.join(existing)} already exist; pass --force to overwrite{hint}"))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImportConflict(escape_controls(f"cannot make the directory {out_dir}: {exc.strerror or exc}")) from None
    rendered = {
        path: _read_back(path, render(of_file, comments=notes, schema=schema), of_file)
        for path, of_file in targets.items()
    }
    for path, text in rendered.items():
        atomic_write(path, text)  # refuses (FileWriteError) what is not a regular file
    return {path: len(of_file) for path, of_file in targets.items()}


def _free_name(out_dir: Path, name: str) -> Path:
    """`out_dir/name`, or `name-2.yml`, `-3`... : the first that does not exist (not even as a link)."""
    stem, suffix = name.rsplit(".", 1)
    candidates = (out_dir / (name if n == 1 else f"{stem}-{n}.{suffix}") for n in range(1, 10_000))
    return next(p for p in candidates if not os.path.lexists(p))


def _read_back(path: Path, text: str, schedules: Mapping[str, Mapping[str, Any]]) -> str:
    """`text`, once the reader has read it back as exactly `schedules`: what import writes, the
    next plan reads as it was in the workspace."""
    try:
        read: dict[str | None, Any] = {e.key: e.data for e in yamlentries.parse(str(path), text).entries}
    except yamlentries.Unreadable as exc:
        read = {None: str(exc)}
    if read != {k: dict(v) for k, v in schedules.items()}:
        differ = sorted(k for k in schedules if read.get(k) != schedules[k])[:3]
        raise ImportConflict(escape_controls(f"{path}: the YAML would not read back as written ({', '.join(differ)})"))
    return text
