"""The crowd line of a change starting anew, in every plan view: said when others start at its
minute, with a quiet minute when crowded (text, markdown), and always in JSON; none without crowds,
so every other plan renders as before."""

from __future__ import annotations

import json

from reconciler.policy.crowding import Crowd
from reconciler.views import plan_json, plan_markdown, plan_text
from tests.helpers import sample_plan

CROWDED = {"new-one": Crowd(9 * 60, 14, quiet=9 * 60 + 7), "sched-0": Crowd(9 * 60, 1)}


def test_text_says_the_count_under_the_change_and_the_quiet_minute_when_crowded() -> None:
    text = plan_text.text(sample_plan(), crowds=CROWDED).plain
    new_one = text[text.index("new-one") :]
    assert new_one.splitlines()[1] == "    # starts at 09:00 with 14 other deliveries; 09:07 is quiet"
    assert "    # starts at 09:00 with 1 other delivery\n" in text


def test_markdown_marks_a_crowded_minute() -> None:
    md = plan_markdown.markdown(sample_plan(), crowds=CROWDED)
    assert "**Crowded:** _starts at 09:00 with 14 other deliveries; 09:07 is quiet_" in md
    assert "\n_starts at 09:00 with 1 other delivery_\n" in md


def test_json_gives_each_crowd_its_minute_count_and_quiet_minute() -> None:
    crowds = {**CROWDED, "sched-0": Crowd(9 * 60, 0)}
    changes = {c["key"]: c for c in json.loads(plan_json.to_json(sample_plan(), crowds=crowds))["changes"]}
    assert changes["new-one"]["crowd"] == {"minute": "09:00", "others": 14, "quiet": "09:07"}
    assert changes["sched-0"]["crowd"] == {"minute": "09:00", "others": 0, "quiet": None}
    assert "crowd" not in changes[None]  # a deletion starts nothing


def test_nobody_else_at_the_minute_is_not_said_and_no_crowds_change_nothing() -> None:
    alone = {"new-one": Crowd(9 * 60, 0)}
    assert plan_text.text(sample_plan(), crowds=alone).plain == plan_text.text(sample_plan()).plain
    assert plan_markdown.markdown(sample_plan(), crowds=alone) == plan_markdown.markdown(sample_plan())
