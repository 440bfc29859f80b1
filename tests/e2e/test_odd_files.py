"""Never a lost or wrongly written file: the real CLI against the sandbox, on files that are not the
happy path (spellings of a path, suffixes, FIFOs and devices, symlinks, odd line separators, aliases
and merges, files that change or cannot be written during an apply, saved plans that lie).
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import pty
import re
import resource
import select
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.desired import discovery, yamlentries, yamlread
from reconciler.sandbox import Sandbox
from reconciler.usecases import import_entries
from tests.helpers import cli, writes


def entry(key: str, title: str, *, source_id: int = 1234, indent: str = "  ") -> str:
    """One block entry under `schedules:` (an email schedule of a sandbox dashboard)."""
    inner = indent * 2
    return (
        f"{indent}{key}:\n"
        f"{inner}title: {title}\n"
        f"{inner}source_type: Dashboard\n"
        f"{inner}source_id: {source_id}\n"
        f'{inner}schedule: {{repeat: "0 8 * * 1"}}\n'
        f"{inner}dest: {{type: EmailDest, recipients: [{key}@example.com]}}\n"
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def ids_by_title(sb: Sandbox) -> dict[str, int]:
    return {str(s["title"]): int(s["id"]) for s in sb.control.schedules()}


def read_ids(*paths: Path) -> dict[str, int | None]:
    """key -> id as the reader sees it (it also checks that the files still validate)."""
    return {d.key: d.id for d in yamlread.load(list(paths))}


BREAK = r"(?:\r\n|[\n\r\x85\u2028\u2029])"


def only_ids_inserted(before: str, after: str) -> list[int]:
    """The ids `after` has on top of `before`, each inserted as `id: N` with a separator and
    indentation; fails if any other character changed."""
    matcher = difflib.SequenceMatcher(a=before, b=after, autojunk=False)
    inserted: list[int] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        assert op in ("equal", "insert"), f"{op}: {before[i1:i2]!r} -> {after[j1:j2]!r}"
        if op == "insert":
            fragment = after[j1:j2]
            # the same insertion may be seen shifted by a line: "\n  id: 1" for "  id: 1\n"
            found = re.fullmatch(rf"{BREAK}? *id: (\d+)(?:, |{BREAK})? *", fragment)
            assert found, f"inserted {fragment!r}"
            inserted.append(int(found.group(1)))
    return inserted


def deletes(sb: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sb.control.requests() if r["method"] == "DELETE"]


# ---------------------------------------------------------------------------------------------------
# 1. --prune over part of the files, however the part is spelled


@pytest.fixture
def two_dirs(sandbox: Sandbox, tmp_path: Path) -> tuple[Sandbox, Path]:
    """schedules/top.yml and schedules/sub/b.yml, applied: two schedules, both ids recorded."""
    write(tmp_path / "schedules" / "top.yml", "schedules:\n" + entry("top", "Top"))
    write(tmp_path / "schedules" / "sub" / "b.yml", "schedules:\n" + entry("bottom", "Bottom"))
    applied = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert len(sandbox.control.schedules()) == 2
    sandbox.control.clear_requests()
    return sandbox, tmp_path


PART_SPELLINGS = [
    "{cwd}/schedules/sub",
    "schedules/../schedules/sub",
    "./schedules/sub/",
    "schedules/sub/",
    "schedules//sub",
    "schedules/sub/b.yml",
    "{cwd}/schedules/sub/./b.yml",
    "link/sub",  # a symlink to schedules/
    "sublink",  # a symlink to schedules/sub
]


@pytest.mark.parametrize("spelling", PART_SPELLINGS)
def test_prune_over_part_of_the_files_is_refused_however_it_is_spelled(
    two_dirs: tuple[Sandbox, Path], spelling: str
) -> None:
    sb, cwd = two_dirs
    (cwd / "link").symlink_to("schedules")
    (cwd / "sublink").symlink_to("schedules/sub")
    part = spelling.format(cwd=cwd)
    for command in (["plan", "--prune", part], ["apply", "--prune", "--auto-approve", "--force", part]):
        result = cli(sb, *command, cwd=cwd)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "only part of the schedule files" in result.stderr and "top.yml" in result.stderr
    assert deletes(sb) == [] and len(sb.control.schedules()) == 2


@pytest.mark.parametrize("spelling", ["{cwd}/schedules", "./schedules/", "schedules/../schedules", "link"])
def test_prune_over_all_of_the_files_is_allowed_however_it_is_spelled(
    two_dirs: tuple[Sandbox, Path], spelling: str
) -> None:
    sb, cwd = two_dirs
    (cwd / "link").symlink_to("schedules")
    result = cli(sb, "plan", "--prune", "--detailed-exitcode", spelling.format(cwd=cwd), cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes" in result.stdout


def test_prune_over_files_outside_the_project_is_refused(two_dirs: tuple[Sandbox, Path]) -> None:
    """A disjoint set of files leaves out every configured one: that would delete all of them."""
    sb, cwd = two_dirs
    shutil.copytree(cwd / "schedules" / "sub", cwd / "elsewhere")
    result = cli(sb, "plan", "--prune", "elsewhere", cwd=cwd)
    assert result.returncode == 1 and "only part of the schedule files" in result.stderr, result.stderr


def test_the_same_file_given_twice_is_read_once(two_dirs: tuple[Sandbox, Path]) -> None:
    sb, cwd = two_dirs
    result = cli(sb, "validate", "schedules", "./schedules/sub/b.yml", f"{cwd}/schedules/top.yml", cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 schedule(s) in 2 file(s)" in result.stdout


# ---------------------------------------------------------------------------------------------------
# 2. every schedule file is found; what is not a regular file is never read


def test_upper_and_mixed_case_suffixes_are_schedule_files(sandbox: Sandbox, tmp_path: Path) -> None:
    write(tmp_path / "schedules" / "a.YML", "schedules:\n" + entry("upper", "Upper"))
    write(tmp_path / "schedules" / "b.Yaml", "schedules:\n" + entry("mixed", "Mixed"))
    write(tmp_path / "schedules" / "c.yml", "schedules:\n" + entry("lower", "Lower"))
    validated = cli(None, "validate", cwd=tmp_path)
    assert validated.returncode == 0 and "3 schedule(s) in 3 file(s)" in validated.stdout, validated.stdout
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    assert len(sandbox.control.schedules()) == 3
    pruned = cli(sandbox, "plan", "--prune", "--detailed-exitcode", cwd=tmp_path)
    assert pruned.returncode == 0 and "No changes" in pruned.stdout, pruned.stdout
    assert read_ids(tmp_path / "schedules")["upper"] == ids_by_title(sandbox)["Upper"]


def test_a_symlinked_directory_of_schedules_is_read(sandbox: Sandbox, tmp_path: Path) -> None:
    write(tmp_path / "shared" / "team.yml", "schedules:\n" + entry("shared", "Shared"))
    write(tmp_path / "schedules" / "own.yml", "schedules:\n" + entry("own", "Own"))
    (tmp_path / "schedules" / "team").symlink_to(tmp_path / "shared")
    (tmp_path / "schedules" / "loop").symlink_to(tmp_path / "schedules")  # a cycle is followed once
    result = cli(None, "validate", cwd=tmp_path)
    assert result.returncode == 0 and "2 schedule(s) in 2 file(s)" in result.stdout, result.stdout + result.stderr


def test_a_tree_deeper_than_the_recursion_limit_is_walked(tmp_path: Path) -> None:
    """Python 3.11's os.walk recursed once a level: a tree deeper than the recursion limit was an
    internal error. The limit is lowered here (a tree 1,000 deep takes a minute of realpath calls)."""
    deep = tmp_path / "schedules"
    deep.mkdir()
    for _ in range(300):
        deep = deep / "d"
        deep.mkdir()  # a level at a time: mkdir(parents=True) recurses too
    (deep / "team.yml").write_text("schedules:\n" + entry("deep", "Deep"))
    write(tmp_path / "schedules" / "top.yml", "schedules:\n" + entry("top", "Top"))
    (tmp_path / "schedules" / "d" / "loop").symlink_to(tmp_path / "schedules")  # a cycle is still followed once
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(len(inspect.stack()) + 150)  # far less than the tree is deep
    try:
        found = discovery.discover([tmp_path / "schedules"])
    finally:
        sys.setrecursionlimit(limit)
    assert [p.name for p in found] == ["team.yml", "top.yml"]


def make_fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("command", ["validate", "plan"])
def test_a_fifo_or_device_given_as_a_path_is_a_problem_not_a_hang(
    sandbox: Sandbox, tmp_path: Path, command: str
) -> None:
    write(tmp_path / "schedules" / "a.yml", "schedules:\n" + entry("a", "A"))
    make_fifo(tmp_path / "pipe.yml")
    for path in ("pipe.yml", "/dev/null", "/dev/zero"):
        result = cli(sandbox, command, path, cwd=tmp_path, timeout=30)
        assert result.returncode == 1, (path, result.stdout, result.stderr)
        assert f"{path}:0: -: not a regular file" in result.stderr, result.stderr
    assert writes(sandbox) == []


def test_a_fifo_inside_the_schedules_directory_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    write(tmp_path / "schedules" / "a.yml", "schedules:\n" + entry("a", "A"))
    make_fifo(tmp_path / "schedules" / "b.yml")
    (tmp_path / "schedules" / "gone.yaml").symlink_to(tmp_path / "nowhere.yml")  # a submodule not checked out
    (tmp_path / "schedules" / ".#a.yml").symlink_to("root@host.1234:1700000000")  # Emacs: a.yml is being edited
    result = cli(None, "validate", cwd=tmp_path, timeout=30)
    assert result.returncode == 1
    assert "schedules/b.yml:0: -: not a regular file (a FIFO)" in result.stderr, result.stderr
    assert "schedules/gone.yaml:0: -: " in result.stderr and "broken symbolic link" in result.stderr
    assert ".#a.yml" not in result.stderr


@pytest.mark.parametrize("where", ["option", "default"])
def test_a_config_that_is_not_a_regular_file_is_refused_not_read(tmp_path: Path, where: str) -> None:
    write(tmp_path / "schedules" / "a.yml", "schedules:\n" + entry("a", "A"))
    name = "fifo.yml" if where == "option" else "holistics-schedules.yml"
    make_fifo(tmp_path / name)
    args = ["--config", name] if where == "option" else []
    result = cli(None, *args, "validate", cwd=tmp_path, timeout=30)
    assert result.returncode == 1 and "not a regular file" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    devnull = cli(None, "--config", "/dev/null", "validate", cwd=tmp_path, timeout=30)
    assert devnull.returncode == 1 and "not a regular file" in devnull.stderr, devnull.stderr


def test_a_saved_plan_that_is_a_fifo_is_not_read(sandbox: Sandbox, tmp_path: Path) -> None:
    write(tmp_path / "schedules" / "a.yml", "schedules:\n" + entry("a", "A"))
    make_fifo(tmp_path / "plan.json")
    result = cli(sandbox, "apply", "plan.json", "--auto-approve", cwd=tmp_path, timeout=30)
    assert result.returncode == 1 and "plan.json:0: -: not a regular file" in result.stderr, result.stderr
    assert writes(sandbox) == []


# ---------------------------------------------------------------------------------------------------
# 3. import: unique keys whatever the titles


def test_import_gives_every_schedule_its_own_key_when_titles_collide(sandbox: Sandbox, tmp_path: Path) -> None:
    def schedule(ident: int, title: str | None, source_id: int = 1234) -> dict[str, Any]:
        return {
            "id": ident,
            "title": title,
            "source_type": "Dashboard",
            "source_id": source_id,
            "schedule": {"repeat": "0 8 * * 1", "paused": False},
            "dest": {"type": "EmailDest", "recipients": [f"r{ident}@example.com"]},
        }

    sandbox.control.put_schedules(
        [
            schedule(5, "Weekly 1001"),
            schedule(1000, "Weekly"),
            schedule(1001, "Weekly"),
            schedule(1002, "weekly!"),
            schedule(7, "Weekly-1000"),
            schedule(8, None),
            schedule(9, ""),
            schedule(10, "email-dashboard-1234"),
            schedule(11, "東京"),  # no ASCII left: keyed like an untitled one
            schedule(12, "-"),
            schedule(13, "x" * 80),
            schedule(14, "x" * 80 + " 2"),
        ]
    )
    result = cli(sandbox, "import", "--out", "schedules", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Imported 12 schedule(s)" in result.stdout
    ids = read_ids(tmp_path / "schedules")
    assert sorted(i for i in ids.values() if i is not None) == [5, 7, 8, 9, 10, 11, 12, 13, 14, 1000, 1001, 1002]
    assert all(yamlentries.KEY_PATTERN.match(k) for k in ids)
    pruned = cli(sandbox, "plan", "--prune", "--detailed-exitcode", cwd=tmp_path)
    assert pruned.returncode == 0 and "No changes" in pruned.stdout, pruned.stdout + pruned.stderr


def test_imported_text_reads_back_as_it_was_in_the_workspace(sandbox: Sandbox, tmp_path: Path) -> None:
    """Titles with NEL or line separators (line breaks to libyaml when raw) and escapes: the next
    plan shows no change."""
    titles = ["next\x85line", "sep\u2028arated", "para\u2029graph", "esc\x1b[31mape", "tab\tbed", "bom\ufeff", "ok"]
    base = {"source_type": "Dashboard", "source_id": 1234, "schedule": {"repeat": "0 8 * * 1", "paused": False}}
    sandbox.control.put_schedules(
        [
            {**base, "title": title, "dest": {"type": "EmailDest", "recipients": [f"r{i}@example.com"]}}
            for i, title in enumerate(titles)
        ]
    )
    result = cli(sandbox, "import", "--out", "schedules", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    plan = cli(sandbox, "plan", "--json", "--detailed-exitcode", cwd=tmp_path)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert json.loads(plan.stdout)["summary"]["unchanged"] == len(titles)
    read = {d.fields.get("title") for d in yamlread.load([tmp_path / "schedules"])}
    assert read == set(titles)


def test_import_skips_what_cannot_read_back_the_same() -> None:
    """A lone surrogate (JSON carries one, UTF-8 cannot) or a NaN (Python's JSON reads one)."""
    base = {"source_type": "Dashboard", "source_id": 1234, "schedule": {"repeat": "0 8 * * 1", "paused": False}}
    dest = {"type": "EmailDest", "recipients": ["a@example.com"]}
    condition = {"operator": "is", "values": [float("nan")]}
    remote = [
        {**base, "id": 1, "title": "lone \ud800", "dest": dest},
        {
            **base,
            "id": 2,
            "title": "t",
            "dest": dest,
            "dynamic_filter_presets": [{"dynamic_filter_id": 7, "preset_condition": condition}],
        },
        {**base, "id": 3, "title": "fine", "dest": dest},
    ]
    reasons = import_entries.unrepresentable(remote)
    assert set(reasons) == {1, 2}
    assert "lone surrogate" in reasons[1] and reasons[1].startswith("title: ")
    assert reasons[2] == "dynamic_filter_presets.0.preset_condition.values.0: nan is not a finite number"


def test_import_refuses_to_write_over_what_is_not_a_regular_file(sandbox: Sandbox, tmp_path: Path) -> None:
    sandbox.control.put_schedules(
        [
            {
                "title": "T",
                "source_type": "Dashboard",
                "source_id": 1234,
                "schedule": {"repeat": "0 8 * * 1", "paused": False},
                "dest": {"type": "EmailDest", "recipients": ["a@example.com"]},
            }
        ]
    )
    (tmp_path / "afile").write_text("x")
    onto_file = cli(sandbox, "import", "--out", "afile", cwd=tmp_path)
    assert onto_file.returncode == 1 and "cannot make the directory afile" in onto_file.stderr, onto_file.stderr
    make_fifo(tmp_path / "out" / "email.yml")
    onto_fifo = cli(sandbox, "import", "--out", "out", "--force", cwd=tmp_path, timeout=30)
    assert onto_fifo.returncode == 1, onto_fifo.stdout + onto_fifo.stderr
    assert "cannot write out/email.yml: not a regular file (a FIFO)" in onto_fifo.stderr, onto_fifo.stderr
    assert "internal error" not in onto_fifo.stderr + onto_file.stderr


_TITLES = st.one_of(
    st.none(),
    st.sampled_from(["Weekly", "weekly!", "Weekly 1001", "Weekly-1000", "weekly 1000 2", "", "-", "東京", "x" * 70]),
    st.text(max_size=30),
)


@st.composite
def remotes_and_taken(draw: st.DrawFn) -> tuple[list[dict[str, Any]], set[str]]:
    idents = draw(st.lists(st.integers(-5, 2000), unique=True, max_size=25))
    remote = [
        {
            "id": ident,
            "title": draw(_TITLES),
            "source_type": draw(st.sampled_from(["Dashboard", "QueryReport", "", "a b"])),
            "source_id": draw(st.one_of(st.integers(-3, 3000), st.text(max_size=5), st.none())),
            "dest": draw(st.sampled_from([{"type": "EmailDest"}, {"type": "Adls2Dest"}, {}, None, "x"])),
        }
        for ident in idents
    ]
    # keys already taken: some of the very keys these schedules would want, their suffixed forms, and noise
    wanted = [import_entries.base_key(r) for r in remote]
    near = wanted + [f"{k}-{r['id']}" for k, r in zip(wanted, remote, strict=True)] + [f"{k}-2" for k in wanted]
    taken = set(draw(st.lists(st.sampled_from(near), max_size=10))) if near else set()
    return remote, taken | set(draw(st.lists(st.text(max_size=8), max_size=3)))


@settings(max_examples=400, deadline=None)
@given(case=remotes_and_taken())
def test_import_keys_are_unique_valid_and_apart_from_taken_ones(case: tuple[list[dict[str, Any]], set[str]]) -> None:
    remote, taken = case
    keys = import_entries.unique_keys(remote, taken)
    assert set(keys) == {int(r["id"]) for r in remote}, "one key for every schedule"
    assert len(set(keys.values())) == len(keys), "no two schedules share a key"
    assert not set(keys.values()) & taken
    assert all(yamlentries.KEY_PATTERN.match(k) for k in keys.values())
    # stable: a schedule whose wanted key no other wants, and that is not taken, gets exactly it
    wanted = [import_entries.base_key(r) for r in remote]
    for r, key in zip(remote, wanted, strict=True):
        if wanted.count(key) == 1 and key not in taken:
            assert keys[int(r["id"])] == key
    entries = import_entries.entries(remote, taken)
    assert len(entries) == len(remote) and set(entries) == set(keys.values())


# ---------------------------------------------------------------------------------------------------
# 4. write-back: the id lands on its key, and nothing else the reader sees changes


SEPARATED = {
    "u2028-lines": "schedules:\u2028" + entry("first", "First").replace("\n", "\u2028") + entry("second", "Second"),
    "nel-lines": "schedules:\n" + entry("first", "First").replace("\n", "\x85") + entry("second", "Second"),
    "u2029-comment": "# a note\u2029schedules:\n" + entry("first", "First") + entry("second", "Second"),
    "separator-in-title": "schedules:\n"
    + entry("first", '"First \u2028 one"')
    + "  # a comment that ends in a NEL\x85\n"
    + entry("second", "Second"),
    "crlf": ("schedules:\n" + entry("first", "First") + entry("second", "Second")).replace("\n", "\r\n"),
    "cr": ("schedules:\n" + entry("first", "First") + entry("second", "Second")).replace("\n", "\r"),
    "bom": "\ufeffschedules:\n" + entry("first", "First") + entry("second", "Second"),
}


@pytest.mark.parametrize("name", sorted(SEPARATED))
def test_ids_land_on_their_keys_whatever_separates_the_lines(sandbox: Sandbox, tmp_path: Path, name: str) -> None:
    path = write(tmp_path / "schedules" / "a.yml", SEPARATED[name])
    before = read_ids(path)
    assert before == {"first": None, "second": None}, "the reader sees two entries"
    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    titles = ids_by_title(sandbox)
    first = next(i for t, i in titles.items() if t.startswith("First"))
    assert read_ids(path) == {"first": first, "second": titles["Second"]}
    after = path.read_bytes().decode("utf-8")
    assert sorted(only_ids_inserted(SEPARATED[name], after)) == sorted([first, titles["Second"]])
    again = cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr


STYLES = {
    "anchored-flow": "  a: &a {title: A, source_type: Dashboard, source_id: 1234, schedule: {repeat: '0 8 * * 1'}, "
    "dest: {type: EmailDest, recipients: [a@example.com]}}\n",
    "tagged-flow": "  a: !!map {title: A, source_type: Dashboard, source_id: 1234, schedule: {repeat: '0 8 * * 1'}, "
    "dest: {type: EmailDest, recipients: [a@example.com]}}\n",
    "anchored-tagged-flow-on-two-lines": "  a: &a !!map {\n      title: A, source_type: Dashboard, source_id: 1234,\n"
    "      schedule: {repeat: '0 8 * * 1'}, dest: {type: EmailDest, recipients: [a@example.com]}}\n",
    "explicit-key": "  ? a\n  : title: A\n    source_type: Dashboard\n    source_id: 1234\n"
    "    schedule: {repeat: '0 8 * * 1'}\n    dest: {type: EmailDest, recipients: [a@example.com]}\n",
    "explicit-key-and-field": "  ? a\n  : ? title\n    : A\n    source_type: Dashboard\n    source_id: 1234\n"
    "    schedule: {repeat: '0 8 * * 1'}\n    dest: {type: EmailDest, recipients: [a@example.com]}\n",
    "explicit-flow-field": "  a: {? title : A, source_type: Dashboard, source_id: 1234, "
    "schedule: {repeat: '0 8 * * 1'}, dest: {type: EmailDest, recipients: [a@example.com]}}\n",
    "tagged-block": "  a: !!map\n    title: A\n    source_type: Dashboard\n    source_id: 1234\n"
    "    schedule: {repeat: '0 8 * * 1'}\n    dest: {type: EmailDest, recipients: [a@example.com]}\n",
    "quoted-key-anchored-field": '  "a":\n    &t title: A\n    source_type: Dashboard\n    source_id: 1234\n'
    "    schedule: {repeat: '0 8 * * 1'}\n    dest: {type: EmailDest, recipients: [a@example.com]}\n",
    "merge-only": "  a:\n    <<: *base\n",
    "merge-only-flow": "  a: {<<: *base}\n",
    "merge-list-first": "  a:\n    <<: [*base]\n    title: A\n",
}
BASE = (
    "x-base: &base\n  title: A\n  source_type: Dashboard\n  source_id: 1234\n"
    "  schedule: {repeat: '0 8 * * 1'}\n  dest: {type: EmailDest, recipients: [a@example.com]}\n"
)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_ids_land_in_every_style_of_entry_and_other_entries_keep_their_bytes(
    sandbox: Sandbox, tmp_path: Path, style: str
) -> None:
    """After the entry: one with its fields indented by 6 and a flow entry, which must keep their bytes."""
    after_it = entry("z", "Z").replace("\n    ", "\n      ")
    tail = (
        after_it
        + "  y: {title: Y, source_type: Dashboard, source_id: 1240, schedule: {repeat: '0 9 * * 1'}, "
        + ("dest: {type: EmailDest, recipients: [y@example.com]}}  # the end\n")
    )
    text = BASE + "schedules:\n" + STYLES[style] + tail
    path = write(tmp_path / "schedules" / "a.yml", text)
    assert set(read_ids(path)) == {"a", "y", "z"}
    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    titles = ids_by_title(sandbox)
    assert read_ids(path) == {"a": titles["A"], "z": titles["Z"], "y": titles["Y"]}
    after = path.read_text(encoding="utf-8")
    assert sorted(only_ids_inserted(text, after)) == sorted(titles[t] for t in "AYZ")
    assert cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0


def test_an_entry_that_is_an_alias_of_another_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "schedules" / "a.yml", "schedules:\n  a: &a\n" + entry("x", "A")[5:] + "  b: *a\n")
    result = cli(None, "validate", cwd=tmp_path)
    assert result.returncode == 1
    assert f"{path.relative_to(tmp_path)}:8: b: is an alias of the entry `a` (line 2)" in result.stderr, result.stderr


def test_an_alias_of_an_anchor_as_a_whole_entry_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "schedules" / "a.yml", BASE + "schedules:\n  a: *base\n")
    result = cli(None, "validate", cwd=tmp_path)
    assert result.returncode == 1 and "a.yml:8: a: an entry cannot be an alias" in result.stderr, result.stderr


def test_an_id_is_never_inherited_through_a_merge_key(sandbox: Sandbox, tmp_path: Path) -> None:
    """`b` merges `a`: it takes a's fields, never its id, before and after a's id is recorded."""
    path = write(
        tmp_path / "schedules" / "a.yml",
        "schedules:\n  a: &a\n" + entry("x", "A")[5:] + "  b:\n    <<: *a\n    title: B\n",
    )
    assert read_ids(path) == {"a": None, "b": None}
    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    titles = ids_by_title(sandbox)
    assert read_ids(path) == {"a": titles["A"], "b": titles["B"]} and titles["A"] != titles["B"]
    assert cli(sandbox, "plan", "--detailed-exitcode", cwd=tmp_path).returncode == 0
    # an id in a template would be shared by every entry that merges it: refused where it is merged
    write(
        tmp_path / "schedules" / "a.yml", BASE.replace("  title: A\n", "  id: 77\n") + "schedules:\n  c: {<<: *base}\n"
    )
    refused = cli(None, "validate", cwd=tmp_path)
    assert refused.returncode == 1 and "a.yml:8: c.id: an id cannot come through a merge key" in refused.stderr, (
        refused.stderr
    )


# ---------------------------------------------------------------------------------------------------
# 5. writing never replaces what is not a regular file


def test_a_symlinked_schedule_file_stays_a_symlink(sandbox: Sandbox, tmp_path: Path) -> None:
    target = write(tmp_path / "elsewhere" / "real.yml", "schedules:\n" + entry("linked", "Linked"))
    target.chmod(0o640)
    (tmp_path / "schedules").mkdir()
    link = tmp_path / "schedules" / "linked.yml"
    link.symlink_to("../elsewhere/real.yml")
    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert link.is_symlink() and os.readlink(link) == "../elsewhere/real.yml"
    assert read_ids(target) == {"linked": ids_by_title(sandbox)["Linked"]}
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["real.yml"], "no temporary file left"


def test_plan_out_writes_through_symlinks_and_devices_and_refuses_the_rest(sandbox: Sandbox, tmp_path: Path) -> None:
    write(tmp_path / "schedules" / "a.yml", "schedules:\n" + entry("a", "A"))
    real = write(tmp_path / "plans" / "real.md", "old\n")
    (tmp_path / "plan.md").symlink_to("plans/real.md")
    assert cli(sandbox, "plan", "--out", "plan.md", cwd=tmp_path).returncode == 0
    assert (tmp_path / "plan.md").is_symlink() and "to create" in real.read_text()

    before = os.stat("/dev/null")
    result = cli(sandbox, "plan", "--out", "/dev/null", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_rdev == before.st_rdev, "/dev/null is still the device"

    make_fifo(tmp_path / "fifo.md")
    (tmp_path / "adir.md").mkdir()
    for target in ("fifo.md", "adir.md"):
        refused = cli(sandbox, "plan", "--out", target, cwd=tmp_path, timeout=30)
        assert refused.returncode == 1, (target, refused.stdout, refused.stderr)
        assert f"cannot write {target}: not a regular file" in refused.stderr, refused.stderr
        assert "internal error" not in refused.stderr
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo.md").st_mode) and (tmp_path / "adir.md").is_dir()


# ---------------------------------------------------------------------------------------------------
# 6. after the first write the run always ends with its summary and the ids it could not record


def two_files(root: Path) -> tuple[Path, Path]:
    a = write(root / "schedules" / "a.yml", "schedules:\n" + entry("alpha", "Alpha"))
    # b.yml is long, so that a file size limit lets a.yml be written and not b.yml
    b = write(root / "schedules" / "b.yml", "# " + "padding " * 2000 + "\nschedules:\n" + entry("beta", "Beta"))
    return a, b


def test_a_full_disk_leaves_the_summary_and_the_line_to_add(sandbox: Sandbox, tmp_path: Path) -> None:
    a, b = two_files(tmp_path)
    before = b.read_bytes()
    limit = a.stat().st_size + 200  # b's new text (16 kB) cannot be written: EFBIG, as on a full disk

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path, preexec_fn=small_files)
    titles = ids_by_title(sandbox)
    assert len(titles) == 2, "both were created"
    assert result.returncode == 1, result.stdout + result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert "Apply complete: 2 of 2 change(s) made, 0 failed" in result.stdout, result.stdout
    assert f'schedules/b.yml:3: add "id: {titles["Beta"]}" to beta' in result.stderr, result.stderr
    assert read_ids(a) == {"alpha": titles["Alpha"]}, "the other file's id is recorded"
    assert b.read_bytes() == before and sorted(p.name for p in b.parent.iterdir()) == ["a.yml", "b.yml"]


@pytest.mark.parametrize("edit", ["invalid-yaml", "replaced-by-a-directory", "entry-renamed", "id-added"])
def test_a_file_changed_during_the_apply_leaves_the_summary_and_the_line_to_add(
    sandbox: Sandbox, tmp_path: Path, edit: str
) -> None:
    """Someone edits b.yml while apply waits for its confirmation (a terminal, as a person runs it)."""
    a, b = two_files(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    env |= {"NO_COLOR": "1", "HOLISTICS_BASE_URL": sandbox.base_url, "HOLISTICS_API_KEY": sandbox.key}
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", "apply"],
        cwd=tmp_path,
        env=env,
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    os.close(follower)
    try:
        assert process.stdout is not None
        seen = b""
        while b"Only 'yes' will be accepted" not in seen:  # the prompt: the plan is made, nothing written yet
            ready, _, _ = select.select([process.stdout], [], [], 60)
            assert ready, f"no prompt: {seen!r}"
            chunk = os.read(process.stdout.fileno(), 65536)
            assert chunk, f"apply ended before its prompt: {seen!r}"
            seen += chunk
        assert writes(sandbox) == []
        if edit == "invalid-yaml":
            b.write_text("schedules:\n  beta: [unclosed\n", encoding="utf-8")
        elif edit == "replaced-by-a-directory":
            b.unlink()
            b.mkdir()
        elif edit == "entry-renamed":
            b.write_text(b.read_text(encoding="utf-8").replace("  beta:", "  gamma:"), encoding="utf-8")
        else:
            b.write_text(b.read_text(encoding="utf-8").replace("    title: Beta", "    id: 999\n    title: Beta"))
        os.write(leader, b"yes\n")
        out, err = process.communicate(timeout=60)
    finally:
        os.close(leader)
        if process.poll() is None:
            process.kill()
    stdout, stderr = seen.decode() + out.decode(), err.decode()
    titles = ids_by_title(sandbox)
    assert len(titles) == 2
    assert process.returncode == 1, stdout + stderr
    assert "internal error" not in stderr and "Traceback" not in stderr
    assert "Apply complete: 2 of 2 change(s) made, 0 failed" in stdout, stdout
    assert f'schedules/b.yml:3: add "id: {titles["Beta"]}" to beta' in stderr, stderr
    assert read_ids(a) == {"alpha": titles["Alpha"]}


# ---------------------------------------------------------------------------------------------------
# 7. a saved plan cannot make apply write outside the project's schedule files


@pytest.mark.parametrize("lie", ["relative", "absolute", "symlink-out", "config-file"])
def test_a_saved_plan_cannot_direct_the_write_back_elsewhere(sandbox: Sandbox, tmp_path: Path, lie: str) -> None:
    cwd = tmp_path / "repo"
    write(cwd / "schedules" / "a.yml", "schedules:\n" + entry("alpha", "Alpha"))
    # a file outside the project that holds the same key: written without the guard
    outside = write(tmp_path / "outside" / "victim.yml", "schedules:\n" + entry("alpha", "Alpha"))
    victim_bytes = outside.read_bytes()
    (cwd / "schedules" / "out").symlink_to(tmp_path / "outside")  # a directory link: its files are not read
    (cwd / "holistics-schedules.yml").write_text("paths: [schedules/a.yml]\n")
    config_bytes = (cwd / "holistics-schedules.yml").read_bytes()
    assert cli(sandbox, "plan", "--out", "plan.json", cwd=cwd).returncode == 0
    saved = json.loads((cwd / "plan.json").read_text())
    file = {
        "relative": "../outside/victim.yml",
        "absolute": str(outside),
        "symlink-out": "schedules/out/victim.yml",
        "config-file": "holistics-schedules.yml",
    }[lie]
    lied = 0
    for kind in saved["saved_plan"]["kinds"]:  # format 3: each kind's changes are its own
        for change in kind["changes"]:
            change["file"] = file
            lied += 1
    assert lied == 1
    (cwd / "plan.json").write_text(json.dumps(saved))
    result = cli(sandbox, "apply", "plan.json", "--auto-approve", cwd=cwd)
    created = ids_by_title(sandbox)["Alpha"]
    assert result.returncode == 1, result.stdout + result.stderr
    assert f'add "id: {created}" to alpha' in result.stderr and "not a schedule file of this project" in result.stderr
    assert outside.read_bytes() == victim_bytes
    assert (cwd / "holistics-schedules.yml").read_bytes() == config_bytes


# ---------------------------------------------------------------------------------------------------
# 8. values the API's JSON cannot carry are refused at validation


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.Inf", "+.INF", "1e400", "-1e999"])
def test_non_finite_numbers_are_refused_at_their_line(sandbox: Sandbox, tmp_path: Path, value: str) -> None:
    text = (
        "schedules:\n"
        + entry("a", "A")
        + (
            f"    dynamic_filter_presets:\n      - dynamic_filter_id: 7\n"
            f"        preset_condition: {{operator: is, values: [1.5, {value}]}}\n"
        )
    )
    write(tmp_path / "schedules" / "a.yml", text)
    for command in ("validate", "plan"):
        result = cli(sandbox, command, cwd=tmp_path)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert "a.yml:10: a.dynamic_filter_presets.0.preset_condition.values.1: not a finite number" in result.stderr, (
            result.stderr
        )
    write(tmp_path / "schedules" / "a.yml", "schedules:\n" + entry("a", "A").replace("1234", value))
    result = cli(None, "validate", cwd=tmp_path)
    assert result.returncode == 1 and "a.yml:5: a.source_id: not a finite number" in result.stderr, result.stderr
    assert writes(sandbox) == []


# ---------------------------------------------------------------------------------------------------
# 9. nothing from a file reaches the terminal raw


@pytest.mark.parametrize(
    "raw",
    ["\x1b]0;pwned\x07", "\x1b[2J", "\x9b31m", "\r", "\n", "\x7f", "\x08", "\u2028", "\u2029", "\u202e", "\x85"],
)
def test_control_characters_from_files_are_shown_escaped(tmp_path: Path, raw: str) -> None:
    """Written as YAML escapes (raw ones are a syntax error): in a key, in a value quoted in a message."""
    in_yaml = raw.encode("unicode_escape").decode()  # \x1b, \u2028, ...: YAML's escapes too
    text = (
        "schedules:\n"
        f'  "key{in_yaml}one":\n    source_type: Dashboard\n'
        f"  good:\n    title: t\n    source_type: Dashboard\n    source_id: 1\n"
        '    schedule: {repeat: "0 8 * * 1"}\n'
        f'    dest: {{type: EmailDest, recipients: ["a{in_yaml}b@example.com"]}}\n'
        f'    "x{in_yaml}y": 1\n'
    )
    write(tmp_path / "schedules" / "a.yml", text)
    assert discovery.discover([tmp_path / "schedules"])  # the file is there and YAML reads the escapes
    result = cli(None, "validate", cwd=tmp_path)
    assert result.returncode == 1
    shown = result.stdout + result.stderr
    assert f"key{in_yaml}one" in shown, shown
    assert f"good.x{in_yaml}y: unknown field" in shown, shown
    for line in shown.splitlines():
        assert line.isprintable(), repr(line)


def test_a_file_name_with_a_newline_or_bad_utf8_is_shown_escaped(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    (schedules / "two\nlines.yml").write_text("schedules: [not, a, mapping]\n")
    os.mkfifo(os.fsencode(schedules) + b"/bad-\xff.yml")
    result = cli(None, "validate", cwd=tmp_path, timeout=30)
    assert result.returncode == 1 and "internal error" not in result.stderr, result.stderr
    assert "two\\nlines.yml:1: schedules: must be a mapping" in result.stderr, result.stderr
    assert "bad-\\udcff.yml:0: -: not a regular file" in result.stderr, result.stderr


def test_an_id_adopted_by_content_that_cannot_be_recorded_is_reported(sandbox: Sandbox, tmp_path: Path) -> None:
    """No changes to make, but an id to record (the entry matches a schedule by content): the same
    promise on the path that makes no remote write."""
    a, b = two_files(tmp_path)
    assert cli(sandbox, "apply", "--auto-approve", cwd=tmp_path).returncode == 0
    a.write_text("schedules:\n" + entry("alpha", "Alpha"))  # the ids were not committed back
    b.write_text("# " + "padding " * 2000 + "\nschedules:\n" + entry("beta", "Beta"))
    limit = a.stat().st_size + 200

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = cli(sandbox, "apply", "--auto-approve", cwd=tmp_path, preexec_fn=small_files)
    titles = ids_by_title(sandbox)
    assert result.returncode == 1 and "No changes" in result.stdout, result.stdout + result.stderr
    assert f'schedules/b.yml:3: add "id: {titles["Beta"]}" to beta (cannot write the file: ' in result.stderr
    assert read_ids(a) == {"alpha": titles["Alpha"]} and len(titles) == 2
