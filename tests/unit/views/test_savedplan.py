"""Saved plans (reconciler.views.savedplan) without a sandbox: what `dumps` writes `load` reads back
exactly, a file that is not a saved plan is refused with the reason, and `stale_reasons` names every
way the world moved since the plan was made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.model import Action, Change, FieldDiff, Match, Plan
from reconciler.views import savedplan
from reconciler.views.savedplan import SavedPlanError

WORKSPACE = "http://127.0.0.1:8080/api/v2"
REMOTE = [
    {"id": 7, "title": "Old", "source_type": "Dashboard", "source_id": 1, "dest": {"recipients": ["b@x", "a@x"]}},
    {"id": 8, "title": "Kept", "source_type": "Dashboard", "source_id": 1},
    {"id": 9, "title": "Pruned", "source_type": "Dashboard", "source_id": 1},
]


def a_plan() -> Plan:
    return Plan(
        changes=(
            Change(
                Action.CREATE, "new", None, (FieldDiff("title", None, "New"),), body={"title": "New"}, file="s/a.yml"
            ),
            Change(
                Action.UPDATE, "old", 7, (FieldDiff("title", "Old", "Older"),), body={"title": "Older"}, file="s/a.yml"
            ),
            Change(Action.DELETE, None, 9, (), remote={"id": 9}, reason="gone"),
        ),
        matches=(Match("old", 7, "s/a.yml", True),),
        unmanaged=(8,),
        remote_ids=frozenset({7, 8, 9}),
        prune=True,
        unsafe="3 deletions",
        timezone="Europe/Berlin",
    )


def save(tmp_path: Path, plan: Plan | None = None) -> tuple[Path, Path]:
    yaml_file = tmp_path / "a.yml"
    yaml_file.write_text("schedules: {}\n")
    out = tmp_path / "plan.json"
    out.write_text(
        savedplan.dumps(
            plan or a_plan(),
            paths=[tmp_path],
            files=[yaml_file],
            remote=REMOTE,
            workspace=WORKSPACE,
            titles={("Dashboard", 1): "Sales"},
        )
    )
    return out, yaml_file


def test_what_dumps_writes_load_reads_back(tmp_path: Path) -> None:
    out, yaml_file = save(tmp_path)
    saved = savedplan.load(out)
    plan = a_plan()
    assert saved.plan.changes == plan.changes
    assert [c.reason for c in saved.plan.changes] == [None, None, "gone"]
    assert saved.plan.matches == plan.matches and saved.plan.unmanaged == (8,)
    part = saved.plan.of_kind("schedules")
    assert part is not None and part.remote_ids == frozenset({7, 8, 9}) and saved.plan.prune is True
    assert saved.plan.unsafe == "3 deletions" and saved.plan.timezone == "Europe/Berlin"
    assert saved.workspace == WORKSPACE and saved.paths == (tmp_path,)
    assert saved.titles == {("Dashboard", 1): "Sales"}
    assert set(saved.yaml) == {str(yaml_file)} and set(saved.remote["schedules"]) == {"7", "8", "9"}


def test_a_fresh_plan_is_not_stale_and_a_trailing_slash_is_the_same_workspace(tmp_path: Path) -> None:
    out, yaml_file = save(tmp_path)
    saved = savedplan.load(out)
    assert savedplan.stale_reasons(saved, WORKSPACE + "/", [yaml_file], REMOTE) == []


def test_reordered_recipients_do_not_make_a_plan_stale(tmp_path: Path) -> None:
    out, yaml_file = save(tmp_path)
    reordered = [{**REMOTE[0], "dest": {"recipients": ["a@x", "b@x"]}}, *REMOTE[1:]]
    assert savedplan.stale_reasons(savedplan.load(out), WORKSPACE, [yaml_file], reordered) == []


def test_stale_reasons_name_each_change_of_the_yaml_and_the_touched_schedules(tmp_path: Path) -> None:
    out, yaml_file = save(tmp_path)
    saved = savedplan.load(out)
    yaml_file.write_text("schedules: {x: 1}\n")
    added = tmp_path / "b.yml"
    added.write_text("schedules: {}\n")
    remote = [{**REMOTE[0], "title": "Edited in the UI"}, REMOTE[1]]
    assert savedplan.stale_reasons(saved, WORKSPACE, [yaml_file, added], remote) == [
        f"{yaml_file} changed",
        f"{added} was added",
        "remote schedule 7 (old) changed",
        "remote schedule 9 (unmanaged) was deleted",
    ]
    assert savedplan.stale_reasons(saved, WORKSPACE, [], REMOTE) == [f"{yaml_file} was removed"]


def test_an_untouched_schedule_that_changed_does_not_make_it_stale(tmp_path: Path) -> None:
    out, yaml_file = save(tmp_path)
    remote = [REMOTE[0], {**REMOTE[1], "title": "Kept, renamed"}, REMOTE[2]]
    assert savedplan.stale_reasons(savedplan.load(out), WORKSPACE, [yaml_file], remote) == []


def test_another_workspace_is_the_only_reason_given(tmp_path: Path) -> None:
    out, yaml_file = save(tmp_path)
    yaml_file.write_text("changed\n")
    reasons = savedplan.stale_reasons(savedplan.load(out), "https://eu.holistics.io/api/v2", [yaml_file], [])
    assert reasons == [f"it was made for the workspace at {WORKSPACE}, not https://eu.holistics.io/api/v2"]


def edited(out: Path, change: Any) -> Path:
    data = json.loads(out.read_text())
    change(data["saved_plan"])
    out.write_text(json.dumps(data))
    return out


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s["kinds"][0]["changes"][1].update(id=None),
            "saved_plan.kinds.0.changes.1: Value error, a update needs the item's id",
        ),
        (lambda s: s["kinds"][0]["changes"][0].update(body=None), "a create needs its body"),
        (lambda s: s["kinds"][0]["changes"][0].update(id=5), "a create has a key and a file, and no id yet"),
        (lambda s: s["kinds"][0]["changes"][1].update(line=-1), "saved_plan.kinds.0.changes.1.line"),
        (lambda s: s["kinds"][0].update(prune="yes"), "saved_plan.kinds.0.prune"),
        (lambda s: s["kinds"][0].update(kind="reports"), "'reports' is not a kind"),
        (lambda s: s.pop("workspace"), "saved_plan.workspace"),
    ],
)
def test_a_hand_edited_plan_that_apply_could_not_carry_out_is_refused(tmp_path: Path, edit: Any, message: str) -> None:
    out = edited(save(tmp_path)[0], edit)
    with pytest.raises(SavedPlanError, match="is not a saved plan written by") as caught:
        savedplan.load(out)
    assert message in str(caught.value)


def test_another_format_version_says_to_plan_again(tmp_path: Path) -> None:
    out = edited(save(tmp_path)[0], lambda s: s.update(version=1))
    with pytest.raises(SavedPlanError, match=r"version 1 is not supported .* run `plan --out plan.json` again"):
        savedplan.load(out)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("{not json", "(Expecting property name"),
        ("[1, 2]", "(no `saved_plan` object)"),
        ('{"plan": 1}', "(no `saved_plan`"),
    ],
)
def test_what_is_not_a_saved_plan_is_refused_with_the_reason(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(SavedPlanError, match="is not a saved plan") as caught:
        savedplan.load(path)
    assert reason in str(caught.value)


def test_a_directory_or_a_missing_file_is_not_read(tmp_path: Path) -> None:
    for path in (tmp_path, tmp_path / "missing.json"):
        with pytest.raises(SavedPlanError, match=r"\(not a regular file\)"):
            savedplan.load(path)
