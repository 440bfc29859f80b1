"""The core with data alerts and values from the environment: string and integer source ids never
confused, what a server adds to alerts, their conditions and presets changes no diff and no adoption,
a field from the environment never shown in a diff (on either side), and the WorkspacePlan totals."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import build, hiding
from reconciler.core.duplicates import pruning_duplicates
from reconciler.core.model import Action, FieldDiff, Plan, WorkspacePlan
from reconciler.core.safety import SafetyPolicy, unsafe_reason
from reconciler.kinds.alerts import ALERTS
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.schedules import SCHEDULES

SECRET = "https://events.pagerduty.com/integration/s3cr3t-k3y/enqueue"
EXPRESSION = "https://events.pagerduty.com/integration/${PD_KEY}/enqueue"


def alert(source_id: int | str = "v-12", **extra: Any) -> dict[str, Any]:
    return {
        "title": "Revenue drop",
        "source_type": "VizBlock" if isinstance(source_id, str) else "DashboardWidget",
        "source_id": source_id,
        "schedule": {"repeat": "0 * * * *", "paused": False},
        "viz_conditions": [
            {
                "field_path": {"field_name": "revenue", "model_id": 3},
                "condition": {"operator": "less_than", "values": [1000]},
            }
        ],
        "dynamic_filter_presets": [],
        "dest": {"type": "EmailDest", "recipients": ["ops@example.com"]},
        **extra,
    }


def entry(
    key: str, fields: Mapping[str, Any], item_id: int | None = None, env: Mapping[str, str] | None = None
) -> DesiredEntry:
    return DesiredEntry(key, item_id, dict(fields), "schedules/alerts.yml", 1, kind="alerts", env=dict(env or {}))


def served(body: Mapping[str, Any], item_id: int, extra: bool = True) -> dict[str, Any]:
    """What a server answers for a stored alert: ids on it and on each condition and preset, and, as a
    real server may, fields the spec lacks (the kind's view drops those)."""
    out = copy.deepcopy(dict(body))
    out["id"] = item_id
    out["schedule"] = {**out["schedule"], "is_archived": False}
    out["viz_conditions"] = [{**c, "id": 500 + i} for i, c in enumerate(out.get("viz_conditions") or [])]
    out["dynamic_filter_presets"] = [
        {**p, "id": 900 + i} for i, p in enumerate(out.get("dynamic_filter_presets") or [])
    ]
    if extra:
        out["created_at"] = "2026-01-01T00:00:00Z"
        out["dest"] = {**out["dest"], "owner_id": 3}
    return ALERTS.view(out)


def plan(desired: list[DesiredEntry], remote: list[dict[str, Any]], **kwargs: Any) -> Plan:
    return build.plan(desired, remote, kind=ALERTS, **kwargs)


def test_an_alert_the_server_enriched_is_unchanged_and_adopted_by_content() -> None:
    remote = [served(alert(), 7)]
    p = plan([entry("drop", alert())], remote)
    assert p.changes == () and [(m.key, m.id, m.recorded) for m in p.matches] == [("drop", 7, False)]
    assert p.kind == "alerts"


def test_string_and_integer_source_ids_are_two_sources() -> None:
    remote = [served(alert("42"), 7)]
    as_int = {**alert(42), "source_type": "VizBlock"}
    p = plan([entry("drop", as_int)], remote)
    assert [c.action for c in p.changes] == [Action.CREATE], "42 adopted the alert of '42'"
    assert p.changes[0].body is not None and p.changes[0].body["source_id"] == 42
    with_id = plan([entry("drop", as_int, 7)], remote)
    assert [c.action for c in with_id.changes] == [Action.REPLACE]  # the source moved: a replacement
    assert with_id.changes[0].reason == "the source of an alert cannot be changed in place: it must be replaced"


@settings(max_examples=40, deadline=None)
@given(
    source=st.one_of(st.integers(1, 10**6), st.text("abcdef0123456789-", min_size=1, max_size=8)),
    n_conditions=st.integers(0, 3),
    extra=st.booleans(),
)
def test_property_server_ids_and_extras_change_no_diff_and_no_adoption(
    source: Any, n_conditions: int, extra: bool
) -> None:
    fields = alert(source)
    fields["viz_conditions"] = [
        {"field_path": {"field_name": f"f{i}"}, "condition": {"operator": "greater_than", "values": [i]}}
        for i in range(n_conditions)
    ]
    p = plan([entry("a", fields)], [served(fields, 3, extra)])
    assert p.changes == () and [m.id for m in p.matches] == [3]


def test_a_duplicate_alert_is_named_and_pruned_as_one() -> None:
    remote = [served(alert(), 7), served(alert(), 8)]
    p = plan([entry("drop", alert(), 7)], remote)
    assert [(d.id, d.of) for d in p.probable_duplicates] == [(8, 7)]
    pruned = pruning_duplicates(p, ALERTS)
    assert [(c.action, c.id, c.kind) for c in pruned.changes] == [(Action.DELETE, 8, "alerts")]
    assert "alert 7" in (pruned.changes[0].reason or "")


def webhook(endpoint: str) -> dict[str, Any]:
    return alert(dest={"type": "WebhookDest", "endpoint": endpoint})


def every_value(p: Plan) -> str:
    return repr([(d.path, d.old, d.new) for c in p.changes for d in c.diff]) + repr(p.ignored_differences)


def test_a_value_from_the_environment_is_never_in_a_diff_on_either_side() -> None:
    env = {"dest.endpoint": EXPRESSION}
    old_secret = "https://events.pagerduty.com/integration/old-k3y/enqueue"
    created = plan([entry("page", webhook(SECRET), env=env)], [])
    updated = plan([entry("page", webhook(SECRET), 7, env=env)], [served(webhook(old_secret), 7)])
    for p in (created, updated):
        assert SECRET not in every_value(p) and "old-k3y" not in every_value(p)
        (change,) = p.changes
        (hidden,) = [d for d in change.diff if d.path == "dest.endpoint"]
        assert hidden.old in (None, EXPRESSION) and hidden.new == EXPRESSION and hidden.env_changes is True
        assert change.body is not None and change.body["dest"]["endpoint"] == SECRET  # what apply sends
        assert change.env == env
    unchanged = plan([entry("page", webhook(SECRET), 7, env=env)], [served(webhook(SECRET), 7)])
    assert unchanged.changes == ()


def test_a_parent_of_an_env_path_is_masked_inside_and_says_whether_the_value_changes() -> None:
    env = {"dest.endpoint": EXPRESSION}
    email_before = served(alert(), 7)  # the dest changes type
    p = plan([entry("page", webhook(SECRET), 7, env=env)], [email_before])
    assert SECRET not in every_value(p)
    whole = hiding.hide_diff(FieldDiff("dest", email_before["dest"], {"type": "WebhookDest", "endpoint": SECRET}), env)
    assert whole.new == {"type": "WebhookDest", "endpoint": EXPRESSION} and whole.env_changes is True
    same = hiding.hide_diff(FieldDiff("dest", {"endpoint": SECRET, "x": 1}, {"endpoint": SECRET, "x": 2}), env)
    assert same.env_changes is False and SECRET not in repr(same)


def test_masking_relates_paths_equal_above_and_below() -> None:
    env = {"dest.endpoint": "${A}", "dest.slack_channels.0.name": "${B}"}
    assert hiding.related("dest.endpoint", env) == ["dest.endpoint"]
    assert hiding.related("dest", env) == ["dest.endpoint", "dest.slack_channels.0.name"]
    assert hiding.related("dest.slack_channels", env) == ["dest.slack_channels.0.name"]
    assert hiding.related("title", env) == []
    body = {"dest": {"endpoint": "x", "slack_channels": [{"id": "C1", "name": "n"}]}}
    masked = hiding.masked_fields(body, env)
    assert masked == {"dest": {"endpoint": "${A}", "slack_channels": [{"id": "C1", "name": "${B}"}]}}
    assert hiding.restored(masked or {}, hiding.env_values(body, env)) == body


def test_an_ignored_field_from_the_environment_shows_no_value() -> None:
    env = {"dest.endpoint": EXPRESSION}
    p = plan(
        [entry("page", webhook(SECRET), 7, env=env)],
        [served(webhook("https://elsewhere.example.com/k"), 7)],
        ignored=lambda key: frozenset({"dest.endpoint"}),
    )
    (noticed,) = p.ignored_differences
    assert noticed.hidden and SECRET not in repr(noticed) and "elsewhere" not in repr(noticed)


def test_a_workspace_plan_counts_each_kind_and_any_unsafe_part_makes_it_unsafe() -> None:
    schedules = build.plan([], [], kind=SCHEDULES)
    alerts = plan([entry("a", alert())], [served(alert("v-9"), i) for i in range(1, 12)], prune=True)
    whole = WorkspacePlan((schedules, alerts))
    assert whole.summary_by_kind["schedules"] == schedules.summary
    assert whole.summary["delete"] == 11 and whole.summary["create"] == 1
    assert whole.busy_kinds == ("alerts",) and whole.of_kind("alerts") is alerts
    reason = unsafe_reason(alerts, SafetyPolicy())
    assert reason is not None and "of 11 managed alerts" in reason
    flagged = WorkspacePlan((schedules, Plan((), (), (), unsafe=None), Plan((), (), (), unsafe=reason)))
    assert flagged.unsafe == reason and WorkspacePlan.of_plan(alerts).plans == (alerts,)


def email_to(*recipients: str) -> dict[str, Any]:
    return alert(dest={"type": "EmailDest", "recipients": list(recipients)})


def test_an_env_value_in_a_sorted_list_is_masked_by_value_and_the_workspace_side_hidden_whole() -> None:
    """Hostile round: recipients are compared sorted, so the YAML's index of `${SECRET_EMAIL}` points
    at another item of the diff; neither the new value nor the workspace's old one may show."""
    env = {"dest.recipients.1": "${SECRET_EMAIL}"}
    yaml = email_to("zzz@example.com", "s3cr3tnew@example.com")  # the value sorts first, the YAML has it second
    remote = served(email_to("s3cr3told@example.com", "zz@example.com"), 7)
    p = plan([entry("rec", yaml, 7, env=env)], [remote])
    (change,) = p.changes
    (diff,) = [d for d in change.diff if d.path == "dest.recipients"]
    assert "s3cr3t" not in every_value(p)
    assert diff.new == ["${SECRET_EMAIL}", "zzz@example.com"] and diff.env_changes is True
    assert diff.old == "(hidden: holds ${SECRET_EMAIL})"
    # the same value in the workspace, another recipient changed: the value does not change
    same = plan([entry("rec", yaml, 7, env=env)], [served(email_to("s3cr3tnew@example.com", "zz@example.com"), 7)])
    (diff,) = [d for d in same.changes[0].diff if d.path == "dest.recipients"]
    assert diff.env_changes is False and "s3cr3t" not in every_value(same)


def test_an_env_value_in_a_preset_listed_after_another_is_found_by_value() -> None:
    def presets(region: str) -> dict[str, Any]:
        return alert(
            dynamic_filter_presets=[
                {"dynamic_filter_id": 8, "preset_condition": {"operator": "is", "values": ["EMEA"]}},
                {"dynamic_filter_id": 7, "preset_condition": {"operator": "is", "values": [region]}},
            ]
        )

    env = {"dynamic_filter_presets.1.preset_condition.values.0": "${REGION_SECRET}"}
    p = plan([entry("r", presets("s3cr3tregion"), 7, env=env)], [served(presets("s3cr3tolder"), 7)])
    assert "s3cr3t" not in every_value(p)
    (diff,) = p.changes[0].diff
    assert diff.env_changes is True and "${REGION_SECRET}" in repr(diff.new) and "EMEA" in repr(diff.new)


def test_a_saved_copy_of_the_workspace_item_hides_each_field_that_holds_an_env_value() -> None:
    env = {"dest.recipients.1": "${SECRET_EMAIL}", "title": "${T}"}
    remote = served(email_to("s3cr3told@example.com", "zz@example.com"), 7)
    masked = hiding.masked_remote(remote, env)
    assert masked is not None and "s3cr3t" not in repr(masked) and "Revenue drop" not in repr(masked)
    assert masked["dest"]["recipients"] == "(hidden: holds ${SECRET_EMAIL})" and masked["title"] == "${T}"
