"""Names in a plan: the workspace's catalog of dashboards (one `list_metadata` request, started with
the listings: `remote.listings.CatalogRead`), the entries' `dashboard:` and `dynamic_filter:` resolved
through it, and what the plan may then skip (no `GET /dashboards/{id}` for titles: the catalog has them).

Without `list_metadata` (an older deployment, a key without permission), an entry that uses a name
is an error saying why, and an id-only project plans exactly as it did (titles read one by one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from reconciler.desired.names import dashboards_naming_filters, entries_naming_filters, has_names, resolve_names
from reconciler.kinds import SourceKey
from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import InvalidSchedules, Problem, did_you_mean
from reconciler.remote.catalog import Catalog, DashboardReader
from reconciler.usecases.config import ConfigFileError, ProjectConfig
from reconciler.views.plan_words import Labels

FILTER_READERS = 4  # as many as the sources' readers (`remote.listings.SOURCE_WORKERS`)


def uses_names(entry: DesiredEntry) -> bool:
    return has_names(entry)


def resolved(
    desired: Sequence[DesiredEntry], catalog: Catalog | None, client: DashboardReader, unavailable: str | None
) -> list[DesiredEntry]:
    """The entries with their names replaced by ids. Entries that name nothing cost nothing; a
    dashboard is read (`GET /dashboards/{id}`) only when an entry names one of its filters."""
    naming = [d for d in desired if uses_names(d)]
    if not naming:
        return list(desired)
    if catalog is None:
        raise InvalidSchedules([_unavailable(d, unavailable) for d in naming], what="with names")
    read_named_filters(client, catalog, naming)
    resolved: list[DesiredEntry] = resolve_names(desired, catalog)
    return resolved


def read_named_filters(client: DashboardReader, catalog: Catalog, entries: Sequence[DesiredEntry]) -> None:
    """Each dashboard whose filters `entries` name by uname, read once (every candidate of an
    ambiguous uname: the resolver names them all)."""
    ids = dashboard_ids(catalog, entries_naming_filters(entries))
    ids += [i for i in dashboards_naming_filters(entries) if catalog.has(i)]  # by id, its filters by name
    if not ids:
        return
    # a few at a time (as the sources were read before): a plan naming the filters of 1,000 dashboards
    # would otherwise wait for 1,000 round trips one after the other
    with ThreadPoolExecutor(max_workers=FILTER_READERS) as pool:
        definitions = list(pool.map(client.get_dashboard, sorted(set(ids))))
    for dashboard_id, definition in zip(sorted(set(ids)), definitions, strict=True):
        catalog.add_dashboard(dashboard_id, definition)


def dashboard_ids(catalog: Catalog, unames: Iterable[str]) -> list[int]:
    return sorted({i for uname in unames for i, _project in catalog.dashboard_ids(uname)})


def _unavailable(entry: DesiredEntry, why: str | None) -> Problem:
    path = "dashboard" if "dashboard" in entry.fields else _first_named_filter(entry)
    reason = why or "the workspace gave no list of dashboards"
    return Problem(
        entry.file,
        entry.line_of(path),
        f"{entry.key}.{path}",
        f"names cannot be resolved: {reason}; write the id instead (source_id / dynamic_filter_id)",
    )


def _first_named_filter(entry: DesiredEntry) -> str:
    for i, preset in enumerate(entry.fields.get("dynamic_filter_presets") or []):
        if isinstance(preset, dict) and "dynamic_filter" in preset:
            return f"dynamic_filter_presets.{i}.dynamic_filter"
    return "dynamic_filter_presets"


def scoped(config: ProjectConfig, catalog: Catalog | None, unavailable: str | None) -> ProjectConfig:
    """The config with the dashboard unames of its scope replaced by their ids. A uname the
    workspace lacks (or a workspace without names) is a config error naming it."""
    unames = config.scope.unames()
    if not unames:
        return config
    file, line = config.where("scope.dashboards")
    if catalog is None:
        why = unavailable or "the workspace gave no list of dashboards"
        raise ConfigFileError(
            [Problem(file, line, "scope.dashboards", f"{u!r} cannot be resolved: {why}; write its id") for u in unames]
        )
    found = {u: list(catalog.dashboard_ids(u)) for u in unames}
    known = catalog.dashboard_unames()
    problems = [
        Problem(file, line, "scope.dashboards", f"no dashboard is named {u!r}{did_you_mean(u, known)}")
        for u in unames
        if not found[u]
    ]
    # as in the schedule files: a uname several AML projects use names no one dashboard, and a scope
    # that took them all would let --prune delete another project's schedules
    problems += [
        Problem(file, line, "scope.dashboards", f"{u!r} is ambiguous: {_candidates(matches)}; write the id instead")
        for u, matches in found.items()
        if len(matches) > 1
    ]
    if problems:
        raise ConfigFileError(problems)
    return config.model_copy(update={"scope": config.scope.named({u: [i for i, _ in m] for u, m in found.items()})})


def _candidates(matches: Sequence[tuple[int, int | None]]) -> str:
    return ", ".join(f"dashboard {i} (project {p if p is not None else 'none'})" for i, p in matches)


def labels(titles: Mapping[SourceKey, str], catalog: Catalog | None, dashboards: Sequence[int]) -> Labels:
    """Titles, with the unames the catalog gives `dashboards` and the filters read."""
    if catalog is None:
        return Labels(titles)
    unames = {i: u for i in dashboards if (u := catalog.uname(i))}
    filters = {(i, str(fid)): uname for i in dashboards for uname, fid in (catalog.filter_ids(i) or {}).items()}
    return Labels(titles, unames, filters)
