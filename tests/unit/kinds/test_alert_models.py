"""The YAML alert models are the spec's DataAlert: same field names, same enums, the same three dest
branches, and a source id kept as written."""

from __future__ import annotations

import typing
from typing import Any

import pytest
from pydantic import ValidationError

from reconciler import spec
from reconciler.kinds.alerts import models

BRANCHES = {"EmailDest": "DataAlertEmailDest", "SlackDest": "DataAlertSlackDest", "WebhookDest": "DataAlertWebhookDest"}


def branch_properties(name: str) -> set[str]:
    node = spec.schema(name)
    props = set(node.get("properties", {}))
    for part in node.get("allOf", []):
        if "$ref" in part and part["$ref"].endswith("/DataAlertDest"):
            props.add("type")
        props |= set(part.get("properties", {}))
    return props


def literal_values(annotation: Any) -> set[Any]:
    return {v for arg in typing.get_args(annotation) or [annotation] for v in (typing.get_args(arg) or [arg])}


def test_the_dest_branches_are_the_spec_discriminator_mapping() -> None:
    mapping = spec.schema("DataAlert")["properties"]["dest"]["discriminator"]["mapping"]
    assert {k: v.rsplit("/", 1)[-1] for k, v in mapping.items()} == BRANCHES
    assert set(models.DEST_TYPES) == set(BRANCHES) == set(spec.enum_of("DataAlertDest", "type"))
    assert literal_values(models.DestType) == set(BRANCHES)


@pytest.mark.parametrize(("dest_type", "schema_name"), sorted(BRANCHES.items()))
def test_each_branch_has_every_documented_field_and_the_spec_required_ones(dest_type: str, schema_name: str) -> None:
    model = models.DEST_MODELS[dest_type]
    assert model.__name__ == schema_name  # named as the spec names it
    assert set(model.model_fields) == branch_properties(schema_name)
    required = {name for name, f in model.model_fields.items() if f.is_required()}
    assert required == set(spec.required_fields(schema_name)) | {"type"}


def test_data_alert_fields_and_parts_match_the_spec() -> None:
    assert set(models.DataAlertSpec.model_fields) == set(spec.schema("DataAlert")["properties"])
    required = {name for name, f in models.DataAlertSpec.model_fields.items() if f.is_required()}
    # dynamic_filter_presets is required by the API; the YAML may leave it out and gets `[]`
    assert required | {"dynamic_filter_presets"} == set(spec.required_fields("DataAlert"))
    # a condition's `id` is the server's, never written in the YAML
    assert set(models.VizCondition.model_fields) == set(spec.schema("VizCondition")["properties"]) - {"id"}
    assert {n for n, f in models.VizCondition.model_fields.items() if f.is_required()} == set(
        spec.required_fields("VizCondition")
    )
    for branch in spec.schema("FieldPath")["anyOf"]:
        assert set(models.FieldPath.model_fields) == set(branch["properties"])
    options = spec.schema("DataAlertEmailDest")["allOf"][0]["properties"]["options"]["properties"]
    assert set(models.EmailAlertOptions.model_fields) == set(options)


@pytest.mark.parametrize(
    ("literal", "name"),
    [
        (models.SourceType, "source_type"),
        (models.Aggregation, "aggregation"),
        (models.Transformation, "transformation"),
    ],
)
def test_enums_match_the_spec(literal: Any, name: str) -> None:
    assert literal_values(literal) == set(models.spec_enums()[name])
    assert models.spec_enums()["source_type"] == tuple(spec.enum_of("DataAlert", "source_type"))


def alert(**changes: Any) -> dict[str, Any]:
    return {
        "source_type": "VizBlock",
        "source_id": "viz-1",
        "schedule": {"repeat": "0 8 * * *"},
        "dest": {"type": "EmailDest", "recipients": ["ops@example.com"]},
    } | changes


@pytest.mark.parametrize("source_id", ["42", 42, "a1b2"])
def test_a_source_id_is_kept_as_written(source_id: Any) -> None:
    fields = models.DataAlertSpec.model_validate(alert(source_id=source_id)).api_fields()
    assert fields["source_id"] == source_id and type(fields["source_id"]) is type(source_id)


@pytest.mark.parametrize("source_id", [0, -1, "", True, 1.5, None, [1]])
def test_a_source_id_that_is_neither_is_one_clear_error(source_id: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        models.DataAlertSpec.model_validate(alert(source_id=source_id))
    (error,) = exc.value.errors()
    assert error["loc"] == ("source_id",) and "positive whole number" in error["msg"]


def test_presets_are_always_sent_and_conditions_keep_strings_and_ints_apart() -> None:
    condition = {
        "field_path": {"field_name": "revenue", "model_id": "m1", "data_set_id": 3, "is_metric": True},
        "aggregation": "sum",
        "condition": {"operator": "less_than", "values": [1000]},
    }
    fields = models.DataAlertSpec.model_validate(alert(viz_conditions=[condition])).api_fields()
    assert fields["dynamic_filter_presets"] == []
    assert fields["viz_conditions"][0]["field_path"] == condition["field_path"]
    with pytest.raises(ValidationError):  # a data set id is an integer: "3" is not quietly made one
        models.DataAlertSpec.model_validate(
            alert(viz_conditions=[{**condition, "field_path": {"field_name": "r", "data_set_id": "3"}}])
        )


@pytest.mark.parametrize(
    ("dest", "wrong"),
    [
        ({"type": "WebhookDest", "endpoint": "http://hooks.example.com/x"}, ("dest", "WebhookDest", "endpoint")),
        ({"type": "WebhookDest", "endpoint": "https:///x"}, ("dest", "WebhookDest", "endpoint")),
        ({"type": "EmailDest", "recipients": ["not-an-address"]}, ("dest", "EmailDest", "recipients", 0)),
        ({"type": "SlackDest"}, ("dest", "SlackDest", "slack_channels")),
        ({"type": "SlackDest", "slack_channels": [], "endpoint": "x"}, ("dest", "SlackDest", "endpoint")),
    ],
)
def test_each_branch_checks_its_own_fields(dest: dict[str, Any], wrong: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError) as exc:
        models.DataAlertSpec.model_validate(alert(dest=dest))
    assert [e["loc"] for e in exc.value.errors()] == [wrong]
