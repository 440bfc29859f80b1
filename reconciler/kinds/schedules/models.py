"""The YAML schedule format: the API's own `DataSchedule`, field for field, as pydantic models.

Field names and enums are those of the spec (`tests/unit/kinds/test_schedule_models.py` checks them against it). A field
left out of the YAML is not managed: plan ignores it and an update keeps the workspace's value.

Two fields are the tool's own, names for ids (issue 20): `dashboard: <uname>` for `source_type: Dashboard`
+ `source_id`, and a preset's `dynamic_filter: <uname>` for `dynamic_filter_id`. They are checked here as
written (offline); `desired.names.resolve_names` puts the ids in their place when a plan is made.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Annotated, Any, Literal, get_args

from cronsim import CronSim, CronSimError
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from reconciler import spec


# cached: a workspace repeats the same addresses and crons across hundreds of schedules
@cache
def _check_cron(value: str) -> str:
    from datetime import datetime

    if len(value.split()) != 5:  # Holistics takes crontab's five fields; cronsim would also take seconds
        raise ValueError(f"not a valid cron expression: {len(value.split())} fields, crontab has 5")
    try:
        CronSim(value, datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"not a valid cron expression ({exc})") from None
    return value


@cache
def _check_email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email  # 14 ms to import: only when an address is read

    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {value!r} ({exc})") from None
    return value


UNAME = re.compile(r"^[A-Za-z0-9_]+$")


def _check_uname(value: str) -> str:
    # AML names objects with letters, digits and underscores (`Dashboard sales_performance {`); anything
    # else (a title, a `${X}`, a path) cannot be a uname, and is better refused here than as "unknown"
    if not UNAME.fullmatch(value):  # fullmatch: `$` alone would let a trailing newline in
        raise ValueError(f"not a uname: {value!r}; a uname is letters, digits and '_', as AML names the object")
    return value


def is_cron(value: Any) -> bool:
    """Whether `value` is a cron the YAML would take (for items the server sent, which nothing checked)."""
    try:
        return isinstance(value, str) and _check_cron(value) == value
    except ValueError:
        return False


Cron = Annotated[str, AfterValidator(_check_cron)]
Uname = Annotated[
    StrictStr,
    AfterValidator(_check_uname),
    Field(json_schema_extra={"pattern": UNAME.pattern}),
]
# the API's ids are positive integers: 0, -1, true or 1234.0 is a typo, not a schedule
Id = Annotated[StrictInt, Field(gt=0)]
Email = Annotated[str, AfterValidator(_check_email)]
ConditionValue = StrictBool | int | float | str
AttachmentFormat = Literal["csv", "xlsx", "excel", "pdf", "png", "excel_dashboard", "csv_formatted_data"]
DataAttachmentFormat = Literal["csv", "xlsx"]
DateTimeUnit = Literal["year", "quarter", "month", "week", "day", "hour", "minute"]
SourceType = Literal["Dashboard", "QueryReport"]
# the destination types the YAML can declare; config, import and the sandbox derive theirs from it
DestType = Literal["EmailDest", "EmailSubscriptionDest", "SlackDest", "SftpDest", "GsheetDest"]
SelectedType = Literal["dashboard", "tab", "widget"]
CsvSeparator = Literal[",", "|", "\t", "^", ";"]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class Schedule(Model):
    repeat: Cron
    paused: StrictBool = False

    @model_validator(mode="after")
    def _paused_is_managed(self) -> Schedule:
        # `paused` defaults to false and is then managed like any field the YAML sets
        self.model_fields_set.add("paused")
        return self


class Condition(Model):
    operator: str
    values: list[ConditionValue]  # required by the spec, also when empty (`is_null`: [])
    modifier: DateTimeUnit | None = None

    @model_validator(mode="after")
    def _check_arity(self) -> Condition:
        arity = spec.operator_arity().get(self.operator)
        if arity is None:
            raise ValueError(f"unknown operator {self.operator!r}; one of: {', '.join(spec.operator_arity())}")
        low, high = arity
        count = len(self.values)
        if count < low or (high is not None and count > high):
            want = f"exactly {low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}"
            raise ValueError(f"operator {self.operator!r} takes {want} value(s), got {count}")
        if self.modifier is not None and self.operator not in spec.operators_with_modifier():
            raise ValueError(f"operator {self.operator!r} takes no modifier")
        return self


class DynamicFilterPreset(Model):
    """A preset as the API has it: the filter by its id (an alert's presets; a widget names no filter)."""

    dynamic_filter_id: int | str
    preset_condition: Condition
    public_hidden: StrictBool | None = False


def _missing(name_field: str | None = None) -> PydanticCustomError:
    """A required field left out (pydantic's own error type, worded as any other), or one that a
    name could have stood for: then the message says so."""
    if name_field is None:
        return PydanticCustomError("missing", "Field required")
    return PydanticCustomError(
        "missing_or_named",
        "missing required field (or give it by name: `{name_field}: <uname>`)",
        {"name_field": name_field},
    )


def _not_null(*names: str) -> Callable[[dict[str, Any]], None]:
    """For the editor schema: these fields are optional (one of two ways to say a thing) but never null,
    though the model holds None for one left out."""

    def edit(schema: dict[str, Any]) -> None:
        for name in names:
            prop = schema["properties"][name]
            branches = [b for b in prop.pop("anyOf") if b != {"type": "null"}]
            prop.pop("default", None)
            prop.update(branches[0] if len(branches) == 1 else {"anyOf": branches})
        name, ids = names[0], list(names[1:])  # the name, and the fields it stands for (the id last)
        schema["anyOf"] = [
            {"required": [name], "not": {"required": [ids[-1]]}},
            {"required": ids, "not": {"required": [name]}},
        ]

    return edit


def _refuse_written_nulls(data: Any, fields: tuple[str, ...]) -> Any:
    """A name or the id it stands for written as `null` is neither: refused at its own field. Left to
    the checks below, which read a missing field as None, `source_id: null` beside a name would pass
    validation and reach the plan (or the API) as an id of None."""
    if isinstance(data, dict):
        nulls = [name for name in fields if name in data and data[name] is None]
        if nulls:
            raise ValidationError.from_exception_data(
                "null",
                [
                    {
                        "type": PydanticCustomError("null", "must not be null: give a value or leave the field out"),
                        "loc": (name,),
                        "input": None,
                    }
                    for name in nulls
                ],
            )
    return data


class DashboardFilterPreset(Model):
    """A schedule's preset: its filter by id (`dynamic_filter_id`) or by uname on the schedule's
    dashboard (`dynamic_filter`), one or the other."""

    # the name is declared before the id so that the id's check sees it: pydantic validates fields in
    # order, and each default too, so a name left out reads as None, and one that failed its own check
    # is absent (and is then not blamed twice)
    model_config = ConfigDict(json_schema_extra=_not_null("dynamic_filter", "dynamic_filter_id"))
    dynamic_filter: Uname | None = Field(
        default=None, validate_default=True, description="the filter's uname on the dashboard: for dynamic_filter_id"
    )
    dynamic_filter_id: int | str | None = Field(default=None, validate_default=True)
    preset_condition: Condition
    public_hidden: StrictBool | None = False

    @model_validator(mode="before")
    @classmethod
    def _no_written_nulls(cls, data: Any) -> Any:
        return _refuse_written_nulls(data, ("dynamic_filter", "dynamic_filter_id"))

    @field_validator("dynamic_filter_id", mode="after")
    @classmethod
    def _one_of_id_or_name(cls, value: int | str | None, info: ValidationInfo) -> int | str | None:
        if "dynamic_filter" not in info.data:  # it failed its own check: that is the problem to show
            return value
        named = info.data["dynamic_filter"] is not None
        if value is None and not named:
            raise _missing(name_field="dynamic_filter")
        if value is not None and named:
            raise ValueError("give the filter by `dynamic_filter` (its uname) or `dynamic_filter_id`, not both")
        return value


class EmailOptions(Model):
    preview: StrictBool | None = None
    include_header: StrictBool | None = None
    include_report_link: StrictBool | None = None
    include_filters: StrictBool | None = None
    dont_send_when_empty: StrictBool | None = None
    body_text: str | None = None
    selected_type: SelectedType | None = None
    selected_values: list[int | str] | None = None
    attachment_formats: list[AttachmentFormat] | None = None


class EmailSubscriptionOptions(EmailOptions):
    type: Literal["EmailSubscriptionDest"] | None = None


class EmailDest(Model):
    type: Literal["EmailDest"]
    title: str | None = None
    recipients: list[Email]
    options: EmailOptions | None = None


class EmailSubscriptionDest(Model):
    type: Literal["EmailSubscriptionDest"]
    recipients: list[Email] | None = None
    options: EmailSubscriptionOptions | None = None


class SftpDest(Model):
    type: Literal["SftpDest"]
    dashboard_widget_id: int | str | None = None
    data_source_id: Id
    file_path: str
    format: DataAttachmentFormat | None = None
    include_header: StrictBool | None = None
    separator: CsvSeparator | None = None


class SlackDest(Model):
    type: Literal["SlackDest"]
    slack_channels: list[dict[str, Any]]
    title: str | None = None
    message: str | None = None
    hide_filters: StrictBool | None = None


class GsheetDest(Model):
    type: Literal["GsheetDest"]
    sheet_url: str
    sheet_title: str


Dest = Annotated[
    EmailDest | EmailSubscriptionDest | SftpDest | SlackDest | GsheetDest,
    Field(discriminator="type"),
]
DEST_MODELS: dict[str, type[Model]] = {
    "EmailDest": EmailDest,
    "EmailSubscriptionDest": EmailSubscriptionDest,
    "SftpDest": SftpDest,
    "SlackDest": SlackDest,
    "GsheetDest": GsheetDest,
}
DEST_TYPES: tuple[str, ...] = tuple(DEST_MODELS)
assert set(get_args(DestType)) == set(DEST_MODELS), "DestType and DEST_MODELS list the same types"


class DataScheduleSpec(Model):
    """One entry under `schedules:`: a DataSchedule without the server-assigned parts.

    The source is `source_type` + `source_id`, or `dashboard: <uname>` standing for both (`source_type:
    Dashboard` may stay beside it: it says the same; `QueryReport` or a `source_id` beside it is an error
    naming both). A preset may give its filter by uname (`dynamic_filter`) only on a dashboard, named or
    by id: a query report's filters have no uname."""

    # as in the presets, the name is declared before the fields it stands for, so that their checks see
    # it (the order of `fields` matters to no one: they are compared as mappings)

    id: Id | None = None
    title: str | None = None
    dashboard: Uname | None = Field(
        default=None, validate_default=True, description="the dashboard's uname: for source_type Dashboard + source_id"
    )
    source_type: SourceType | None = Field(default=None, validate_default=True)
    source_id: Id | None = Field(default=None, validate_default=True)
    schedule: Schedule
    dynamic_filter_presets: list[DashboardFilterPreset] | None = None
    dest: Dest

    @model_validator(mode="before")
    @classmethod
    def _no_written_nulls(cls, data: Any) -> Any:
        return _refuse_written_nulls(data, ("dashboard", "source_type", "source_id"))

    model_config = ConfigDict(json_schema_extra=_not_null("dashboard", "source_type", "source_id"))

    @field_validator("source_type", mode="after")
    @classmethod
    def _type_of_a_named_source(cls, value: str | None, info: ValidationInfo) -> str | None:
        if "dashboard" not in info.data:
            return value
        named = info.data["dashboard"] is not None
        if value is None and not named:
            raise _missing()
        if named and value not in (None, "Dashboard"):
            raise ValueError(
                f"`dashboard` names a dashboard: with it, source_type is Dashboard or left out, not {value}"
            )
        return value

    @field_validator("source_id", mode="after")
    @classmethod
    def _id_or_name(cls, value: int | None, info: ValidationInfo) -> int | None:
        if "dashboard" not in info.data:
            return value
        named = info.data["dashboard"] is not None
        if value is None and not named:
            raise _missing(name_field="dashboard")
        if value is not None and named:
            raise ValueError("give the source by `dashboard` (its uname) or `source_id`, not both")
        return value

    @field_validator("dynamic_filter_presets", mode="after")
    @classmethod
    def _filter_names_on_dashboards(
        cls, presets: list[DashboardFilterPreset] | None, info: ValidationInfo
    ) -> list[DashboardFilterPreset] | None:
        named = any(p.dynamic_filter is not None for p in presets or ())
        if named and info.data.get("source_type") == "QueryReport":
            raise ValueError(
                "`dynamic_filter` is a dashboard filter's uname; "
                "a QueryReport's filters are given by `dynamic_filter_id`"
            )
        return presets

    @model_validator(mode="after")
    def _widget_only_for_dashboards(self) -> DataScheduleSpec:
        widget = isinstance(self.dest, SftpDest) and self.dest.dashboard_widget_id is not None
        if widget and self.source_type == "QueryReport":
            raise ValueError("dest.dashboard_widget_id is only for Dashboard schedules (the spec), not a QueryReport")
        return self

    def api_fields(self) -> dict[str, Any]:
        """The fields this entry manages, in API shape (without `id`)."""
        fields: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True, exclude={"id"})
        return fields
