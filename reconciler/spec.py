"""What the project knows of Holistics' OpenAPI spec, read from the generated subset, and the one
walker of it.

`spec_subset.json` is produced by `scripts/gen_spec_subset.py` from the official spec; enums and
operator arities come from it, so nothing here restates the spec by hand. The remote view, the
importer and the sandbox all ask `documented` what a schema documents and `split_documented` for a
value less what it does not, so the three cannot disagree. Request validation, which only the
sandbox needs, is `reconciler.sandbox.validation`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
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
    """What a schema says itself: its own properties and those of its inline allOf parts, not what it
    takes from the schemas it refers to (a Condition branch's `values`, not its base's)."""
    return _walk(node, None, _Mode(inherited=False, every_branch=False), frozenset()) or {}


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


# ---- the walker: what a schema documents, and a value less what it does not ----

PathParts = tuple[str | int, ...]  # a field's place in a value: keys, and list indices


@dataclass
class _Mode:
    inherited: bool  # follow `$ref` allOf parts and discriminator branches, not only what is inline
    every_branch: bool  # a base schema's discriminator (a Condition's): every branch, not the one named
    named: bool = False  # set once a walk takes the branch its value names


def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
    """`node`, its `$ref`s followed."""
    while "$ref" in node:
        node = schema(str(node["$ref"]).rsplit("/", 1)[-1])
    return node


def documented(node: Mapping[str, Any], value: Any = None, *, every_branch: bool = False) -> dict[str, Any] | None:
    """Every property `node` documents (name -> schema), or None when it documents none (free-form)
    or `value` names a branch its discriminator does not map: its own, its allOf parts' (inline or
    referenced; the first definition of a name wins), its oneOf/anyOf alternatives', and its
    discriminator's branch that `value` names. With `every_branch`, a discriminator on a schema with
    properties of its own (a Condition) gives all of its branches instead: what any of them documents.
    A discriminator on a bare oneOf (a dest) is always read by the branch `value` names."""
    if not node:  # `{}`: documents nothing (and, made afresh by each caller, is no key to keep)
        return None
    found = _WHATEVER_VALUE.get((id(node), every_branch))
    if found is not None:  # most nodes: no discriminator below them, no need to read the value's
        return found[1]
    key = (id(node), every_branch, _discriminants(value))
    found = _DOCUMENTED.get(key)
    if found is None:
        mode = _Mode(True, every_branch)
        found = _DOCUMENTED[key] = (node, _walk(node, value, mode, frozenset()))
        if not mode.named:
            _WHATEVER_VALUE[key[:2]] = found
    return found[1]


# A listing of 10,000 schedules asks for the same few dozen nodes' properties half a million times.
# Keyed by the node's id; the node is kept with its answer, so that id stays its own.
_DOCUMENTED: dict[tuple[int, bool, tuple[str, ...]], tuple[Mapping[str, Any], dict[str, Any] | None]] = {}
_WHATEVER_VALUE: dict[tuple[int, bool], tuple[Mapping[str, Any], dict[str, Any] | None]] = {}  # their answers


def _discriminants(value: Any) -> tuple[str, ...]:
    """What of `value` a walk can depend on: the values of the spec's discriminator properties."""
    if type(value) is not dict and not isinstance(value, Mapping):
        return ()
    return tuple(map(str, map(value.get, _discriminator_names())))  # C-level loops: called per mapping listed


@cache
def _discriminator_names() -> tuple[str, ...]:
    names: set[str] = set()
    _collect_discriminators(subset()["components"]["schemas"], names)
    return tuple(sorted(names))


def _collect_discriminators(node: Any, names: set[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _collect_discriminators(item, names)
    elif isinstance(node, dict):
        if isinstance(node.get("discriminator"), dict):
            names.add(str(node["discriminator"]["propertyName"]))
        for item in node.values():
            _collect_discriminators(item, names)


def _walk(node: Mapping[str, Any], value: Any, mode: _Mode, visiting: frozenset[int]) -> dict[str, Any] | None:
    node = resolve(node)
    if id(node) in visiting:  # a branch refers back to its base: the base adds nothing more
        return {}
    visiting |= {id(node)}
    props: dict[str, Any] = dict(node.get("properties", {}))
    known = bool(props)
    parts = [p for p in node.get("allOf", []) if mode.inherited or "$ref" not in p]
    if mode.inherited:
        parts += [*node.get("oneOf", []), *node.get("anyOf", [])] if "discriminator" not in node else []
    for part in parts:
        more = _walk(part, value, mode, visiting)
        known = known or more is not None
        _add(props, more)
    discriminator = node.get("discriminator")
    if mode.inherited and isinstance(discriminator, Mapping):
        every = mode.every_branch and bool(node.get("properties"))
        if not every:
            mode.named = True
        branches = _branches(discriminator, value, every)
        if branches is None:
            return None
        for branch in branches:
            _add(props, _walk({"$ref": branch}, value, mode, visiting))
        props.setdefault(str(discriminator["propertyName"]), {})  # even where a branch forgets to list it
        known = True
    return props if known else None


def _branches(discriminator: Mapping[str, Any], value: Any, every: bool) -> list[str] | None:
    mapping: Mapping[str, str] = discriminator.get("mapping", {})
    if every:
        return list(mapping.values())
    named = value.get(discriminator["propertyName"]) if isinstance(value, Mapping) else None
    branch = mapping.get(str(named))
    return None if branch is None else [branch]


def _add(props: dict[str, Any], more: Mapping[str, Any] | None) -> None:
    for name, node in (more or {}).items():
        props.setdefault(name, node)


def split_documented(value: Any, node: Mapping[str, Any], *, every_branch: bool = False) -> tuple[Any, list[PathParts]]:
    """`value` less every attribute `node` does not document, and the places of those left out
    (`created_at`, `dest.id`, `dynamic_filter_presets.0.data_schedule_id`). A part the spec leaves
    free-form, or of a branch it does not map, is kept whole. `every_branch` as for `documented`."""
    extras: list[PathParts] = []
    return _split(value, node, (), extras, every_branch), extras


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _split(value: Any, node: Mapping[str, Any], path: PathParts, extras: list[PathParts], every: bool) -> Any:
    kind = type(value)
    if kind in _SCALARS:  # most of an item (issue 22: the listing's CPU): nothing to split
        return value
    node = resolve(node)
    if kind is list:  # before asking the Mapping ABC, which is slow to say no
        return _split_items(value, node, path, extras, every)
    if kind is dict or isinstance(value, Mapping):
        props = documented(node, value, every_branch=every)
        if not props:
            return dict(value)
        if value.keys() <= props.keys():  # nothing here is left out: only what nests is split further
            out = dict(value)
            for key, item in value.items():
                if type(item) not in _SCALARS:
                    out[key] = _split(item, props[key], (*path, key), extras, every)
            return out
        out = {}
        for key, item in value.items():
            child = props.get(key)
            if child is None:
                extras.append((*path, key))
            else:
                out[key] = _split(item, child, (*path, key), extras, every)
        return out
    return _split_items(value, node, path, extras, every) if isinstance(value, list) else value


def _split_items(
    value: list[Any], node: Mapping[str, Any], path: PathParts, extras: list[PathParts], every: bool
) -> Any:
    """`value`'s items split by the schema of its items, if the schema has one."""
    items = node.get("items")
    if not (type(items) is dict or isinstance(items, Mapping)):
        return value
    return [
        item if type(item) in _SCALARS else _split(item, items, (*path, i), extras, every)
        for i, item in enumerate(value)
    ]
