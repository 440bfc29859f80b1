"""The YAML alert format: the API's own `DataAlert`, field for field, as pydantic models.

Field names and enums are the spec's (`tests/unit/kinds/test_alert_models.py` checks them against it).
As for schedules, a field left out of the YAML is not managed. The schedule's parts that alerts share
(the cron, filter presets, email addresses) are the schedules' own models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

from reconciler import spec
from reconciler.kinds.schedules.models import Condition, DynamicFilterPreset, Email, Id, Model, Schedule

SourceType = Literal["DashboardWidget", "VizBlock"]
DestType = Literal["EmailDest", "SlackDest", "WebhookDest"]
Aggregation = Literal[
    "sum", "avg", "max", "min", "running sum", "running avg", "running max", "running min", "count",
    "count distinct", "median", "stdev", "stdevp", "var", "varp", "custom",
]  # fmt: skip
Transformation = Literal[
    "datetrunc year", "datetrunc quarter", "datetrunc month", "datetrunc week", "datetrunc day",
    "datetrunc hour", "datetrunc minute",
]  # fmt: skip


def _check_endpoint(value: str) -> str:
    # Holistics' docs: webhook endpoints must be https (the body carries the matched rows)
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("a webhook endpoint must be an https:// URL with a host")
    return value


Endpoint = Annotated[str, AfterValidator(_check_endpoint)]


def _one_source_id(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    # one message for the union, not one per member ("a valid integer; a valid string")
    try:
        return handler(value)
    except ValidationError:
        raise ValueError("must be a widget's id (a positive whole number) or a viz block's id (text)") from None


# a VizBlock's id is a string, a widget's an integer: what the YAML says is kept as it is ("42" stays text)
SourceId = Annotated[
    Annotated[StrictInt, Field(gt=0)] | Annotated[StrictStr, Field(min_length=1)], WrapValidator(_one_source_id)
]


class FieldPath(Model):
    # the spec requires nothing here; a condition on no field cannot be checked, so the name is required
    field_name: StrictStr
    # the spec's two branches: a model id is an integer or (AML) a string, each kept as written
    model_id: StrictInt | StrictStr | None = None
    data_set_id: StrictInt | None = None
    is_metric: StrictBool | None = None


class VizCondition(Model):
    field_path: FieldPath
    aggregation: Aggregation | None = None
    transformation: Transformation | None = None
    condition: Condition


class EmailAlertOptions(Model):
    body_text: str | None = None


class DataAlertEmailDest(Model):
    type: Literal["EmailDest"]
    title: str | None = None
    recipients: list[Email]
    options: EmailAlertOptions | None = None


class DataAlertSlackDest(Model):
    type: Literal["SlackDest"]
    title: str | None = None
    message: str | None = None
    slack_channels: list[dict[str, Any]]


class DataAlertWebhookDest(Model):
    type: Literal["WebhookDest"]
    endpoint: Endpoint


# named as the spec names them (and apart from the schedules' EmailDest and SlackDest in the JSON Schema)
Dest = Annotated[DataAlertEmailDest | DataAlertSlackDest | DataAlertWebhookDest, Field(discriminator="type")]
DEST_MODELS: dict[str, type[BaseModel]] = {
    "EmailDest": DataAlertEmailDest,
    "SlackDest": DataAlertSlackDest,
    "WebhookDest": DataAlertWebhookDest,
}
DEST_TYPES: tuple[str, ...] = tuple(DEST_MODELS)
SOURCE_TYPES: tuple[str, ...] = get_args(SourceType)
assert set(get_args(DestType)) == set(DEST_MODELS), "DestType and DEST_MODELS list the same types"


class DataAlertSpec(Model):
    """One entry under `alerts:`: a DataAlert without the server-assigned parts."""

    id: Id | None = None
    title: str | None = None
    source_type: SourceType
    source_id: SourceId
    schedule: Schedule
    viz_conditions: list[VizCondition] | None = None
    # required by the API: an entry without presets manages them as none (`[]` is sent)
    dynamic_filter_presets: list[DynamicFilterPreset] = Field(default_factory=list)
    dest: Dest

    @model_validator(mode="after")
    def _presets_are_managed(self) -> DataAlertSpec:
        self.model_fields_set.add("dynamic_filter_presets")
        return self

    def api_fields(self) -> dict[str, Any]:
        """The fields this entry manages, in API shape (without `id`)."""
        fields: dict[str, Any] = self.model_dump(mode="json", exclude_unset=True, exclude={"id"})
        return fields


def spec_enums() -> dict[str, tuple[str, ...]]:
    """The enums the models restate, as the spec gives them (the models' test compares the two)."""
    return {
        "source_type": spec.enum_of("DataAlert", "source_type"),
        "aggregation": spec.enum_of("VizCondition", "aggregation"),
        "transformation": spec.enum_of("VizCondition", "transformation"),
    }
