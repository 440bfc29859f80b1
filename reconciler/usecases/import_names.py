"""`import` writes names where the workspace has them: `dashboard: sales_performance` for an AML
dashboard's schedules, and `dynamic_filter: region` in their presets, so a reviewer reads what a
schedule delivers and a rename in AML shows up in the next plan. Ids remain where there is no name
to write (a canvas dashboard, a uname shared by several AML projects, a filter without a uname), for
alerts (whose widgets and viz blocks have no name the API resolves), and with `import --ids`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.kinds.schedules.models import UNAME
from reconciler.remote.catalog import Catalog, read_catalog
from reconciler.remote.client import HolisticsClient, NamesUnavailable


def catalog_for_import(client: HolisticsClient, schedules: Iterable[Mapping[str, Any]]) -> Catalog | None:
    """The catalog, with the filters of each named dashboard some schedule presets (one GET each);
    None when the workspace has no list_metadata (the import then writes ids, as before)."""
    try:
        catalog = read_catalog(client)
    except NamesUnavailable:
        return None
    with_presets = {
        int(s["source_id"])
        for s in schedules
        if s.get("source_type") == "Dashboard" and s.get("dynamic_filter_presets") and _uname(catalog, s)
    }
    catalog.read_filters(client, with_presets)
    return catalog


def _uname(catalog: Catalog, schedule: Mapping[str, Any]) -> str | None:
    """The dashboard's uname, when it names that dashboard alone (not one of several projects')."""
    source_id = schedule.get("source_id")
    if schedule.get("source_type") != "Dashboard" or not isinstance(source_id, int):
        return None
    uname = catalog.uname(source_id)
    # a uname the YAML could not read back (AML's are letters, digits and underscores) stays an id
    if uname is None or UNAME.fullmatch(uname) is None:
        return None
    return uname if len(catalog.dashboard_ids(uname)) == 1 else None


def named(entry: Mapping[str, Any], catalog: Catalog | None) -> dict[str, Any]:
    """The entry with `dashboard:` for `source_type` + `source_id`, in their place, and each preset's
    `dynamic_filter:` for its `dynamic_filter_id` (only on a named dashboard); as it was otherwise."""
    uname = _uname(catalog, entry) if catalog is not None else None
    if catalog is None or uname is None:
        return dict(entry)
    out: dict[str, Any] = {}
    for field, value in entry.items():
        if field == "source_type":
            continue
        if field == "source_id":
            out["dashboard"] = uname
        elif field == "dynamic_filter_presets" and isinstance(value, list):
            out[field] = [_named_preset(p, catalog, int(entry["source_id"])) for p in value]
        else:
            out[field] = value
    return out


def _named_preset(preset: Any, catalog: Catalog, dashboard_id: int) -> Any:
    if not isinstance(preset, Mapping) or "dynamic_filter_id" not in preset:
        return preset
    uname = catalog.filter_uname(dashboard_id, preset["dynamic_filter_id"])
    if uname is None or UNAME.fullmatch(uname) is None:
        return dict(preset)
    return {
        ("dynamic_filter" if k == "dynamic_filter_id" else k): (uname if k == "dynamic_filter_id" else v)
        for k, v in preset.items()
    }
