"""Names for ids: a schedule written with `dashboard: <uname>` and presets' `dynamic_filter: <uname>`,
given the ids those names stand for in the workspace.

Reading the files never needs the network, so entries come out of `yamlread.load` with the names as
written; a plan resolves them here, against a `NameCatalog` (the remote side's, read once per plan),
and from then on the entry is the one its ids would have written, with `names` saying which uname each
id came from (the views show the name). Every problem is found before any is raised: an unknown or
ambiguous uname, a filter the dashboard lacks, each at its file and line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.kinds.entries import DesiredEntry, LineMap, Lines, LinesLater
from reconciler.kinds.names import NameCatalog
from reconciler.problems import InvalidSchedules, Problem, did_you_mean

DASHBOARD = "dashboard"  # stands for source_type: Dashboard + source_id
FILTER = "dynamic_filter"  # in a preset: stands for dynamic_filter_id
PRESETS = "dynamic_filter_presets"


def _named_filters(fields: Mapping[str, Any]) -> list[tuple[int, str]]:
    """(index, uname) of each preset that gives its filter by uname."""
    presets = fields.get(PRESETS)
    if not isinstance(presets, list):
        return []
    return [(i, p[FILTER]) for i, p in enumerate(presets) if isinstance(p, Mapping) and FILTER in p]


def has_names(entry: DesiredEntry) -> bool:
    """Whether the entry still holds a name to resolve (only schedules can: alerts name no dashboard)."""
    return entry.kind == "schedules" and (DASHBOARD in entry.fields or bool(_named_filters(entry.fields)))


def entries_naming_filters(entries: Iterable[DesiredEntry]) -> set[str]:
    """The dashboard unames whose filters the entries name: the dashboards whose definitions (their
    filters' unames) must be read before `resolve_names`."""
    return {
        str(e.fields[DASHBOARD]) for e in entries if has_names(e) and DASHBOARD in e.fields and _named_filters(e.fields)
    }


def dashboards_naming_filters(entries: Iterable[DesiredEntry]) -> set[int]:
    """The dashboard ids (given as `source_id`) whose filters the entries name by uname: like
    `entries_naming_filters`, for a dashboard written by id with its filters written by name."""
    return {
        int(e.fields["source_id"])
        for e in entries
        if has_names(e) and DASHBOARD not in e.fields and e.fields.get("source_type") == "Dashboard"
        if isinstance(e.fields.get("source_id"), int) and _named_filters(e.fields)
    }


def resolve_names(entries: Sequence[DesiredEntry], catalog: NameCatalog) -> list[DesiredEntry]:
    """The entries with every uname replaced by its id, and `names` recording it; an entry without
    names is returned as the very same object. Raises InvalidSchedules with every problem found.

    The catalog must know the filters (`filter_ids`) of every dashboard whose filters an entry names
    (`entries_naming_filters`, `dashboards_naming_filters`): one it has not read is the caller's bug."""
    resolved: list[DesiredEntry] = []
    problems: list[Problem] = []
    for entry in entries:
        if not has_names(entry):
            resolved.append(entry)
            continue
        result = _resolved(entry, catalog)
        if isinstance(result, list):
            problems += result
            resolved.append(entry)
        else:
            resolved.append(result)
    if problems:
        raise InvalidSchedules(problems)
    return resolved


class _Rewrite:
    """One entry's fields, lines and names as they are rewritten name by name."""

    def __init__(self, entry: DesiredEntry) -> None:
        self.entry = entry
        self.fields: dict[str, Any] = dict(entry.fields)
        lines = entry.field_lines
        self.lines: Lines = lines if isinstance(lines, LineMap | LinesLater) else LineMap(lines)
        self.names: dict[str, str] = dict(entry.names)
        self.problems: list[Problem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.entry.file, self.entry.line_of(path), f"{self.entry.key}.{path}", message))

    def source(self, dashboard_id: int, uname: str) -> None:
        """`dashboard: uname` becomes `source_type: Dashboard` + `source_id`, where it was written."""
        fields: dict[str, Any] = {}
        for key, value in self.fields.items():
            if key == DASHBOARD:
                fields.setdefault("source_type", "Dashboard")
                fields["source_id"] = dashboard_id
            else:
                fields[key] = value
        self.fields = fields
        # source_type where the name was written; read lazily, as all lines are (`LinesLater`)
        self.lines = self.lines.with_line_of("source_type", DASHBOARD, self.entry.line).renamed(DASHBOARD, "source_id")
        self.names["source_id"] = uname

    def filter(self, index: int, filter_id: int | str, uname: str) -> None:
        """A preset's `dynamic_filter: uname` becomes `dynamic_filter_id`, where it was written."""
        presets = list(self.fields[PRESETS])
        presets[index] = {
            ("dynamic_filter_id" if k == FILTER else k): (filter_id if k == FILTER else v)
            for k, v in presets[index].items()
        }
        self.fields[PRESETS] = presets
        path = f"{PRESETS}.{index}"
        self.lines = self.lines.renamed(f"{path}.{FILTER}", f"{path}.dynamic_filter_id")
        self.names[f"{path}.dynamic_filter_id"] = uname

    def result(self) -> DesiredEntry | list[Problem]:
        if self.problems:
            return self.problems
        return dataclasses.replace(self.entry, fields=self.fields, field_lines=self.lines, names=self.names)


def _resolved(entry: DesiredEntry, catalog: NameCatalog) -> DesiredEntry | list[Problem]:
    rewrite = _Rewrite(entry)
    dashboard_id: int | None = None
    if DASHBOARD in entry.fields:
        dashboard_id = _dashboard(rewrite, str(entry.fields[DASHBOARD]), catalog)
    elif isinstance(entry.fields.get("source_id"), int):
        dashboard_id = entry.fields["source_id"]
    named = _named_filters(entry.fields)
    if named and dashboard_id is not None:  # an unknown dashboard's filters cannot be looked for
        _filters(rewrite, dashboard_id, named, catalog)
    return rewrite.result()


def _dashboard(rewrite: _Rewrite, uname: str, catalog: NameCatalog) -> int | None:
    """The id of the dashboard `uname` names, written into the entry; None (and a problem) if none or several."""
    matches = list(catalog.dashboard_ids(uname))
    if len(matches) == 1:
        rewrite.source(matches[0][0], uname)
        return matches[0][0]
    if not matches:
        hint = did_you_mean(uname, catalog.dashboard_unames())
        rewrite.problem(DASHBOARD, f"no dashboard in the workspace has the uname {uname!r}{hint}")
        return None
    candidates = ", ".join(f"{i} (project {p if p is not None else 'unknown'})" for i, p in sorted(matches, key=_by_id))
    rewrite.problem(
        DASHBOARD,
        f"the uname {uname!r} names {len(matches)} dashboards, one per AML project: {candidates}; "
        "give the one meant by `source_type: Dashboard` and `source_id`",
    )
    return None


def _by_id(match: tuple[int, int | None]) -> tuple[int, int]:
    return match[0], match[1] if match[1] is not None else -1


def _filters(rewrite: _Rewrite, dashboard_id: int, named: list[tuple[int, str]], catalog: NameCatalog) -> None:
    filters = catalog.filter_ids(dashboard_id)
    assert filters is not None, f"the filters of dashboard {dashboard_id} were not read before resolving names"
    for index, uname in named:
        filter_id = filters.get(uname)
        if filter_id is not None:
            rewrite.filter(index, filter_id, uname)
            continue
        which = rewrite.entry.fields.get(DASHBOARD, dashboard_id)
        known = ", ".join(sorted(filters)) if filters else "none"
        rewrite.problem(
            f"{PRESETS}.{index}.{FILTER}",
            f"dashboard {which} has no filter with the uname {uname!r}{did_you_mean(uname, filters)} "
            f"(its filters: {known})",
        )
