"""The sandbox's request validation: a `data_schedule` or `data_alert` body checked against the official
spec.

The checks are JSON Schema, converted from the OpenAPI 3.0 schemas of `spec_subset.json` (read through
`reconciler.spec`), so the sandbox rejects what Holistics rejects without restating the spec. They
live here, not in `reconciler.spec`, because only the sandbox (and tests, as an independent check)
validates requests; the models need the spec's enums and arities, not jsonschema.
"""

from __future__ import annotations

import copy
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reconciler import spec
from reconciler.sandbox.records import alert_dest_branches
from reconciler.spec import condition_branches, dest_branches, subset

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator


def _to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 -> JSON Schema: `nullable` becomes a null alternative, discriminators are dropped
    (they are resolved by hand below, as the spec's oneOf branches overlap)."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _to_json_schema(v) for k, v in node.items() if k not in ("discriminator", "nullable")}
    if "$ref" in out:
        out["$ref"] = out["$ref"].replace("#/components/schemas/", "#/$defs/")
    if node.get("nullable"):
        if "enum" in out and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        elif "type" not in out:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def _validator(name: str) -> Draft202012Validator:
    # imported here: jsonschema is only needed once the sandbox validates a request
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    defs = _to_json_schema(subset()["components"]["schemas"])
    root = copy.deepcopy(defs[name])
    if name in ("DataSchedule", "DataAlert"):
        # dest and conditions are validated per discriminator branch, not by the oneOf
        root["properties"]["dest"] = {"type": "object", "required": ["type"]}
        preset = defs["DynamicFilterPreset"]
        preset["properties"]["preset_condition"] = {"type": "object", "required": ["operator"]}
        defs["VizCondition"]["properties"]["condition"] = {"type": "object", "required": ["operator"]}
    root["$defs"] = defs
    resource = Resource.from_contents(root, default_specification=DRAFT202012)
    # format checks too: the spec gives recipients `format: email`
    checker = Draft202012Validator.FORMAT_CHECKER
    return Draft202012Validator(root, registry=Registry().with_resource("urn:subset", resource), format_checker=checker)


def validate_data_schedule(body: Any) -> dict[str, list[str]]:
    """Errors of a `data_schedule` object, keyed by dotted field path ("base" for the whole record).

    The `dest` oneOf is resolved by its discriminator: the branch named by `dest.type` alone is
    checked, so an EmailDest is not rejected for also matching EmailSubscriptionDest.
    """
    if not isinstance(body, dict):
        return {"base": ["must be an object"]}
    errors: dict[str, list[str]] = {}
    _collect(errors, _validator("DataSchedule"), body, "")
    dest = body.get("dest")
    if isinstance(dest, dict):
        _check_dest(errors, dest, dest_branches())
    _check_conditions(errors, body, "dynamic_filter_presets", "preset_condition")
    return errors


def validate_data_alert(body: Any) -> dict[str, list[str]]:
    """Errors of a `data_alert` object, as `validate_data_schedule` finds a schedule's: the dest by the
    branch `dest.type` names (the spec declares DataAlert.dest `type: string`, a defect: it is an
    object), each condition by its operator, and a webhook endpoint must be https (Holistics' docs)."""
    if not isinstance(body, dict):
        return {"base": ["must be an object"]}
    errors: dict[str, list[str]] = {}
    _collect(errors, _validator("DataAlert"), body, "")
    dest = body.get("dest")
    if isinstance(dest, dict):
        _check_dest(errors, dest, alert_dest_branches())
        endpoint = dest.get("endpoint")
        if dest.get("type") == "WebhookDest" and isinstance(endpoint, str) and not _is_https(endpoint):
            errors.setdefault("dest.endpoint", []).append("must be an https:// URL (webhooks are sent over https only)")
    _check_conditions(errors, body, "dynamic_filter_presets", "preset_condition")
    _check_conditions(errors, body, "viz_conditions", "condition")
    return errors


def _is_https(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme == "https" and bool(parts.hostname)
    except ValueError:  # a malformed port or IPv6 literal
        return False


def _check_conditions(errors: dict[str, list[str]], body: dict[str, Any], name: str, field_name: str) -> None:
    items = body.get(name)
    for i, item in enumerate(items if isinstance(items, list) else []):
        condition = item.get(field_name) if isinstance(item, dict) else None
        if isinstance(condition, dict):
            _check_condition(errors, condition, f"{name}.{i}.{field_name}")


def _collect(errors: dict[str, list[str]], validator: Draft202012Validator, instance: Any, prefix: str) -> None:
    for err in validator.iter_errors(instance):
        parts = [*(prefix.split(".") if prefix else []), *map(str, err.absolute_path)]
        path = ".".join(parts)
        errors.setdefault(path or "base", []).append(err.message)


def _check_dest(errors: dict[str, list[str]], dest: dict[str, Any], branches: dict[str, str]) -> None:
    branch = branches.get(str(dest.get("type")))
    if branch is None:
        known = ", ".join(branches)
        errors.setdefault("dest.type", []).append(f"must be one of {known}, got {dest.get('type')!r}")
    else:
        _collect(errors, _validator(branch), dest, "dest")


def _check_condition(errors: dict[str, list[str]], condition: dict[str, Any], path: str) -> None:
    branch = condition_branches().get(str(condition.get("operator")))
    if branch is None:
        errors.setdefault(f"{path}.operator", []).append(f"unknown operator {condition.get('operator')!r}")
    else:
        _collect(errors, _validator(branch), condition, path)


# ---- what the spec documents: a strict server refuses the rest, a lenient one ignores it ----


def split_documented(body: Any, schema: str = "DataSchedule") -> tuple[Any, list[str]]:
    """`body` less every attribute the spec's `schema` (a DataSchedule, a DataAlert) does not document,
    and the dotted paths of those left out
    (`created_at`, `dest.id`, `dynamic_filter_presets.0.data_schedule_id`), as a server reads a request
    through its permitted parameters. Documented read-only fields (`id`, `schedule.is_archived`) stay:
    the server ignores them itself. Discriminated parts are read by the branch their value names (a
    dest by `type`, a condition by `operator`); a part the spec leaves free-form, or of a branch it
    does not know, is kept whole (validation judges the latter)."""
    kept, extras = spec.split_documented(body, spec.schema(schema))
    return kept, [".".join(map(str, path)) for path in extras]
