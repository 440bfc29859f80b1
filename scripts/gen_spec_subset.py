"""Generate reconciler/spec_subset.json from Holistics' OpenAPI spec.

The project needs only the machine-readable part of the spec that concerns data
schedules, data alerts, dashboards and jobs (schemas, enums, list parameters); the prose stays in the
spec. One correction is applied, and said where: `DataAlert.dest` is declared `type: string` with a
oneOf of objects (a spec defect, see NOTES.md); the subset declares it an object chosen by `type`.
Run after the spec changes:

    python scripts/gen_spec_subset.py [../shared/reference/holistics-openapi-v2.yml]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

ROOT_SCHEMAS = [
    "DataSchedule",
    "DataAlert",
    "BaseError",
    "RecordError",
    "PaginationCursor",
    "Message",
    "AsyncResult",
    "Job",
    "JobLog",
]
PATHS = [
    "/data_schedules",
    "/data_schedules/{id}",
    "/data_schedules/{id}/submit_execute",
    "/data_alerts",
    "/data_alerts/{id}",
    "/data_alerts/{id}/submit_execute",
    "/dashboards/{id}",
    "/dashboards/list_metadata",
    "/jobs/{id}",
    "/jobs/{id}/logs",
]
PROSE_KEYS = {"description", "summary", "example", "examples", "title", "x-faker"}
DEFAULT_SPEC = Path(__file__).resolve().parents[2] / "shared/reference/holistics-openapi-v2.yml"
OUT = Path(__file__).resolve().parents[1] / "reconciler/spec_subset.json"


def strip_prose(node: Any, *, in_properties: bool = False) -> Any:
    if isinstance(node, dict):
        return {
            key: strip_prose(value, in_properties=key == "properties")
            for key, value in node.items()
            # a property may itself be called "title" (DataSchedule.title): keep it
            if in_properties or key not in PROSE_KEYS
        }
    if isinstance(node, list):
        return [strip_prose(item) for item in node]
    return node


def refs_in(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("$ref",) and isinstance(value, str):
                found.add(value)
            elif key == "mapping" and isinstance(value, dict):
                found.update(v for v in value.values() if isinstance(v, str))
            else:
                found |= refs_in(value)
    elif isinstance(node, list):
        for item in node:
            found |= refs_in(item)
    return found


def main(spec_path: Path) -> None:
    spec = json.loads(json.dumps(YAML(typ="safe").load(spec_path.read_text()), default=str))
    components = spec["components"]
    paths = {p: spec["paths"][p] for p in PATHS}
    wanted: dict[str, dict[str, Any]] = {}
    todo = [f"#/components/schemas/{name}" for name in ROOT_SCHEMAS] + sorted(refs_in(paths))
    while todo:
        ref = todo.pop()
        _, _, kind, name = ref.split("/")
        if name in wanted.setdefault(kind, {}):
            continue
        node = components[kind][name]
        wanted[kind][name] = node
        todo.extend(refs_in(node))
    _correct_alert_dest(wanted["schemas"])
    subset = {
        "openapi": spec["openapi"],
        "servers": [s["url"] for s in spec["servers"]],
        "paths": strip_prose(paths),
        "components": {kind: strip_prose(dict(sorted(v.items()))) for kind, v in sorted(wanted.items())},
    }
    OUT.write_text(json.dumps(subset, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUT} ({sum(len(v) for v in wanted.values())} components)")


def _correct_alert_dest(schemas: dict[str, Any]) -> None:
    dest = schemas["DataAlert"]["properties"]["dest"]
    if dest.get("type") == "string" and "oneOf" in dest:
        dest["type"] = "object"
        dest["x-corrected"] = "declared type: string in the spec, yet a oneOf of objects chosen by dest.type"


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_SPEC)
