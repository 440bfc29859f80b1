"""Comparing an entry with a remote item: one canonical form for both sides, the part of the remote
item the YAML manages, the field-level differences, and the full body an update sends.

Both sides are normalised the same way before comparing, so nothing the server adds or reorders
shows up as a change. A field the YAML leaves out is not managed: it is neither compared nor
changed (an update sends the workspace's value back).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.core.model import ABSENT, FieldDiff
from reconciler.kinds import Kind, is_mapping

_LEAVES = frozenset({str, int, float, bool, type(None)})  # values `project` takes as they are

# lists whose items the spec leaves free-form (a Slack channel is "an object"): a server may enrich
# them (`is_member`, a display name), so only the keys the YAML writes in its items are compared
FREE_FORM_ITEMS = frozenset({"slack_channels"})


def normalize(item: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    """One canonical form for both sides: server-assigned and read-only fields dropped, documented
    defaults filled in, order-free lists sorted."""
    return _normalized(kind.without_server_fields(item))


def _normalized(out: dict[str, Any]) -> dict[str, Any]:
    """`normalize` of a copy the server's fields are already gone from, in place."""
    if isinstance(out.get("dynamic_filter_presets"), list):
        presets = [_normalize_preset(p) for p in out["dynamic_filter_presets"]]
        out["dynamic_filter_presets"] = sorted(presets, key=_canonical) if len(presets) > 1 else presets
    if isinstance(out.get("viz_conditions"), list):
        out["viz_conditions"] = [_normalize_viz_condition(c) for c in out["viz_conditions"]]
    if is_mapping(out.get("dest")):
        out["dest"] = _normalize_dest(out["dest"])
    return out


def _normalize_condition(condition: Any) -> Any:
    if not is_mapping(condition):
        return condition
    out = {"modifier": None, **condition}  # the spec's modifier is nullable: absent and null are one
    out["values"] = out.get("values") or []
    return out


def _normalize_viz_condition(viz: Any) -> Any:
    """An alert's condition with its nullable parts filled in: a server answers `aggregation: null`,
    `model_id: null` where the YAML says nothing, and that is no change. Order is kept."""
    if not is_mapping(viz):
        return viz
    out = {"aggregation": None, "transformation": None, **viz}
    if is_mapping(out.get("field_path")):
        out["field_path"] = {"model_id": None, "data_set_id": None, "is_metric": None, **out["field_path"]}
    out["condition"] = _normalize_condition(out.get("condition"))
    return out


def _normalize_dest(dest: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(dest)
    if isinstance(out.get("recipients"), list):
        out["recipients"] = sorted({str(r).strip().lower() for r in out["recipients"]})
    if is_mapping(out.get("options")):
        options = dict(out["options"])
        if isinstance(options.get("attachment_formats"), list):
            options["attachment_formats"] = _set_of(options["attachment_formats"])
        out["options"] = options
    if isinstance(out.get("slack_channels"), list):
        channels = out["slack_channels"]
        out["slack_channels"] = sorted(channels, key=_canonical) if len(channels) > 1 else list(channels)
    return out


def _set_of(values: list[Any]) -> list[Any]:
    """`sorted(set(values))`; by their JSON for values Python cannot hash or order (a server's null among
    the formats ended the plan in a TypeError)."""
    try:
        return sorted(set(values))
    except TypeError:
        unique = {_canonical(v): v for v in values}
        return [unique[k] for k in sorted(unique)]


def _normalize_preset(preset: Any) -> Any:
    if not is_mapping(preset):
        return preset
    out = dict(preset)
    if out.get("public_hidden") is None:
        out["public_hidden"] = False  # the spec's documented default
    filter_id = out.get("dynamic_filter_id")
    if isinstance(filter_id, str) and filter_id.isdigit():
        out["dynamic_filter_id"] = int(filter_id)  # the spec allows "7" and 7 for one filter
    if is_mapping(out.get("preset_condition")):
        out["preset_condition"] = _normalize_condition(out["preset_condition"])
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def project(remote: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The part of `remote` that `desired` manages (only the fields it sets, recursively).

    A dest of another type is taken whole: its fields do not carry over to the new type.
    """
    out: dict[str, Any] = {}
    for key, want in desired.items():
        if key not in remote:
            continue
        have = remote[key]
        if type(want) in _LEAVES:  # most fields: taken as they are, no question asked of them
            out[key] = have
        elif key in FREE_FORM_ITEMS and _objects(have) and _objects(want):
            out[key] = _project_items(have, want)
        else:
            out[key] = project(have, want) if _field_by_field(key, have, want) else have
    return out


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, Mapping) for item in value)


def _project_items(have: list[Mapping[str, Any]], want: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    keys = {k for item in want for k in item}
    return sorted(({k: item[k] for k in item if k in keys} for item in have), key=_canonical)


def _field_by_field(key: str, have: Any, want: Any) -> bool:
    """Whether two values are compared and merged field by field: both mappings, and not a dest
    changing type (a new type's fields replace the old ones whole)."""
    if not (is_mapping(have) and is_mapping(want)):
        return False
    return key != "dest" or have.get("type") == want.get("type")


def differences(desired: Mapping[str, Any], remote: Mapping[str, Any], kind: Kind) -> tuple[FieldDiff, ...]:
    """Field-level differences between what the YAML manages and the remote item."""
    stripped = kind.without_server_fields(remote)
    managed = project(stripped, desired)
    if managed == desired and not _sorts_a_list(desired):
        # Equal as they are once the server's fields are gone, so equal once normalised: the rest of
        # normalising is one function of each field's value, applied alike to both sides. Most items
        # of a plan are unchanged: they skip it (issue 22).
        return ()
    # Normalising, projecting and comparing go top-level field by top-level field: only the fields that
    # are not the same as they are need it (a preset the YAML writes without its defaults, issue 22).
    apart = [k for k in desired if not _same_field(k, managed, desired)]
    found = _normalized_fields(apart, desired, stripped, kind) if apart else ()
    # Once an item differs, DeepDiff also names the fields equal to Python but not as JSON (`1.0` for `1`).
    typed = [k for k in desired if found and k not in apart and _canonical(managed[k]) != _canonical(desired[k])]
    return _normalized_fields(apart + typed, desired, stripped, kind) if typed else found


def _normalized_fields(
    keys: list[str], desired: Mapping[str, Any], stripped: Mapping[str, Any], kind: Kind
) -> tuple[FieldDiff, ...]:
    """The differences of `keys`, normalised; `stripped`: the remote item without the server's fields
    (what the server assigns lives within a top-level field, so it is gone from each field alike)."""
    ours, theirs = {k: desired[k] for k in keys}, {k: stripped[k] for k in keys if k in stripped}
    return normalized_differences(normalize(ours, kind), _normalized(theirs))


def _sorts_a_list(fields: Mapping[str, Any]) -> bool:
    """Whether normalising sorts a list of these fields by its items' JSON (presets, Slack channels), where
    `1` and `1.0` differ though Python finds them equal: two such lists equal as they are may be ordered
    apart, and the differences are what comparing them in that order finds. Such items go field by field."""
    dest = fields.get("dest")
    channels = dest.get("slack_channels") if is_mapping(dest) else None
    return any(isinstance(items, list) and len(items) > 1 for items in (fields.get("dynamic_filter_presets"), channels))


def _same_field(key: str, managed: Mapping[str, Any], desired: Mapping[str, Any]) -> bool:
    """Equal as it is, so equal once normalised, where normalising cannot tell `1` from `1.0` or `True`."""
    if key not in managed or managed[key] != desired[key]:
        return False
    parts = _typed_parts(key, desired[key])
    return parts is None or _canonical(_typed_parts(key, managed[key])) == _canonical(parts)


def _typed_parts(key: str, value: Any) -> Any:
    """The parts of a field that normalising may tell apart by type though Python finds them equal, or
    None: two presets or Slack channels or more (sorted by JSON), recipients or formats not all text
    (`str(True)` is not `str(1)`; a set keeps one of `1` and `True`)."""
    if key == "dynamic_filter_presets":
        return value if isinstance(value, list) and len(value) > 1 else None
    if key != "dest" or not is_mapping(value):
        return None
    options = value.get("options")
    recipients, channels = value.get("recipients"), value.get("slack_channels")
    formats = options.get("attachment_formats") if is_mapping(options) else None
    if _all_text(recipients) and _all_text(formats) and not (isinstance(channels, list) and len(channels) > 1):
        return None
    return recipients, channels, formats


def _all_text(items: Any) -> bool:
    return not isinstance(items, list) or all(type(item) is str for item in items)


def normalized_differences(new: Mapping[str, Any], remote: Mapping[str, Any]) -> tuple[FieldDiff, ...]:
    """`differences` of two items already normalised."""
    old = project(remote, new)
    if old == new:
        return ()
    from deepdiff import DeepDiff  # here: most schedules are equal and never need it

    paths: dict[str, None] = {}
    tree = DeepDiff(*_apart(old, new), view="tree", threshold_to_diff_deeper=0)
    for items in tree.values():
        for item in items:
            parts = item.path(output_format="list")
            # a list is one field (recipients, presets): report it whole, not item by item
            cut = next((i for i, p in enumerate(parts) if isinstance(p, int)), len(parts))
            paths[".".join(str(p) for p in parts[:cut])] = None
    return tuple(FieldDiff(path, _get(old, path), _get(new, path)) for path in sorted(paths))


def _apart(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The top-level fields in which `old` and `new` may differ, on each side: DeepDiff's findings in a
    field depend on that field alone, and it takes about 1 ms for a whole schedule (issue 22: 100
    changed items, 0.1 s of the listing's CPU). Equal as JSON and to Python is no finding (`1` and
    `1.0` differ as JSON: DeepDiff sees a type change; NaN is equal as JSON, not to Python)."""
    apart = [k for k in old.keys() | new.keys() if k not in old or k not in new or not _same(old[k], new[k])]
    return {k: old[k] for k in apart if k in old}, {k: new[k] for k in apart if k in new}


def _same(a: Any, b: Any) -> bool:
    return bool(a == b) and _canonical(a) == _canonical(b)


def _get(data: Mapping[str, Any], path: str) -> Any:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ABSENT
        node = node[part]
    return node


def update_body(remote: Mapping[str, Any], desired: Mapping[str, Any], kind: Kind) -> dict[str, Any]:
    """The full object a PUT sends: the remote item with the YAML's fields laid over it."""
    return _overlay(kind.without_server_fields(remote), desired)


def _overlay(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        have = out.get(key)
        out[key] = _overlay(have, value) if have is not None and _field_by_field(key, have, value) else value
    return out


def removal_diff(item: Mapping[str, Any], kind: Kind) -> tuple[FieldDiff, ...]:
    """What deleting `item` takes away: each of its fields, from its value to nothing."""
    return tuple(FieldDiff(p, v, ABSENT) for p, v in leaves(normalize(item, kind)))


def leaves(data: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted path, value) of each field that is not a non-empty mapping."""
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from leaves(value, f"{path}.")
        else:
            yield path, value


def is_content(value: Any) -> bool:
    """Whether a value says something of its own. Booleans and nulls do not (servers fill those in as
    defaults), nor empty strings, lists or mappings: leaving one out never stops an entry without an
    id from adopting its schedule, and import may leave them out."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, Mapping):
        return any(is_content(v) for v in value.values())
    if isinstance(value, list | str):
        return len(value) > 0
    return True


def only(fields: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """The part of `fields` at the dotted `paths` that it sets (with their parents), nothing else."""
    out: dict[str, Any] = {}
    for path in paths:
        *parents, last = path.split(".")
        node = _parent(fields, parents)
        if not isinstance(node, Mapping) or last not in node:
            continue
        target = out
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = copy.deepcopy(node[last])
    return out


def without(fields: Mapping[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """`fields` less the dotted `paths` (a copy; empty parents are kept, meaning "manage nothing here")."""
    paths = list(paths)
    if not paths:
        return dict(fields)  # the common case: nothing ignored, nothing to copy deeply
    out = copy.deepcopy(dict(fields))
    for path in paths:
        *parents, last = path.split(".")
        node = _parent(out, parents)
        if isinstance(node, dict):
            node.pop(last, None)
    return out


def _parent(fields: Mapping[str, Any], parents: Iterable[str]) -> Any:
    node: Any = fields
    for part in parents:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node
