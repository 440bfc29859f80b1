"""The project config file, `holistics-schedules.yml` at the repo root: what this repo owns, which
fields the team curates in the UI, how much one plan may change, and where things are.

Without the file every default keeps the plain behaviour: everything in scope, nothing ignored,
schedule files under `schedules/`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from reconciler.client.errors import ConfigError
from reconciler.client.rates import parse_rate
from reconciler.describe import DEFAULT_TIMEZONE, UnknownTimezone, zone
from reconciler.errors import UserError
from reconciler.models import DEST_MODELS, DataScheduleSpec, DestType

CONFIG_FILE = "holistics-schedules.yml"
_TOP_FIELDS = set(DataScheduleSpec.model_fields)


class ConfigFileError(UserError):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Connection(_Model):
    region: Literal["apac", "eu", "us"] | None = None
    base_url: str | None = None
    rate_limit: str | None = Field(None, pattern=r"^(\d+/\d+(\.\d+)?|none)$")  # "120/60", or "none"

    @field_validator("rate_limit")
    @classmethod
    def _one_meaning(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_rate(value)  # the one parser: the client paces by what is accepted here
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value


class Scope(_Model):
    """Which remote schedules this repo owns; an empty selector selects everything."""

    dashboards: list[int] | None = None
    query_reports: list[int] | None = None
    dest_types: list[DestType] | None = None

    @property
    def everything(self) -> bool:
        return self.dashboards is None and self.query_reports is None and self.dest_types is None

    def contains(self, schedule: Mapping[str, Any]) -> bool:
        if self.dashboards is not None or self.query_reports is not None:
            wanted = {("Dashboard", i) for i in self.dashboards or []} | {
                ("QueryReport", i) for i in self.query_reports or []
            }
            try:
                source = (str(schedule.get("source_type")), int(schedule.get("source_id")))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                return False
            if source not in wanted:
                return False
        if self.dest_types is not None:
            dest = schedule.get("dest")
            if not isinstance(dest, Mapping) or dest.get("type") not in self.dest_types:
                return False
        return True

    def describe(self) -> str:
        parts = []
        if self.dashboards is not None:
            parts.append(f"dashboards {self.dashboards}")
        if self.query_reports is not None:
            parts.append(f"query reports {self.query_reports}")
        if self.dest_types is not None:
            parts.append(f"destinations {', '.join(self.dest_types)}")
        return "; ".join(parts) or "everything"


def field_path(path: str) -> str:
    """`recipients` is short for `dest.recipients`: a bare name that is not a top-level field."""
    if "." in path or path in _TOP_FIELDS:
        return path
    return f"dest.{path}"


class Ignore(_Model):
    """Fields whose remote value the team curates in the UI: neither diffed nor overwritten."""

    fields: list[str] = Field(default_factory=list)
    schedules: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: list[str]) -> list[str]:
        return [_check_path(p) for p in value]

    @field_validator("schedules")
    @classmethod
    def _known_schedule_fields(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return {key: [_check_path(p) for p in paths] for key, paths in value.items()}

    def for_key(self, key: str) -> frozenset[str]:
        return frozenset(field_path(p) for p in [*self.fields, *self.schedules.get(key, [])])


def _check_path(path: str) -> str:
    full = field_path(path)
    head = full.split(".")[0]
    if head not in _TOP_FIELDS or head == "id":
        raise ValueError(f"{path!r} is not a schedule field")
    if head == "dest" and len(full.split(".")) > 1:
        name = full.split(".")[1]
        if name != "options" and not any(name in m.model_fields for m in DEST_MODELS.values()):
            raise ValueError(f"{path!r} is not a field of any destination")
    return path


class Safety(_Model):
    """A plan that updates or deletes more than `max_change_share` of the managed schedules (once at
    least `min_managed` are managed) is unsafe: apply refuses it without --force."""

    max_change_share: float = Field(0.3, gt=0, le=1)
    min_managed: int = Field(10, ge=0)


class ProjectConfig(_Model):
    paths: list[str] = Field(default_factory=lambda: ["schedules"])
    connection: Connection = Field(default_factory=Connection)
    scope: Scope = Field(default_factory=Scope)
    ignore: Ignore = Field(default_factory=Ignore)
    safety: Safety = Field(default_factory=Safety)
    timezone: str = Field(
        DEFAULT_TIMEZONE,
        description="The IANA time zone `schedule.repeat` runs in: the zone your Holistics organisation runs "
        "schedules in (an assumption; the API spec does not say). Plans show next runs and DST warnings in it.",
        examples=["UTC", "Europe/Berlin", "America/New_York"],
    )

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            zone(value)
        except UnknownTimezone as exc:  # a custom error: the message without pydantic's "Value error, "
            raise PydanticCustomError("timezone", str(exc)) from None
        return value

    @property
    def schedule_paths(self) -> list[Path]:
        return [Path(p) for p in self.paths]


def load(path: Path | None = None) -> ProjectConfig:
    """The config at `path`, or `holistics-schedules.yml` in the working directory, or defaults."""
    if path is None:
        path = Path(CONFIG_FILE)
        if not path.exists():
            return ProjectConfig()
    try:
        yaml = YAML(typ="safe")
        data = yaml.load(path.read_text(encoding="utf-8")) or {}
    except (OSError, YAMLError) as exc:
        raise ConfigFileError(f"{path}: cannot read the config file: {exc}") from None
    if isinstance(data, dict) and ("api_key" in data.get("connection", {}) or "key" in data.get("connection", {})):
        raise ConfigFileError(f"{path}: connection: the API key never goes in a file; set HOLISTICS_API_KEY")
    try:
        return ProjectConfig.model_validate(data)
    except ValidationError as exc:
        lines = [f"{path}: {'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in exc.errors(include_url=False)]
        raise ConfigFileError("\n".join(lines)) from None


def json_schema() -> str:
    schema = ProjectConfig.model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["title"] = "holistics-schedules project config"
    text = json.dumps(schema, indent=2, sort_keys=True).replace("#/$defs/", "#/definitions/")
    return text.replace('"$defs"', '"definitions"') + "\n"
