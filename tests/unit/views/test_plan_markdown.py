"""The markdown plan a pull request shows (reconciler.views.plan_markdown): the golden file, deletions
first, masked emails, cron notes, truncation under the comment limit; text and JSON keep emails."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.views import cron_words, plan_json, plan_markdown, plan_text
from reconciler.views.plan_words import mask_emails
from tests.helpers import sample_plan

GOLDEN = Path(__file__).parent / "golden"


# ---- markdown ----


def test_markdown_matches_the_golden_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cron_words, "now", lambda: datetime(2026, 12, 7, 6, 0, tzinfo=UTC))  # next runs count from it
    rendered = plan_markdown.markdown(sample_plan(), {("Dashboard", 1234): "Sales Performance"})
    # to update after an intended change: write `rendered` to the file and review the diff
    assert rendered == (GOLDEN / "plan.md").read_text()


def test_markdown_puts_deletions_first_masks_emails_and_explains_crons() -> None:
    md = plan_markdown.markdown(sample_plan(), {("Dashboard", 1234): "Sales Performance"})
    assert md.index("will be deleted") < md.index("will be updated") < md.index("will be created")
    assert "[!WARNING]" in md.split("<details>")[0]
    assert "a***@example.com" in md and "b***@example.org" in md and "ann@example.com" not in md
    assert "At 09:00, Monday through Friday" in md and "Every 15 minutes" in md
    assert 'dashboard 1234 "Sales Performance"' in md
    assert "ann@example.com" in plan_markdown.markdown(sample_plan(), show_sensitive=True)


def test_markdown_truncates_cleanly_under_the_comment_limit() -> None:
    md = plan_markdown.markdown(sample_plan(n_updates=2000))
    assert len(md) <= plan_markdown.GITHUB_COMMENT_LIMIT
    assert md.count("<details>") == md.count("</details>") and md.count("```diff") == md.count("```\n\n</details>")
    assert "The full plan is in the job summary" in md and md.rstrip().endswith("to delete.**")


def test_text_and_json_keep_emails() -> None:
    p = sample_plan()
    assert "ann@example.com" in plan_text.text(p).plain and "ann@example.com" in plan_json.to_json(p)


def test_a_mention_in_a_title_pings_no_one_from_the_summary() -> None:
    """Hostile round: `@team` in a dashboard title was left as is inside <summary>, where GitHub
    links mentions too."""
    from reconciler.core.model import Action, Change, FieldDiff, Plan

    body = {"title": "x", "source_type": "Dashboard", "source_id": 1}
    change = Change(Action.CREATE, "k", None, (FieldDiff("title", None, "x"),), body=body, file="a.yml", line=1)
    shown = plan_markdown.markdown(Plan((change,), (), ()), {("Dashboard", 1): "Sales @octocat"}, limit=None)
    summary = next(line for line in shown.splitlines() if line.startswith("<summary>"))
    assert "Sales &#64;octocat" in summary and "@octocat" not in summary


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("kate.o'neil@auditor.io", "k***@auditor.io"),
        ("jöhn.müller@example.com", "j***@example.com"),
        ("anna.schmidt@bücher.de", "a***@bücher.de"),
        ("ceo.private@EXAMPLE.ＣＯＭ", "c***@EXAMPLE.ＣＯＭ"),
        ("a.b+c@ex-ample.co.uk", "a***@ex-ample.co.uk"),
    ],
)
def test_every_address_is_masked_whatever_its_characters(address: str, masked: str) -> None:
    # a pattern of ASCII letters left these whole in pull-request comments
    assert mask_emails(f'["{address}", "x@example.com"]') == f'["{masked}", "x***@example.com"]'
