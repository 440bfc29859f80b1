"""The `policy:` section as read: numbers are numbers (YAML's `true` is not 1, `"60"` not 60), names are
normalised once, and a list entry that could only allow nothing is refused at its place."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.policy.model import Policy


@pytest.mark.parametrize(
    "written",
    [
        {"max_recipients": True},
        {"min_interval_minutes": "60"},
        {"min_interval_minutes": 10**9},
        {"max_same_minute": 0},
        {"allowed_sftp_data_sources": [True]},
        {"allowed_slack_channels": ["", "C1"]},
        {"allowed_email_domains": ["https://example.com"]},
        {"allowed_webhook_hosts": ["hooks.example.com/path"]},
        {"exceptions": [{"key": "k", "rule": "min_interval_minutes", "reason": "  "}]},
        {"exceptions": [{"key": "k", "rule": "no_such_rule", "reason": "r"}]},
    ],
)
def test_what_could_only_mean_something_else_is_refused(written: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Policy.model_validate(written)


def test_names_are_normalised_once() -> None:
    policy = Policy.model_validate(
        {
            "allowed_email_domains": ["@Example.COM"],
            "allowed_webhook_hosts": ["*.Hooks.example.com"],
            "allowed_slack_channels": ["#ops", " C04FIN0001 "],
        }
    )
    assert policy.allowed_email_domains == ["example.com"]
    assert policy.allowed_webhook_hosts == ["*.hooks.example.com"]
    assert policy.allowed_slack_channels == ["ops", "C04FIN0001"]
    assert not policy.empty and Policy().empty
