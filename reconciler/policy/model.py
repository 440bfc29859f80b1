"""The `policy:` section of `holistics-schedules.yml`, and what breaking one of its rules is.

Every rule is optional: a rule left out allows everything. An exception names one entry key and one
rule, with the reason a reviewer reads; the plan lists every exception in use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator
from pydantic_core import PydanticCustomError

Rule = Literal[
    "allowed_email_domains",
    "allowed_slack_channels",
    "allowed_webhook_hosts",
    "allowed_sftp_data_sources",
    "min_interval_minutes",
    "max_recipients",
    "max_same_minute",
]

# a DNS name of at least two labels, lower case once read (no scheme, path, port or wildcard); an
# internationalised one as written on the wire (`xn--bcher-kva.de`, a `.xn--p1ai` top-level domain)
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+([a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def _domain(value: str, what: str) -> str:
    name = value.strip().lower().removeprefix("@")
    if not _DOMAIN.match(name):
        raise PydanticCustomError("domain", f"{value!r} is not {what} (write a name like example.com)")
    return name


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyException(_Model):
    """One entry allowed to break one rule, and why."""

    key: str = Field(min_length=1, description="The YAML key of the schedule or alert.")
    rule: Rule
    reason: str = Field(min_length=1, description="Why: shown in every plan that uses the exception.")

    @field_validator("reason")
    @classmethod
    def _said(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("reason", "an exception needs a reason a reviewer can read")
        return value.strip()


class Policy(_Model):
    allowed_email_domains: list[str] | None = Field(
        None, description="Every recipient at one of these domains or a subdomain of one."
    )
    allowed_slack_channels: list[str] | None = Field(
        None, description="Slack channels deliveries may post to, by id (C0123...) or name (with or without #)."
    )
    allowed_webhook_hosts: list[str] | None = Field(
        None, description="Hosts alert webhooks may call (https only); `*.example.com` allows its subdomains."
    )
    allowed_sftp_data_sources: list[StrictInt] | None = Field(
        None, description="Data sources (ids) SFTP deliveries may upload through."
    )
    min_interval_minutes: StrictInt | None = Field(
        None,
        ge=1,
        le=366 * 24 * 60,
        description="No delivery fires more often than this: the cron's shortest gap over a year.",
    )
    max_recipients: StrictInt | None = Field(None, ge=1, description="At most this many email recipients per delivery.")
    max_same_minute: StrictInt | None = Field(
        None, ge=1, description="At most this many deliveries of the workspace start in the same minute."
    )
    exceptions: list[PolicyException] = Field(default_factory=list)

    @field_validator("allowed_email_domains")
    @classmethod
    def _domains(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_domain(d, "an email domain") for d in value]

    @field_validator("allowed_webhook_hosts")
    @classmethod
    def _hosts(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [
            ("*." if h.strip().startswith("*.") else "") + _domain(h.strip().removeprefix("*."), "a host")
            for h in value
        ]

    @field_validator("allowed_slack_channels")
    @classmethod
    def _channels(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        channels = [c.strip().removeprefix("#").strip() for c in value]
        if not all(channels):
            raise PydanticCustomError("channel", "an empty channel allows nothing: write a channel id (C0123...)")
        return channels

    @property
    def empty(self) -> bool:
        """No rule set: nothing to check (the exceptions alone allow nothing)."""
        return all(getattr(self, name) is None for name in type(self).model_fields if name != "exceptions")

    def excepted(self, key: str, rule: Rule) -> PolicyException | None:
        return next((e for e in self.exceptions if e.key == key and e.rule == rule), None)


@dataclass(frozen=True)
class Violation:
    """One delivery breaking one rule: the field path that breaks it (`dest.recipients[2]`) and the
    offending value as it may be shown (an expression `${VAR}` for a value from the environment,
    never the value)."""

    rule: Rule
    path: str
    value: str
    message: str
