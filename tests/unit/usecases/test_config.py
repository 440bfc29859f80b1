"""The project config's scope by destination type covers both kinds, and a wrong type is told once;
what `ignore:` leaves to the workspace, per key."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.kinds.known import KINDS
from reconciler.usecases import config as configuration


def test_every_kinds_destination_types_are_one_list_of_choices(tmp_path: Path) -> None:
    path = tmp_path / configuration.CONFIG_FILE
    path.write_text("scope:\n  dest_types: [EmailDest, FaxDest]\n")
    with pytest.raises(configuration.ConfigFileError) as raised:
        configuration.load(path)
    (problem,) = raised.value.problems
    assert (problem.line, problem.path) == (2, "scope.dest_types.1")
    assert problem.message.count("one of:") == 1 and problem.message.startswith("one of: ")
    named = problem.message.removeprefix("one of: ").split(", ")
    assert sorted(named) == sorted({t for kind in KINDS for t in kind.dest_types})  # each kind's, each type once


def test_an_alerts_destination_type_selects_alerts_and_no_schedule(tmp_path: Path) -> None:
    path = tmp_path / configuration.CONFIG_FILE
    path.write_text("scope:\n  dest_types: [WebhookDest]\n")
    scope = configuration.load(path).scope
    assert scope.contains({"dest": {"type": "WebhookDest", "endpoint": "https://x"}}, kind="alerts")
    assert not scope.contains({"dest": {"type": "EmailDest"}}, kind="schedules")


@pytest.mark.parametrize(
    ("ignore", "expected"),
    [
        ({}, {"a": set(), "b": set()}),
        ({"schedules": {"a": ["recipients"]}}, {"a": {"dest.recipients"}, "b": set()}),
        (
            {"fields": ["title"], "schedules": {"a": ["schedule.paused"]}},
            {"a": {"title", "schedule.paused"}, "b": {"title"}},
        ),
    ],
)
def test_each_key_ignores_the_fields_for_every_key_and_its_own(
    ignore: dict[str, object], expected: dict[str, set[str]]
) -> None:
    rules = configuration.Ignore.model_validate(ignore)
    assert {key: set(rules.for_key(key)) for key in expected} == expected
