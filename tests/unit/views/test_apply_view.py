"""What apply says of each kind: `apply --json` names each object's kind and counts each kind; the text
summary says how many of each were made once alerts are involved, and a schedule-only apply says what
it always said."""

from __future__ import annotations

import json

import pytest

from reconciler.core.model import Action, Change
from reconciler.usecases.applying import Report, Result
from reconciler.views import apply_view

ALERT = Change(Action.CREATE, "revenue-drop", None, (), {}, file="a.yml", line=3, kind="alerts")
SCHEDULE = Change(Action.UPDATE, "weekly", 7, (), {}, file="a.yml", line=9)
REPLACED = Change(Action.REPLACE, "hook", 7, (), {}, file="a.yml", line=20, kind="alerts")


def report(*results: Result) -> Report:
    done = Report(results=list(results))
    done.recorded = {"a.yml": {"revenue-drop": 12}}
    done.kinds = {"revenue-drop": "alerts", "weekly": "schedules", "hook": "alerts"}
    return done


def test_each_json_object_names_its_kind_and_the_summary_counts_each() -> None:
    done = report(Result(ALERT, True, 12, "created"), Result(SCHEDULE, True, 7, "updated"))
    assert apply_view.change_object(done.results[0])["kind"] == "alert"
    assert apply_view.change_object(done.results[1])["kind"] == "schedule"
    summary = apply_view.summary_object(done)
    assert summary["kind"] == "mixed"
    assert summary["by_kind"] == {
        "schedule": {"changes": 1, "applied": 1, "failed": 0},
        "alert": {"changes": 1, "applied": 1, "failed": 0},
    }
    assert apply_view.summary_object(report(Result(ALERT, False, None, "no")))["kind"] == "alert"


def test_recorded_ids_say_their_kind(capsys: pytest.CaptureFixture[str]) -> None:
    apply_view.JsonView().finish(report(Result(ALERT, True, 12, "created")))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == {"type": "recorded", "kind": "alert", "file": "a.yml", "key": "revenue-drop", "id": 12}


def test_the_text_says_alert_for_an_alert_and_counts_each_kind(capsys: pytest.CaptureFixture[str]) -> None:
    done = report(
        Result(ALERT, True, 12, "created"),
        Result(SCHEDULE, True, 7, "updated"),
        Result(REPLACED, False, None, "x", deleted=7),
    )
    with apply_view.TextView().progress(3) as on_result:
        for result in done.results:
            on_result(result)
    apply_view.TextView().finish(done)
    captured = capsys.readouterr()
    assert "alert revenue-drop (id 12): created" in captured.out
    assert "✓ weekly (id 7): updated" in captured.out
    assert "2 of 3 change(s) made (1 schedule(s), 1 alert(s))" in captured.out
    assert "the old alert deleted" in captured.out
    assert "hook: alert 7 was deleted" in captured.out


def test_a_schedule_only_summary_reads_as_it_always_did(capsys: pytest.CaptureFixture[str]) -> None:
    apply_view.TextView().finish(report(Result(SCHEDULE, True, 7, "updated")))
    assert "Apply complete: 1 of 1 change(s) made, 0 failed." in capsys.readouterr().out
