"""Facts about a schedule's shape that plan, apply, import, config and the sandbox must agree on,
each written once: what the server assigns, how schedules are bucketed for matching, the source key.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from reconciler import spec

SourceKey = tuple[str, int]
Bucket = tuple[Any, ...]

# assigned or owned by the server: never compared, never sent back, never written to YAML
SERVER_ASSIGNED_TOP = frozenset({"id"})
READ_ONLY_SCHEDULE = frozenset({"is_archived"})  # inside `schedule`
SERVER_ASSIGNED_PRESET = frozenset({"id"})  # inside each of `dynamic_filter_presets`


def without_server_fields(schedule: Mapping[str, Any], *, keep_id: bool = False) -> dict[str, Any]:
    """A shallow copy of `schedule` less the fields the server assigns (ids, is_archived, preset ids);
    `keep_id` keeps the schedule's own id (import writes it into the YAML)."""
    dropped = frozenset() if keep_id else SERVER_ASSIGNED_TOP
    out = {k: v for k, v in schedule.items() if k not in dropped}
    if isinstance(out.get("schedule"), Mapping):
        out["schedule"] = {k: v for k, v in out["schedule"].items() if k not in READ_ONLY_SCHEDULE}
    if isinstance(out.get("dynamic_filter_presets"), list):
        out["dynamic_filter_presets"] = [
            {k: v for k, v in p.items() if k not in SERVER_ASSIGNED_PRESET} if isinstance(p, Mapping) else p
            for p in out["dynamic_filter_presets"]
        ]
    return out


def bucket(schedule: Mapping[str, Any]) -> Bucket:
    """(source type, source id, dest type): entries are only ever matched to remote schedules of their
    own bucket, and apply runs the creates of one bucket one after another; both use this."""
    dest = schedule.get("dest")
    return (
        schedule.get("source_type"),
        schedule.get("source_id"),
        dest.get("type") if isinstance(dest, Mapping) else None,
    )


def source_key(fields: Mapping[str, Any]) -> SourceKey | None:
    """The dashboard or report a schedule delivers, or None when the fields do not name one."""
    try:
        return str(fields["source_type"]), int(fields["source_id"])
    except (KeyError, TypeError, ValueError):
        return None


# ---- the remote side, read through the spec's model of a schedule ----


def spec_view(schedule: Mapping[str, Any], extras: set[str] | None = None) -> dict[str, Any]:
    """`schedule` as the spec documents it: a field the spec does not list (a real server adds
    `created_at`, an owner, a last run...) is left out, and its dotted path added to `extras`, so it
    never reaches a diff, an adoption or a PUT body. A dest of a type the spec does not document is
    kept whole: nothing here can judge it (see `declarable`)."""
    seen = extras if extras is not None else set()
    return _view_object(schedule, _object_props("DataSchedule"), "", seen)


def declarable(schedule: Mapping[str, Any], *, values: bool = True) -> bool:
    """Whether the YAML can hold this schedule at all: a source and destination type it can declare,
    and (with `values`) values it accepts (a `@daily` cron or a malformed address made in the UI it
    cannot). What it cannot hold, it cannot keep from a prune either, so such a schedule is never
    deleted. The values check validates the whole schedule: callers keep it to deletion candidates."""
    from reconciler.kinds.models import DEST_TYPES, DataScheduleSpec  # here: models imports this module's neighbours

    dest = schedule.get("dest")
    dest_type = dest.get("type") if isinstance(dest, Mapping) else None
    if schedule.get("source_type") not in ("Dashboard", "QueryReport") or dest_type not in DEST_TYPES:
        return False
    if not values:
        return True
    try:
        DataScheduleSpec.model_validate(without_server_fields(schedule, keep_id=True))
    except ValueError:  # pydantic's ValidationError is a ValueError
        return False
    return True


def _view_object(value: Mapping[str, Any], props: Mapping[str, Any], path: str, extras: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        node = props.get(key)
        if node is None:
            extras.add(f"{path}{key}")
        elif path == "" and key == "dest" and isinstance(item, Mapping):
            branch = _dest_branches().get(str(item.get("type")))
            # `type` is the discriminator even where a branch forgets to list it (EmailSubscriptionDest)
            dest_props = {"type": {}, **_object_props(branch)} if branch else None
            out[key] = _view_object(item, dest_props, "dest.", extras) if dest_props else dict(item)
        else:
            out[key] = _view_value(item, node, f"{path}{key}", extras)
    return out


def _view_value(value: Any, node: Mapping[str, Any], path: str, extras: set[str]) -> Any:
    node = _resolved(node)
    if isinstance(value, Mapping):
        props = _documented(node)
        return _view_object(value, props, f"{path}.", extras) if props else dict(value)  # free-form: whole
    if isinstance(value, list) and isinstance(node.get("items"), Mapping):
        return [_view_value(item, node["items"], f"{path}[]", extras) for item in value]
    return value


# The spec's nodes live as long as the process (`spec.subset` is cached), so their ids are stable
# keys: listing 10,000 schedules asks for the same few dozen nodes' properties half a million times.
_RESOLVED: dict[int, Mapping[str, Any]] = {}
_DOCUMENTED: dict[int, dict[str, Any]] = {}


def _resolved(node: Mapping[str, Any]) -> Mapping[str, Any]:
    found = _RESOLVED.get(id(node))
    if found is None:
        found = _RESOLVED[id(node)] = _resolve(node)
    return found


def _documented(node: Mapping[str, Any]) -> dict[str, Any]:
    found = _DOCUMENTED.get(id(node))
    if found is None:
        found = _DOCUMENTED[id(node)] = _props(node)
    return found


def _resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in node:
        node = spec.schema(str(node["$ref"]).rsplit("/", 1)[-1])
    return node


def _props(node: Mapping[str, Any], visiting: frozenset[int] = frozenset()) -> dict[str, Any]:
    """Every property a schema documents: its own, its allOf parts', and (for a discriminated oneOf
    such as a preset condition) those of all its branches. The branches refer back to their base,
    so a schema already being visited adds nothing."""
    node = _resolve(node)
    if id(node) in visiting:
        return {}
    visiting |= {id(node)}
    props: dict[str, Any] = dict(node.get("properties", {}))
    for part in node.get("allOf", []):
        props.update(_props(part, visiting))
    for branch in (node.get("discriminator") or {}).get("mapping", {}).values():
        branch_props = _props(spec.schema(str(branch).rsplit("/", 1)[-1]), visiting)
        props.update({k: v for k, v in branch_props.items() if k not in props})
    return props


@cache
def _object_props(name: str) -> dict[str, Any]:
    return _props(spec.schema(name))


@cache
def _dest_branches() -> dict[str, str]:
    return spec.dest_branches()
