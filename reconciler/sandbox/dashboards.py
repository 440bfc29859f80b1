"""The sandbox's dashboards as AML sees them: unames, projects, formats, and what a rename does.

Why a module of its own: `GET /dashboards/list_metadata` and an AML rename are about the dashboards
alone, and their rules (what a rename keeps, which ids it makes) are plain functions of the dashboard
records, tested without a server; `state.State` holds the records and calls these under its lock.

A stored dashboard may carry `uname` and `project_id` (an AML dashboard, `version` 4) or not (a
canvas one, `version` 3). Neither field is in the spec's `Dashboard`, so `GET /dashboards/{id}`
leaves them out (`as_served`): only list_metadata tells a client a dashboard's uname.

An AML rename (a uname changed in the project, then published) makes a NEW dashboard under the new
uname, with new ids for it, its filters and its widgets (the filters keep their unames); the old
dashboard keeps its id and title but no longer belongs to the project: `uname` and `project_id`
become null (a leftover, like a canvas dashboard, that nothing names), so schedules on its id keep
pointing at it, as they do in Holistics, where renaming an object breaks references to it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reconciler.sandbox.replies import Query, invalid, one
from reconciler.spec import subset

CANVAS_VERSION = 3
AML_VERSION = 4
# fields of a stored dashboard that the spec's Dashboard does not document (list_metadata's only)
METADATA_ONLY = ("uname", "project_id")


def as_served(dashboard: Mapping[str, Any]) -> dict[str, Any]:
    """A stored dashboard as `GET /dashboards/{id}` answers it: without the metadata-only fields."""
    return {k: copy.deepcopy(v) for k, v in dashboard.items() if k not in METADATA_ONLY}


def _version(dashboard: Mapping[str, Any]) -> int:
    version = dashboard.get("version")
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    return AML_VERSION if dashboard.get("uname") else CANVAS_VERSION


def metadata_item(dashboard: Mapping[str, Any]) -> dict[str, Any]:
    """One item of list_metadata's `dashboards_metadata`."""
    return {
        "id": int(dashboard["id"]),
        "title": str(dashboard.get("title") or ""),
        "uname": dashboard.get("uname") or None,
        "project_id": dashboard.get("project_id"),
        "version": _version(dashboard),
    }


def _versions(query: Query) -> set[int] | None:
    """`version` as the spec gives it (an integer, or an array: repeated, or Rails' `version[]`);
    None: every version. An empty value is the spec's null: no filter."""
    raw = [*query.get("version", []), *query.get("version[]", [])]
    values = [v.strip() for v in raw if v.strip()]
    if not values:
        return None
    wanted: set[int] = set()
    for value in values:
        if not value.lstrip("+-").isdigit():
            raise invalid(f"Invalid parameter version: must be an integer or a list of integers, got {value!r}")
        wanted.add(int(value))
    return wanted


def _permission_actions() -> tuple[str, ...]:
    params = subset()["paths"]["/dashboards/list_metadata"]["get"]["parameters"]
    return tuple(next(p for p in params if p["name"] == "permission_action")["schema"]["enum"])


def list_metadata(dashboards: Iterable[Mapping[str, Any]], query: Query) -> list[dict[str, Any]]:
    """The answer's `dashboards_metadata`, by id. `permission_action` is checked against the spec's
    enum; the sandbox's one key belongs to an admin, who may do anything to every dashboard."""
    action = one(query, "permission_action")
    actions = _permission_actions()
    if action is not None and action not in actions:
        raise invalid(f"Invalid parameter permission_action: must be one of {', '.join(actions)}, got {action!r}")
    versions = _versions(query)
    items = [metadata_item(d) for d in dashboards]
    return sorted((i for i in items if versions is None or i["version"] in versions), key=lambda i: int(i["id"]))


# ---- changing the dashboards: a test's control operations ----


def _max_id(ids: Iterable[Any]) -> int:
    return max((i for i in ids if isinstance(i, int) and not isinstance(i, bool)), default=0)


def _part_ids(dashboards: Iterable[Mapping[str, Any]], part: str) -> list[Any]:
    return [item.get("id") for d in dashboards for item in d.get(part) or [] if isinstance(item, Mapping)]


def named(dashboards: Iterable[Mapping[str, Any]], uname: str, project_id: int | None) -> dict[str, Any]:
    """The one dashboard named `uname` (in `project_id`, if given); ValueError saying why not."""
    found = [
        d for d in dashboards if d.get("uname") == uname and (project_id is None or d.get("project_id") == project_id)
    ]
    if not found:
        raise ValueError(f"no dashboard is named {uname!r}" + (f" in project {project_id}" if project_id else ""))
    if len(found) > 1:
        projects = ", ".join(str(d.get("project_id")) for d in found)
        raise ValueError(f"{uname!r} names a dashboard in several projects ({projects}): give project_id")
    return dict(found[0])


def renamed(
    dashboards: Sequence[Mapping[str, Any]], old: Mapping[str, Any], new_uname: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the new dashboard, the old one as left behind) of renaming `old` to `new_uname` and publishing:
    see the module docstring."""
    _check_uname(dashboards, new_uname, old.get("project_id"))
    fresh = copy.deepcopy(dict(old))
    fresh["id"] = _max_id(d.get("id") for d in dashboards) + 1
    fresh["uname"] = new_uname
    for part in ("dynamic_filters", "widgets"):
        next_id = _max_id(_part_ids(dashboards, part)) + 1
        for item in fresh.get(part) or []:
            if isinstance(item, dict):
                item["id"], next_id = next_id, next_id + 1
    if isinstance(fresh.get("url"), str):
        fresh["url"] = fresh["url"].replace(str(old["id"]), str(fresh["id"]))
    left = {**copy.deepcopy(dict(old)), "uname": None, "project_id": None}
    return fresh, left


def _check_uname(dashboards: Iterable[Mapping[str, Any]], uname: str, project_id: Any) -> None:
    if not isinstance(uname, str) or not uname:
        raise ValueError("a dashboard's uname must be a non-empty string")
    if any(d.get("uname") == uname and d.get("project_id") == project_id for d in dashboards):
        raise ValueError(f"project {project_id} already has a dashboard named {uname!r}")


def added(dashboards: Sequence[Mapping[str, Any]], body: Mapping[str, Any]) -> dict[str, Any]:
    """A dashboard to add, as given (a test's second AML project, a canvas dashboard): a missing id,
    or filter or widget ids, are the next free ones; `version` defaults by whether it has a uname."""
    dashboard = copy.deepcopy(dict(body))
    taken = {d.get("id") for d in dashboards}
    if dashboard.get("id") in taken:
        raise ValueError(f"dashboard {dashboard['id']} exists already")
    if "id" not in dashboard:
        dashboard["id"] = _max_id(taken) + 1
    if not isinstance(dashboard["id"], int) or isinstance(dashboard["id"], bool) or dashboard["id"] < 1:
        raise ValueError(f"a dashboard's id must be a positive integer, got {dashboard['id']!r}")
    if not isinstance(dashboard.get("title"), str):
        raise ValueError("a dashboard needs a title")
    if dashboard.get("uname") is not None:
        _check_uname(dashboards, dashboard["uname"], dashboard.get("project_id"))
    dashboard.setdefault("version", _version(dashboard))
    for part in ("dynamic_filters", "widgets"):
        next_id = _max_id(_part_ids(dashboards, part)) + 1
        for item in dashboard.setdefault(part, []):
            if isinstance(item, dict) and "id" not in item:
                item["id"], next_id = next_id, next_id + 1
    return dashboard
