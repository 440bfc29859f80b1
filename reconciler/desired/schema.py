"""JSON Schema (draft-07) of the schedule YAML, generated from the models, for editors and hooks."""

from __future__ import annotations

import json
from typing import Any

from reconciler.desired.yamlentries import KEY_PATTERN
from reconciler.kinds.schedules.models import DataScheduleSpec

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


def schedule_file_schema() -> dict[str, Any]:
    entry = DataScheduleSpec.model_json_schema(mode="validation")
    definitions = entry.pop("$defs", {})
    definitions["DataScheduleSpec"] = entry
    schema: dict[str, Any] = _draft07(
        {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "$id": SCHEMA_ID,
            "title": "holistics-schedules schedule file",
            "type": "object",
            "properties": {
                "schedules": {
                    "type": ["object", "null"],
                    "propertyNames": {"pattern": KEY_PATTERN.pattern},
                    "additionalProperties": {"$ref": "#/$defs/DataScheduleSpec"},
                }
            },
            "patternProperties": {"^x-": {}},
            "additionalProperties": False,
            "definitions": definitions,
        }
    )
    return schema


def dumps() -> str:
    return json.dumps(schedule_file_schema(), indent=2, sort_keys=True) + "\n"
