"""The spread where the plan is made: the workspace once the plan is applied (the YAML in place of
the items it is, unmanaged items of every kind, deletions gone), which changes start anew, their
crowds, and the problems `max_same_minute` finds: at the entry's `schedule.repeat` line, exceptions
honoured, unmanaged and unchanged deliveries never reported."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from reconciler.core.model import Action, Change, FieldDiff, Match, Plan, WorkspacePlan
from reconciler.kinds.entries import DesiredEntry
from reconciler.policy.crowding import Crowd, Delivery
from reconciler.policy.model import Policy
from reconciler.problems import InvalidSchedules
from reconciler.usecases.config import ProjectConfig
from reconciler.usecases.spread import (
    DesiredStarts,
    crowding_problems,
    excepted_crowding,
    exceptions_in_use,
    plan_crowds,
    refuse_breaking,
    starting_anew,
    stray_exceptions,
    workspace_after,
)

MONDAY = date(2026, 12, 7)


def entry(
    key: str, cron: str, *, item_id: int | None = None, paused: bool = False, kind: str = "schedules"
) -> DesiredEntry:
    fields = {"title": key, "schedule": {"repeat": cron, "paused": paused}}
    return DesiredEntry(
        key, item_id, fields, "schedules/team.yml", 10, {"schedule": 14, "schedule.repeat": 15}, kind=kind
    )


def remote(item_id: int, cron: str, *, paused: bool = False) -> dict[str, Any]:
    return {"id": item_id, "title": f"remote {item_id}", "schedule": {"repeat": cron, "paused": paused}}


def create(key: str) -> Change:
    return Change(Action.CREATE, key, None, (FieldDiff("schedule.repeat", None, "0 9 * * *"),))


def update(key: str, item_id: int, *diffs: FieldDiff) -> Change:
    return Change(Action.UPDATE, key, item_id, diffs)


def workspace_plan(*changes: Change, matches: tuple[Match, ...] = (), alerts: Plan | None = None) -> WorkspacePlan:
    schedules = Plan(changes=changes, matches=matches, unmanaged=())
    return WorkspacePlan((schedules, alerts or Plan((), (), (), kind="alerts")))


def config(limit: int | None = None, **policy: Any) -> ProjectConfig:
    return ProjectConfig(timezone="UTC", policy=Policy(max_same_minute=limit, **policy))


def test_the_workspace_after_the_plan_has_the_yaml_in_place_of_its_items_and_every_other_item() -> None:
    desired = [entry("managed", "0 10 * * *", item_id=1), entry("new", "0 9 * * *")]
    listing = {
        "schedules": [remote(1, "0 9 * * *"), remote(2, "0 9 * * *"), remote(3, "0 9 * * *"), {"id": 4}],
        "alerts": [remote(1, "0 9 * * *")],  # an alert's id 1 is not the schedule's
    }
    plan = workspace_plan(
        create("new"),
        Change(Action.DELETE, None, 3, ()),  # --prune deletes it: it starts no more
        matches=(Match("managed", 1, "team.yml", recorded=True),),
    )
    after = workspace_after(desired, listing, plan)
    assert {(d.kind, d.id, d.key, d.cron) for d in after} == {
        ("alerts", 1, None, "0 9 * * *"),
        ("schedules", 1, "managed", "0 10 * * *"),
        ("schedules", 2, None, "0 9 * * *"),
        ("schedules", None, "new", "0 9 * * *"),
    }
    assert len(after) == 4


def test_an_entry_starts_anew_when_created_retimed_or_unpaused_only() -> None:
    plan = workspace_plan(
        create("created"),
        update("retimed", 1, FieldDiff("schedule.repeat", "0 8 * * *", "0 9 * * *")),
        update("unpaused", 2, FieldDiff("schedule.paused", True, False)),
        update("paused", 3, FieldDiff("schedule.paused", False, True)),
        update("retitled", 4, FieldDiff("title", "a", "b")),
        Change(Action.DELETE, "gone", 5, ()),
    )
    assert sorted(starting_anew(plan)) == ["created", "retimed", "unpaused"]


def test_crowds_are_said_for_entries_starting_anew_with_unmanaged_items_of_every_kind_counted() -> None:
    desired = [entry("new", "0 9 * * *"), entry("old", "0 9 * * *", item_id=1)]
    listing = {"schedules": [remote(1, "0 9 * * *"), remote(2, "0 9 * * *")], "alerts": [remote(7, "0 9 * * *")]}
    plan = workspace_plan(create("new"), matches=(Match("old", 1, "team.yml", recorded=True),))
    assert plan_crowds(config(), desired, plan, listing, today=MONDAY) == {"new": Crowd(540, 3)}


def test_over_the_limit_an_entry_starting_anew_is_a_problem_at_its_repeat_line() -> None:
    desired = [entry("new", "0 9 * * *"), entry("old", "0 9 * * *", item_id=1)]
    listing = {"schedules": [remote(1, "0 9 * * *"), remote(2, "0 9 * * *")]}
    plan = workspace_plan(create("new"), matches=(Match("old", 1, "team.yml", recorded=True),))
    [problem] = crowding_problems(config(2), desired, listing, plan=plan, today=MONDAY)
    assert (problem.file, problem.line, problem.path) == ("schedules/team.yml", 15, "new.schedule.repeat")
    assert problem.message.startswith("3 deliveries would start at 09:00 (max_same_minute: 2); 09:01 is quiet")
    assert crowding_problems(config(3), desired, listing, plan=plan, today=MONDAY) == []
    assert crowding_problems(config(), desired, listing, plan=plan, today=MONDAY) == []  # no rule, no problem


def test_an_exception_exempts_the_entry_and_only_for_this_rule() -> None:
    desired = [entry("new", "0 9 * * *")]
    listing = {"schedules": [remote(1, "0 9 * * *"), remote(2, "0 9 * * *")]}
    plan = workspace_plan(create("new"))
    excepted = config(1, exceptions=[{"key": "new", "rule": "max_same_minute", "reason": "board meeting"}])
    assert crowding_problems(excepted, desired, listing, plan=plan, today=MONDAY) == []
    other_rule = config(1, exceptions=[{"key": "new", "rule": "max_recipients", "reason": "many"}])
    assert len(crowding_problems(other_rule, desired, listing, plan=plan, today=MONDAY)) == 1


def test_a_paused_entry_is_no_problem_and_crowds_nobody() -> None:
    desired = [entry("new", "0 9 * * *", paused=True)]
    listing = {"schedules": [remote(1, "0 9 * * *"), remote(2, "0 9 * * *")]}
    plan = workspace_plan(create("new"))
    assert plan_crowds(config(1), desired, plan, listing, today=MONDAY) == {}
    assert crowding_problems(config(1), desired, listing, plan=plan, today=MONDAY) == []


def test_without_a_plan_every_entry_is_checked_among_the_yaml_alone() -> None:
    desired = [entry("a", "0 9 * * *"), entry("b", "0 9 * * 1-5"), entry("c", "0 9 * * 6,0"), entry("d", "5 9 * * *")]
    # a meets b on weekdays and c at weekends: two at most; d is alone
    assert crowding_problems(config(2), desired, today=MONDAY) == []
    problems = crowding_problems(config(1), desired, today=MONDAY)
    assert [p.path for p in problems] == ["a.schedule.repeat", "b.schedule.repeat", "c.schedule.repeat"]


def test_the_workspace_skips_items_without_a_cron_and_keeps_paused_ones_paused() -> None:
    listing = {"schedules": [{"id": 1, "schedule": None}, remote(2, "0 9 * * *", paused=True)]}
    assert workspace_after([], listing) == [Delivery("schedules", 2, None, "0 9 * * *", True)]


def test_the_exceptions_in_use_add_a_crowded_entrys_in_the_configs_order() -> None:
    policy = config(
        2,
        max_recipients=5,
        exceptions=[
            {"key": "busy", "rule": "max_same_minute", "reason": "board meeting"},
            {"key": "big", "rule": "max_recipients", "reason": "all hands"},
            {"key": "calm", "rule": "max_same_minute", "reason": "unused"},
        ],
    )
    [busy, big, _] = policy.policy.exceptions
    crowded = {0: True, 2: False}  # calm is within the limit
    assert exceptions_in_use(policy, crowded, [big]) == [busy, big]
    assert exceptions_in_use(config(None), {}) == []


def test_a_plan_finds_what_validate_finds_the_yaml_crowding_itself_whatever_the_plan_changes() -> None:
    # unchanged entries (matched, nothing planned) crowd 09:00 among themselves: validate refuses the YAML,
    # so the plan may not pass it; the unmanaged item at 09:00 alone blocks nobody unchanged
    desired = [entry("a", "0 9 * * *", item_id=1), entry("b", "0 9 * * *", item_id=2)]
    listing = {"schedules": [remote(1, "0 9 * * *"), remote(2, "0 9 * * *"), remote(3, "0 9 * * *")]}
    plan = workspace_plan(
        matches=(Match("a", 1, "schedules/team.yml", True), Match("b", 2, "schedules/team.yml", True))
    )
    offline = crowding_problems(config(1), desired, today=MONDAY)
    planned = crowding_problems(config(1), desired, listing, plan=plan, today=MONDAY)
    assert [p.path for p in planned] == [p.path for p in offline] == ["a.schedule.repeat", "b.schedule.repeat"]
    assert crowding_problems(config(2), desired, listing, plan=plan, today=MONDAY) == []


def test_a_max_same_minute_exception_is_in_use_while_its_entry_is_crowded_changed_or_not() -> None:
    # crowded by an unmanaged item, unchanged: the exception is in use; alone at 10:00 it excuses nothing
    desired = [entry("crowded", "0 9 * * *", item_id=1), entry("alone", "0 10 * * *", item_id=2)]
    listing = {"schedules": [remote(1, "0 9 * * *"), remote(2, "0 10 * * *"), remote(3, "0 9 * * *")]}
    exceptions = [
        {"key": "crowded", "rule": "max_same_minute", "reason": "r"},
        {"key": "alone", "rule": "max_same_minute", "reason": "r"},
    ]
    policy = config(1, exceptions=exceptions)
    crowded = excepted_crowding(policy, desired, listing, workspace_plan(), today=MONDAY)
    assert crowded == {0: True, 1: False}
    assert exceptions_in_use(policy, crowded) == [policy.policy.exceptions[0]]
    problems = stray_exceptions(policy, crowded)
    assert [(p.path, "alone would start with at most 1" in p.message) for p in problems] == [
        ("policy.exceptions[1]", True)
    ]
    assert excepted_crowding(config(None, exceptions=exceptions[:1]), desired, listing, today=MONDAY) == {}


def test_validate_judges_a_cron_from_the_environment_by_its_value_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    def secret(key: str) -> DesiredEntry:
        fields = {"title": key, "schedule": {"repeat": "${CRON}", "paused": False}}
        return DesiredEntry(
            key,
            None,
            fields,
            "schedules/team.yml",
            10,
            {"schedule.repeat": 15},
            kind="schedules",
            env={"schedule.repeat": "${CRON}"},
        )

    desired = [entry("plain", "0 9 * * *"), secret("s2"), secret("s3")]
    monkeypatch.delenv("CRON", raising=False)
    refuse_breaking(config(2), desired)  # unset: not guessed
    monkeypatch.setenv("CRON", "0 9 * * *")
    with pytest.raises(InvalidSchedules) as refused:
        refuse_breaking(config(2), desired)
    messages = [p.message for p in refused.value.problems]
    assert len(messages) == 3 and "one of the minutes of ${CRON}" in messages[1] and "09:00" not in messages[1]


def test_a_plan_of_some_entries_counts_the_others_as_the_workspace_has_them() -> None:
    # b moves to 10:00 in the YAML, but `--target c` applies c alone: b still starts at 09:00
    desired = [
        entry("a", "0 9 * * *", item_id=1),
        entry("b", "0 10 * * *", item_id=2),
        entry("c", "0 9 * * *", item_id=3),
    ]
    listing = {"schedules": [remote(1, "0 9 * * *"), remote(2, "0 9 * * *"), remote(3, "0 7 * * *")]}
    retimed = update("c", 3, FieldDiff("schedule.repeat", "0 7 * * *", "0 9 * * *"))
    part = Plan(
        changes=(retimed,), matches=(Match("c", 3, "schedules/team.yml", True),), unmanaged=(), partial="--target c"
    )
    plan = WorkspacePlan((part, Plan((), (), (), kind="alerts")))
    assert plan_crowds(config(), desired, plan, listing, today=MONDAY)["c"].others == 2
    [problem] = crowding_problems(config(2), desired, listing, plan=plan, today=MONDAY)
    assert problem.path == "c.schedule.repeat"


def test_every_problem_of_the_yaml_is_said_at_once_rules_and_crowding() -> None:
    big = DesiredEntry(
        "a",
        None,
        {"schedule": {"repeat": "0 9 * * *"}, "dest": {"type": "EmailDest", "recipients": ["x@e.com", "y@e.com"]}},
        "schedules/team.yml",
        10,
        {"schedule.repeat": 15, "dest.recipients": 16},
    )
    desired = [big, entry("b", "0 9 * * *"), entry("c", "0 9 * * *")]
    with pytest.raises(InvalidSchedules) as refused:
        refuse_breaking(config(1, max_recipients=1), desired)
    assert sorted(p.path for p in refused.value.problems) == [
        "a.dest.recipients",
        "a.schedule.repeat",
        "b.schedule.repeat",
        "c.schedule.repeat",
    ]


def test_an_entry_not_created_yet_takes_the_place_of_no_listed_item() -> None:
    """Not even of one without an id (the listing refuses those; a caller may not): found by a hostile run."""
    new = DesiredEntry("new", None, {"schedule": {"repeat": "0 8 * * *"}}, "f.yml", 1)
    listing: dict[str, list[dict[str, Any]]] = {
        "schedules": [
            {"title": "no id", "schedule": {"repeat": "0 8 * * *"}},
            {"id": 7, "schedule": {"repeat": "0 9 * * *"}},
        ],
        "alerts": [],
    }
    assert [(d.key, d.id, d.cron) for d in workspace_after([new], listing)] == [
        ("new", None, "0 8 * * *"),
        (None, None, "0 8 * * *"),
        (None, 7, "0 9 * * *"),
    ]


def test_starts_counted_ahead_give_the_crowds_counted_after_and_only_for_the_very_entries_counted() -> None:
    """A plan counts its entries' crons while the listing is on its way (issue 22); the crowds are those
    counted after the last page, and counts of other entries (fields replaced since, a partial plan) are
    not taken."""
    desired = [entry("a", "0 9 * * *", item_id=1), entry("b", "0 9 * * *"), entry("c", "0 9 * * *", paused=True)]
    listing = {"schedules": [remote(1, "0 8 * * *"), remote(2, "0 9 * * *"), remote(3, "0 9 * * *")]}
    plan = workspace_plan(create("b"), create("c"), matches=(Match("a", 1, "team.yml", recorded=True),))
    known = DesiredStarts(desired)
    assert known.counted(desired) == {"0 9 * * *": 2}
    assert plan_crowds(config(), desired, plan, listing, today=MONDAY, known=known) == plan_crowds(
        config(), desired, plan, listing, today=MONDAY
    )
    assert plan_crowds(config(), desired, plan, listing, today=MONDAY, known=known)["b"] == Crowd(540, 3)
    moved = [replace(desired[0], fields={"schedule": {"repeat": "0 7 * * *", "paused": False}}), *desired[1:]]
    assert known.counted(moved) is None and known.counted(desired[:2]) is None
    # a count that is not the entries' is never taken: `a` moved away, `b` has one fewer beside it
    assert plan_crowds(config(), moved, plan, listing, today=MONDAY, known=known)["b"] == Crowd(540, 2)
    partial = WorkspacePlan((replace(plan.plans[0], partial="--target b"), plan.plans[1]))
    assert plan_crowds(config(), desired, partial, listing, today=MONDAY, known=known) == plan_crowds(
        config(), desired, partial, listing, today=MONDAY
    )
