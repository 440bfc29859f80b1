"""Reading schedule files (every problem at file:line) and writing ids back without touching other bytes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reconciler import yamlread, yamlwrite
from reconciler.diagnostics import InvalidSchedules

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
    yamlwrite.record_ids({str(path): {"weekly-sales": 4812}})
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
    yamlwrite.record_ids({str(path): {"f": 7}})
    assert "# keep me" in path.read_text()
    assert yamlread.load([path])[0].id == 7


def test_record_ids_is_atomic_and_keeps_mode(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yml", GOOD)
    path.chmod(0o640)
    yamlwrite.record_ids({str(path): {"weekly-sales": 1}})
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
    write(tmp_path, "a.yml", """\
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
        """)
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
