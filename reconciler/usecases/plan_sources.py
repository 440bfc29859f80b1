"""The dashboards and reports a plan names: each must exist (with the filters its presets name), and
each shown gets its title.

With the workspace's catalog (`list_metadata`), a dashboard costs no request at all; a query report,
which has no listing, is read only when a change or an unmanaged item shown names it. Without it
(an older deployment), every source is read one by one, as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from reconciler.core.model import Plan
from reconciler.kinds import SourceKey
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.known import KINDS, kind_named
from reconciler.problems import InvalidSchedules
from reconciler.remote.catalog import Catalog
from reconciler.remote.client import HolisticsClient
from reconciler.remote.listings import Reads
from reconciler.remote.reads import Source, catalog_source, read_sources, reference_problems


def sources(
    reads: Reads,
    desired: Sequence[DesiredEntry],
    plans: Sequence[Plan],
    keys: set[SourceKey],
    catalog: Catalog | None,
) -> dict[SourceKey, Source]:
    """The sources the entries name (`keys`: checked), and those of the items the plan deletes from
    or leaves alone (for their titles)."""
    shown = {c.source for plan in plans for c in plan.changes if c.source is not None}
    left = {b.source for plan in plans for b in plan.briefs.values() if b.source is not None}
    if catalog is None:
        found = reads.sources(keys)
        _check(desired, found)
        return found | reads.sources((shown | left) - keys)
    unmanaged = {plan.briefs[i].source for plan in plans for i in plan.unmanaged if i in plan.briefs}
    wanted = keys | shown | left
    found = {k: catalog_source(catalog, k) for k in sorted(wanted) if k[0] == "Dashboard"}
    found |= reads.sources(k for k in shown | unmanaged if k is not None and k[0] != "Dashboard")
    _check(desired, found)
    return found


def _check(desired: Sequence[DesiredEntry], found: dict[SourceKey, Source]) -> None:
    problems = [
        p
        for kind in KINDS
        if kind.source_key is not None
        for p in reference_problems([d for d in desired if d.kind == kind.yaml_key], found, kind)
    ]
    if problems:
        raise InvalidSchedules(problems)


def check_references(client: HolisticsClient, desired: Sequence[DesiredEntry], catalog: Catalog | None) -> None:
    """`validate --remote`: every dashboard, report and dynamic filter the entries name exists (only
    kinds whose sources can be read: an alert's widget or viz block cannot). The entries' names are
    resolved already; only the dashboards with presets are read (for their filters)."""
    keys = {k for k in (kind_named(d.kind).source_key(d.fields) for d in desired) if k is not None}
    found = read_sources(client, keys) if catalog is None else _with_filters(client, catalog, desired, keys)
    problems = [
        p for kind in KINDS for p in reference_problems([d for d in desired if d.kind == kind.yaml_key], found, kind)
    ]
    if problems:
        raise InvalidSchedules(problems, what="with references")


def _with_filters(
    client: HolisticsClient, catalog: Catalog, desired: Sequence[DesiredEntry], keys: Iterable[SourceKey]
) -> dict[SourceKey, Source]:
    with_presets = {
        int(d.fields["source_id"])
        for d in desired
        if d.fields.get("source_type") == "Dashboard" and d.fields.get("dynamic_filter_presets")
    }
    read = [k for k in keys if k[0] != "Dashboard" or (k[1] in with_presets and catalog.has(k[1]))]
    found = {k: catalog_source(catalog, k) for k in keys if k[0] == "Dashboard"}
    return found | read_sources(client, read)  # every filter id of a dashboard with presets, with a uname or not
