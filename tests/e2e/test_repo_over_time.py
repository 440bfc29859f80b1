"""Issue 11, end to end: the life of a schedules repo over years (deletion by pull request, drift
from the UI, replacements, targeting), with the real CLI, the real sandbox and a real git repo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from reconciler.desired.yamlread import load
from reconciler.sandbox import Sandbox
from tests.helpers import THREE, cli, write_schedules, writes


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def repo(sandbox: Sandbox, tmp_path: Path) -> Path:
    """A git repo whose schedules were applied (ids recorded) and committed."""
    git(tmp_path, "init", "-q", "-b", "main")
    write_schedules(tmp_path, THREE)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "schedules with ids")
    return tmp_path


def remove_entry(path: Path, key: str) -> str:
    """Delete one entry's block from the file; returns the block."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {key}:"))
    tops = (i for i in range(start + 1, len(lines)) if lines[i].startswith("  ") and not lines[i].startswith("    "))
    end = next(tops, len(lines))
    block = "".join(lines[start:end])
    path.write_text("".join(lines[:start] + lines[end:]))
    return block


def ids_in(path: Path) -> set[int]:
    return {d.id for d in load([path]) if d.id is not None}


def id_of(sandbox: Sandbox, title: str) -> int:
    return next(int(s["id"]) for s in sandbox.control.schedules() if s["title"] == title)


# ---- --prune-since ----


def test_an_entry_removed_in_a_commit_is_deleted_and_named(sandbox: Sandbox, repo: Path) -> None:
    path = repo / "schedules/main.yml"
    remove_entry(path, "ops-digest")
    git(repo, "commit", "-qam", "drop the ops digest")
    commit = git(repo, "rev-parse", "--short", "HEAD")
    gone = id_of(sandbox, "Ops digest")

    plan = cli(sandbox, "plan", "--prune-since", "HEAD~1", "--detailed-exitcode", cwd=repo)
    assert plan.returncode == 2, plan.stderr
    assert f"ops-digest (id {gone}) will be deleted" in plan.stdout
    assert f"ops-digest was removed from schedules/main.yml in {commit}" in plan.stdout
    assert "Plan: 0 to create, 0 to update, 1 to delete." in plan.stdout
    md = cli(sandbox, "plan", "--prune-since", "HEAD~1", "--format", "markdown", cwd=repo).stdout
    assert "1 schedule(s) will be deleted" in md and "ops-digest" in md

    assert cli(sandbox, "apply", "--prune-since", "HEAD~1", "--auto-approve", cwd=repo).returncode == 0
    assert gone not in {s["id"] for s in sandbox.control.schedules()}
    assert [r["method"] for r in writes(sandbox) if r["method"] == "DELETE"] == ["DELETE"]


def test_an_uncommitted_removal_says_so(sandbox: Sandbox, repo: Path) -> None:
    remove_entry(repo / "schedules/main.yml", "orders-sheet")
    plan = cli(sandbox, "plan", "--prune-since", "HEAD", cwd=repo)
    assert "orders-sheet was removed from schedules/main.yml in the working tree (not committed yet)" in plan.stdout


def test_moving_an_entry_to_another_file_or_renaming_it_with_its_id_is_not_a_removal(
    sandbox: Sandbox, repo: Path
) -> None:
    path = repo / "schedules/main.yml"
    block = remove_entry(path, "ops-digest")
    (repo / "schedules/ops.yml").write_text("schedules:\n" + block)
    text = path.read_text().replace("  sales-weekly:", "  sales-weekly-renamed:")
    path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "move and rename")

    plan = cli(sandbox, "plan", "--prune-since", "HEAD~1", "--json", cwd=repo)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["summary"]["delete"] == 0


def test_an_unknown_ref_or_no_git_is_a_clear_error_before_any_request(
    sandbox: Sandbox, repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    unknown = cli(sandbox, "plan", "--prune-since", "no-such-ref", cwd=repo)
    assert unknown.returncode == 1 and "--prune-since no-such-ref: no such commit" in unknown.stderr
    option = cli(sandbox, "plan", "--prune-since", "--upload-pack=x", cwd=repo)
    assert option.returncode == 1 and "no such commit" in option.stderr, "a ref is never read as a git option"
    elsewhere = tmp_path_factory.mktemp("not-git")
    write_schedules(elsewhere, THREE)
    outside = cli(sandbox, "plan", "--prune-since", "HEAD", cwd=elsewhere)
    assert outside.returncode == 1 and "needs a git checkout" in outside.stderr
    assert "Traceback" not in unknown.stderr + outside.stderr
    assert writes(sandbox) == [w for w in writes(sandbox) if w["method"] == "POST"], "nothing but the fixture's creates"


def test_prune_since_refuses_a_target_and_a_partial_path(sandbox: Sandbox, repo: Path) -> None:
    (repo / "schedules/other.yml").write_text("schedules: {}\n")
    with_target = cli(sandbox, "plan", "--prune-since", "HEAD", "--target", "sales-*", cwd=repo)
    assert with_target.returncode == 1 and "cannot be combined with --target" in with_target.stderr
    partial = cli(sandbox, "plan", "--prune-since", "HEAD", "schedules/other.yml", cwd=repo)
    assert partial.returncode == 1 and "--prune-since with only part of the schedule files" in partial.stderr


# ---- naming what is left alone ----


def test_unmanaged_schedules_are_named_in_every_format(sandbox: Sandbox, repo: Path) -> None:
    remove_entry(repo / "schedules/main.yml", "orders-sheet")
    left = id_of(sandbox, "Orders sheet")
    text = cli(sandbox, "plan", cwd=repo).stdout
    assert f'id {left} "Orders sheet" — report 5301 "Daily Orders' in text and "GsheetDest" in text
    md = cli(sandbox, "plan", "--format", "markdown", cwd=repo).stdout
    assert "<summary>1 unmanaged schedule(s)" in md and f"| {left} | Orders sheet | report 5301" in md
    data = json.loads(cli(sandbox, "plan", "--json", cwd=repo).stdout)
    (brief,) = data["unmanaged"]
    assert brief["id"] == left and brief["title"] == "Orders sheet" and brief["dest_type"] == "GsheetDest"
    assert brief["source"].startswith("report 5301")


def test_ignored_fields_that_differ_are_named(sandbox: Sandbox, repo: Path) -> None:
    (repo / "holistics-schedules.yml").write_text("ignore: {fields: [recipients]}\n")
    path = repo / "schedules/main.yml"
    path.write_text(path.read_text().replace("[sales@example.com]", "[sales@example.com, vp@example.com]"))
    plan = cli(sandbox, "plan", "--detailed-exitcode", cwd=repo)
    assert plan.returncode == 0, "an ignored field plans nothing"
    said = "sales-weekly.dest.recipients is ignored by holistics-schedules.yml: the workspace keeps its value"
    assert said in plan.stdout
    data = json.loads(cli(sandbox, "plan", "--json", cwd=repo).stdout)
    assert [(d["key"], d["path"]) for d in data["ignored_differences"]] == [("sales-weekly", "dest.recipients")]


# ---- targeting ----


def test_target_and_exclude_plan_and_apply_only_the_selected_entries(sandbox: Sandbox, repo: Path) -> None:
    path = repo / "schedules/main.yml"
    path.write_text(path.read_text().replace('"0 8 * * 1"', '"0 9 * * 1"').replace('"0 7 * * *"', '"0 5 * * *"'))
    plan = cli(sandbox, "plan", "--target", "*-weekly", "--target", "ops-*", "--exclude", "ops-*", cwd=repo)
    assert plan.returncode == 0, plan.stderr
    assert "sales-weekly" in plan.stdout and "ops-digest" not in plan.stdout.split("Plan:")[0]
    assert "Partial plan: only the entries selected by --target *-weekly --target ops-* --exclude ops-*" in plan.stdout
    assert "Plan: 0 to create, 1 to update, 0 to delete." in plan.stdout

    assert cli(sandbox, "apply", "--target", "sales-weekly", "--auto-approve", cwd=repo).returncode == 0
    repeats = {s["title"]: s["schedule"]["repeat"] for s in sandbox.control.schedules()}
    assert repeats["Sales weekly"] == "0 9 * * 1" and repeats["Ops digest"] == "0 7 * * *"


def test_a_target_that_selects_nothing_or_with_prune_is_refused(sandbox: Sandbox, repo: Path) -> None:
    typo = cli(sandbox, "plan", "--target", "sales-weekyl", cwd=repo)
    # keys are unique across kinds, so the message names no kind: no schedule's and no alert's key
    assert typo.returncode == 1 and "--target sales-weekyl selects no key in schedules" in typo.stderr
    pruned = cli(sandbox, "apply", "--prune", "--target", "sales-weekly", "--auto-approve", cwd=repo)
    assert pruned.returncode == 1 and "--prune cannot be combined with --target" in pruned.stderr


# ---- drift from the UI ----


def test_a_schedule_deleted_in_the_ui_is_created_again_and_its_id_rewritten(sandbox: Sandbox, repo: Path) -> None:
    gone = id_of(sandbox, "Ops digest")
    sandbox.control.put_schedules([s for s in sandbox.control.schedules() if s["id"] != gone])

    plan = cli(sandbox, "plan", "--detailed-exitcode", cwd=repo)
    assert plan.returncode == 2, plan.stderr
    assert f"schedule {gone} was deleted in the workspace; it will be created again" in plan.stdout
    applied = cli(sandbox, "apply", "--auto-approve", cwd=repo)
    assert applied.returncode == 0, applied.stderr
    new = id_of(sandbox, "Ops digest")
    held = ids_in(repo / "schedules/main.yml")
    assert new in held and gone not in held
    assert git(repo, "diff", "--numstat").split()[:2] == ["1", "1"], "one line changed: the id"
    assert cli(sandbox, "plan", "--detailed-exitcode", cwd=repo).returncode == 0


def test_a_deleted_id_adopts_an_identical_unclaimed_schedule_instead_of_creating(sandbox: Sandbox, repo: Path) -> None:
    gone = id_of(sandbox, "Ops digest")
    copy = next(s for s in sandbox.control.schedules() if s["id"] == gone)
    kept = [s for s in sandbox.control.schedules() if s["id"] != gone]
    twin = {k: v for k, v in copy.items() if k != "id"}
    sandbox.control.put_schedules([*kept, twin])  # recreated in the UI: same content, new id
    twin_id = id_of(sandbox, "Ops digest")

    assert cli(sandbox, "apply", "--auto-approve", cwd=repo).returncode == 0
    assert [r["method"] for r in writes(sandbox)].count("POST") == 3, "only the fixture's three creates"
    assert len(sandbox.control.schedules()) == 3
    assert twin_id in ids_in(repo / "schedules/main.yml") and gone not in ids_in(repo / "schedules/main.yml")


# ---- moving a schedule to another source ----


def test_a_source_change_is_a_replacement_on_a_server_that_refuses_it(tmp_path: Path) -> None:
    with Sandbox(seed="empty", immutable_source=True) as sb:
        path = write_schedules(tmp_path, THREE)
        assert cli(sb, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
        old = id_of(sb, "Sales weekly")
        moved = 'source_id: 1240\n    schedule: {repeat: "0 8'
        path.write_text(path.read_text().replace('source_id: 1234\n    schedule: {repeat: "0 8', moved))

        plan = cli(sb, "plan", cwd=tmp_path)
        assert f"sales-weekly (id {old}) must be replaced" in plan.stdout
        assert "source_id: 1234 -> 1240  # forces replacement" in plan.stdout
        assert "Plan: 0 to create, 0 to update, 0 to delete, 1 to replace." in plan.stdout
        data = json.loads(cli(sb, "plan", "--json", cwd=tmp_path).stdout)
        (change,) = data["changes"]
        assert change["action"] == "replace" and change["forces_replacement"] == ["source_id"]
        assert data["summary"]["replace"] == 1

        applied = cli(sb, "apply", "--auto-approve", cwd=tmp_path)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        new = id_of(sb, "Sales weekly")
        assert new != old and old not in {s["id"] for s in sb.control.schedules()}
        assert next(s for s in sb.control.schedules() if s["id"] == new)["source_id"] == 1240
        methods = [r["method"] for r in writes(sb)][-2:]
        assert methods == ["DELETE", "POST"], "deleted first: two deliveries of one entry never exist"
        assert new in ids_in(path) and old not in ids_in(path)
        assert cli(sb, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0


# ---- bringing UI schedules under code ----


def test_import_unmanaged_writes_only_what_no_yaml_declares_into_new_files(sandbox: Sandbox, repo: Path) -> None:
    ui = {
        "title": "Sales weekly",
        "source_type": "Dashboard",
        "source_id": 1234,
        "schedule": {"repeat": "0 10 * * 5", "paused": False},
        "dest": {"type": "EmailDest", "recipients": ["boss@example.com"]},
    }
    made = sandbox.control.add_schedule(ui)  # made in the UI, with the title of an existing entry's
    (repo / "schedules/unmanaged-email.yml").write_text("schedules: {}\n")  # a name import must not take
    before = {p.name: p.read_text() for p in (repo / "schedules").iterdir()}

    result = cli(sandbox, "import", "--unmanaged", cwd=repo)

    assert result.returncode == 0, result.stderr
    after = {p.name: p.read_text() for p in (repo / "schedules").iterdir()}
    assert {k: v for k, v in after.items() if k in before} == before, "existing files are never touched"
    (new,) = set(after) - set(before)
    assert new == "unmanaged-email-2.yml"
    entries = load([repo / "schedules" / new])
    assert [(e.id, e.key) for e in entries] == [(made["id"], f"sales-weekly-{made['id']}")], "unique across files"
    assert cli(sandbox, "validate", cwd=repo).returncode == 0
    plan = cli(sandbox, "plan", "--detailed-exitcode", cwd=repo)
    assert plan.returncode == 0 and "0 unmanaged" in plan.stdout
