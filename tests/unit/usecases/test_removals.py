"""`--prune-since REF` (reconciler.usecases.removals): the entries that held an id at REF and hold it
no more, read from a real git repository, and the errors when git cannot answer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.desired.yamlread import load
from reconciler.kinds.entries import DesiredEntry
from reconciler.usecases import removals
from reconciler.usecases.removals import GitStateError, removals_since
from tests.helpers import ALERT_YAML, NOT_YET, alerts_readable


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def entry(key: str, schedule_id: int | None) -> str:
    recorded = f"    id: {schedule_id}\n" if schedule_id is not None else ""
    return (
        f"  {key}:\n{recorded}    source_type: Dashboard\n    source_id: 1234\n"
        "    schedule: {repeat: '0 8 * * 1'}\n    dest: {type: EmailDest, recipients: [a@example.com]}\n"
    )


def write(repo: Path, name: str, *entries: str) -> Path:
    path = repo / "schedules" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("schedules:\n" + "".join(entries) if entries else "schedules: {}\n")
    return path


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "--short", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(tmp_path, "init", "-q", "-b", "main")
    write(tmp_path, "a.yml", entry("kept", 1), entry("dropped", 2), entry("moved", 3), entry("never-applied", None))
    write(tmp_path, "b.yml")
    commit(tmp_path, "three schedules")
    git(tmp_path, "tag", "base")
    return tmp_path


def removed(repo: Path, ref: str = "base") -> list[tuple[int, str, str, str | None]]:
    paths = [repo / "schedules"]
    return [(r.id, r.key, r.file, r.commit) for r in removals_since(ref, paths, load(paths, cache=False))]


def test_a_committed_removal_is_named_with_its_commit_and_a_moved_entry_is_not_one(repo: Path) -> None:
    write(repo, "a.yml", entry("kept", 1), entry("never-applied", None))
    write(repo, "b.yml", entry("moved-and-renamed", 3))
    sha = commit(repo, "drop one, move one")
    assert removed(repo) == [(2, "dropped", "schedules/a.yml", sha)]


def test_a_removal_not_committed_yet_has_no_commit(repo: Path) -> None:
    write(repo, "a.yml", entry("kept", 1), entry("moved", 3))
    assert removed(repo) == [(2, "dropped", "schedules/a.yml", None)]


def test_a_deleted_file_removes_every_entry_it_held_with_an_id(repo: Path) -> None:
    (repo / "schedules" / "a.yml").unlink()
    sha = commit(repo, "remove the file")
    assert removed(repo) == [
        (2, "dropped", "schedules/a.yml", sha),
        (1, "kept", "schedules/a.yml", sha),
        (3, "moved", "schedules/a.yml", sha),
    ]


def test_nothing_removed_since_head(repo: Path) -> None:
    assert removed(repo, "HEAD") == []


def test_a_file_invalid_at_the_ref_has_nothing_to_remove(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "a.yml").write_text("schedules:\n  broken:\n    id: 5\n    source_type: Nope\n")
    commit(tmp_path, "broken")
    write(tmp_path, "a.yml")
    assert removed(tmp_path, "HEAD") == []


def test_an_unknown_ref_says_to_fetch_it(repo: Path) -> None:
    with pytest.raises(GitStateError, match=r"--prune-since no-such-ref: no such commit in .*fetch it first"):
        removed(repo, "no-such-ref")


def test_an_option_is_not_taken_for_a_ref(repo: Path) -> None:
    with pytest.raises(GitStateError, match="no such commit"):
        removed(repo, "--all")


def test_outside_a_git_checkout_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", entry("kept", 1))
    with pytest.raises(GitStateError, match=r"--prune-since needs a git checkout, and .* is not in one"):
        removed(tmp_path)


# ---- alerts: a removal is of its kind ----


def _entries_of_kinds(found: dict[str, list[tuple[str, int]]]) -> list[DesiredEntry]:
    return [
        DesiredEntry(key, ident, {}, "schedules/a.yml", 1, kind=kind)
        for kind, pairs in found.items()
        for key, ident in pairs
    ]


def test_a_removal_is_of_its_kind_and_ids_are_compared_within_a_kind(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alert 2 is gone while schedule 2 stays: the alert is removed (ids are per kind), and a removed
    alert is not a removed schedule. The file at REF is read by the reader as it is (stubbed here to
    give both kinds, as the reader of `alerts:` does)."""
    at_ref = {"schedules": [("kept", 1), ("shared-id", 2)], "alerts": [("drop-alert", 2), ("kept-alert", 5)]}
    monkeypatch.setattr(
        removals,
        "_entries_at",
        lambda root, commit, name: _entries_of_kinds(at_ref) if name == "schedules/a.yml" else [],
    )
    now = _entries_of_kinds({"schedules": [("kept", 1), ("shared-id", 2)], "alerts": [("kept-alert", 5)]})
    paths = [repo / "schedules"]
    found = removals_since("base", paths, now)
    assert [(r.kind, r.id, r.key) for r in found] == [("alerts", 2, "drop-alert")]


@pytest.mark.skipif(not alerts_readable(), reason=NOT_YET)
def test_a_removed_alert_entry_is_found_in_git(repo: Path) -> None:
    alerts = repo / "schedules" / "alerts.yml"
    alerts.write_text(ALERT_YAML.replace("  revenue-drop:\n", "  revenue-drop:\n    id: 2\n"))
    commit(repo, "an alert, id 2 as schedule dropped's")
    git(repo, "tag", "with-alert")
    alerts.write_text("alerts: {}\n")
    commit(repo, "the alert removed")
    paths = [repo / "schedules"]
    found = removals_since("with-alert", paths, load(paths, cache=False))
    assert [(r.kind, r.id, r.key) for r in found] == [("alerts", 2, "revenue-drop")], "schedule 2 is still declared"
