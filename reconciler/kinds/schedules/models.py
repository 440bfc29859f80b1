"""The YAML schedule format: the API's own `DataSchedule`, field for field, as pydantic models.

Field names and enums are those of the spec (`tests/unit/kinds/test_schedule_models.py` checks them against it). A field
left out of the YAML is not managed: plan ignores it and an update keeps the workspace's value.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Literal, get_args

from cronsim import CronSim, CronSimError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

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


Cron = Annotated[str, AfterValidator(_check_cron)]
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
    dynamic_filter_id: int | str
    preset_condition: Condition
    public_hidden: StrictBool | None = False


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
    """One entry under `schedules:`: a DataSchedule without the server-assigned parts."""

    id: Id | None = None
    title: str | None = None
    source_type: SourceType
    source_id: Id
    schedule: Schedule
    dynamic_filter_presets: list[DynamicFilterPreset] | None = None
    dest: Dest

    @model_validator(mode="after")
    def _widget_only_for_dashboards(self) -> DataScheduleSpec:
        widget = isinstance(self.dest, SftpDest) and self.dest.dashboard_widget_id is not None
        if widget and self.source_type != "Dashboard":
            raise ValueError("dest.dashboard_widget_id is only for Dashboard schedules (the spec), not a QueryReport")
        return self

    def api_fields(self) -> dict[str, Any]:
        """The fields this entry manages, in API shape (without `id`)."""
        fields: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True, exclude={"id"})
        return fields
