"""Each rule of the delivery policy over one delivery's fields: what it allows, what it refuses, at
which field, with the rule and the allowed values in the message."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.policy.model import Policy
from reconciler.policy.rules import domain_allowed, host_allowed, violations


def email(*recipients: str, dest: str = "EmailDest") -> dict[str, Any]:
    return {"schedule": {"repeat": "0 8 * * 1"}, "dest": {"type": dest, "recipients": list(recipients)}}


def check(fields: dict[str, Any], kind: str = "schedules", timezone: str = "UTC", **rules: Any) -> list[Any]:
    return violations(kind, fields, Policy(**rules), timezone=timezone)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("a@example.com", True),
        ("a@EXAMPLE.com", True),
        ("a@eu.mail.example.com", True),
        ("a@evil-example.com", False),
        ("a@example.com.evil.io", False),
        ("a@notexample.com", False),
        ("a@gmail.com", False),
        ("a@exampl\u00e9.com", False),
    ],
)
def test_a_recipient_is_at_an_allowed_domain_or_a_subdomain_of_one(address: str, allowed: bool) -> None:
    assert domain_allowed(address, ["example.com"]) is allowed


@pytest.mark.parametrize("dest", ["EmailDest", "EmailSubscriptionDest"])
def test_each_recipient_elsewhere_is_a_violation_at_its_index(dest: str) -> None:
    found = check(email("a@example.com", "x@gmail.com", dest=dest), allowed_email_domains=["example.com", "ex.org"])
    assert [(v.rule, v.path, v.value) for v in found] == [
        ("allowed_email_domains", "dest.recipients[1]", "x@gmail.com")
    ]
    assert found[0].message == (
        "recipient x@gmail.com is not at an allowed domain (policy.allowed_email_domains: example.com, ex.org)"
    )


def test_alert_email_recipients_are_checked_too() -> None:
    found = check(email("x@gmail.com"), kind="alerts", allowed_email_domains=["example.com"])
    assert [v.path for v in found] == ["dest.recipients[0]"]


def test_a_value_from_the_environment_is_shown_as_its_expression() -> None:
    found = violations(
        "schedules",
        email("boss@gmail.com"),
        Policy(allowed_email_domains=["example.com"]),
        timezone="UTC",
        shown={"dest.recipients.0": "${BOSS}"},
    )
    assert found[0].value == "${BOSS}" and "gmail" not in found[0].message and "${BOSS}" in found[0].message


def test_max_recipients_counts_them() -> None:
    assert check(email("a@example.com", "b@example.com"), max_recipients=2) == []
    found = check(email("a@example.com", "b@example.com", "c@example.com"), max_recipients=2)
    assert [(v.rule, v.path, v.value) for v in found] == [("max_recipients", "dest.recipients", "3")]
    assert "more than policy.max_recipients: 2" in found[0].message


def slack(*channels: dict[str, str]) -> dict[str, Any]:
    return {"dest": {"type": "SlackDest", "slack_channels": list(channels)}}


def test_an_allowed_name_lets_no_unlisted_id_through() -> None:
    # Slack posts to the id: the name beside it is a label anyone can write
    found = check(slack({"id": "C0EVIL0001", "name": "ops"}, {}), allowed_slack_channels=["ops"])
    assert [(v.path, v.value) for v in found] == [
        ("dest.slack_channels[0]", "C0EVIL0001 (#ops)"),
        ("dest.slack_channels[1]", "(no id or name)"),
    ]


def test_a_slack_channel_is_allowed_by_id_or_by_name() -> None:
    allowed = ["C04FIN0001", "ops"]
    assert check(slack({"id": "C04FIN0001", "name": "ops"}, {"name": "#ops"}), allowed_slack_channels=allowed) == []
    found = check(slack({"id": "C04FIN0001"}, {"id": "C09RANDOM", "name": "random"}), allowed_slack_channels=allowed)
    assert [(v.path, v.value) for v in found] == [("dest.slack_channels[1]", "C09RANDOM (#random)")]
    assert "policy.allowed_slack_channels: C04FIN0001, ops" in found[0].message


def webhook(endpoint: str) -> dict[str, Any]:
    return {"dest": {"type": "WebhookDest", "endpoint": endpoint}}


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("hooks.example.com", True),
        ("a.events.example.com", True),
        ("events.example.com", False),  # `*.x` is x's subdomains, not x
        ("evilevents.example.com", False),
        ("hooks.example.com.evil.io", False),
        (".events.example.com", False),
        ("a..events.example.com", False),
    ],
)
def test_webhook_hosts_exact_or_by_wildcard(host: str, allowed: bool) -> None:
    assert host_allowed(host, ["hooks.example.com", "*.events.example.com"]) is allowed


def test_a_webhook_goes_over_https_to_an_allowed_host_and_shows_no_path() -> None:
    rules = {"allowed_webhook_hosts": ["hooks.example.com"]}
    assert check(webhook("https://hooks.example.com/T0/secret"), kind="alerts", **rules) == []
    found = check(webhook("https://evil.io/T0/secret"), kind="alerts", **rules)
    assert [(v.rule, v.path, v.value) for v in found] == [("allowed_webhook_hosts", "dest.endpoint", "https://evil.io")]
    assert "secret" not in found[0].message and "hooks.example.com" in found[0].message
    plain = check(webhook("http://hooks.example.com/T0/secret"), kind="alerts", **rules)
    assert "is not https" in plain[0].message


@pytest.mark.parametrize(
    "endpoint", ["https://evil.io\\@hooks.example.com/x", "https://user@hooks.example.com/x", "https://evil.io\\x"]
)
def test_a_webhook_whose_host_parsers_disagree_on_is_refused(endpoint: str) -> None:
    found = check(webhook(endpoint), kind="alerts", allowed_webhook_hosts=["hooks.example.com", "evil.io"])
    assert [v.rule for v in found] == ["allowed_webhook_hosts"] and "is not a plain host" in found[0].message


def test_a_domain_that_case_folding_rewrites_is_not_the_domain_it_folds_to() -> None:
    # casefold() makes straße.de strasse.de; mail to it goes to xn--strae-oqa.de, another domain
    assert domain_allowed("ceo@stra\u00dfe.de", ["strasse.de"]) is False
    assert domain_allowed("ceo@STRASSE.de", ["strasse.de"]) is True


@pytest.mark.parametrize(
    "endpoint", ["https://[evil/x", "https://hooks.example.com]/x", "https://tok\uff0f.hooks.example.com/x"]
)
def test_a_webhook_endpoint_with_no_readable_host_is_a_violation_that_quotes_nothing(endpoint: str) -> None:
    found = check(webhook(endpoint), kind="alerts", allowed_webhook_hosts=["hooks.example.com"])
    assert [(v.rule, v.value) for v in found] == [("allowed_webhook_hosts", "(not a URL)")]
    assert "tok" not in found[0].message and "evil" not in found[0].message
    shown = violations(
        "alerts",
        webhook(endpoint),
        Policy(allowed_webhook_hosts=["hooks.example.com"]),
        timezone="UTC",
        shown={"dest.endpoint": "${HOOK}"},
    )
    assert shown[0].value == "${HOOK}"


def test_sftp_goes_through_an_allowed_data_source() -> None:
    fields = {"dest": {"type": "SftpDest", "data_source_id": 61, "file_path": "/x.csv"}}
    assert check(fields, allowed_sftp_data_sources=[61]) == []
    found = check(fields, allowed_sftp_data_sources=[7, 8])
    assert [(v.path, v.value, v.message) for v in found] == [
        ("dest.data_source_id", "61", "SFTP data source 61 is not allowed (policy.allowed_sftp_data_sources: 7, 8)")
    ]


def test_min_interval_judges_the_crons_real_gap_in_the_zone() -> None:
    fields = {"schedule": {"repeat": "30 1,3 * * *"}, "dest": {"type": "GsheetDest"}}
    assert check(fields, timezone="UTC", min_interval_minutes=120) == []
    found = check(fields, timezone="Europe/Berlin", min_interval_minutes=120)
    assert [(v.rule, v.path, v.value) for v in found] == [("min_interval_minutes", "schedule.repeat", "30 1,3 * * *")]
    assert found[0].message == (
        "repeat 30 1,3 * * * fires 60 minute(s) apart at its closest (in Europe/Berlin), "
        "more often than policy.min_interval_minutes: 120"
    )


def test_what_cannot_be_judged_breaks_nothing() -> None:
    unknown = {"schedule": {"repeat": None}, "dest": {"type": "EmailDest", "recipients": [None]}}
    rules = {"allowed_email_domains": ["example.com"], "min_interval_minutes": 60}
    assert check(unknown, **rules) == []
    assert check({"schedule": {"repeat": "not a cron"}}, **rules) == []


def test_no_rule_set_allows_everything() -> None:
    assert check(email(*(f"x{i}@gmail.com" for i in range(50)))) == []
    assert check(webhook("http://anywhere.io"), kind="alerts") == []


def test_a_rule_applies_only_to_its_destination() -> None:
    rules = {"allowed_email_domains": ["example.com"], "allowed_sftp_data_sources": [7]}
    assert check(slack({"id": "C1"}), **rules) == []
    assert check(webhook("https://x.io"), kind="alerts", **rules) == []


def test_a_long_allowed_list_is_named_by_its_first_few() -> None:
    allowed = [f"d{i}.example.com" for i in range(30_000)]
    [found] = check(email("x@gmail.com"), allowed_email_domains=allowed)
    assert "d9.example.com, and 29,990 more)" in found.message and len(found.message) < 400
