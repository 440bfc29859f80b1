"""The policy's checks as `audit` asks them, in one place: one delivery's rules (`policy.rules`) and
the workspace's crowded minutes (`policy.crowding`), over the workspace's items as the API gives them
(the same fields as the YAML). Exceptions are not applied here: the audit applies them to managed
keys and lists them.

The YAML's checks never let a field of the wrong shape through, but the server's items are not
checked, and `rules` passes by what it cannot judge (recipients as one string, a channel as a bare
id, an unknown destination, a cron of six fields). Here each such field is a violation of each rule
set that would apply to it ("cannot be judged"): what the audit cannot read never passes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.core import hiding
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.schedules.models import is_cron
from reconciler.policy import crowding, rules
from reconciler.policy.model import Policy, Rule, Violation
from reconciler.usecases.policing import judged_fields
from reconciler.usecases.spread import REPEAT, RULE, delivery_of

Item = tuple[str, Mapping[str, Any]]  # (kind, the item as the API gives it)
DeliveryId = tuple[str, int]  # (kind, id)
Evidence = tuple[str, str | tuple[str, ...]]  # a rule, and the value that breaks it


def reviewed(entry: DesiredEntry, policy: Policy, timezone: str, environ: Mapping[str, str]) -> set[Evidence]:
    """What the YAML entry itself breaks, each rule with its value: what a reviewer read, and so all an
    exception for its key may excuse on the server (a value added in the UI was never reviewed). A
    field from the environment counts with its value when the variable is set here (compared, never
    shown), else it excuses nothing. `max_same_minute` is judged over the workspace: the entry's cron."""
    fields, _, _ = judged_fields(entry, environ)
    found = {evidence(v, fields) for v in rules.violations(entry.kind, fields, policy, timezone=timezone)}
    schedule = fields.get("schedule")
    cron = schedule.get("repeat") if isinstance(schedule, Mapping) else None
    if isinstance(cron, str):
        found.add((RULE, _same(cron)))
    return found


def evidence(violation: Violation, fields: Mapping[str, Any]) -> Evidence:
    """A violation as it is compared with the YAML's: its rule and its value (for `max_recipients`,
    whose value is a count, the recipients themselves)."""
    if violation.rule == "max_recipients":
        dest = fields.get("dest")
        recipients = dest.get("recipients") if isinstance(dest, Mapping) else None
        if isinstance(recipients, list):
            return violation.rule, tuple(sorted(_same(str(r)) for r in recipients))
    if violation.rule == "allowed_slack_channels":  # by its id, as the rule judges it: the server names it
        channel = _channel_at(fields, violation.path)
        if channel is not None:
            return violation.rule, _same(str(channel.get("id") or channel.get("name") or ""))
    return violation.rule, _same(violation.value)


def _channel_at(fields: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    """The channel at `dest.slack_channels[i]`, if it is one."""
    dest = fields.get("dest")
    channels = dest.get("slack_channels") if isinstance(dest, Mapping) else None
    index = path.removeprefix("dest.slack_channels[").removesuffix("]")
    if not isinstance(channels, list) or not index.isdecimal() or int(index) >= len(channels):
        return None
    channel = channels[int(index)]
    return channel if isinstance(channel, Mapping) else None


def _same(text: str) -> str:
    # as the server may give back what the YAML says: spaces and case of addresses and crons aside
    # (lower(), not casefold(): casefold makes straße.de strasse.de, another domain)
    return " ".join(text.split()).lower()


def hidden(item: Mapping[str, Any], env: Mapping[str, str]) -> tuple[Mapping[str, Any], dict[str, str]]:
    """A managed delivery as the audit shows it: each field its YAML entry takes from the environment
    (`DesiredEntry.env`) hidden whole behind its `${VAR}` (as plans show the workspace's side, see
    `core.hiding`), and how each path in such a field is shown (for `rules.violations`' `shown`)."""
    if not env:
        return item, {}
    masked = hiding.masked_remote(item, env) or {}
    shown: dict[str, str] = {}
    for field in {hiding.field_of(path) for path in env}:
        marker = hiding.get(masked, field)
        if isinstance(marker, str):  # the item has the field (else there is nothing to hide)
            shown[field] = marker
            shown.update({f"{field}.{path}": marker for path in _paths(hiding.get(item, field))})
    return masked, shown


def _paths(value: Any) -> list[str]:
    """Every dotted path inside a value (list items by number)."""
    pairs = value.items() if isinstance(value, Mapping) else enumerate(value) if isinstance(value, list) else []
    return [p for key, inner in pairs for p in (str(key), *(f"{key}.{q}" for q in _paths(inner)))]


def delivery_violations(
    kind: str, item: Mapping[str, Any], policy: Policy, timezone: str, shown: Mapping[str, str] | None = None
) -> list[Violation]:
    """Every rule but `max_same_minute` over one delivery, and each rule set (crowding included) whose
    field cannot be judged. `shown`: how a field's value may be shown, by dotted path (`rules`)."""
    if policy.empty:
        return []
    found = [
        Violation(
            rule, path, (shown or {}).get(path.replace("[", ".").replace("]", ""), value), f"cannot be judged: {why}"
        )
        for rule, path, value, why in unjudged(item, policy)
    ]
    return found + rules.violations(kind, item, policy, timezone=timezone, shown=shown)


Unjudged = tuple[Rule, str, str, str]  # the rule, the field's path, what is there, why it cannot be judged

_EMAIL_DESTS = ("EmailDest", "EmailSubscriptionDest")
_KNOWN_DESTS = (*_EMAIL_DESTS, "SlackDest", "SftpDest", "GsheetDest", "WebhookDest")
_DEST_RULES: tuple[Rule, ...] = (
    "allowed_email_domains",
    "max_recipients",
    "allowed_slack_channels",
    "allowed_webhook_hosts",
    "allowed_sftp_data_sources",
)


def unjudged(item: Mapping[str, Any], policy: Policy) -> list[Unjudged]:
    """Each rule set that applies to the item but whose field is not of a shape the rules read."""
    dest = item.get("dest")
    dest_type = dest.get("type") if isinstance(dest, Mapping) else None
    if not isinstance(dest, Mapping) or dest_type not in _KNOWN_DESTS:
        # where it sends is unknown: one violation, under the first destination rule set
        rule = next((r for r in _DEST_RULES if getattr(policy, r) is not None), None)
        why = f"dest.type {_said(dest_type)} is not a destination the audit knows"
        found = [] if rule is None else [(rule, "dest.type", _said(dest_type), why)]
    else:
        found = _dest_unjudged(dest_type, dest, policy)
    return found + _cron_unjudged(item.get("schedule"), policy)


def _dest_unjudged(dest_type: str, dest: Mapping[str, Any], policy: Policy) -> list[Unjudged]:
    found: list[Unjudged] = []
    if dest_type in _EMAIL_DESTS:
        recipients = dest.get("recipients")
        if recipients is not None and not isinstance(recipients, list):
            why = "dest.recipients is not a list of addresses"
            found += [(r, "dest.recipients", _said(recipients), why) for r in _set(policy, *_DEST_RULES[:2])]
        elif recipients and policy.allowed_email_domains is not None:
            found += [
                ("allowed_email_domains", f"dest.recipients[{i}]", _said(r), f"dest.recipients[{i}] is not an address")
                for i, r in enumerate(recipients)
                if not _address(r)
            ]
    elif dest_type == "SlackDest" and policy.allowed_slack_channels is not None:
        channels = dest.get("slack_channels")
        if channels is not None and not isinstance(channels, list):
            found.append(("allowed_slack_channels", "dest.slack_channels", _said(channels), _NOT_CHANNELS))
        found += [
            (
                "allowed_slack_channels",
                f"dest.slack_channels[{i}]",
                _said(c),
                f"dest.slack_channels[{i}] is not {{id, name}}",
            )
            for i, c in enumerate(channels if isinstance(channels, list) else [])
            if not _channel(c)
        ]
    elif dest_type == "WebhookDest" and policy.allowed_webhook_hosts is not None:
        if not isinstance(dest.get("endpoint"), str):
            found.append(
                ("allowed_webhook_hosts", "dest.endpoint", _said(dest.get("endpoint")), "dest.endpoint is not a URL")
            )
    elif dest_type == "SftpDest" and policy.allowed_sftp_data_sources is not None:
        source = dest.get("data_source_id")
        if not isinstance(source, int) or isinstance(source, bool):
            why = "dest.data_source_id is not a data source id"
            found.append(("allowed_sftp_data_sources", "dest.data_source_id", _said(source), why))
    return found


_NOT_CHANNELS = "dest.slack_channels is not a list of channels ({id, name})"


# one address: a single @, nothing that separates two (`b@evil.com,sales@example.com` is judged by
# its last domain alone otherwise)
_ADDRESS = re.compile(r"[^\s@,;<>\"'()\[\]]+@[^\s@,;<>\"'()\[\]]+")


def _address(value: Any) -> bool:
    return isinstance(value, str) and _ADDRESS.fullmatch(value.strip()) is not None


def _channel(channel: Any) -> bool:
    """Whether a Slack channel is one the rule reads: an object with an id or a name, each text."""
    if not isinstance(channel, Mapping):
        return False
    parts = [channel.get("id"), channel.get("name")]
    return all(p is None or isinstance(p, str) for p in parts) and any(parts)


def _cron_unjudged(schedule: Any, policy: Policy) -> list[Unjudged]:
    """A cron the timing rules cannot read (crontab's five fields, as Holistics takes them): `@hourly`,
    six fields with seconds, `CRON_TZ=...`, a number. No cron at all is a delivery that never starts."""
    schedule = schedule if isinstance(schedule, Mapping) else {}
    cron = schedule.get("repeat")
    if cron is None or is_cron(cron):
        return []
    rules_set: list[Rule] = _set(policy, "min_interval_minutes")
    if schedule.get("paused") is not True:  # a paused delivery starts never: it crowds no minute
        rules_set += _set(policy, "max_same_minute")
    why = "schedule.repeat is not a cron of five fields"
    return [(rule, "schedule.repeat", _said(cron), why) for rule in rules_set]


def _set(policy: Policy, *names: Rule) -> list[Rule]:
    return [name for name in names if getattr(policy, name) is not None]


def _said(value: Any) -> str:
    """What a field holds, for the message: text as it is (each view makes it inert), else its shape."""
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping | list):
        return "an object" if isinstance(value, Mapping) else "a list"
    return "null" if value is None else repr(value)


def _starting(items: Sequence[Item]) -> list[crowding.Delivery]:
    """Every item with a cron, as the crowding rule counts it (paused ones start never)."""
    return [d for kind, item in items if (d := delivery_of(kind, item)) is not None]


def crowding_violations(items: Sequence[Item], policy: Policy, timezone: str) -> dict[DeliveryId, list[Violation]]:
    """`max_same_minute` over the whole workspace, by (kind, id): each delivery that starts in a
    minute more than that many deliveries start in."""
    limit = policy.max_same_minute
    if limit is None:
        return {}
    deliveries = _starting(items)
    found: dict[DeliveryId, list[Violation]] = {}
    for index, crowd in crowding.crowds(deliveries, timezone, limit).items():
        delivery = deliveries[index]
        if crowd.others + 1 <= limit or delivery.id is None:
            continue
        message = f"{crowd.sentence} ({RULE}: {limit})"
        found[(delivery.kind, delivery.id)] = [Violation(RULE, REPEAT, delivery.cron, message)]
    return found


def week_hours(items: Sequence[Item], timezone: str) -> tuple[tuple[int, ...], ...]:
    """7 x 24: how many deliveries (not paused) start in each hour of each weekday, over the year the
    crowding rule judges (so a monthly cron counts on the weekdays it really falls on)."""
    return tuple(tuple(row) for row in crowding.week_hours(_starting(items), timezone))
