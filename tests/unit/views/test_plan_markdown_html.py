"""The markdown plan as GitHub shows it: rendered by cmark-gfm (GitHub's own renderer) with raw
HTML passed through as GitHub passes details/summary, and asserted on the HTML."""

from __future__ import annotations

import cmarkgfm
from cmarkgfm.cmark import Options

from reconciler.core.model import Action, Brief, Change, FieldDiff, Plan
from reconciler.views import plan_markdown
from tests.helpers import sample_plan


def html_of(plan: Plan) -> str:
    text = plan_markdown.markdown(plan, {("Dashboard", 1234): "Sales Performance"})
    return str(cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE))


def test_the_summary_is_a_table_and_each_change_a_collapsed_section() -> None:
    html = html_of(sample_plan())
    assert '<th align="right">create</th>' in html and '<td align="right">1</td>' in html
    assert html.count("<details>") == 4 and html.count("<summary>") == 4, "3 changes and the unmanaged list"
    assert '<pre lang="diff"><code>' in html


def test_file_and_line_in_a_summary_are_code_not_backticks() -> None:
    html = html_of(sample_plan())
    summary = next(line for line in html.splitlines() if "sched-0" in line and "<summary>" in line)
    assert "<code>schedules/a.yml:3</code>" in summary and "`" not in summary


def test_deletions_and_unsafe_plans_come_under_callouts() -> None:
    unsafe = Plan(sample_plan().changes, (), (), frozenset({9, 100}), prune=True, unsafe="it deletes half")
    html = html_of(unsafe)
    assert "<blockquote>\n<p>[!CAUTION]\n<strong>Unsafe plan:</strong> it deletes half</p>" in html
    assert "<blockquote>\n<p>[!WARNING]\n<strong>1 schedule(s) will be deleted.</strong>" in html
    assert html.index("[!CAUTION]") < html.index("[!WARNING]") < html.index("<details>")


def test_each_list_item_that_changes_is_its_own_diff_line_and_masked() -> None:
    html = html_of(sample_plan())
    block = html.split('<pre lang="diff"><code>')[2].split("</code></pre>")[0]
    assert "  dest.recipients:\n     &quot;a***@example.com&quot;\n+    &quot;b***@example.org&quot;\n" in block
    assert "bob@example.org" not in html


def test_text_from_the_network_cannot_break_out_of_the_html() -> None:
    hostile = Change(
        Action.DELETE,
        None,
        9,
        (FieldDiff("title", "x", None),),
        remote={"title": "</summary></details><script>alert(1)</script>", "source_type": "QueryReport", "source_id": 1},
    )
    brief = Brief(77, "<img src=x onerror=alert(1)>|pipe", ("Dashboard", 1234), "EmailDest")
    plan = Plan((hostile,), (), (77,), frozenset({9, 77}), prune=False, briefs={77: brief})
    html = html_of(plan)
    assert "<script>" not in html and "<img" not in html
    assert html.count("<details>") == html.count("</details>") == 2
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "\\|pipe" not in html


def test_a_title_cannot_add_markdown_to_the_comment() -> None:
    hostile = "Line1\n\n## Injected heading\n\n- [x] approved by security\n![i](http://e/x.png) | cell"
    brief = Brief(77, hostile, ("Dashboard", 1234), "EmailDest")
    delete = Change(
        Action.DELETE,
        None,
        9,
        (FieldDiff("title", "x", None),),
        remote={"title": "x", "source_type": "Dashboard", "source_id": 1234},
    )
    plan = Plan((delete,), (), (77,), frozenset({9, 77}), prune=False, briefs={77: brief})
    text = plan_markdown.markdown(plan, {("Dashboard", 1234): "Sales\n\n# Owned </summary> **bold**"})
    html = str(cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE))
    for injected in ("<h1>", "<h2>", "<img", "<input", "<strong>bold"):
        assert injected not in html, injected
    assert html.count("<tr>") == 4, "two in the summary table; the header and the one schedule in the other"
    assert html.count("<details>") == html.count("</details>") == 2
