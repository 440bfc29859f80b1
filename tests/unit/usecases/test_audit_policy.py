"""The policy's checks as the audit asks them: one delivery's rules, and `max_same_minute` over the
whole workspace (paused deliveries start never; at the limit is allowed, over it is not)."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.policy.model import Policy
from reconciler.usecases.audit_policy import crowding_violations, delivery_violations, week_hours


def _item(ident: int, cron: str, paused: bool = False) -> tuple[str, dict[str, Any]]:
    return ("schedules", {"id": ident, "schedule": {"repeat": cron, "paused": paused}, "dest": {"type": "EmailDest"}})


def test_over_the_limit_each_delivery_at_that_minute_breaks_it() -> None:
    items = [_item(1, "0 6 * * *"), _item(2, "0 6 * * *"), _item(3, "0 6 * * *"), _item(4, "0 7 * * *")]
    found = crowding_violations(items, Policy(max_same_minute=2), "UTC")
    assert sorted(found) == [("schedules", 1), ("schedules", 2), ("schedules", 3)]
    [violation] = found[("schedules", 1)]
    assert (violation.rule, violation.path, violation.value) == ("max_same_minute", "schedule.repeat", "0 6 * * *")
    assert "06:00" in violation.message


def test_at_the_limit_or_with_a_paused_one_nothing_breaks() -> None:
    items = [_item(1, "0 6 * * *"), _item(2, "0 6 * * *"), _item(3, "0 6 * * *", paused=True)]
    assert crowding_violations(items, Policy(max_same_minute=2), "UTC") == {}
    assert crowding_violations([*items, _item(4, "0 6 * * *")], Policy(), "UTC") == {}


def test_one_deliverys_rules_only_when_a_policy_is_set() -> None:
    kind, item = _item(1, "*/5 * * * *")
    assert delivery_violations(kind, item, Policy(), "UTC") == []
    [found] = delivery_violations(kind, item, Policy(min_interval_minutes=60), "UTC")
    assert found.rule == "min_interval_minutes"


def test_the_week_grid_leaves_paused_deliveries_out() -> None:
    grid = week_hours([_item(1, "30 9 * * 1-5"), _item(2, "0 9 * * *", paused=True)], "UTC")
    assert [row[9] for row in grid] == [1, 1, 1, 1, 1, 0, 0]
    assert sum(map(sum, grid)) == 5


ALL_RULES = Policy(
    allowed_email_domains=["example.com"],
    allowed_slack_channels=["C04OPS0001"],
    allowed_webhook_hosts=["hooks.example.com"],
    allowed_sftp_data_sources=[61],
    min_interval_minutes=60,
    max_recipients=5,
    max_same_minute=3,
)


def _found(dest: Any, cron: Any = "0 8 * * 1", policy: Policy = ALL_RULES) -> list[tuple[str, str, str]]:
    item = {"id": 1, "schedule": {"repeat": cron, "paused": False}, "dest": dest}
    return [(v.rule, v.path, v.message) for v in delivery_violations("schedules", item, policy, "UTC")]


CANNOT = "cannot be judged: "


@pytest.mark.parametrize(
    ("dest", "expected"),
    [
        (
            {"type": "EmailDest", "recipients": "a@evil.io, b@evil.io"},
            [
                ("allowed_email_domains", "dest.recipients", "dest.recipients is not a list of addresses"),
                ("max_recipients", "dest.recipients", "dest.recipients is not a list of addresses"),
            ],
        ),
        (
            {"type": "EmailDest", "recipients": [None, 5, {}]},
            [
                ("allowed_email_domains", f"dest.recipients[{i}]", f"dest.recipients[{i}] is not an address")
                for i in range(3)
            ],
        ),
        (
            {"type": "EmailDest", "recipients": ["b@evil.com,sales@example.com", "ok@example.com", "a b@example.com"]},
            [
                ("allowed_email_domains", f"dest.recipients[{i}]", f"dest.recipients[{i}] is not an address")
                for i in (0, 2)
            ],
        ),
        (
            {"type": "SlackDest", "slack_channels": ["C0EVIL"]},
            [("allowed_slack_channels", "dest.slack_channels[0]", "dest.slack_channels[0] is not {id, name}")],
        ),
        (
            {"type": "SlackDest", "slack_channels": "C0EVIL"},
            [
                (
                    "allowed_slack_channels",
                    "dest.slack_channels",
                    "dest.slack_channels is not a list of channels ({id, name})",
                )
            ],
        ),
        (
            {"type": "CarrierPigeonDest", "recipients": ["a@evil.io"], "endpoint": "https://evil.io/x"},
            [
                (
                    "allowed_email_domains",
                    "dest.type",
                    "dest.type CarrierPigeonDest is not a destination the audit knows",
                )
            ],
        ),
        (
            {"type": "WebhookDest", "endpoint": 5},
            [("allowed_webhook_hosts", "dest.endpoint", "dest.endpoint is not a URL")],
        ),
        (
            {"type": "SftpDest", "data_source_id": "61"},
            [("allowed_sftp_data_sources", "dest.data_source_id", "dest.data_source_id is not a data source id")],
        ),
    ],
)
def test_a_destination_the_rules_cannot_read_breaks_the_rule_that_would_judge_it(
    dest: dict[str, Any], expected: list[tuple[str, str, str]]
) -> None:
    found = [(rule, path, why.removeprefix(CANNOT)) for rule, path, why in _found(dest) if why.startswith(CANNOT)]
    assert found == expected


@pytest.mark.parametrize("cron", ["0 */5 * * * *", "@hourly", "CRON_TZ=UTC 0 8 * * *", 5, "61 8 * * *"])
def test_a_cron_the_timing_rules_cannot_read_breaks_them(cron: Any) -> None:
    found = _found({"type": "EmailDest", "recipients": ["a@example.com"]}, cron)
    why = CANNOT + "schedule.repeat is not a cron of five fields"
    assert found == [("min_interval_minutes", "schedule.repeat", why), ("max_same_minute", "schedule.repeat", why)]


def test_what_can_be_judged_or_no_rule_reads_is_no_violation() -> None:
    assert _found({"type": "EmailDest", "recipients": ["a@example.com"]}) == []
    assert _found({"type": "EmailSubscriptionDest"}) == []  # no recipients of its own
    assert _found({"type": "GsheetDest", "sheet_url": "https://docs.google.com/x"}) == []
    assert _found({"type": "SlackDest", "slack_channels": [{"id": "C04OPS0001", "name": "ops"}]}) == []
    assert _found({"type": "CarrierPigeonDest"}, "@hourly", Policy(max_recipients=5)) == [
        (
            "max_recipients",
            "dest.type",
            "cannot be judged: dest.type CarrierPigeonDest is not a destination the audit knows",
        )
    ]
    assert _found({"type": "CarrierPigeonDest"}, "@hourly", Policy(allowed_sftp_data_sources=[1])) != []
    assert _found({"type": "CarrierPigeonDest"}, "@hourly", Policy()) == []
