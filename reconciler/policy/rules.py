"""The policy's rules over one delivery's fields: who receives it, where it posts or uploads, how many
it goes to, and how often it fires. `max_same_minute` is not here: it is a rule over the whole
workspace (`crowding`). Exceptions are not applied here either: callers apply `Policy.excepted`.

Fields are as in the YAML and the API (`dest.type`, `dest.recipients`, `dest.slack_channels`,
`dest.endpoint`, `dest.data_source_id`, `schedule.repeat`). A field that is missing, or not of the
type it should be (a value from the environment not known offline is given as None), breaks no rule:
what cannot be judged is not guessed.

`shown` maps a dotted field path (`dest.recipients.1`) to how its value may be shown (the `${VAR}`
it came from); a value from the environment is judged, never shown.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from reconciler.policy.model import Policy, Rule, Violation
from reconciler.policy.timing import shortest_gap_minutes

Fields = Mapping[str, Any]
Shown = Mapping[str, str]

_EMAIL_DESTS = {"EmailDest", "EmailSubscriptionDest"}


def violations(
    kind: str, fields: Fields, policy: Policy, *, timezone: str, shown: Shown | None = None
) -> list[Violation]:
    """Every rule but `max_same_minute` the delivery breaks, each at its field. `kind`: "schedules" or
    "alerts" (the rules read the same fields of both)."""
    dest = fields.get("dest")
    dest = dest if isinstance(dest, Mapping) else {}
    out: list[Violation] = []
    for rule in _RULES:
        out += rule(fields, dest, policy, timezone, shown or {})
    return out


def _show(shown: Shown, dotted: str, value: Any) -> str:
    return shown.get(dotted, str(value))


def _listed(allowed: Sequence[Any], shown: int = 10) -> str:
    # a policy may allow thousands: every violation line (and annotation) names the first few
    more = f", and {len(allowed) - shown:,} more" if len(allowed) > shown else ""
    return ", ".join(map(str, allowed[:shown])) + more or "none"


def _items(dest: Fields, name: str) -> list[Any]:
    value = dest.get(name)
    return list(value) if isinstance(value, list) else []


def _email_domains(fields: Fields, dest: Fields, policy: Policy, timezone: str, shown: Shown) -> list[Violation]:
    allowed = policy.allowed_email_domains
    if allowed is None or dest.get("type") not in _EMAIL_DESTS:
        return []
    out = []
    for i, recipient in enumerate(_items(dest, "recipients")):
        if not isinstance(recipient, str) or domain_allowed(recipient, allowed):
            continue
        value = _show(shown, f"dest.recipients.{i}", recipient)
        message = f"recipient {value} is not at an allowed domain (policy.allowed_email_domains: {_listed(allowed)})"
        out.append(Violation("allowed_email_domains", f"dest.recipients[{i}]", value, message))
    return out


def domain_allowed(address: str, allowed: Sequence[str]) -> bool:
    """Whether the address is at one of the domains or a subdomain of one (a label boundary: neither
    `evil-example.com` nor `example.com.evil.io` is at example.com)."""
    # lower(), not casefold(): casefold turns `straße.de` into `strasse.de`, another domain
    domain = address.rpartition("@")[2].strip().rstrip(".").lower()
    return any(domain == d or domain.endswith("." + d) for d in allowed)


def _slack_channels(fields: Fields, dest: Fields, policy: Policy, timezone: str, shown: Shown) -> list[Violation]:
    allowed = policy.allowed_slack_channels
    if allowed is None or dest.get("type") != "SlackDest":
        return []
    folded = {c.casefold() for c in allowed}
    out = []
    for i, channel in enumerate(_items(dest, "slack_channels")):
        if not isinstance(channel, Mapping):
            continue
        # Slack posts to the id; a name beside it is only a label, so an allowed name must not let any id
        # through (`{id: C0EVIL, name: ops}`). A channel given by name alone is judged by its name.
        identity = channel.get("id") or channel.get("name")
        if identity and str(identity).removeprefix("#").casefold() in folded:
            continue
        value = _channel(channel, i, shown)
        message = f"Slack channel {value} is not allowed (policy.allowed_slack_channels: {_listed(allowed)})"
        out.append(Violation("allowed_slack_channels", f"dest.slack_channels[{i}]", value, message))
    return out


def _channel(channel: Mapping[str, Any], i: int, shown: Shown) -> str:
    """`C0123 (#general)`, each part as it may be shown."""
    parts = {k: _show(shown, f"dest.slack_channels.{i}.{k}", channel[k]) for k in ("id", "name") if channel.get(k)}
    if "id" in parts and "name" in parts and parts["id"] != parts["name"]:  # one hidden marker says both
        return f"{parts['id']} (#{parts['name'].removeprefix('#')})"
    if not parts:
        return "(no id or name)"
    return parts.get("id") or "#" + parts["name"].removeprefix("#")


def _webhook_host(fields: Fields, dest: Fields, policy: Policy, timezone: str, shown: Shown) -> list[Violation]:
    allowed = policy.allowed_webhook_hosts
    endpoint = dest.get("endpoint")
    if allowed is None or dest.get("type") != "WebhookDest" or not isinstance(endpoint, str):
        return []
    try:
        parts = urlsplit(endpoint.strip())
        host = (parts.hostname or "").rstrip(".")
    except ValueError:  # `https://[evil`, a netloc NFKC turns into another: no host to trust (or to quote)
        value = shown.get("dest.endpoint") or "(not a URL)"
        message = (
            f"webhook endpoint {value} has no host that can be read (policy.allowed_webhook_hosts: {_listed(allowed)})"
        )
        return [Violation("allowed_webhook_hosts", "dest.endpoint", value, message)]
    # a user part or a backslash before the path: parsers disagree on which host that is (WHATWG
    # reads `https://evil.io\@hooks.example.com` as evil.io), so no host is trusted from it
    plain = "@" not in parts.netloc and "\\" not in endpoint.split("?")[0].split("#")[0]
    https = parts.scheme.casefold() == "https"
    if https and plain and host_allowed(host, allowed):
        return []
    # scheme and host only: a webhook's path often carries its secret
    value = shown.get("dest.endpoint") or f"{parts.scheme}://{host}"
    why = "is not https" if not https else "is not at an allowed host" if plain else "is not a plain host"
    message = f"webhook endpoint {value} {why} (policy.allowed_webhook_hosts: https only, to {_listed(allowed)})"
    return [Violation("allowed_webhook_hosts", "dest.endpoint", value, message)]


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """Whether `host` is one of `allowed`; `*.example.com` allows example.com's subdomains."""
    host = host.lower()
    if not host or any(not label for label in host.split(".")):  # `.example.com`, `a..example.com`: no host
        return False
    return any(host.endswith(a[1:]) if a.startswith("*.") else host == a for a in allowed)


def _sftp_data_source(fields: Fields, dest: Fields, policy: Policy, timezone: str, shown: Shown) -> list[Violation]:
    allowed = policy.allowed_sftp_data_sources
    source = dest.get("data_source_id")
    if allowed is None or dest.get("type") != "SftpDest" or source is None or source in allowed:
        return []
    value = _show(shown, "dest.data_source_id", source)
    message = f"SFTP data source {value} is not allowed (policy.allowed_sftp_data_sources: {_listed(allowed)})"
    return [Violation("allowed_sftp_data_sources", "dest.data_source_id", value, message)]


def _max_recipients(fields: Fields, dest: Fields, policy: Policy, timezone: str, shown: Shown) -> list[Violation]:
    limit = policy.max_recipients
    count = len(_items(dest, "recipients"))
    if limit is None or count <= limit:
        return []
    message = f"{count} recipients, more than policy.max_recipients: {limit}"
    return [Violation("max_recipients", "dest.recipients", str(count), message)]


def _min_interval(fields: Fields, dest: Fields, policy: Policy, timezone: str, shown: Shown) -> list[Violation]:
    limit = policy.min_interval_minutes
    schedule = fields.get("schedule")
    cron = schedule.get("repeat") if isinstance(schedule, Mapping) else None
    if limit is None or not isinstance(cron, str):
        return []
    gap = _gap(cron, timezone)
    if gap is None or gap >= limit:
        return []
    value = _show(shown, "schedule.repeat", cron)
    message = (
        f"repeat {value} fires {gap} minute(s) apart at its closest (in {timezone}), "
        f"more often than policy.min_interval_minutes: {limit}"
    )
    return [Violation("min_interval_minutes", "schedule.repeat", value, message)]


def _gap(cron: str, timezone: str) -> int | None:
    from cronsim import CronSimError

    try:
        return shortest_gap_minutes(cron, timezone) if len(cron.split()) == 5 else None
    except (CronSimError, ValueError):  # not a cron the YAML's checks let through: nothing to judge
        return None


_RULES: tuple[Callable[[Fields, Fields, Policy, str, Shown], list[Violation]], ...] = (
    _email_domains,
    _max_recipients,
    _slack_channels,
    _webhook_host,
    _sftp_data_source,
    _min_interval,
)

RULES_HERE: tuple[Rule, ...] = (
    "allowed_email_domains",
    "max_recipients",
    "allowed_slack_channels",
    "allowed_webhook_hosts",
    "allowed_sftp_data_sources",
    "min_interval_minutes",
)
