"""What the project knows of Holistics' OpenAPI spec, read from the generated subset.

`spec_subset.json` is produced by `scripts/gen_spec_subset.py` from the official spec; enums,
operator arities and request validation all come from it, so nothing here restates the spec by hand.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

_SCHEMA_PREFIX = "#/components/schemas/"


@cache
def subset() -> dict[str, Any]:
    text = resources.files("reconciler").joinpath("spec_subset.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def schema(name: str) -> dict[str, Any]:
    node: dict[str, Any] = subset()["components"]["schemas"][name]
    return node


def enum_of(name: str, *path: str) -> tuple[str, ...]:
    """The enum at `path` inside schema `name` (following allOf branches)."""
    node = _descend(schema(name), path)
    return tuple(v for v in node["enum"] if v is not None)


def _descend(node: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path:
        node = properties(node)[key]
    return node


def properties(node: Mapping[str, Any]) -> dict[str, Any]:
    """A schema's own properties and those of its inline allOf parts."""
    props: dict[str, Any] = dict(node.get("properties", {}))
    for part in node.get("allOf", []):
        if "$ref" not in part:
            props.update(properties(part))
    return props


def dest_branches() -> dict[str, str]:
    """dest.type -> schema name, from the discriminator mapping of DataSchedule.dest."""
    mapping = schema("DataSchedule")["properties"]["dest"]["discriminator"]["mapping"]
    return {k: v.removeprefix(_SCHEMA_PREFIX) for k, v in mapping.items()}


def condition_branches() -> dict[str, str]:
    mapping = schema("Condition")["discriminator"]["mapping"]
    return {k: v.removeprefix(_SCHEMA_PREFIX) for k, v in mapping.items()}


@cache
def operator_arity() -> dict[str, tuple[int, int | None]]:
    """operator -> (min, max) number of values, as the Condition discriminator's branches fix them."""
    arity: dict[str, tuple[int, int | None]] = {}
    for operator, branch in condition_branches().items():
        values = properties(schema(branch)).get("values", {})
        arity[operator] = (values.get("minItems", 0), values.get("maxItems"))
    return arity


@cache
def operators_with_modifier() -> frozenset[str]:
    return frozenset(op for op, branch in condition_branches().items() if "modifier" in properties(schema(branch)))


def required_fields(name: str) -> tuple[str, ...]:
    node = schema(name)
    required = list(node.get("required", []))
    for part in node.get("allOf", []):
        required += part.get("required", [])
    return tuple(required)


# ---- request validation (used by the sandbox, and by tests as an independent check) ----


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
    # imported here: only the sandbox validates requests, and every CLI start would pay for it
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    defs = _to_json_schema(subset()["components"]["schemas"])
    root = copy.deepcopy(defs[name])
    if name == "DataSchedule":
        # dest and preset conditions are validated per discriminator branch, not by the oneOf
        root["properties"]["dest"] = {"type": "object", "required": ["type"]}
        preset = defs["DynamicFilterPreset"]
        preset["properties"]["preset_condition"] = {"type": "object", "required": ["operator"]}
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
    errors: dict[str, list[str]] = {}

    def collect(validator: Draft202012Validator, instance: Any, prefix: str) -> None:
        for err in validator.iter_errors(instance):
            parts = [*(prefix.split(".") if prefix else []), *map(str, err.absolute_path)]
            path = ".".join(parts)
            errors.setdefault(path or "base", []).append(err.message)

    if not isinstance(body, dict):
        return {"base": ["must be an object"]}
    collect(_validator("DataSchedule"), body, "")
    dest = body.get("dest")
    if isinstance(dest, dict):
        branch = dest_branches().get(str(dest.get("type")))
        if branch is None:
            errors.setdefault("dest.type", []).append(
                f"must be one of {', '.join(dest_branches())}, got {dest.get('type')!r}"
            )
        else:
            collect(_validator(branch), dest, "dest")
    for i, preset in enumerate(body.get("dynamic_filter_presets") or []):
        condition = preset.get("preset_condition") if isinstance(preset, dict) else None
        if isinstance(condition, dict):
            branch = condition_branches().get(str(condition.get("operator")))
            path = f"dynamic_filter_presets.{i}.preset_condition"
            if branch is None:
                errors.setdefault(f"{path}.operator", []).append(f"unknown operator {condition.get('operator')!r}")
            else:
                collect(_validator(branch), condition, path)
    return errors
