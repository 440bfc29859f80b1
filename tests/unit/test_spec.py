"""`spec.split_documented` remembers what each schema node documents; a node whose answer depends on
the value (a dest's discriminator) must be answered by each value's own branch, whatever came before."""

from __future__ import annotations

from typing import Any

from reconciler.kinds.schedules import SCHEDULES


def _email(**extra: Any) -> dict[str, Any]:
    return {"type": "EmailDest", "recipients": ["a@x.io"], "title": "t", **extra}


def _slack(**extra: Any) -> dict[str, Any]:
    return {"type": "SlackDest", "slack_channels": [{"id": "C1"}], "title": "t", **extra}


def _item(dest: dict[str, Any], **extra: Any) -> dict[str, Any]:
    schedule = {"repeat": "0 8 * * *", "paused": False}
    source = {"source_type": "Dashboard", "source_id": 1}
    return {"id": 1, "title": "x", **source, "schedule": schedule, "dest": dest, **extra}


def test_each_dest_is_seen_through_its_own_branch_in_any_order() -> None:
    for dests in ([_email(), _slack()], [_slack(), _email()]):
        for dest in dests * 2:
            extras: set[str] = set()
            # a field of the other branch is not this one's: left out, and said
            other = {"slack_channels": [{"id": "C9"}]} if dest["type"] == "EmailDest" else {"recipients": ["b@x.io"]}
            view = SCHEDULES.view(_item({**dest, **other}), extras)
            assert view["dest"] == dest
            assert extras == {f"dest.{next(iter(other))}"}


def test_a_node_without_a_discriminator_answers_alike_for_every_value() -> None:
    extras: set[str] = set()
    first = SCHEDULES.view(_item(_email(), created_at="x"), extras)
    again = SCHEDULES.view(_item(_slack(), created_at="y", owner={"id": 3}), extras)
    assert "created_at" not in first and "created_at" not in again and "owner" not in again
    assert extras == {"created_at", "owner"}
