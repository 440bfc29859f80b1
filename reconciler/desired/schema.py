"""JSON Schema (draft-07) of the schedule YAML (`schedules:` and `alerts:`), generated from the
models, for editors and hooks."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from reconciler.desired.yamlentries import KEY_PATTERN
from reconciler.kinds.known import KINDS

SCHEMA_ID = "https://github.com/holistics-schedules/holistics-schedules/schedules.schema.json"


def _draft07(node: Any) -> Any:
    """pydantic writes 2020-12 `$defs`; draft-07 editors read `definitions`."""
    if isinstance(node, dict):
        return {k: _draft07(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_draft07(v) for v in node]
    if isinstance(node, str) and node.startswith("#/$defs/"):
        return node.replace("#/$defs/", "#/definitions/")
    return node


def _definitions(models: list[type[BaseModel]]) -> dict[str, Any]:
    """Every model's schema and the schemas it refers to, in one namespace: the kinds share some
    (`Schedule`, `Condition`) and must not give one name to two different things."""
    definitions: dict[str, Any] = {}
    for model in models:
        entry = model.model_json_schema(mode="validation")
        for name, definition in [*entry.pop("$defs", {}).items(), (model.__name__, entry)]:
            if definitions.setdefault(name, definition) != definition:
                raise AssertionError(f"two models named {name} in the schedule file schema")
    return definitions


def _entries_map(model: type[BaseModel]) -> dict[str, Any]:
    return {
        "type": ["object", "null"],
        "propertyNames": {"pattern": KEY_PATTERN.pattern},
        "additionalProperties": {"$ref": f"#/$defs/{model.__name__}"},
    }


def schedule_file_schema() -> dict[str, Any]:
    definitions = _definitions([kind.model for kind in KINDS])
    schema: dict[str, Any] = _draft07(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": SCHEMA_ID,
            "title": "holistics-schedules schedule file",
            "type": "object",
            "properties": {kind.yaml_key: _entries_map(kind.model) for kind in KINDS},
            "patternProperties": {"^x-": {}},
            "additionalProperties": False,
            "definitions": definitions,
        }
    )
    return schema


def dumps() -> str:
    return json.dumps(schedule_file_schema(), indent=2, sort_keys=True) + "\n"
