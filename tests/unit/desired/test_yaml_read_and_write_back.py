"""Reading schedule files (every problem at file:line) and writing ids back without touching other bytes."""

from __future__ import annotations

import os
import re
import socket
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.desired import yamlentries, yamlread, yamlwrite
from reconciler.problems import InvalidSchedules, Problem

GOOD = """\
# Sales team deliveries
x-email-options: &email-options
  include_header: true
  attachment_formats: [pdf, csv]

schedules:
  weekly-sales:   # every Monday
    title: 'Weekly sales'
    source_type: Dashboard
    source_id: 1
    schedule: {repeat: "0 8 * * 1", paused: false}
    dest:
      type: EmailDest
      title: "Sales for {{$today}}"
      recipients: [sales@example.com]
      options:
        <<: *email-options
        preview: true
  daily-ops:
    id: 12
    source_type: QueryReport
    source_id: 3
    schedule:
      repeat: "0 6 * * *"
    dest:
      type: GsheetDest
      sheet_url: https://docs.google.com/spreadsheets/d/abc
      sheet_title: Ops
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path) -> list[str]:
    with pytest.raises(InvalidSchedules) as exc:
        yamlread.load([tmp_path])
    return [str(p) for p in exc.value.problems]


def test_loads_entries_with_merge_keys_and_lines(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD)
    sales, ops = yamlread.load([tmp_path])
    assert sales.key == "weekly-sales" and sales.id is None and sales.line == 7
    assert sales.fields["dest"]["options"] == {
        "include_header": True,
        "attachment_formats": ["pdf", "csv"],
        "preview": True,
    }
    assert sales.line_of("dest.recipients") == 15
    assert ops.id == 12 and ops.fields["schedule"] == {"repeat": "0 6 * * *", "paused": False}


def test_every_error_is_listed_with_file_line_and_path(tmp_path: Path) -> None:
    write(
        tmp_path,
        "bad.yml",
        """\
        schedules:
          one:
            source_type: Dashbord
            source_id: 1
            schedule: {repeat: "0 8 * * 8"}
            colour: blue
            dest:
              type: EmailDest
              recipients: [ok@example.com, not-an-email]
              options: {attachment_formats: [pdf, docx]}
          two:
            source_type: Dashboard
            schedule: {repeat: "0 8 * * 1"}
            dynamic_filter_presets:
              - dynamic_filter_id: 7
                preset_condition: {operator: between, values: [1]}
            dest: {type: TeamsDest}
        """,
    )
    found = problems(tmp_path)
    f = str(tmp_path / "bad.yml")
    expected_prefixes = [
        f"{f}:3: one.source_type: ",
        f"{f}:5: one.schedule.repeat: not a valid cron expression",
        f"{f}:6: one.colour: unknown field",
        f"{f}:9: one.dest.recipients.1: not a valid email address",
        f"{f}:10: one.dest.options.attachment_formats.1: ",
        f"{f}:11: two.source_id: missing required field",
        f"{f}:16: two.dynamic_filter_presets.0.preset_condition: operator 'between' takes exactly 2 value(s), got 1",
        f"{f}:17: two.dest.type: unknown dest type 'TeamsDest'",
    ]
    for prefix in expected_prefixes:
        assert any(p.startswith(prefix) for p in found), (prefix, found)
    assert len(found) == len(expected_prefixes)


def test_wrong_type_names_the_field(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD.replace("source_id: 3", "source_id: three"))
    (p,) = problems(tmp_path)
    assert ":22: daily-ops.source_id: " in p and "integer" in p


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "schedules:\n  a: [1, 2\n  b: 3\n")
    (p,) = problems(tmp_path)
    assert p.startswith(str(tmp_path / "a.yml") + ":") and "YAML syntax" in p


def test_python_tags_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", "schedules:\n  x: !!python/object/apply:os.system ['touch /tmp/pwned']\n")
    (p,) = problems(tmp_path)
    assert ":2: " in p and "python/object/apply" in p and "not allowed" in p


def test_duplicate_key_within_a_file(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD + "  weekly-sales:\n    source_type: Dashboard\n")
    (p,) = problems(tmp_path)
    assert p.endswith(":29: weekly-sales: duplicate key in this mapping")


def test_duplicate_key_across_files_and_two_keys_claiming_one_id(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD)
    write(tmp_path, "sub/b.yaml", GOOD.replace("weekly-sales:", "other:"))
    found = problems(tmp_path)
    assert any(
        "daily-ops: duplicate key: also defined at" in p and p.startswith(str(tmp_path / "sub/b.yaml")) for p in found
    )
    assert any("id 12 is already claimed by 'daily-ops'" in p for p in found)


def test_missing_path_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(InvalidSchedules, match="no such file"):
        yamlread.load([tmp_path / "nope"])


def test_record_ids_changes_no_other_byte(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.yml",
        GOOD + "  flow-one: {source_type: QueryReport, source_id: 3, schedule: {repeat: '0 6 * * *'}, "
        "dest: {type: GsheetDest, sheet_url: u, sheet_title: t}}\n",
    )
    assert yamlwrite.record_ids({str(path): {"weekly-sales": 4812}}, [path]) == []
    after = path.read_text()
    lines_before = (GOOD).splitlines()
    lines_after = after.splitlines()
    assert lines_after[7] == "    id: 4812"
    assert lines_after[:7] + lines_after[8 : len(lines_before) + 1] == lines_before
    assert yamlread.load([path])[0].id == 4812


def test_record_ids_into_flow_style_entry(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.yml",
        "# keep me\nschedules:\n  f: {source_type: QueryReport, source_id: 3, "
        "schedule: {repeat: '0 6 * * *'}, dest: {type: GsheetDest, sheet_url: u, sheet_title: t}}\n",
    )
    assert yamlwrite.record_ids({str(path): {"f": 7}}, [path]) == []
    assert "# keep me" in path.read_text()
    assert yamlread.load([path])[0].id == 7


def test_record_ids_is_atomic_and_keeps_mode(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yml", GOOD)
    path.chmod(0o640)
    assert yamlwrite.record_ids({str(path): {"weekly-sales": 1}}, [path]) == []
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["a.yml"]


def test_a_mapping_made_only_of_a_merge_key(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yml",
        GOOD.replace("        <<: *email-options\n        preview: true\n", "        <<: *email-options\n"),
    )
    sales, _ = yamlread.load([tmp_path])
    assert sales.fields["dest"]["options"] == {"include_header": True, "attachment_formats": ["pdf", "csv"]}


def test_alias_bombs_and_self_references_are_problems_not_crashes(tmp_path: Path) -> None:
    bomb = "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for i, prev in zip("bcdefghi", "abcdefgh", strict=True):
        bomb += f"x-{i}: &{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    bomb += "schedules:\n  boom:\n    source_type: Dashboard\n    title: *i\n"
    write(tmp_path, "bomb.yml", bomb)
    write(tmp_path, "self.yml", "schedules:\n  loop: &loop\n    source_type: Dashboard\n    title: [*loop]\n")
    found = problems(tmp_path)
    assert any("bomb.yml:11: boom: too large" in p for p in found), found
    assert any("self.yml:2: loop.title.0: refers to itself through an alias" in p for p in found), found


def test_yaml_1_2_scalars_no_norway_problem_and_dates_as_written(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yml",
        """\
        schedules:
          countries:
            source_type: Dashboard
            source_id: 0x10
            schedule: {repeat: "0 8 * * 1", paused: False}
            dynamic_filter_presets:
              - dynamic_filter_id: 7
                preset_condition: {operator: is, values: [NO, yes, on, 1.5, 012, true]}
              - dynamic_filter_id: 8
                preset_condition: {operator: before, values: [2020-03-21]}
            dest: {type: GsheetDest, sheet_url: u, sheet_title: ~}
        """,
    )
    found = problems(tmp_path)  # sheet_title: ~ is null, which GsheetDest does not allow
    assert [p.split(": ", 1)[1] for p in found] == ["countries.dest.sheet_title: Input should be a valid string"]
    write(tmp_path, "a.yml", (tmp_path / "a.yml").read_text().replace("sheet_title: ~", "sheet_title: t"))
    (entry,) = yamlread.load([tmp_path])
    assert entry.fields["source_id"] == 16 and entry.fields["schedule"]["paused"] is False
    presets = entry.fields["dynamic_filter_presets"]
    assert presets[0]["preset_condition"]["values"] == ["NO", "yes", "on", 1.5, 12, True]
    assert presets[1]["preset_condition"]["values"] == ["2020-03-21"]


def test_duplicate_field_inside_an_entry_and_the_rest_still_checked(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD.replace("    source_id: 3\n", "    source_id: 3\n    source_id: 4\n"))
    (p,) = problems(tmp_path)
    assert p.endswith(":23: daily-ops.source_id: duplicate key in this mapping")


def test_huge_numbers_are_a_problem_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD.replace("source_id: 3", "source_id: " + "9" * 5000))
    (p,) = problems(tmp_path)
    assert ":22: daily-ops.source_id: not a valid int" in p


def test_an_empty_value_is_null(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", GOOD.replace("    title: 'Weekly sales'\n", "    title:\n"))
    sales, _ = yamlread.load([tmp_path])
    assert sales.fields["title"] is None


# ---------------------------------------------------------------------------------------------------
# write-back, fuzzed: whatever the file's style, each id lands on its own key and nothing else changes

BREAKS = ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x85"]  # all of them break lines for libyaml
_TITLE_CHARS = st.sampled_from([*"abc XYZ09-_.,:#'&*!|>%@`", "é", "東", "😀", "\\u2028", "\\x85", "\\t", '\\"'])


@st.composite
def styled_files(draw: st.DrawFn) -> tuple[str, dict[str, int]]:
    """A schedule file in a random mix of styles, and ids to record into some of its entries."""
    lines: list[str] = []
    count = draw(st.integers(1, 5))
    indent = " " * draw(st.sampled_from([1, 2, 4]))
    if draw(st.booleans()):
        lines.append("# " + draw(st.text(st.sampled_from("abc #:{}-"), max_size=10)))
    lines += ["x-base: &base", "  source_id: 1", "  schedule: {repeat: '0 8 * * 1'}"]
    lines.append("schedules:" + draw(st.sampled_from(["", "  # the entries"])))
    anchored: list[str] = []
    ids: dict[str, int] = {}
    for i in range(count):
        fields = _entry_fields(draw, i, anchored, ids)
        lines += _entry_lines(draw, i, fields, indent, anchored)
    text = "BOM" if draw(st.booleans()) else ""
    for line in lines:
        text += line + draw(st.sampled_from(BREAKS))
    return text.replace("BOM", yamlentries.BOM, 1), ids


def _entry_fields(draw: st.DrawFn, i: int, anchored: list[str], ids: dict[str, int]) -> list[tuple[str, str]]:
    """Entry `e{i}`'s fields: a merge of an earlier anchor or its own source, maybe an id (or one to record)."""
    title = '"' + "".join(draw(st.lists(_TITLE_CHARS, max_size=8))) + '"'
    fields = [("title", title), ("dest", "{type: EmailDest, recipients: [a@example.com]}")]
    merge = draw(st.sampled_from(["", "*base", *(f"*{a}" for a in anchored)]))
    if merge:
        fields.insert(0, ("<<", merge))
    else:
        fields += [("source_id", str(draw(st.integers(1, 10**6)))), ("schedule", "{repeat: '0 8 * * 1'}")]
    has_id = draw(st.booleans())
    if has_id:
        fields.insert(draw(st.integers(0, len(fields))), ("id", str(900 + i)))
    elif draw(st.booleans()):
        ids[f"e{i}"] = 10_000 + i
    if draw(st.booleans()) and merge:
        fields = fields[:1]  # an entry made only of its merge key
    return fields


def _entry_lines(draw: st.DrawFn, i: int, fields: list[tuple[str, str]], indent: str, anchored: list[str]) -> list[str]:
    """Entry `e{i}` written in a drawn style: block, flow, flow over lines, or an explicit key."""
    key = f"e{i}"
    spelled = draw(st.sampled_from([key, f"'{key}'", f'"{key}"']))
    style = draw(st.sampled_from(["block", "flow", "flow-lines", "explicit"]))
    props = ""
    if style != "explicit":
        anchor = f"a{i}"
        if draw(st.booleans()):
            props += f"&{anchor} "
            anchored.append(anchor)
        if draw(st.booleans()):
            props += "!!map "
    inner = indent + " " * draw(st.sampled_from([1, 2, 3]))
    comment = draw(st.sampled_from(["", "  # note", " #{"]))
    lines: list[str] = []
    if style == "block":
        lines.append(f"{indent}{spelled}: {props}".rstrip() + comment)
        for name, value in fields:
            if draw(st.integers(0, 4)) == 0:
                lines.append(inner + "# a comment between fields")
            lines.append(f"{inner}{name}: {value}")
    elif style == "flow":
        pairs = ", ".join(f"{n}: {v}" for n, v in fields)
        lines.append(f"{indent}{spelled}: {props}{{{pairs}}}{comment}")
    elif style == "flow-lines":
        lines.append(f"{indent}{spelled}: {props}{{")
        lines += [f"{inner}{n}: {v}," for n, v in fields]
        lines.append(f"{inner}}}{comment}")
    else:
        lines += [f"{indent}? {spelled}{comment}", f"{indent}: {fields[0][0]}: {fields[0][1]}"]
        lines += [f"{indent}  {n}: {v}" for n, v in fields[1:]]
    return lines


def own_data(text: str) -> dict[str | None, Any]:
    parsed = yamlentries.parse("f.yml", text.removeprefix(yamlentries.BOM))
    assert not parsed.problems
    return {e.key: e.data for e in parsed.entries}


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=styled_files())
def test_fuzz_ids_land_on_their_keys_and_nothing_else_changes(tmp_path: Path, case: tuple[str, dict[str, int]]) -> None:
    text, ids = case
    before = own_data(text)
    assert all(data is not None for data in before.values()), before
    path = tmp_path / "f.yml"
    path.write_text(text, encoding="utf-8", newline="")
    assert yamlwrite.record_ids({str(path): ids}, [path]) == []
    after_text = path.read_bytes().decode("utf-8")
    after = own_data(after_text)
    assert after == {key: {**data, "id": ids[key]} if key in ids else data for key, data in before.items()}
    assert not ids or after_text != text
    # only `id: N` and its separator were inserted: every other character is where it was
    removed = after_text
    for new_id in ids.values():
        removed = re.sub(rf"id: {new_id}(?:, |(?:\r\n|[\n\r\x85\u2028\u2029]) *)", "", removed, count=1)
    assert removed == text
    if not any(b in text for b in ("\r", "\x85", "\u2028", "\u2029")):  # ruamel agrees on these files only
        document = YAML(typ="rt").load(after_text)
        for key, new_id in ids.items():
            assert dict(document["schedules"][key].non_merged_items())["id"] == new_id


def test_record_ids_writes_only_the_files_it_is_given(tmp_path: Path) -> None:
    """A saved plan's `file` is text anyone can edit: only this run's schedule files are written."""
    ours = write(tmp_path, "repo/schedules/a.yml", GOOD)
    victim = write(tmp_path, "victim.yml", GOOD)
    (tmp_path / "repo" / "schedules" / "out").symlink_to(tmp_path)
    victim_bytes = victim.read_bytes()
    names = [str(victim), str(ours.parent / ".." / ".." / "victim.yml"), str(ours.parent / "out" / "victim.yml")]
    for name in names:
        (missed,) = yamlwrite.record_ids({name: {"weekly-sales": 5}}, [ours])
        refused = "refused: not a schedule file of this project"
        assert (missed.key, missed.id, missed.reason) == ("weekly-sales", 5, refused)
        assert str(missed) == f'{name}: add "id: 5" to weekly-sales ({refused})'
    assert victim.read_bytes() == victim_bytes
    # the same file spelled another way is the same file
    spelled = str(ours.parent / ".." / "schedules" / "a.yml")
    assert yamlwrite.record_ids({spelled: {"weekly-sales": 5}}, [ours]) == []
    assert yamlread.load([ours])[0].id == 5


def test_record_ids_records_each_file_on_its_own_and_returns_what_it_could_not(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yml", GOOD)
    broken = write(tmp_path, "broken.yml", "schedules:\n  weekly-sales: [unclosed\n")
    gone = tmp_path / "gone.yml"
    directory = tmp_path / "dir.yml"
    directory.mkdir()
    renamed = write(tmp_path, "renamed.yml", GOOD.replace("weekly-sales", "other"))
    has_id = write(tmp_path, "has-id.yml", GOOD.replace("    title: 'Weekly sales'\n", "    id: 9\n"))
    ids = {str(p): {"weekly-sales": 5} for p in (good, broken, gone, directory, renamed, has_id)}
    lines = {(str(p), "weekly-sales"): 7 for p in (broken, gone, directory, renamed)}
    writable = [good, broken, gone, directory, renamed, has_id]
    missed = {u.file: u for u in yamlwrite.record_ids(ids, writable, lines=lines)}
    assert set(missed) == {str(p) for p in (broken, gone, directory, renamed, has_id)}
    assert yamlread.load([good])[0].id == 5
    assert missed[str(broken)].reason.startswith("the file no longer reads as schedules: line 3: YAML syntax")
    assert missed[str(gone)].reason == "cannot read the file: No such file or directory"
    assert missed[str(directory)].reason == "cannot read the file: not a regular file (a directory)"
    assert missed[str(renamed)].reason == "there is no such entry in the file any more"
    assert (missed[str(has_id)].line, missed[str(has_id)].reason) == (7, "the entry has id 9 now")
    assert all(u.line == 7 for f, u in missed.items() if f != str(has_id)), "the planned line when it is not found"
    expected = f'{renamed}:7: add "id: 5" to weekly-sales (there is no such entry in the file any more)'
    assert str(missed[str(renamed)]) == expected


def test_record_ids_refuses_an_insertion_the_reader_would_read_otherwise(tmp_path: Path) -> None:
    """An explicit key whose `?` stands on a line of its own: an id inserted before `title` would
    become part of that key. The check by the reader catches it; the other id is still recorded."""
    text = "schedules:\n  a:\n    ?\n      title\n    : A\n    source_id: 1\n  b: {title: B}\n"
    new_text, (missed,) = yamlwrite.insert_ids("f.yml", text, {"a": 5, "b": 6})
    assert (missed.key, missed.line) == ("a", 2) and "would change what the file means" in missed.reason
    assert new_text == text.replace("{title: B", "{id: 6, title: B")


def test_an_entry_merged_or_aliased_elsewhere_lends_its_fields_never_its_id(tmp_path: Path) -> None:
    text = "schedules:\n  a: &a\n    title: A\n  b: {<<: *a}\n  c: {title: C, dest: *a}\n"
    new_text, missed = yamlwrite.insert_ids("f.yml", text, {"a": 5})
    assert missed == [] and new_text == text.replace("    title: A", "    id: 5\n    title: A")
    data = {e.key: e.data for e in yamlentries.parse("f.yml", new_text).entries}
    assert data == {"a": {"id": 5, "title": "A"}, "b": {"title": "A"}, "c": {"title": "C", "dest": {"title": "A"}}}


def test_atomic_write_follows_symlinks_writes_devices_and_refuses_the_rest(tmp_path: Path) -> None:
    real = write(tmp_path, "real/file.yml", "old\n")
    real.chmod(0o600)
    os.chown(real, 65534, 65534)  # someone else's file (the test runs as root, like CI)
    link = tmp_path / "link.yml"
    link.symlink_to(real)
    yamlwrite.atomic_write(link, "new\n")
    assert link.is_symlink() and real.read_text() == "new\n"
    st = real.stat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o600, 65534, 65534)
    assert sorted(p.name for p in real.parent.iterdir()) == ["file.yml"]
    yamlwrite.atomic_write(Path("/dev/null"), "into the void\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    for name, kind in (("fifo", "a FIFO"), ("dir", "a directory"), ("sock", "a socket")):
        with pytest.raises(yamlwrite.FileWriteError, match=rf"cannot write .*{name}: not a regular file \({kind}\)"):
            yamlwrite.atomic_write(tmp_path / name, "x")
    server.close()
    with pytest.raises(yamlwrite.FileWriteError, match="cannot write"):
        yamlwrite.atomic_write(tmp_path / "no-such-dir" / "x.yml", "x")


def test_atomic_write_keeps_hard_links(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yml", GOOD)
    other = tmp_path / "elsewhere.yml"
    os.link(path, other)
    assert yamlwrite.record_ids({str(path): {"weekly-sales": 5}}, [path]) == []
    assert os.path.samefile(path, other) and other.read_text() == path.read_text()
    assert yamlread.load([other])[0].id == 5
    yamlwrite.atomic_write(path, "short\n")  # shorter than before: truncated, not padded
    assert other.read_bytes() == b"short\n"


def test_problems_show_control_characters_escaped() -> None:
    problem = Problem("a\nb.yml", 3, "key\x1b[2J", "bad value '\x9b31m' \u2028 \u202e\x7f\udcff é 東京")
    assert str(problem) == "a\\nb.yml:3: key\\x1b[2J: bad value '\\x9b31m' \\u2028 \\u202e\\x7f\\udcff é 東京"
