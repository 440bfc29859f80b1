"""Secrets and untrusted input: the API key never reaches any output or file, YAML tags that build Python
objects are refused, and writing ids back changes nothing but the inserted `id:` lines.

The key checks run the real CLI (subprocesses) with `-v` against a sandbox whose key is distinctive, through
successes and errors (401, 422, 5xx, retries, unknown outcomes), and then search every byte it could
have left anywhere: stdout, stderr, plan files, imported YAML, the sandbox's state file and the cassettes.
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.helpers import REPO, cli

ROOT = REPO
KEY = "hk_live_S3CRET_5f1e9d3c7b2a4e6f8091"
WRONG_KEY = "hk_live_WR0NG_0a9b8c7d6e5f4a3b2c1d"
SECRETS = (KEY, WRONG_KEY)


def files_under(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from (p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    shutil.copytree(ROOT / "schedules", tmp_path / "schedules")
    with Sandbox(key=KEY, seed="example", state_file=tmp_path / "sandbox-state.json") as sb:
        yield sb, tmp_path


def test_the_key_is_never_printed_logged_or_written(workspace: tuple[Sandbox, Path]) -> None:
    sb, cwd = workspace
    outputs: list[subprocess.CompletedProcess[str]] = []

    def run(*args: str, key: str = KEY, expect: int | None = 0) -> subprocess.CompletedProcess[str]:
        result = cli(sb, *args, cwd=cwd, key=key, timeout=60)
        outputs.append(result)
        if expect is not None:
            assert result.returncode == expect, (args, result.stdout, result.stderr)
        return result

    run("validate", "-v")
    run("validate", "--remote", "-v")
    sb.control.add_fault(method="GET", path="/data_schedules", status=500, count=1)
    sb.control.add_fault(method="GET", path="/dashboards/*", status=None, drop=True, count=1)
    retried = run("plan", "-v", "--out", "plan.json")
    assert "retry 1/" in retried.stderr, "-v shows the retries"
    run("plan", "-v", "--out", "plan.md")
    run("plan", "-v", "--format", "markdown", "--show-sensitive", "--out", "plan-sensitive.md")
    run("plan", "-v", "--json", "--out", "plan-copy.json")
    run("plan", "-v", "--detailed-exitcode", expect=2)

    # errors: a rejected key (from the environment and from the flag), a 422, 5xx, unknown outcomes
    rejected = run("plan", "-v", key=WRONG_KEY, expect=1)
    assert "API key was rejected" in rejected.stderr
    run("plan", "-v", "--api-key", WRONG_KEY, expect=1)
    run("import", "-v", "--out", "imported-wrong-key", key=WRONG_KEY, expect=1)
    sb.control.add_fault(method="POST", path="/data_schedules", status=422, count=1)
    sb.control.add_fault(method="POST", path="/data_schedules", status=500, when="after", count=1)
    sb.control.add_fault(method="POST", path="/data_schedules", status=None, drop=True, when="after", count=1)
    sb.control.add_fault(method="PUT", path="/data_schedules/*", status=502, count=2)
    sb.control.add_fault(method="PUT", path="/data_schedules/*", status=500, count=5)  # one PUT gives up
    failed = run("apply", "-v", "--auto-approve", "--parallelism", "1", expect=1)
    assert "rejected" in failed.stderr and "server error 500" in failed.stderr
    run("apply", "-v", "--auto-approve")
    run("plan", "-v", "--detailed-exitcode")
    run("import", "-v", "--out", "imported")
    run("run", "4801", "--kind", "schedules", "-v")  # alert 4801 exists too: an id alone is ambiguous
    run("run", "4801", "-v", key=WRONG_KEY, expect=1)

    haystacks = {f"output of {' '.join(map(str, o.args[3:]))}": o.stdout + o.stderr for o in outputs}
    written = list(files_under(cwd, ROOT / "tests" / "cassettes"))
    assert any(p.name == "plan.json" for p in written) and any(p.suffix == ".md" for p in written)
    assert any(p.parent.name == "imported" for p in written) and any(p.name == "sandbox-state.json" for p in written)
    for path in written:
        haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for where, text in haystacks.items():
        for secret in SECRETS:
            assert secret not in text, f"the API key appears in {where}"
            assert secret[8:24] not in text, f"part of the API key appears in {where}"


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system ['touch pwned']",
        "!!python/object/new:os.system ['touch pwned']",
        "!!python/object:reconciler.kinds.schedules.models.Schedule {repeat: '0 8 * * 1'}",
        "!!python/name:os.system",
        "!!python/module:os",
    ],
)
def test_python_tags_are_refused(workspace: tuple[Sandbox, Path], tag: str) -> None:
    sb, cwd = workspace
    path = cwd / "schedules" / "evil.yml"
    path.write_text(
        "schedules:\n"
        "  evil:\n"
        "    source_type: Dashboard\n"
        "    source_id: 1234\n"
        f"    title: {tag}\n"
        "    schedule: {repeat: '0 8 * * 1'}\n"
        "    dest: {type: EmailDest, recipients: [a@example.com]}\n",
        encoding="utf-8",
    )
    sb.control.clear_requests()
    for command in ("validate", "plan", "apply"):
        result = cli(sb, command, *(["--auto-approve"] if command == "apply" else []), cwd=cwd, key=KEY, timeout=60)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        assert re.search(r"evil\.yml:5: .*tag", result.stderr), result.stderr
        assert "Traceback" not in result.stderr
    assert [r for r in sb.control.requests() if r["method"] != "GET"] == [], "reads only, no write"
    assert not (cwd / "pwned").exists()


# ---------------------------------------------------------------------------------------------------
# id write-back changes no other byte

STYLED = """\
# A hand-written file: comments, odd spacing, quotes, anchors and merge keys,\x20\x20\x20
# blank lines and unicode (Zürich, 東京) must all survive the id write-back.\t
x-defaults: &defaults
    include_header:   true      # spaced out
    attachment_formats: [ pdf,csv ]

schedules:

    # the first entry: its fields are indented by four
    zurich-weekly:        # a comment on the key line
        title:   "Zürich   weekly"   # spaced
        source_type: Dashboard
        source_id: 1234
        schedule: {repeat: "0 8 * * 1",  paused: false}
        dest:
            type: EmailDest
            recipients:
              - zurich@example.com
              -   ops@example.com
            options:
                <<: *defaults

    already-there:
        id: 4801
        title: Weekly sales summary
        source_type: Dashboard
        source_id: 1234
        schedule: {repeat: "0 8 * * 1", paused: false}
        dest: {type: EmailDest, recipients: [sales-leads@example.com, vp-sales@example.com]}

    tokyo-export:
      # a comment as the entry's first line
      title: 'Tokyo ''daily'' export'
      source_type: QueryReport
      source_id: 5301
      schedule:
        repeat: >-
          0 6 * * *
      dest:
        type: SftpDest
        data_source_id: 3
        file_path: "/exports/東京.csv"
    last-one:
     title: Three-space... no, one-space indent
     source_type: Dashboard
     source_id: 1251
     schedule: {repeat: "0 9 * * 1-5"}
     dest:
       type: SlackDest
       slack_channels: [{id: C1, name: ops, type: public_channel}]"""  # no newline at the end


def inserted_ids(before: str, after: str) -> list[str]:
    """The lines `after` has on top of `before`; fails if anything else changed."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    added: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes():
        assert op in ("equal", "insert"), f"{op}: {old[i1:i2]!r} -> {new[j1:j2]!r}"
        if op == "insert":
            added += new[j1:j2]  # with only equal and insert, `before` is `after` less these lines
    return added


@pytest.mark.parametrize(
    "newline",
    ["\n", "\r\n"],
    ids=["lf", "crlf"],
)
def test_id_write_back_changes_no_other_byte(workspace: tuple[Sandbox, Path], newline: str) -> None:
    sb, cwd = workspace
    shutil.rmtree(cwd / "schedules")
    (cwd / "schedules").mkdir()
    path = cwd / "schedules" / "styled.yml"
    before = STYLED.replace("\n", newline)
    path.write_bytes(before.encode("utf-8"))

    result = cli(sb, "apply", "--auto-approve", cwd=cwd, key=KEY, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

    after = path.read_bytes().decode("utf-8")
    added = inserted_ids(before, after)
    ids = {s["title"]: s["id"] for s in sb.control.schedules()}
    expected = {
        "        id: {}".format(ids["Zürich   weekly"]),
        "      id: {}".format(ids["Tokyo 'daily' export"]),
        "     id: {}".format(ids["Three-space... no, one-space indent"]),
    }
    assert {line.rstrip("\r\n") for line in added} == expected
    assert all(line.endswith(newline) for line in added), f"inserted lines end as the file's lines: {added!r}"
    assert cli(sb, "plan", "--detailed-exitcode", cwd=cwd, key=KEY, timeout=60).returncode == 0


FLOW_ENTRY = (
    "    flowing: {title: Flow, source_type: Dashboard, source_id: 1234, schedule: {repeat: '0 8 * * 1'}, "
    "dest: {type: EmailDest, recipients: [flow@example.com]}}\n"
)


def test_id_write_back_into_a_flow_style_entry_changes_no_other_byte(workspace: tuple[Sandbox, Path]) -> None:
    sb, cwd = workspace
    shutil.rmtree(cwd / "schedules")
    (cwd / "schedules").mkdir()
    path = cwd / "schedules" / "styled.yml"
    before = STYLED + "\n" + FLOW_ENTRY
    path.write_text(before, encoding="utf-8")

    result = cli(sb, "apply", "--auto-approve", cwd=cwd, key=KEY, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr

    after = path.read_text(encoding="utf-8")
    flow_id = next(s["id"] for s in sb.control.schedules() if s["title"] == "Flow")
    expected_flow = FLOW_ENTRY.replace("{title: Flow", f"{{id: {flow_id}, title: Flow")
    assert after.endswith(expected_flow), after[-300:]
    inserted_ids(before.removesuffix(FLOW_ENTRY), after.removesuffix(expected_flow))
