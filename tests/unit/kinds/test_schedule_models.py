"""The YAML models are the spec's DataSchedule: same field names, same enums, same required fields."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from reconciler import spec
from reconciler.kinds.known import kind_named
from reconciler.kinds.schedules import models


def spec_properties(name: str) -> set[str]:
    node = spec.schema(name)
    props = set(node.get("properties", {}))
    for part in node.get("allOf", []):
        if "$ref" in part and part["$ref"].endswith("/DataScheduleDest"):
            props.add("type")
        props |= set(part.get("properties", {}))
    return props


@pytest.mark.parametrize(("dest_type", "schema_name"), sorted(spec.dest_branches().items()))
def test_every_dest_type_of_the_spec_has_a_model_with_every_documented_field(dest_type: str, schema_name: str) -> None:
    model = models.DEST_MODELS[dest_type]
    assert set(model.model_fields) == spec_properties(schema_name) | {"type"}


@pytest.mark.parametrize(("dest_type", "schema_name"), sorted(spec.dest_branches().items()))
def test_required_fields_match_the_spec(dest_type: str, schema_name: str) -> None:
    model = models.DEST_MODELS[dest_type]
    required = {name for name, f in model.model_fields.items() if f.is_required()}
    assert required == set(spec.required_fields(schema_name)) | {"type"}


def test_data_schedule_fields_match_the_spec() -> None:
    # `dashboard` is the tool's own: a uname standing for source_type + source_id (issue 20)
    assert set(models.DataScheduleSpec.model_fields) - {"dashboard"} == set(spec.schema("DataSchedule")["properties"])
    assert set(models.DashboardFilterPreset.model_fields) - {"dynamic_filter"} == set(
        spec.schema("DynamicFilterPreset")["properties"]
    ) - {"id"}
    assert set(models.Schedule.model_fields) == set(spec.schema("Schedule")["properties"]) - {"is_archived"}
    email_options = spec.schema("DataScheduleEmailDest")["allOf"][0]["properties"]["options"]["properties"]
    assert set(models.EmailOptions.model_fields) == set(email_options)
    sub_options = spec.schema("DataScheduleEmailSubscriptionDest")["properties"]["options"]["properties"]
    assert set(models.EmailSubscriptionOptions.model_fields) == set(sub_options)


def literal_values(annotation: Any) -> set[Any]:
    return {v for arg in typing.get_args(annotation) or [annotation] for v in (typing.get_args(arg) or [arg])}


@pytest.mark.parametrize(
    ("literal", "schema_name", "path"),
    [
        (models.AttachmentFormat, "DataScheduleAttachmentFormat", ()),
        (models.DataAttachmentFormat, "DataScheduleDataAttachmentFormat", ()),
        (models.DateTimeUnit, "DateTime", ()),
        (models.SourceType, "DataSchedule", ("source_type",)),
        (models.CsvSeparator, "DataScheduleSftpDest", ("separator",)),
        (models.SelectedType, "DataScheduleEmailDest", ("options", "selected_type")),
    ],
)
def test_enums_match_the_spec(literal: Any, schema_name: str, path: tuple[str, ...]) -> None:
    node = spec.schema(schema_name)
    expected = set(spec.enum_of(schema_name, *path)) if path else set(node["enum"])
    assert literal_values(literal) == expected


def base(**dest: Any) -> dict[str, Any]:
    return {"source_type": "Dashboard", "source_id": 1, "schedule": {"repeat": "0 8 * * 1"}, "dest": dest}


@pytest.mark.parametrize(("operator", "count"), sorted((op, lo) for op, (lo, hi) in spec.operator_arity().items()))
def test_each_operator_accepts_its_minimum_and_rejects_one_fewer(operator: str, count: int) -> None:
    def preset(n: int) -> dict[str, Any]:
        return {"dynamic_filter_id": 1, "preset_condition": {"operator": operator, "values": ["v"] * n}}

    models.DataScheduleSpec.model_validate(
        {**base(type="GsheetDest", sheet_url="u", sheet_title="t"), "dynamic_filter_presets": [preset(count)]}
    )
    if count > 0:
        with pytest.raises(ValidationError, match="takes"):
            models.DataScheduleSpec.model_validate(
                {
                    **base(type="GsheetDest", sheet_url="u", sheet_title="t"),
                    "dynamic_filter_presets": [preset(count - 1)],
                }
            )


@pytest.mark.parametrize("operator", [op for op, (lo, hi) in spec.operator_arity().items() if hi is not None])
def test_each_bounded_operator_rejects_one_more_than_its_maximum(operator: str) -> None:
    hi = spec.operator_arity()[operator][1]
    assert hi is not None
    with pytest.raises(ValidationError, match="takes"):
        models.Condition.model_validate({"operator": operator, "values": ["v"] * (hi + 1)})


def test_schedule_paused_defaults_to_false_and_is_managed() -> None:
    m = models.DataScheduleSpec.model_validate(base(type="GsheetDest", sheet_url="u", sheet_title="t"))
    assert m.api_fields()["schedule"] == {"repeat": "0 8 * * 1", "paused": False}


def test_api_fields_are_only_what_the_yaml_sets() -> None:
    m = models.DataScheduleSpec.model_validate(base(type="EmailDest", recipients=["a@b.co"]))
    assert m.api_fields()["dest"] == {"type": "EmailDest", "recipients": ["a@b.co"]}
    assert "title" not in m.api_fields() and "dynamic_filter_presets" not in m.api_fields()


@pytest.mark.parametrize("cron", ["0 8 * * 1", "*/15 * * * *", "0 0 1 1 *", "30 6 * * MON-FRI"])
def test_valid_crons(cron: str) -> None:
    models.Schedule.model_validate({"repeat": cron})


@pytest.mark.parametrize("cron", ["", "0 8 * *", "61 * * * *", "0 25 * * *", "every day", "* * * * * * *"])
def test_invalid_crons(cron: str) -> None:
    with pytest.raises(ValidationError, match="cron"):
        models.Schedule.model_validate({"repeat": cron})


def test_all_models_forbid_unknown_fields() -> None:
    def walk(model: type[BaseModel]) -> None:
        assert model.model_config.get("extra") == "forbid", model

    for m in [
        models.DataScheduleSpec,
        models.Schedule,
        models.Condition,
        models.DynamicFilterPreset,
        models.DashboardFilterPreset,
        models.EmailOptions,
        *models.DEST_MODELS.values(),
    ]:
        walk(m)


def test_a_widget_id_is_only_for_dashboard_schedules() -> None:
    sftp = {"type": "SftpDest", "data_source_id": 1, "file_path": "/x", "dashboard_widget_id": 5}
    models.DataScheduleSpec.model_validate(base(**sftp))
    with pytest.raises(ValidationError, match="only for Dashboard"):
        models.DataScheduleSpec.model_validate({**base(**sftp), "source_type": "QueryReport"})


def test_a_schedule_named_by_uname_gives_its_fields_as_written() -> None:
    """`dashboard` stands for the source until a plan resolves it: `api_fields` holds the name and no id."""
    named = {k: v for k, v in base(type="GsheetDest", sheet_url="u", sheet_title="t").items() if k != "source_id"}
    named = {**named, "dashboard": "sales_performance", "source_type": "Dashboard"}
    named["dynamic_filter_presets"] = [
        {"dynamic_filter": "region", "preset_condition": {"operator": "is_null", "values": []}}
    ]
    fields = models.DataScheduleSpec.model_validate(named).api_fields()
    assert fields["dashboard"] == "sales_performance" and "source_id" not in fields
    assert fields["dynamic_filter_presets"] == [
        {"dynamic_filter": "region", "preset_condition": {"operator": "is_null", "values": []}}
    ]


def by_name(uname: Any) -> dict[str, Any]:
    """A schedule whose source is `dashboard: uname`."""
    fields = {k: v for k, v in base(type="GsheetDest", sheet_url="u", sheet_title="t").items() if k != "source_id"}
    return {**fields, "dashboard": uname}


@pytest.mark.parametrize("good", ["sales_performance", "Sales2024", "_private", "1st_dashboard"])
def test_a_uname_is_letters_digits_and_underscores(good: str) -> None:
    assert models.DataScheduleSpec.model_validate(by_name(good)).dashboard == good


@pytest.mark.parametrize("bad", ["", "sales performance", "sales-performance", "ventes_\u00e9t\u00e9", "a.b", "x\n"])
def test_anything_else_is_not_a_uname(bad: str) -> None:
    with pytest.raises(ValidationError, match="not a uname"):
        models.DataScheduleSpec.model_validate(by_name(bad))


def test_a_widget_id_goes_with_a_dashboard_given_by_name() -> None:
    sftp = {"type": "SftpDest", "data_source_id": 1, "file_path": "/x", "dashboard_widget_id": 5}
    named = {k: v for k, v in base(**sftp).items() if k not in ("source_id", "source_type")}
    models.DataScheduleSpec.model_validate({**named, "dashboard": "sales_performance"})


def test_remote_schedules_stay_declarable() -> None:
    from reconciler.kinds.schedules import SCHEDULES

    declarable = SCHEDULES.declarable

    assert declarable({**base(type="GsheetDest", sheet_url="u", sheet_title="t"), "id": 3})


@pytest.mark.parametrize(
    ("fields", "preset", "where"),
    [
        ({"dashboard": "sales_performance", "source_id": None}, None, ("source_id",)),
        ({"dashboard": "sales_performance", "source_type": None}, None, ("source_type",)),
        ({"source_type": "Dashboard", "source_id": 1234, "dashboard": None}, None, ("dashboard",)),
        (
            {"dashboard": "sales_performance"},
            {"dynamic_filter": "region", "dynamic_filter_id": None},
            ("dynamic_filter_presets", 0, "dynamic_filter_id"),
        ),
    ],
)
def test_a_name_or_the_id_it_stands_for_written_as_null_is_refused_at_its_field(
    fields: dict[str, Any], preset: dict[str, Any] | None, where: tuple[Any, ...]
) -> None:
    """Hostile round: `source_id: null` beside `dashboard:` passed validation and crashed the plan;
    `dynamic_filter_id: null` beside `dynamic_filter:` reached the API as a null id."""
    entry: dict[str, Any] = {
        **fields,
        "schedule": {"repeat": "0 8 * * 1"},
        "dest": {"type": "EmailDest", "recipients": ["a@example.com"]},
    }
    if preset is not None:
        entry["dynamic_filter_presets"] = [{**preset, "preset_condition": {"operator": "is", "values": ["EMEA"]}}]
    with pytest.raises(ValidationError) as raised:
        models.DataScheduleSpec.model_validate(entry)
    assert [e["loc"] for e in raised.value.errors()] == [where]
    assert "must not be null" in str(raised.value)


@pytest.mark.parametrize("kind_key", ["schedules", "alerts"])
def test_a_bucket_is_hashable_whatever_the_server_sent(kind_key: str) -> None:
    # one remote item with an object for its source id stopped every plan (unhashable in matching)
    odd = {"source_type": ["x"], "source_id": {"x": 1}, "dest": {"type": {"a": 1}}}
    bucket = kind_named(kind_key).bucket(odd)
    assert hash(bucket) == hash(kind_named(kind_key).bucket(dict(odd)))
    assert bucket != kind_named(kind_key).bucket(
        {"source_type": "Dashboard", "source_id": 1, "dest": {"type": "EmailDest"}}
    )
