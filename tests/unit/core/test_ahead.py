"""Differences computed ahead (reconciler.core.ahead) give the plan made without them, and are taken only
for the very objects they were computed from."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from reconciler.core import build
from reconciler.core.ahead import DiffsAhead
from reconciler.kinds.entries import DesiredEntry
from reconciler.kinds.schedules import SCHEDULES


def email(recipients: list[str], repeat: str = "0 8 * * 1") -> dict[str, Any]:
    return {
        "source_type": "Dashboard",
        "source_id": 1,
        "schedule": {"repeat": repeat, "paused": False},
        "dest": {"type": "EmailDest", "recipients": recipients},
    }


def remote(schedule_id: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": schedule_id, "title": None, **fields, "dynamic_filter_presets": []}


def skip(key: str) -> frozenset[str]:
    return frozenset({"schedule.repeat"}) if key == "curated" else frozenset()


def plan(desired: list[DesiredEntry], items: list[dict[str, Any]], ahead: DiffsAhead | None = None) -> Any:
    return build.plan(desired, items, kind=SCHEDULES, ignored=skip, ahead=ahead)


def test_a_plan_with_differences_ahead_is_the_plan_without() -> None:
    items = [
        remote(1, email(["a@example.com"])),
        remote(2, email(["b@example.com"])),
        remote(3, email(["c@example.com"], repeat="0 9 * * *")),
        remote(4, email(["d@example.com"])),
    ]
    desired = [
        DesiredEntry("same", 1, email(["a@example.com"]), "x.yml", 1),
        DesiredEntry("changed", 2, email(["b@example.com", "z@example.com"]), "x.yml", 5),
        DesiredEntry("curated", 3, email(["c@example.com"]), "x.yml", 9),  # its repeat is the workspace's
        DesiredEntry("gone", 99, email(["e@example.com"]), "x.yml", 13),
        DesiredEntry("new", None, email(["f@example.com"]), "x.yml", 17),
    ]
    ahead = DiffsAhead(SCHEDULES, desired, skip)
    for item in items:
        ahead.see(item)
    assert plan(desired, items, ahead) == plan(desired, items)
    assert [c.key for c in plan(desired, items, ahead).changes] == ["changed", "gone", "new"]


def test_what_was_seen_of_other_objects_is_not_taken() -> None:
    item = remote(1, email(["a@example.com"]))
    entry = DesiredEntry("one", 1, email(["a@example.com"]), "x.yml", 1)
    ahead = DiffsAhead(SCHEDULES, [entry], skip)
    ahead.see(item)
    # the same id, read again (another object) with another value: compared as it is now
    reread = remote(1, email(["other@example.com"]))
    assert [c.key for c in plan([entry], [reread], ahead).changes] == ["one"]
    # the entry's fields replaced since (as a resolved value from the environment would be)
    changed = dataclasses.replace(entry, fields=email(["new@example.com"]))
    assert [c.key for c in plan([changed], [item], ahead).changes] == ["one"]
    assert plan([entry], [item], ahead).changes == ()


def test_what_it_sees_says_whether_the_plan_is_likely_to_show_the_item() -> None:
    """The guess that reads a source's title before the last page: an item that differs from a selected
    entry, or that no entry names; not one equal to its entry, nor one of an entry `--target` leaves out."""
    desired = [
        DesiredEntry("same", 1, email(["a@example.com"]), "x.yml", 1),
        DesiredEntry("changed", 2, email(["b@example.com", "z@example.com"]), "x.yml", 5),
        DesiredEntry("left-out", 3, email(["c@example.com", "z@example.com"]), "x.yml", 9),
    ]
    ahead = DiffsAhead(SCHEDULES, desired, skip, selected=lambda key: key != "left-out")
    seen = {i: ahead.see(remote(i, email([f"{'abc'[i - 1]}@example.com"]))) for i in (1, 2, 3)}
    assert seen == {1: False, 2: True, 3: False}
    assert ahead.see(remote(7, email(["nobody@example.com"]))) is True  # unmanaged: listed in the plan


def test_an_entry_seen_equal_to_its_item_is_matched_as_seen() -> None:
    """An entry found equal to the item of its id, and leaving no field to the workspace, is all its
    match: the plan takes it as it is, with nothing else worked out after the last page (issue 22)."""
    items = [
        remote(1, email(["a@example.com"])),
        remote(2, email(["b@example.com"])),
        remote(3, email(["c@example.com"])),
    ]
    desired = [
        DesiredEntry("same", 1, email(["a@example.com"]), "x.yml", 1),
        DesiredEntry("changed", 2, email(["z@example.com"]), "x.yml", 5),
        DesiredEntry("curated", 3, email(["c@example.com"]), "x.yml", 9),
    ]
    ahead = DiffsAhead(SCHEDULES, desired, skip)
    for item in items:
        ahead.see(item)
    same = ahead.unchanged(desired[0], items[0])
    assert same is not None and (same.key, same.id, same.file, same.recorded, same.stale_id) == (
        "same",
        1,
        "x.yml",
        True,
        None,
    )
    made = plan(desired, items, ahead)
    assert made.matches[0] is same and made == plan(desired, items)
    assert ahead.unchanged(desired[1], items[1]) is None  # it differs: the plan has a change to make
    assert ahead.unchanged(desired[2], items[2]) is None  # a field left to the workspace: compared in the plan
    assert ahead.unchanged(desired[0], remote(1, email(["a@example.com"]))) is None  # another object
    assert ahead.unchanged(dataclasses.replace(desired[0], id=7), items[0]) is None  # another id
    moved = dataclasses.replace(desired[0], file="y.yml")  # the same fields, now said to be in another file
    assert ahead.unchanged(moved, items[0]) is None
    assert plan([moved, *desired[1:]], items, ahead) == plan([moved, *desired[1:]], items)
