"""`import`: an existing workspace as YAML, ids included, so that the next plan shows no changes.

Which schedules and alerts (all in scope, the ones no YAML declares, or the schedule ids given),
then each as an entry (`import_entries`) written as a person would write it: no nulls and no values
the next read fills in the same way (see `concise`), laid out by `views.imported_yaml`: one file
per destination type, an alert beside the schedules of its destination (`alerts:` beside
`schedules:`). Each file is read back before it is written.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler import spec
from reconciler.core.compare import FREE_FORM_ITEMS, differences, is_content
from reconciler.core.matching import adoptable
from reconciler.desired import yamlentries
from reconciler.desired.yamlwrite import atomic_write
from reconciler.errors import UserError
from reconciler.kinds import Kind, SourceKey
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.schedules import SCHEDULES, source_key
from reconciler.kinds.schedules.models import Schedule
from reconciler.problems import escape_controls
from reconciler.remote.catalog import Catalog
from reconciler.remote.client import APIError, HolisticsClient, NotFound, UnexpectedResponse
from reconciler.remote.listings import CatalogRead
from reconciler.remote.reads import RemoteSchedules, Source, catalog_source, list_remote, read_sources
from reconciler.usecases import lock, plan_names
from reconciler.usecases.applying import parts_of
from reconciler.usecases.config import ProjectConfig
from reconciler.usecases.import_entries import entries, file_name, unrepresentable
from reconciler.usecases.import_names import catalog_for_import, named
from reconciler.usecases.planning import Planned, make_plan, schedule_paths
from reconciler.views.imported_yaml import SCHEMA_FILE, comment, render, schema_reference, source_kind


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
    client: HolisticsClient,
    schedules: Iterable[Mapping[str, Any]],
    warn: Callable[[str], None],
    catalog: Catalog | None = None,
) -> dict[SourceKey, Source]:
    """The dashboards and reports `schedules` deliver, one request per distinct source (none for a
    dashboard the catalog lists). A title is only a comment: a source that cannot be read (an error
    after retries) is warned about and its entries get none, rather than the import failing. The
    network failing altogether still fails."""
    sources: dict[SourceKey, Source] = {}
    for key in sorted({k for k in map(source_key, schedules) if k is not None}):
        if catalog is not None and key[0] == "Dashboard":
            sources[key] = catalog_source(catalog, key)
            continue
        try:
            sources.update(read_sources(client, [key]))
        except (APIError, UnexpectedResponse) as exc:
            kind = source_kind(key[0])
            warn(escape_controls(f"could not read the title of {kind} {key[1]} ({exc}); its entries have no title"))
    return sources


@dataclass
class Found:
    """What `import` will write: the schedules and alerts, the schedules' sources' titles, and what
    it left out."""

    remote: list[dict[str, Any]]
    sources: dict[SourceKey, Source] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)  # id -> why the YAML format cannot hold it
    taken: set[str] = field(default_factory=set)  # keys the existing files declare (--unmanaged)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    skipped_alerts: dict[int, str] = field(default_factory=dict)
    catalog: Catalog | None = None  # the workspace's names (None: it gives none, the entries keep ids)


def find(
    client: HolisticsClient,
    config: ProjectConfig,
    wanted: Sequence[int],
    *,
    unmanaged: bool,
    warn: Callable[[str], None],
) -> Found:
    """The schedules and alerts to import: every one in scope, or with `unmanaged` those no YAML
    declares; with `wanted` (schedule ids), just those schedules. Those the format cannot hold are
    warned about and left out."""
    taken: set[str] = set()
    declared: dict[int, str] = {}
    if config.scope.unames():  # the scope names dashboards: their ids, from the catalog
        names = CatalogRead(client)
        config = plan_names.scoped(config, names.result(), names.unavailable)
    result = make_plan(client, config, [], check_references=False) if unmanaged else None
    if result is not None:
        left = set(_part(result, SCHEDULES.yaml_key, "unmanaged"))
        listed = result.remote
        taken = {d.key for d in result.desired}
        declared = {m.id: f"{m.key} in {m.file}" for m in _part(result, SCHEDULES.yaml_key, "matches")}
        remote = [r for r in listed if int(r["id"]) in left]
    else:
        listed = list_remote(client, SCHEDULES).schedules
        remote = [r for r in listed if config.scope.contains(r)]
    if wanted:
        remote = select(client, listed, wanted, in_scope=config.scope.contains, declared=declared)
    skipped = _representable(remote, SCHEDULES, warn)
    remote = [r for r in remote if int(r["id"]) not in skipped]
    alerts = [] if wanted else _alerts(client, config, result, warn)
    skipped_alerts = _representable(alerts, ALERTS, warn)
    alerts = [a for a in alerts if int(a["id"]) not in skipped_alerts]
    catalog = catalog_for_import(client, remote)
    return Found(remote, read_titles(client, remote, warn, catalog), skipped, taken, alerts, skipped_alerts, catalog)


def _part(result: Planned, kind: str, name: str) -> tuple[Any, ...]:
    """`unmanaged` or `matches` of one kind's plan (none when the plan has no part of that kind)."""
    return tuple(x for part in parts_of(result.plan) if part.kind == kind for x in getattr(part, name))


def _representable(items: list[dict[str, Any]], kind: Kind, warn: Callable[[str], None]) -> dict[int, str]:
    skipped = unrepresentable(items, kind)
    for item_id, why in sorted(skipped.items()):
        warn(f"skipped {kind.noun} {item_id}: the YAML format cannot hold it ({why})")
    return skipped


def _alerts(
    client: HolisticsClient, config: ProjectConfig, result: Planned | None, warn: Callable[[str], None]
) -> list[dict[str, Any]]:
    """The alerts to import: every one in scope, or (with the plan of --unmanaged) those no alert
    entry declares or matches. A workspace whose API has no alert listing has none to import."""
    try:
        listed = [a for a in list_remote(client, ALERTS).schedules if config.scope.contains(a)]
    except NotFound as exc:
        warn(escape_controls(f"the workspace lists no data alerts ({exc}); none imported"))
        return []
    if result is None:
        return listed
    if any(part.kind == ALERTS.yaml_key for part in parts_of(result.plan)):
        left = set(_part(result, ALERTS.yaml_key, "unmanaged"))
        return [a for a in listed if int(a["id"]) in left]
    declared = {d.id for d in result.desired if d.kind == ALERTS.yaml_key and d.id is not None}
    return [a for a in listed if int(a["id"]) not in declared]


def write_found(
    found: Found,
    config: ProjectConfig,
    *,
    out_dir: Path | None,
    force: bool,
    unmanaged: bool,
    by_id: bool,
    ids: bool = False,
) -> dict[Path, dict[str, int]]:
    """Write what `find` found, one import at a time per checkout; file -> kind -> entries written.
    Dashboards and filters by name where the workspace has names, unless `ids` (`import --ids`)."""
    target = out_dir or schedule_paths(config, [])[0]
    root = Path.cwd()
    hint = "; with IDs, --force would leave each file with just those: use --out or --unmanaged" if by_id else ""
    with lock.exclusive(lock.checkout_root(root), "import"):
        return write(
            found.remote,
            target,
            force=force,
            taken=found.taken,
            new_files_only=unmanaged,
            sources=found.sources,
            schema=schema_reference(target, root),
            hint=hint if not unmanaged else "",
            alerts=found.alerts,
            names=None if ids else found.catalog,
        )


def schema_missing() -> bool:
    """Whether the schema file the written files name is still to be made."""
    return not (Path.cwd() / SCHEMA_FILE).exists()


# ---- the concise form: what a person would write ----


# the format's own default that it manages even when left out: the next read fills in the same value
_PAUSED_DEFAULT = Schedule.model_fields["paused"].default


def concise(data: Mapping[str, Any], kind: Kind = SCHEDULES) -> dict[str, Any]:
    """`data` (an `entry`) without what a person would not write, every omission safe for the next
    plan, apply and adoption by content:

    - nulls, anywhere (a field left out is not managed; the server renders an unset field as null);
    - `schedule.paused: false`, the format's default, which it manages even when left out;
    - `dynamic_filter_presets: []`, the server's rendering of "no presets" (an alert without
      presets manages them as none all the same);
    - a value equal to the spec's documented `default` (`public_hidden: false`), only where it is
      not content (see `is_content`), so adoption still matches;
    - a mapping left empty by the above (`options: {}` manages nothing, as no `options` does).

    Free-form items (Slack channels) are kept whole: their keys decide what plan compares.
    `write` checks each result against its remote schedule and keeps `data` whole if it fell short.
    """
    out = _concise_object(data, spec.documented(spec.schema(kind.schema), data, every_branch=True) or {})
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


def _no_worse(
    full: Mapping[str, Any], short: Mapping[str, Any], remote: Mapping[str, Any], kind: Kind = SCHEDULES
) -> bool:
    """Whether the concise entry means as much as the full one against its remote item: it
    validates, the next plan finds no difference where the full one found none, and it is adoptable
    by content (its id stripped) wherever the full one was."""
    try:
        want_full: dict[str, Any] = kind.model.model_validate(full).api_fields()  # type: ignore[attr-defined]
        want: dict[str, Any] = kind.model.model_validate(short).api_fields()  # type: ignore[attr-defined]
    except ValidationError:
        return False
    if differences(want, remote, kind) and not differences(want_full, remote, kind):
        return False
    return adoptable(want, remote, kind) or not adoptable(want_full, remote, kind)


Sections = dict[str, dict[str, dict[str, Any]]]  # kind (`schedules`, `alerts`) -> key -> entry, of one file


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
    alerts: Iterable[Mapping[str, Any]] = (),
    names: Catalog | None = None,
) -> dict[Path, dict[str, int]]:
    """Write one file per destination type, each alert beside the schedules of its destination;
    returns file -> kind -> entries written. Pass only representable items (see `unrepresentable`).
    Entries are `concise`; `sources` give the title comments, `schema` the schema line. With
    `new_files_only` (import --unmanaged), files are named `unmanaged-<type>.yml` and never replace
    one that exists (a number is added), and keys avoid `taken`, the keys the existing files declare
    (keys are unique across the kinds: the alerts' avoid the schedules' too). `hint` ends the
    refusal to overwrite. `names`: the schedules name their dashboards and filters (`import_names`)."""
    by_file: dict[str, Sections] = {}
    notes: dict[str, str | None] = {}
    used = set(taken)
    for kind, items in ((SCHEDULES, list(remote)), (ALERTS, list(alerts))):
        used |= _lay_out(kind, items, used, by_file, notes, sources or {}, new_files_only, names)
    targets = {
        (_free_name(out_dir, name) if new_files_only else out_dir / name): sections
        for name, sections in sorted(by_file.items())
    }
    existing = [str(p) for p in targets if os.path.lexists(p)]  # a dangling link too: it would be written
    if existing and not force:
        raise ImportConflict(escape_controls(f"{', '.join(existing)} already exist; pass --force to overwrite{hint}"))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImportConflict(escape_controls(f"cannot make the directory {out_dir}: {exc.strerror or exc}")) from None
    rendered = {
        path: _read_back(path, _render(sections, notes, schema), sections) for path, sections in targets.items()
    }
    for path, text in rendered.items():
        atomic_write(path, text)  # refuses (FileWriteError) what is not a regular file
    return {path: {kind: len(of_kind) for kind, of_kind in sections.items()} for path, sections in targets.items()}


def _lay_out(
    kind: Kind,
    items: list[Mapping[str, Any]],
    taken: Collection[str],
    by_file: dict[str, Sections],
    notes: dict[str, str | None],
    sources: Mapping[SourceKey, Source],
    new_files_only: bool,
    names: Catalog | None = None,
) -> set[str]:
    """Each item of `kind` as a concise entry in the file of its destination; returns the keys given."""
    by_id = {int(r["id"]): r for r in items}
    made = entries(items, taken, kind)
    for key, data in made.items():
        have = by_id[int(data["id"])]
        short = concise(data, kind)
        name = file_name(str(data["dest"].get("type")))
        sections = by_file.setdefault(f"unmanaged-{name}" if new_files_only else name, {})
        chosen = short if _no_worse(data, short, have, kind) else data
        sections.setdefault(kind.yaml_key, {})[key] = named(chosen, names) if kind is SCHEDULES else chosen
        notes[key] = comment(have, sources)
    return set(made)


def _render(sections: Sections, notes: Mapping[str, str | None], schema: str | None) -> str:
    alerts = sections.get(ALERTS.yaml_key)
    return render(sections.get(SCHEDULES.yaml_key, {}), comments=notes, schema=schema, alerts=alerts)


def _free_name(out_dir: Path, name: str) -> Path:
    """`out_dir/name`, or `name-2.yml`, `-3`... : the first that does not exist (not even as a link)."""
    stem, suffix = name.rsplit(".", 1)
    candidates = (out_dir / (name if n == 1 else f"{stem}-{n}.{suffix}") for n in range(1, 10_000))
    return next(p for p in candidates if not os.path.lexists(p))


def _read_back(path: Path, text: str, sections: Sections) -> str:
    """`text`, once the reader has read it back as exactly the entries of `sections` (keys are
    unique across the kinds): what import writes, the next plan reads as it was in the workspace."""
    schedules = {key: data for of_kind in sections.values() for key, data in of_kind.items()}
    try:
        read: dict[str | None, Any] = {e.key: e.data for e in yamlentries.parse(str(path), text).entries}
    except yamlentries.Unreadable as exc:
        read = {None: str(exc)}
    if read != {k: dict(v) for k, v in schedules.items()}:
        differ = sorted(k for k in schedules if read.get(k) != schedules[k])[:3]
        raise ImportConflict(escape_controls(f"{path}: the YAML would not read back as written ({', '.join(differ)})"))
    return text
