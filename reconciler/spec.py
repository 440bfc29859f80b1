"""What the project knows of Holistics' OpenAPI spec, read from the generated subset.

`spec_subset.json` is produced by `scripts/gen_spec_subset.py` from the official spec; enums and
operator arities come from it, so nothing here restates the spec by hand. Request validation, which
only the sandbox needs, is `reconciler.sandbox.validation`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

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
