"""The workspace a sandbox starts from: dashboards and query reports, and optionally data schedules
and data alerts.

`example.json` is a realistic workspace (five dashboards with dynamic filters and widgets, six query
reports, 41 data schedules over every destination type, and four data alerts over every alert
destination); it is plain data, so a user can copy it as the starting point of their own `--seed FILE`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

EXAMPLE = "example.json"
SeedArg = str | Path | None


@dataclass(frozen=True)
class Workspace:
    dashboards: list[dict[str, Any]] = field(default_factory=list)
    query_reports: list[dict[str, Any]] = field(default_factory=list)
    data_schedules: list[dict[str, Any]] = field(default_factory=list)
    data_alerts: list[dict[str, Any]] = field(default_factory=list)


def _example_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("reconciler.sandbox").joinpath(EXAMPLE).read_text())
    return data


def load_seed(seed: SeedArg) -> Workspace:
    """`"example"`, `"empty"`/None (the example's dashboards and reports, no schedules or alerts), or a
    JSON file `{dashboards, query_reports, data_schedules, data_alerts}`; a file that leaves out
    dashboards or reports gets the example's, so a seed of schedules alone still has sources to point
    at (and one that leaves out schedules or alerts has none)."""
    example = _example_data()
    if seed is None or seed == "empty":
        return Workspace(example["dashboards"], example["query_reports"], [])
    if seed == "example":
        return Workspace(
            example["dashboards"], example["query_reports"], example["data_schedules"], example["data_alerts"]
        )
    path = Path(seed)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"seed file not found: {path} (or use 'example' / 'empty')") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"seed file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"seed file {path} must hold an object with dashboards, query_reports, data_schedules, data_alerts"
        )
    for key in ("dashboards", "query_reports", "data_schedules", "data_alerts"):
        if not isinstance(data.get(key, []), list):
            raise ValueError(f"seed file {path}: {key} must be a list")
    return Workspace(
        data.get("dashboards", example["dashboards"]),
        data.get("query_reports", example["query_reports"]),
        data.get("data_schedules", []),
        data.get("data_alerts", []),
    )
