"""`HolisticsClient.dashboards_metadata()`: one GET /dashboards/list_metadata, and `NamesUnavailable`
where a workspace does not offer it (cassettes for the two answers a workspace gives; requests-level
fakes for the statuses and shapes a cassette would only repeat)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from reconciler import spec
from reconciler.remote.client import (
    HolisticsError,
    NamesUnavailable,
    NotFound,
    ServerError,
    UnexpectedResponse,
)
from tests.unit.remote.test_client import CASSETTES, TEST_KEY, fake_client, ok, replay

WHY = "an older deployment, or a key without permission"


def test_metadata_is_one_request_and_keeps_canvas_unames_null() -> None:
    with replay("dashboards_metadata", recordable=False) as ctx:
        items = ctx.client.dashboards_metadata()
        assert [r.method for r in ctx.sent] == ["GET"]
        assert ctx.sent[0].path_url == "/api/v2/dashboards/list_metadata"
        assert ctx.sent[0].headers["X-Holistics-Key"] == TEST_KEY
        assert ctx.client.request_count == 1
    assert [(i["id"], i["uname"], i["project_id"], i["version"]) for i in items] == [
        (1262, "finance_monthly_close", 1, 4),
        (1277, None, None, 3),
        (2001, "finance_monthly_close", 2, 4),
    ]


def test_a_404_says_names_are_unavailable_and_why() -> None:
    with replay("names_unavailable_404", recordable=False) as ctx:
        with pytest.raises(NamesUnavailable) as err:
            ctx.client.dashboards_metadata()
        assert ctx.client.request_count == 1
    assert isinstance(err.value, HolisticsError) and err.value.status == 404
    assert str(err.value) == (
        f"this workspace does not offer dashboard names (GET /dashboards/list_metadata answered 404: {WHY}): use ids"
    )


@pytest.mark.parametrize("status", [403, 404, 422, 501])
def test_statuses_of_a_workspace_without_names(status: int) -> None:
    body = {"type": "PermissionDeniedError", "message": f"no, {TEST_KEY}"}
    client, adapter, clock, _ = fake_client(ok(body, status), repeat_last=True)
    with pytest.raises(NamesUnavailable) as err:
        client.dashboards_metadata()
    assert f"answered {status}: {WHY}" in str(err.value)
    assert TEST_KEY not in str(err.value) and TEST_KEY not in repr(err.value)
    assert len(adapter.calls) == 1 and clock.sleeps == []  # 501 is settled: not retried like a 500


def test_other_failures_stay_what_they_are() -> None:
    client, adapter, _, _ = fake_client(
        ok({"type": "InternalHolisticsError", "message": "boom"}, 500), repeat_last=True
    )
    with pytest.raises(ServerError):
        client.dashboards_metadata()
    assert len(adapter.calls) == client.max_retries + 1  # a 500 on a GET is retried as ever
    client, _, _, _ = fake_client(ok({"type": "BaseError", "message": "gone"}, 404))
    with pytest.raises(NotFound):  # only list_metadata's 404 means "no names"
        client.get_dashboard(5)


def test_the_key_echoed_in_an_answer_is_redacted() -> None:
    item = {"id": 1, "title": f"Sales {TEST_KEY}", "uname": "sales", "project_id": 1, "version": 4}
    client, _, _, _ = fake_client(ok({"dashboards_metadata": [item]}))
    (got,) = client.dashboards_metadata()
    assert TEST_KEY not in str(got) and got["uname"] == "sales"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"dashboards": []}, id="no-list"),
        pytest.param({"dashboards_metadata": [{"title": "no id"}]}, id="item-without-id"),
        pytest.param({"dashboards_metadata": ["1234"]}, id="item-not-an-object"),
        pytest.param([], id="not-an-object"),
    ],
)
def test_an_answer_it_cannot_use(body: Any) -> None:
    client, _, _, _ = fake_client(ok(body))
    with pytest.raises(UnexpectedResponse, match="list_metadata"):
        client.dashboards_metadata()


def test_the_cassettes_agree_with_the_spec() -> None:
    """The two cassettes are written by hand (scripts/make_cassettes.py predates list_metadata)."""
    operation = spec.subset()["paths"]["/dashboards/list_metadata"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    recorded = yaml.safe_load((CASSETTES / "dashboards_metadata.yaml").read_text())["interactions"]
    OAS30Validator(schema).validate(json.loads(recorded[0]["response"]["body"]["string"]))
    missing = yaml.safe_load((CASSETTES / "names_unavailable_404.yaml").read_text())["interactions"]
    assert json.loads(missing[0]["response"]["body"]["string"])["type"] in spec.enum_of("BaseError", "type")
