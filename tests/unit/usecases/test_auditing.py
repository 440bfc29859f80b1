"""The audit's use case over items already read: what each delivery says (source by name, filters by
uname, destination, domains, cadence), which the YAML manages (by kind and id), and which violations
stand or are excepted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.known import kind_named
from reconciler.remote.catalog import Catalog
from reconciler.remote.reads import RemoteSchedules
from reconciler.usecases.auditing import audited, managed_entries
from reconciler.usecases.config import ProjectConfig

METADATA = [{"id": 1234, "title": "Sales Performance", "uname": "sales_performance", "project_id": 1, "version": 4}]
DEFINITION = {"dynamic_filters": [{"id": 7, "uname": "region"}]}


def _schedule(sid: int, **dest: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "title": f"Schedule {sid}",
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 8 * * 1", "paused": False},
        "dynamic_filter_presets": [
            {"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": ["EMEA"]}}
        ],
        "dest": {"type": "EmailDest", "recipients": ["a@example.com", "b@example.com", "c@other.test"], **dest},
    }


def _alert(aid: int, endpoint: str) -> dict[str, Any]:
    return {
        "id": aid,
        "title": "Hook",
        "source_type": "DashboardWidget",
        "source_id": 90101,
        "schedule": {"repeat": "*/10 * * * *", "paused": True},
        "dest": {"type": "WebhookDest", "endpoint": endpoint},
    }


def _listed(schedules: list[dict[str, Any]], alerts: list[dict[str, Any]]) -> dict[str, RemoteSchedules]:
    return {
        "schedules": RemoteSchedules(kind_named("schedules"), schedules),
        "alerts": RemoteSchedules(kind_named("alerts"), alerts),
    }


def _entry(
    key: str, kind: str, ident: int, fields: dict[str, Any] | None = None, env: dict[str, str] | None = None
) -> DesiredEntry:
    return DesiredEntry(
        key=key, id=ident, fields=fields or {}, file="schedules/main.yml", line=3, kind=kind, env=env or {}
    )


def _config(**policy: Any) -> ProjectConfig:
    return ProjectConfig.model_validate({"timezone": "Europe/Berlin", "policy": policy})


def test_a_delivery_is_described_by_names_the_catalog_gives() -> None:
    catalog = Catalog(METADATA, {1234: DEFINITION})
    result = audited(
        _listed([_schedule(1)], [_alert(1, "https://hooks.example.com/x?token=t0k3n")]), catalog, {}, _config()
    )
    schedule, alert = result.deliveries
    assert (schedule.source, schedule.source_title) == ("dashboard sales_performance", "Sales Performance")
    assert schedule.filters == ("region is EMEA",)
    assert schedule.domains == (("example.com", 2), ("other.test", 1))
    assert schedule.cadence == "At 08:00, only on Monday"
    assert (alert.source, alert.webhook, alert.paused) == ("widget 90101", "https://hooks.example.com", True)
    assert result.timezone == "Europe/Berlin" and result.rules == ()


def test_without_a_catalog_sources_and_filters_are_named_by_id() -> None:
    [schedule] = audited(_listed([_schedule(1)], []), None, {}, _config()).deliveries
    assert schedule.source == "dashboard 1234" and schedule.source_title is None
    assert schedule.filters == ("filter 7 is EMEA",)


def test_managed_is_matched_by_kind_and_id() -> None:
    managed = {("alerts", 1): _entry("hook", "alerts", 1)}
    schedule, alert = audited(
        _listed([_schedule(1)], [_alert(1, "https://h.example.com")]), None, managed, _config()
    ).deliveries
    assert schedule.key is None and not schedule.managed
    assert (alert.key, alert.file, alert.line) == ("hook", "schedules/main.yml", 3)


def test_a_violation_stands_unless_an_exception_names_the_managed_key() -> None:
    config = _config(
        allowed_email_domains=["example.com"],
        exceptions=[{"key": "weekly", "rule": "allowed_email_domains", "reason": "Auditors (AUD-7)"}],
    )
    managed = {("schedules", 1): _entry("weekly", "schedules", 1, _schedule(1))}
    excepted, standing = audited(_listed([_schedule(1), _schedule(2)], []), None, managed, config).deliveries
    assert excepted.violations == () and [e.reason for e in excepted.excepted] == ["Auditors (AUD-7)"]
    assert [v.rule for v in standing.violations] == ["allowed_email_domains"]
    assert standing.excepted == ()


def test_the_grid_counts_starts_and_leaves_paused_deliveries_out() -> None:
    result = audited(_listed([_schedule(1), _schedule(2)], [_alert(3, "https://h.example.com")]), None, {}, _config())
    assert len(result.grid) == 7 and all(len(row) == 24 for row in result.grid)
    assert result.grid[0][8] == 2  # Monday 08:00 in Berlin, twice; the paused alert not at all
    assert sum(map(sum, result.grid)) == 2


def test_no_schedules_directory_means_nothing_is_managed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert managed_entries(ProjectConfig()) == {}


def test_what_the_rules_cannot_read_is_a_violation_and_the_inventory_shows_it() -> None:
    odd = [
        _schedule(1, recipients="a@evil.io, b@evil.io"),
        {**_schedule(2), "dest": {"type": "SlackDest", "slack_channels": ["C0EVIL"]}},
        {**_schedule(3), "dest": {"type": "CarrierPigeonDest", "endpoint": "https://evil.io/x"}},
        {**_schedule(4, recipients=["a@example.com"]), "schedule": {"repeat": "@hourly"}},
    ]
    config = _config(allowed_email_domains=["example.com"], allowed_slack_channels=["ops"], min_interval_minutes=60)
    result = audited(_listed(odd, []), None, {}, config)
    assert not result.passes
    assert [[v.message for v in d.violations] for d in result.deliveries] == [
        ["cannot be judged: dest.recipients is not a list of addresses"],
        ["cannot be judged: dest.slack_channels[0] is not {id, name}"],
        ["cannot be judged: dest.type CarrierPigeonDest is not a destination the audit knows"],
        ["cannot be judged: schedule.repeat is not a cron of five fields"],
    ]
    first, second, third, fourth = result.deliveries
    assert first.recipients == ("a@evil.io, b@evil.io",) and second.slack_channels == ("C0EVIL",)
    assert (third.dest_type, third.webhook, fourth.cron) == ("CarrierPigeonDest", "https://evil.io", "@hourly")


AUDITORS = _config(
    allowed_email_domains=["example.com"],
    max_recipients=2,
    min_interval_minutes=60,
    max_same_minute=1,
    exceptions=[
        {"key": "weekly", "rule": rule, "reason": "Auditors (AUD-7)"}
        for rule in ("allowed_email_domains", "max_recipients", "min_interval_minutes", "max_same_minute")
    ],
)


def _weekly(recipients: list[str], cron: str = "*/30 * * * *") -> dict[str, Any]:
    return {**_schedule(1, recipients=recipients), "schedule": {"repeat": cron, "paused": False}}


def test_an_exception_excuses_only_what_the_yaml_itself_breaks() -> None:
    yaml = _weekly(["kate@auditor.io", "a@example.com"])
    managed = {("schedules", 1): _entry("weekly", "schedules", 1, yaml)}
    same = audited(
        _listed([_weekly(["a@example.com", "KATE@auditor.io"]), _weekly([], "*/30 * * * *")], []),
        None,
        managed,
        AUDITORS,
    )
    assert same.deliveries[0].violations == ()
    assert {e.violation.rule for e in same.deliveries[0].excepted} == {
        "allowed_email_domains",
        "min_interval_minutes",
        "max_same_minute",
    }
    # someone adds an address in the UI, and makes it fire every five minutes
    remote = _weekly(["kate@auditor.io", "a@example.com", "cfo.private@gmail.com"], "*/5 * * * *")
    [delivery] = audited(_listed([remote], []), None, managed, AUDITORS).deliveries
    standing = {(v.rule, v.value) for v in delivery.violations}
    assert standing == {
        ("allowed_email_domains", "cfo.private@gmail.com"),
        ("max_recipients", "3"),
        ("min_interval_minutes", "*/5 * * * *"),
    }
    assert all("exception does not cover it" in v.message for v in delivery.violations)
    assert [(e.violation.rule, e.violation.value) for e in delivery.excepted] == [
        ("allowed_email_domains", "kate@auditor.io")
    ]


def test_an_exception_for_a_value_from_the_environment_needs_the_value_to_compare() -> None:
    yaml = _weekly(["${AUDITOR}", "a@example.com"])
    managed = {("schedules", 1): _entry("weekly", "schedules", 1, yaml, {"dest.recipients.0": "${AUDITOR}"})}
    listed = _listed([_weekly(["kate@auditor.io", "a@example.com"])], [])
    [with_value] = audited(listed, None, managed, AUDITORS, {"AUDITOR": "kate@auditor.io"}).deliveries
    assert [e.violation.rule for e in with_value.excepted] == ["allowed_email_domains", "min_interval_minutes"]
    assert with_value.excepted[0].violation.value == "(hidden: holds ${AUDITOR})"
    [other_value] = audited(listed, None, managed, AUDITORS, {"AUDITOR": "bob@auditor.io"}).deliveries
    [unset] = audited(listed, None, managed, AUDITORS, {}).deliveries
    for delivery in (other_value, unset):
        assert [(v.rule, v.value) for v in delivery.violations] == [
            ("allowed_email_domains", "(hidden: holds ${AUDITOR})")
        ]


def test_a_managed_field_from_the_environment_is_shown_as_its_expression() -> None:
    yaml = {
        **_schedule(1),
        "title": "${TITLE}",
        "dest": {"type": "SlackDest", "slack_channels": [{"id": "${CH}", "name": "${CHNAME}"}]},
        "schedule": {"repeat": "${CRON}", "paused": False},
    }
    env = {
        "title": "${TITLE}",
        "dest.slack_channels.0.id": "${CH}",
        "dest.slack_channels.0.name": "${CHNAME}",
        "schedule.repeat": "${CRON}",
    }
    managed = {("schedules", 1): _entry("board", "schedules", 1, yaml, env)}
    remote = {
        **_schedule(1),
        "title": "Board pack",
        "dest": {"type": "SlackDest", "slack_channels": [{"id": "C0SECRET1", "name": "board-secret-room"}]},
        "schedule": {"repeat": "*/5 * * * *", "paused": False},
    }
    alert = {**_alert(2, "https://collector.evil.test/in?token=s3cret"), "schedule": {"repeat": "3 8 * * *"}}
    alert_yaml = {**alert, "dest": {"type": "WebhookDest", "endpoint": "${HOOK}"}}
    managed[("alerts", 2)] = _entry("hook", "alerts", 2, alert_yaml, {"dest.endpoint": "${HOOK}"})
    config = _config(
        allowed_slack_channels=["ops"],
        allowed_webhook_hosts=["hooks.example.com"],
        min_interval_minutes=60,
        max_same_minute=1,
    )
    crowd = {**_schedule(3), "schedule": {"repeat": "*/5 * * * *", "paused": False}}
    result = audited(_listed([remote, crowd], [alert]), None, managed, config)
    board, _, hook = result.deliveries
    said = repr(board) + repr(hook)
    for secret in ("C0SECRET1", "board-secret-room", "Board pack", "*/5", "collector.evil.test", "s3cret"):
        assert secret not in said
    assert board.title == "${TITLE}" and board.cron == "${CRON}" and hook.webhook == "${HOOK}"
    assert board.slack_channels == ("(hidden: holds ${CHNAME}, ${CH})",)
    # judged on the server's values all the same
    assert [v.rule for v in board.violations] == ["allowed_slack_channels", "min_interval_minutes", "max_same_minute"]
    assert [v.rule for v in hook.violations] == ["allowed_webhook_hosts"]
    assert {v.value for v in board.violations} == {
        "(hidden: holds ${CHNAME}, ${CH})",
        "${CRON}",
    }


def test_an_exception_judges_a_channel_by_its_id_and_a_domain_as_written() -> None:
    config = _config(
        allowed_slack_channels=["C0OURS"],
        allowed_email_domains=["example.com"],
        exceptions=[
            {"key": "slack", "rule": "allowed_slack_channels", "reason": "partner channel"},
            {"key": "mail", "rule": "allowed_email_domains", "reason": "partner"},
        ],
    )
    slack_yaml = {"dest": {"type": "SlackDest", "slack_channels": [{"id": "C0PARTNER"}]}}
    mail_yaml = {"dest": {"type": "EmailDest", "recipients": ["anna@straße.de"]}}
    managed = {
        ("schedules", 1): _entry("slack", "schedules", 1, slack_yaml),
        ("schedules", 2): _entry("mail", "schedules", 2, mail_yaml),
    }
    # the server names the channel the YAML gave by id; someone turns straße.de into strasse.de
    slack = {**_schedule(1), "dest": {"type": "SlackDest", "slack_channels": [{"id": "C0PARTNER", "name": "shared"}]}}
    mail = {**_schedule(2), "dest": {"type": "EmailDest", "recipients": ["anna@strasse.de"]}}
    named, respelled = audited(_listed([slack, mail], []), None, managed, config).deliveries
    assert named.violations == () and [e.reason for e in named.excepted] == ["partner channel"]
    assert [v.value for v in respelled.violations] == ["anna@strasse.de"] and respelled.excepted == ()
