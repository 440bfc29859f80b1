"""The delivery policy's exceptions in use, in each plan view (plan_text, plan_markdown, plan_json):
listed with key, rule and reason; the reason, the config's own text, kept inert in every one."""

from __future__ import annotations

import json

from reconciler.policy.model import PolicyException
from reconciler.views import plan_json, plan_markdown, plan_text
from tests.helpers import sample_plan

EXCEPTIONS = [
    PolicyException(key="late-shipments", rule="min_interval_minutes", reason="Ops triage (OPS-412)"),
    PolicyException(key="board-pack", rule="allowed_email_domains", reason="Auditor\x1b[31m\n::warning::x"),
]


def test_text_lists_each_exception_inert() -> None:
    text = plan_text.text(sample_plan(), exceptions=EXCEPTIONS).plain
    block = text.split("Policy exceptions in use (holistics-schedules.yml):\n", 1)[1]
    assert block.splitlines()[:2] == [
        "  late-shipments: min_interval_minutes: Ops triage (OPS-412)",
        "  board-pack: allowed_email_domains: Auditor\\x1b[31m\\n::warning::x",
    ]


def test_markdown_lists_each_exception_escaped() -> None:
    md = plan_markdown.markdown(sample_plan(), exceptions=EXCEPTIONS)
    assert "> [!IMPORTANT]\n> **Policy exceptions in use** (holistics\\-schedules\\.yml):" in md
    assert "> - <code>late-shipments</code>: min_interval_minutes: Ops triage \\(OPS\\-412\\)" in md
    assert "\n::warning" not in md and "\x1b" not in md


def test_json_lists_each_exception() -> None:
    listed = json.loads(plan_json.to_json(sample_plan(), exceptions=EXCEPTIONS))["policy_exceptions"]
    assert [e["key"] for e in listed] == ["late-shipments", "board-pack"]
    assert listed[0] == {"key": "late-shipments", "rule": "min_interval_minutes", "reason": "Ops triage (OPS-412)"}


def test_no_exception_no_block() -> None:
    assert "Policy exceptions" not in plan_text.text(sample_plan()).plain
    assert "Policy exceptions" not in plan_markdown.markdown(sample_plan())
    assert json.loads(plan_json.to_json(sample_plan()))["policy_exceptions"] == []
