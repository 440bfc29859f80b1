"""The project config file, `holistics-schedules.yml` at the repo root: what this repo owns, which
fields the team curates in the UI, how much one plan may change, and where things are.

Without the file every default keeps the plain behaviour: everything in scope, nothing ignored,
schedule files under `schedules/`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from reconciler.desired.discovery import CONFIG_FILE as CONFIG_FILE
from reconciler.desired.discovery import DEFAULT_SCHEDULES, DefaultPath, read_regular
from reconciler.desired.validation_messages import config_problems, unknown_part
from reconciler.desired.yamlentries import Unreadable, decode, read_mapping
from reconciler.kinds.alerts.models import DestType as AlertDestType
from reconciler.kinds.entries import nearest_line
from reconciler.kinds.schedules.models import DataScheduleSpec, DestType
from reconciler.policy.model import Policy
from reconciler.problems import InvalidSchedules, Problem, did_you_mean
from reconciler.remote.client.errors import ConfigError
from reconciler.remote.client.rates import parse_rate
from reconciler.views.cron_words import DEFAULT_TIMEZONE, UnknownTimezone, zone

_TOP_FIELDS = set(DataScheduleSpec.model_fields)

# Every kind's destination types as ONE Literal: a union of each kind's Literal fails as one error per
# member, so a wrong value was told two overlapping lists ("one of: EmailDest, ...; one of: EmailDest, ...").
AnyDestType = Literal["EmailDest", "EmailSubscriptionDest", "SlackDest", "SftpDest", "GsheetDest", "WebhookDest"]
assert list(get_args(AnyDestType)) == list(dict.fromkeys([*get_args(DestType), *get_args(AlertDestType)])), (
    "AnyDestType lists each kind's destination types, schedules' first"
)


class ConfigFileError(InvalidSchedules):
    """The config file cannot be read or has problems, each at its file, line and key path."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems, what="in the config file", outcome="nothing was sent")  # read before connecting


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Connection(_Model):
    region: Literal["apac", "eu", "us"] | None = None
    base_url: str | None = None
    rate_limit: str | None = Field(None, pattern=r"^(\d+/\d+(\.\d+)?|none)$")  # "120/60", or "none"

    # before the pattern: the parser's message says what is wrong and what to write instead
    @field_validator("rate_limit", mode="before")
    @classmethod
    def _one_meaning(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                parse_rate(value)  # the one parser: the client paces by what is accepted here
            except ConfigError as exc:
                raise PydanticCustomError("rate_limit", str(exc)) from None
        return value


class Scope(_Model):
    """Which remote items this repo owns; an empty selector selects everything.

    Dashboards and query reports are schedules' sources. An alert's source is a dashboard widget or a
    viz block, which no selector here can place on a dashboard without reading it: so a repo scoped by
    dashboards or query reports owns no alert (declaring one is an error; none is pruned). The
    destination selector applies to both kinds, by `dest.type` (WebhookDest is an alert's alone)."""

    dashboards: list[int | str] | None = None  # ids, or unames (resolved through the catalog: `named`)
    query_reports: list[int] | None = None
    dest_types: list[AnyDestType] | None = None

    @property
    def everything(self) -> bool:
        return self.dashboards is None and self.query_reports is None and self.dest_types is None

    def contains(self, schedule: Mapping[str, Any], kind: str = "schedules") -> bool:
        """Whether this repo owns the item (its fields, or the remote item) of `kind` (a YAML key)."""
        if self.dashboards is not None or self.query_reports is not None:
            if kind != "schedules":
                return False
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

    def unames(self) -> list[str]:
        """The dashboards this scope names by uname (to resolve before it selects anything)."""
        return [d for d in self.dashboards or [] if isinstance(d, str)]

    def named(self, ids_of: Mapping[str, Sequence[int]]) -> Scope:
        """This scope with each dashboard uname replaced by its ids (every AML project's)."""
        if self.dashboards is None:
            return self
        ids = [i for d in self.dashboards for i in (ids_of.get(d, ()) if isinstance(d, str) else [d])]
        return self.model_copy(update={"dashboards": list(dict.fromkeys(ids))})

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


def _check_path(path: str) -> str:
    """A field the YAML can set, down to its last part (`schedule.paued` would protect nothing)."""
    full = field_path(path)
    if full.split(".")[0] == "id":
        raise PydanticCustomError("field_path", f"{path!r} is not a schedule field (an id is never updated)")
    unknown = unknown_part(DataScheduleSpec, full)
    if unknown is None:
        return path
    parent, part, known = unknown
    if "." not in path:  # a bare name: a top-level field, or short for one of dest (`recipients`)
        known |= _TOP_FIELDS - {"id"}
    where = f"a field of `{parent}`" if parent else "a schedule field"
    where = "a field of any destination" if parent == "dest" else where
    raise PydanticCustomError("field_path", f"{path!r} is not {where}{did_you_mean(part, known)}")


# checked one by one, so that each wrong path is reported at its own line
FieldPath = Annotated[str, AfterValidator(_check_path)]


class Ignore(_Model):
    """Fields whose remote value the team curates in the UI: neither diffed nor overwritten."""

    fields: list[FieldPath] = Field(default_factory=list)
    schedules: dict[str, list[FieldPath]] = Field(default_factory=dict)

    def for_key(self, key: str) -> frozenset[str]:
        if not self.fields and key not in self.schedules:
            return _NOTHING  # most configs ignore nothing: a plan asks this three times per entry (issue 22)
        return frozenset(field_path(p) for p in [*self.fields, *self.schedules.get(key, [])])


_NOTHING: frozenset[str] = frozenset()


class Safety(_Model):
    """A plan that updates or deletes more than `max_change_share` of the managed schedules (once at
    least `min_managed` are managed) is unsafe: apply refuses it without --force."""

    max_change_share: float = Field(0.3, gt=0, le=1)
    min_managed: int = Field(10, ge=0)


class ProjectConfig(_Model):
    paths: list[str] = Field(default_factory=lambda: [DEFAULT_SCHEDULES])
    connection: Connection = Field(default_factory=Connection)
    scope: Scope = Field(default_factory=Scope)
    ignore: Ignore = Field(default_factory=Ignore)
    safety: Safety = Field(default_factory=Safety)
    policy: Policy = Field(default_factory=Policy)
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

    # where the file said what (set by `load`), for problems found only later
    _file: str = PrivateAttr(CONFIG_FILE)
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    def where(self, dotted: str) -> tuple[str, int]:
        """The file and line the key path `dotted` was written at (or its nearest written parent; 0:
        not written), for a problem only the schedules reveal (an ignore rule for a key none has)."""
        return self._file, nearest_line(self._lines, dotted, 0)

    @property
    def schedule_paths(self) -> list[Path]:
        if "paths" not in self.model_fields_set:  # nobody chose it: missing, it gets a hint, not a problem
            return [DefaultPath(p) for p in self.paths]
        return [Path(p) for p in self.paths]


KEY_REFUSED = "the API key never goes in a file; set HOLISTICS_API_KEY"
# names a key is put under by someone who means the API key: refused, not reported as an unknown key
_KEY_NAMES = re.compile(r"^(holistics)?(api)?(key|token|secret)$")


def load(path: Path | None = None, *, raw: bytes | None = None) -> ProjectConfig:
    """The config at `path`, or `holistics-schedules.yml` in the working directory, or defaults.
    `raw`: its bytes, read already (a command that judged them before loading the models reads them
    once: what it judged is what it loads).

    Read as schedule files are (`yamlread`), so each problem names its line and key path in the
    same `file:line: path: message` form, in the tool's words."""
    if path is None:
        path = Path(CONFIG_FILE)
        if raw is None and not path.exists():
            return ProjectConfig()
    name = str(path)
    try:
        text = raw if raw is not None else read_regular(path)
        data, lines = read_mapping(name, decode(name, text), "the config file must be a mapping of keys")
    except OSError as exc:
        raise ConfigFileError([Problem(name, 0, "-", f"cannot read the config file: {exc.strerror or exc}")]) from None
    except Unreadable as unreadable:
        raise ConfigFileError(unreadable.problems) from None
    if refused := _key_problems(name, data, lines):
        raise ConfigFileError(refused)  # before validation: no message may quote what was written there
    try:
        config = ProjectConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigFileError(config_problems(name, ProjectConfig, data, lines, exc)) from None
    config._file, config._lines = name, lines
    return config


def _key_problems(name: str, data: dict[str, Any], lines: Mapping[str, int]) -> list[Problem]:
    """An API key written into the file, at the top or under `connection` (`api_key`, `token`,
    `HOLISTICS_API_KEY`...): refused, and its value never repeated."""
    connection = data.get("connection")
    places = [("", data), ("connection.", connection if isinstance(connection, dict) else {})]
    return [
        Problem(name, lines.get(f"{prefix}{key}", 1), f"{prefix}{key}", KEY_REFUSED)
        for prefix, mapping in places
        for key in mapping
        if _KEY_NAMES.match(re.sub(r"[-_ ]", "", str(key).casefold()))
    ]


def json_schema() -> str:
    schema = ProjectConfig.model_json_schema()
    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
    schema["title"] = "holistics-schedules project config"
    text = json.dumps(schema, indent=2, sort_keys=True).replace("#/$defs/", "#/definitions/")
    return text.replace('"$defs"', '"definitions"') + "\n"
