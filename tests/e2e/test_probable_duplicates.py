"""Issue 18, duplicates the tool cannot prevent, it heals: made the two ways the README names (two
applies from two clones at once; a create whose answer was lost and that lands after the next run
has listed), then named by every plan format and deleted by `apply --prune-duplicates`, exactly
them, through the guards every deletion passes (threshold, selection, confirmation, saved plans).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.desired.yamlread import load
from reconciler.sandbox import Sandbox
from reconciler.usecases import applying
from tests.helpers import cli, write_schedules

WEEKLY = """\
schedules:
  weekly-sales:
    title: Weekly sales
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest: {type: EmailDest, recipients: [sales@example.com]}
"""


def deletes(sb: Sandbox) -> list[int]:
    return [int(r["path"].rsplit("/", 1)[1]) for r in sb.control.requests() if r["method"] == "DELETE"]


def ids(sb: Sandbox) -> list[int]:
    return sorted(s["id"] for s in sb.control.schedules())


def recorded(root: Path) -> dict[str, int | None]:
    return {d.key: d.id for d in load([root / "schedules"], cache=False)}


def two_clones_at_once(sb: Sandbox, tmp_path: Path) -> tuple[Path, int, int]:
    """Two clones of one repo apply at the same moment: each lists before the other's create lands
    (the first POST is held until the second arrives), so each makes its own schedule. Returns clone
    a, its schedule and clone b's."""
    both = threading.Barrier(2, timeout=60)

    def hook(method: str, path: str, query: Mapping[str, Any]) -> None:
        if method == "POST" and path.endswith("/data_schedules"):
            both.wait()

    clones = [tmp_path / "a", tmp_path / "b"]
    for clone in clones:
        write_schedules(clone, WEEKLY)
    sb.control.set_api_hook(hook)
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "reconciler", "apply", "--auto-approve"],
            cwd=clone,
            env=_env(sb),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for clone in clones
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    sb.control.set_api_hook(None)
    assert all(run.returncode == 0 for run in runs), outputs
    mine, theirs = (recorded(clone)["weekly-sales"] for clone in clones)
    assert mine is not None and theirs is not None and mine != theirs
    assert ids(sb) == sorted([mine, theirs])
    sb.control.clear_requests()
    return clones[0], mine, theirs


def _env(sb: Sandbox) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    return {**env, "NO_COLOR": "1", "HOLISTICS_BASE_URL": sb.base_url, "HOLISTICS_API_KEY": sb.key}


def run(sb: Sandbox, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """The CLI in this process, so a test can shorten apply's wait for a create of unknown outcome."""
    monkeypatch.setenv("HOLISTICS_BASE_URL", sb.base_url)
    monkeypatch.setenv("HOLISTICS_API_KEY", sb.key)
    monkeypatch.setenv("HOLISTICS_RATE_LIMIT", "none")
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return exited.value.code, out, err


def a_lost_create(
    sb: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, int]:
    """An apply whose create answers 504 although the server goes on to make it, later than the
    apply looks for it; the next apply lists, and the late create lands just before its own POST.
    Returns the entry's schedule (recorded) and the late one."""
    write_schedules(tmp_path, WEEKLY)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(applying, "apply", functools.partial(applying.apply, settle_waits=(0.05,)))
    sb.control.add_fault("POST", "/data_schedules", 504, when="late", delay_ms=600_000)
    code, _, err = run(sb, monkeypatch, capsys, "apply", "--auto-approve")
    assert code == 1 and "not sent again" in err and ids(sb) == []
    landed: list[int] = []

    def hook(method: str, path: str, query: Mapping[str, Any]) -> None:
        if method == "POST" and path.endswith("/data_schedules") and not landed:
            landed.append(sb.control.release_late_writes())

    sb.control.set_api_hook(hook)
    code, _, err = run(sb, monkeypatch, capsys, "apply", "--auto-approve")
    sb.control.set_api_hook(None)
    assert code == 0 and landed == [1], err
    own = recorded(tmp_path)["weekly-sales"]
    assert own is not None and len(ids(sb)) == 2
    (late,) = set(ids(sb)) - {own}
    sb.control.clear_requests()
    return own, late


def assert_named_then_healed(sb: Sandbox, clone: Path, own: int, copy: int) -> None:
    """Every plan format names the copy; `apply --prune-duplicates` deletes it and nothing else."""
    text = cli(sb, "plan", cwd=clone)
    assert text.returncode == 0, text.stderr
    assert "No changes" in text.stdout and "1 probable duplicate(s)" in text.stdout
    assert (
        f'schedule {copy} "Weekly sales" looks like a duplicate of weekly-sales (schedule {own}, same content); '
        "`apply --prune-duplicates` deletes it"
    ) in text.stdout
    markdown = cli(sb, "plan", "--format", "markdown", cwd=clone).stdout
    assert "> **1 probable duplicate(s):**" in markdown
    assert f'> - schedule {copy} \\"Weekly sales\\" looks like a duplicate of <code>weekly-sales</code>' in markdown
    data = json.loads(cli(sb, "plan", "--json", cwd=clone).stdout)
    named = {"kind": "schedules", "id": copy, "key": "weekly-sales", "of": own, "title": "Weekly sales"}
    assert data["probable_duplicates"] == [named]
    assert data["changes"] == []

    preview = json.loads(cli(sb, "plan", "--json", "--prune-duplicates", cwd=clone).stdout)
    assert [(c["action"], c["id"], c["key"]) for c in preview["changes"]] == [("delete", copy, None)]
    assert sb.control.requests() and deletes(sb) == []  # a plan deletes nothing

    applied = cli(sb, "apply", "--prune-duplicates", "--auto-approve", cwd=clone)
    assert applied.returncode == 0, applied.stderr
    assert "this plan deletes it" in applied.stdout
    assert deletes(sb) == [copy] and ids(sb) == [own]
    after = cli(sb, "plan", "--json", cwd=clone)
    assert json.loads(after.stdout)["probable_duplicates"] == [] and json.loads(after.stdout)["changes"] == []
    assert "probable duplicate" not in cli(sb, "plan", cwd=clone).stdout


def test_two_applies_from_two_clones_at_once(sandbox: Sandbox, tmp_path: Path) -> None:
    clone, mine, theirs = two_clones_at_once(sandbox, tmp_path)
    assert_named_then_healed(sandbox, clone, mine, theirs)


def test_a_lost_create_that_lands_after_the_next_listing(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    own, late = a_lost_create(sandbox, tmp_path, monkeypatch, capsys)
    monkeypatch.undo()  # the checks below run the CLI as users do
    assert_named_then_healed(sandbox, tmp_path, own, late)


def test_an_entry_without_its_id_keeps_the_schedule_it_adopts(sandbox: Sandbox, tmp_path: Path) -> None:
    """The ids of the race were never committed back: the entry adopts one copy (never deleted) and
    the other goes; the id recorded is that of the schedule left."""
    clone, mine, theirs = two_clones_at_once(sandbox, tmp_path)
    write_schedules(clone, WEEKLY)  # the checkout as committed: no id
    applied = cli(sandbox, "apply", "--prune-duplicates", "--auto-approve", cwd=clone)
    assert applied.returncode == 0, applied.stderr
    (left,) = ids(sandbox)
    assert deletes(sandbox) == [max(mine, theirs)] and recorded(clone)["weekly-sales"] == left


def test_two_entries_of_one_content_each_keep_their_own(sandbox: Sandbox, tmp_path: Path) -> None:
    twins = WEEKLY + WEEKLY.split("\n", 1)[1].replace("weekly-sales:", "weekly-sales-twin:")
    write_schedules(tmp_path, twins)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    owned = sorted(i for i in recorded(tmp_path).values() if i is not None)
    copy = sandbox.control.add_schedule({k: v for k, v in sandbox.control.schedules()[0].items() if k != "id"})["id"]
    sandbox.control.clear_requests()
    applied = cli(sandbox, "apply", "--prune-duplicates", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert deletes(sandbox) == [copy] and ids(sandbox) == owned


# ---- the guards every deletion passes ----


def with_a_copy(sb: Sandbox, root: Path) -> tuple[int, int]:
    """An applied entry and a copy of its schedule made in the workspace."""
    write_schedules(root, WEEKLY)
    assert cli(sb, "apply", "--auto-approve", cwd=root).returncode == 0
    (own,) = ids(sb)
    copy = sb.control.add_schedule({k: v for k, v in sb.control.schedules()[0].items() if k != "id"})["id"]
    sb.control.clear_requests()
    return own, copy


def test_the_safety_threshold_counts_them(sandbox: Sandbox, tmp_path: Path) -> None:
    with_a_copy(sandbox, tmp_path)
    (tmp_path / "holistics-schedules.yml").write_text("safety: {max_change_share: 0.3, min_managed: 1}\n")
    refused = cli(sandbox, "apply", "--prune-duplicates", "--auto-approve", cwd=tmp_path)
    assert refused.returncode == 1 and "unsafe" in refused.stderr and deletes(sandbox) == []
    forced = cli(sandbox, "apply", "--prune-duplicates", "--auto-approve", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and len(deletes(sandbox)) == 1


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--target", "weekly-sales"), "--prune-duplicates cannot be combined with --target"),
        (("schedules/main.yml",), "--prune-duplicates with only part of the schedule files"),
        ((), "apply needs confirmation"),
    ],
)
def test_refused_like_any_deletion(sandbox: Sandbox, tmp_path: Path, args: tuple[str, ...], said: str) -> None:
    with_a_copy(sandbox, tmp_path)
    write_schedules(tmp_path, WEEKLY.replace("weekly-sales", "other").replace("1234", "1262"), "other.yml")
    refused = cli(sandbox, "apply", "--prune-duplicates", *args, cwd=tmp_path, stdin="")
    assert refused.returncode == 1 and said in refused.stderr, refused.stderr
    assert deletes(sandbox) == []


def test_a_saved_plan_deletes_them_only_when_made_with_the_flag(sandbox: Sandbox, tmp_path: Path) -> None:
    own, copy = with_a_copy(sandbox, tmp_path)
    assert cli(sandbox, "plan", "--out", "without.json", cwd=tmp_path).returncode == 0
    assert cli(sandbox, "plan", "--prune-duplicates", "--out", "with.json", cwd=tmp_path).returncode == 0
    shown = cli(sandbox, "show", "without.json", cwd=tmp_path).stdout
    assert f"schedule {copy} " in shown and "`apply --prune-duplicates` deletes it" in shown
    shown_json = json.loads(cli(sandbox, "show", "with.json", "--format", "json", cwd=tmp_path).stdout)
    assert [d["id"] for d in shown_json["probable_duplicates"]] == [copy]
    assert "this plan deletes it" in cli(sandbox, "show", "with.json", "--format", "markdown", cwd=tmp_path).stdout

    flag = cli(sandbox, "apply", "without.json", "--prune-duplicates", cwd=tmp_path)
    assert flag.returncode == 1 and "give --prune-duplicates to `plan --out`" in flag.stderr
    assert cli(sandbox, "apply", "without.json", cwd=tmp_path).returncode == 0
    assert deletes(sandbox) == [] and ids(sandbox) == [own, copy]
    applied = cli(sandbox, "apply", "with.json", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    assert deletes(sandbox) == [copy] and ids(sandbox) == [own]


@pytest.mark.parametrize("which", ["copy", "own"])
@pytest.mark.parametrize("how", ["changed", "deleted"])
def test_a_saved_plan_is_stale_when_the_copy_or_its_original_moved(
    sandbox: Sandbox, tmp_path: Path, which: str, how: str
) -> None:
    """A copy edited since is no longer known to be one; with its original gone, it is the only one."""
    own, copy = with_a_copy(sandbox, tmp_path)
    assert cli(sandbox, "plan", "--prune-duplicates", "--out", "plan.json", cwd=tmp_path).returncode == 0
    moved = own if which == "own" else copy
    left = [s for s in sandbox.control.schedules() if how == "changed" or s["id"] != moved]
    for s in left:
        if s["id"] == moved:
            s["dest"] = {**s["dest"], "recipients": ["someone@example.com"]}
    sandbox.control.put_schedules(left)
    refused = cli(sandbox, "apply", "plan.json", cwd=tmp_path)
    assert refused.returncode == 1 and "is stale" in refused.stderr
    said = "was deleted" if how == "deleted" else "changed"
    assert f"remote schedule {moved} " in refused.stderr and said in refused.stderr
    assert deletes(sandbox) == []


def test_a_saved_plan_from_before_reads_as_naming_none(sandbox: Sandbox, tmp_path: Path) -> None:
    with_a_copy(sandbox, tmp_path)
    assert cli(sandbox, "plan", "--out", "plan.json", cwd=tmp_path).returncode == 0
    data = json.loads((tmp_path / "plan.json").read_text())
    del data["saved_plan"]["kinds"][0]["probable_duplicates"]  # each kind's are its own
    (tmp_path / "plan.json").write_text(json.dumps(data))
    shown = cli(sandbox, "show", "plan.json", "--format", "json", cwd=tmp_path)
    assert shown.returncode == 0 and json.loads(shown.stdout)["probable_duplicates"] == []
