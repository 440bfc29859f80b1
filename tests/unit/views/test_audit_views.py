"""The audit's formats: JSON's stable schema, CSV's stable columns and formula-safe cells, markdown's
masked addresses and escaped server text, the text table; hostile server text inert in each."""

from __future__ import annotations

import csv
import io
import json

import pytest

from reconciler.policy.model import Violation
from reconciler.views import audit_data, audit_markdown, audit_text
from reconciler.views.audit_model import Audit, Delivery, Excepted

HOSTILE = "::error::x \x1b[2J <script>alert(1)</script> | [a](http://evil.test) @everyone"


def _delivery(**changes: object) -> Delivery:
    fields: dict[str, object] = {
        "kind": "schedules",
        "id": 7,
        "title": "Weekly",
        "source_type": "Dashboard",
        "source_id": 1234,
        "source_uname": "sales_performance",
        "source_title": "Sales",
        "dest_type": "EmailDest",
        "recipients": ("finance@example.com", "eve@evil.test"),
        "cron": "0 8 * * 1",
    }
    fields.update(changes)
    return Delivery(**fields)  # type: ignore[arg-type]


VIOLATION = Violation(
    "allowed_email_domains", "dest.recipients[1]", "eve@evil.test", "recipient eve@evil.test is not allowed"
)
GRID = tuple(tuple(2 if (day, hour) == (0, 8) else 0 for hour in range(24)) for day in range(7))


def _audit(*deliveries: Delivery, rules: tuple[str, ...] = ("allowed_email_domains",)) -> Audit:
    return Audit(deliveries, "Europe/Berlin", rules, GRID)


def test_json_has_a_version_and_a_stable_shape() -> None:
    d = _delivery(violations=(VIOLATION,), key="weekly", file="schedules/a.yml", line=4)
    data = json.loads(audit_data.to_json(_audit(d)))
    assert data["version"] == audit_data.JSON_VERSION == 1
    assert set(data) == {"version", "timezone", "passes", "policy", "summary", "deliveries", "starts"}
    [item] = data["deliveries"]
    assert set(item) == {
        "kind", "id", "title", "managed", "key", "file", "line", "source", "dest", "cadence", "filters",
        "violations", "exceptions",
    }  # fmt: skip
    assert item["dest"]["domains"] == {"evil.test": 1, "example.com": 1}
    assert item["violations"] == [
        {"rule": "allowed_email_domains", "path": "dest.recipients[1]", "value": "eve@evil.test",
         "message": "recipient eve@evil.test is not allowed"}
    ]  # fmt: skip
    assert data["starts"]["by_hour"][0][8] == 2 and data["passes"] is False


def test_json_escapes_control_characters() -> None:
    text = audit_data.to_json(_audit(_delivery(title=HOSTILE)))
    assert "\x1b" not in text and "\\u001b" in text
    assert json.loads(text)["deliveries"][0]["title"] == HOSTILE  # the server's text, faithfully


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_csv_cell_cannot_start_a_formula(start: str) -> None:
    rows = list(csv.reader(io.StringIO(audit_data.to_csv(_audit(_delivery(title=f"{start}SUM(A1)"))))))
    assert rows[0] == list(audit_data.CSV_COLUMNS)
    title = rows[1][audit_data.CSV_COLUMNS.index("title")]
    assert title.startswith("'") and not title.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_is_one_row_per_delivery_with_inert_text() -> None:
    out = audit_data.to_csv(_audit(_delivery(title=HOSTILE), _delivery(id=8, kind="alerts")))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows] == ["7", "8"]
    assert "\x1b" not in out and not rows[0]["title"].startswith("::")
    assert rows[0]["recipient_domains"] == "evil.test (1); example.com (1)"


def test_markdown_masks_addresses_and_shows_domains() -> None:
    md = audit_markdown.markdown(_audit(_delivery(violations=(VIOLATION,))))
    assert "finance@example.com" not in md and "eve@evil.test" not in md
    assert "e\\*\\*\\*\\@evil\\.test" in md  # masked, then escaped
    assert "example\\.com ×1" in md and "evil\\.test ×1" in md
    assert md.index("#### Violations") < md.index("#### Inventory") < md.index("#### When deliveries start")


def test_markdown_keeps_hostile_server_text_inert() -> None:
    md = audit_markdown.markdown(_audit(_delivery(title=HOSTILE, source_title=HOSTILE)))
    assert "\x1b" not in md and "<script>" not in md and "](http" not in md
    assert not any(line.lstrip().startswith("::") for line in md.splitlines())
    row = next(line for line in md.splitlines() if line.startswith("| schedule | 7 |"))
    assert row.count(" | ") == 9  # the title's pipe did not add a cell


def test_markdown_grid_is_seven_rows_of_twenty_four_hours() -> None:
    md = audit_markdown.markdown(_audit(_delivery()))
    rows = [line for line in md.splitlines() if line.startswith("| **")]
    assert [r.split(" | ")[0] for r in rows] == ["| **Mon**", "| **Tue**", "| **Wed**", "| **Thu**", "| **Fri**",
                                                 "| **Sat**", "| **Sun**"]  # fmt: skip
    assert all(r.count("|") == 26 for r in rows) and "Mon 08:00, 2 deliveries" in md


def test_markdown_says_when_there_is_no_policy_and_when_all_is_well() -> None:
    assert "inventory alone" in audit_markdown.markdown(_audit(_delivery(), rules=()))
    assert "Every delivery keeps the policy" in audit_markdown.markdown(_audit(_delivery()))


def test_markdown_lists_the_exceptions_in_use_with_their_reason() -> None:
    d = _delivery(key="weekly", file="a.yml", line=2, excepted=(Excepted(VIOLATION, "Auditors (AUD-7)"),))
    md = audit_markdown.markdown(_audit(d))
    assert "#### Exceptions in use" in md and "Auditors \\(AUD\\-7\\)" in md


def test_text_summarises_and_lists_violations_and_exceptions() -> None:
    d = _delivery(violations=(VIOLATION,), title=HOSTILE)
    e = _delivery(id=9, key="k", excepted=(Excepted(VIOLATION, "because (X-1)"),))
    out = audit_text.plain(_audit(d, e))
    assert "2 deliveries" in out and "1 breaks the policy (1 violation)" in out
    assert "allowed_email_domains" in out and "because (X-1)" in out
    assert "\x1b" not in out and not any(line.lstrip().startswith("::") for line in out.splitlines())
    assert "Busiest hour of the week: Mon 08:00" in out


def test_a_large_workspace_is_printed_a_line_per_delivery_with_the_same_cells() -> None:
    many = [_delivery(id=i, title=HOSTILE if i == 3 else f"Weekly {i}") for i in range(audit_text.TABLE_LIMIT + 1)]
    out = audit_text.plain(_audit(*many))
    lines = [line for line in out.splitlines() if line.startswith("schedule ")]
    assert len(lines) == audit_text.TABLE_LIMIT + 1
    assert lines[1].startswith("schedule 1 | Weekly 1 | dashboard") and "0 8 * * 1" in lines[1]
    assert "\x1b" not in out and not any(line.lstrip().startswith("::") for line in out.splitlines())
