"""The fast reader (issue 22): a file it reads gives exactly what the full reader gives, lines included
(read later, from the same text); a file it cannot read so is left to the full reader."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench import workload
from reconciler.desired import yamlfast, yamlread
from reconciler.kinds.entries import DesiredEntry, LinesLater
from reconciler.problems import Problem

REPO = Path(__file__).resolve().parents[3]

ENTRY = """\
{key}:{comment}
{i}title: {title}
{i}source_type: Dashboard
{i}source_id: {source_id}
{i}schedule:
{i}{i}repeat: "0 8 * * 1"
{i}{i}paused: {paused}
{i}dest:
{i}{i}type: EmailDest
{i}{i}title: {dest_title}
{i}{i}recipients: [sales@example.com, "ops@example.com"]
{i}{i}options: {{include_header: true, attachment_formats: [pdf]}}
"""

ALERT = """\
{key}:
{i}title: Revenue below 1,000
{i}source_type: DashboardWidget
{i}source_id: 90101
{i}schedule: {{repeat: "0 * * * *", paused: false}}
{i}viz_conditions:
{i}- field_path: {{field_name: revenue, model_id: 801}}
{i}  condition: {{operator: less_than, values: [1000]}}
{i}dest: {{type: EmailDest, title: Revenue alert, recipients: [finance@example.com]}}
"""


def read(text: str, *, fast: bool, monkeypatch: pytest.MonkeyPatch | None = None) -> Any:
    """Everything reading gives, types and order spelled out, every line of every field forced."""
    real = yamlfast.entries
    if not fast:
        yamlfast.entries = lambda name, text: None
    try:
        schedules, problems = yamlread._read_file("team.yml", text.encode())
    finally:
        yamlfast.entries = real
    return [_exact(s) for s in schedules], problems


def _exact(s: DesiredEntry) -> Any:
    def spelled(value: Any) -> Any:
        if isinstance(value, dict):
            return ("dict", [(spelled(k), spelled(v)) for k, v in value.items()])
        if isinstance(value, list):
            return ("list", [spelled(v) for v in value])
        return (type(value).__name__, repr(value))

    return spelled([s.key, s.id, s.fields, s.file, s.line, list(s.field_lines.items()), s.kind, s.env])


def same_either_way(text: str) -> None:
    assert read(text, fast=True) == read(text, fast=False)


# Written forms the two YAML readers may read otherwise: numbers, booleans, dates, escapes, styles.
SCALARS = [
    "Weekly sales",
    "'single ''quoted'''",
    '"tab\\there"',
    '"\\x41\\u00e9\\U0001F600"',
    '"a\\/b\\\\c\\"d"',
    '"nel\\N nbsp\\_ ls\\L ps\\P"',
    '"bell\\a esc\\e nul\\0 v\\v"',
    "1_000",
    "0b101",
    "0X1F",
    "0O17",
    "0x1F",
    "0o17",
    "012",
    "+1",
    "-0",
    "1e3",
    "1.",
    ".5",
    ".inf",
    "-.Inf",
    ".nan",
    "1e400",
    "true",
    "True",
    "TRUE",
    "yes",
    "no",
    "on",
    "~",
    "null",
    "NULL",
    "2024-01-01",
    "2024-1-1",
    "2001-12-14t21:59:43.10-05:00",
    "12:30:00",
    "1:30",
    "{{$today}}",
    "'{{$today}}'",
    "${TITLE}",
    "a #not a comment",
    "a# b",
    "x: y",
    "'multi\n  line'",
    '"multi\n\n  lines"',
    "plain\n  folded",
    "|\n  literal\n   kept\n",
    ">-\n  folded\n  text\n",
    "|+\n  kept\n\n",
    "'   spaced   '",
    '"\\\n  joined"',
    "'it''s'",
    "@at",
    "`tick",
    "%pct",
    "[a, b]",
    "{a: b}",
    "!!str 1",
    "&a x",
    "*a",
    "<< x",
    "é ü 中文",
    "sales_2024",
    "cafe_1",
    "x_1",
    "1_0.5",
    "+_1",
    "Q1_2024 report",
    "0b1 0B1",
    "'1_000'",
    "v0X1",
    "'\u2028'",
    '"\\r\\n"',
    "- item",
    "? key",
    "|2\n   indented\n",
]
NUMBERS = ["1", "0x1F", "0o17", "1_0", "+7", "012", "1.5", "1e3", "true", "'7'", "null", "-1", "99999999999999999999"]
BOOLS = ["false", "False", "FALSE", "true", "no", "off", "0", "~", "'false'"]


def _double_quoted(text: str) -> str:
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\U{ord(c):08x}" for c in text) + '"'


# any text, in each quoting style YAML has for it (control characters and tabs as they are, in single
# quotes); and the forms above
TEXTS = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r'"), max_size=12).map(
        lambda t: f"'{t}'"
    ),
    st.text(max_size=30).map(_double_quoted),
    st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=30).map(
        lambda t: "'" + t.replace("'", "''") + "'"
    ),
    st.from_regex(r"[A-Za-z][A-Za-z0-9 ,.;()/@+=?-]{0,30}[A-Za-z0-9]", fullmatch=True),
    st.sampled_from(SCALARS),
)


# block scalars, each way they can end; the entry's last field, so one may end the file
BLOCKS = st.sampled_from(
    [
        "|\nGood morning,\nhere is the digest.",
        "|\n",
        "|\n  \n",
        ">\nfolded\ntext\n",
        "|+\nkept\n\n",
        "|-\nstripped\n",
        "|\nline\n  ",
        "|\n\tTabbed",
        "|\nx\n \t",
    ]
)


@st.composite
def files(draw: st.DrawFn) -> str:
    indent = draw(st.sampled_from(["  ", "    ", "   "]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    parts = [draw(st.sampled_from(["", "# team file\n", "---\n", "x-note: hello\n", "x-list:\n  - 1\n"]))]
    for kind in draw(st.sampled_from([["schedules"], ["alerts"], ["schedules", "alerts"], ["alerts", "schedules"]])):
        parts.append(f"{kind}:{draw(st.sampled_from(['', '  # map']))}\n")
        for n in range(draw(st.integers(1, 3))):
            key = draw(st.sampled_from([f"e{n}-{kind}", f"E.{n}_{kind}", f"{n}{kind}"]))
            template = ENTRY if kind == "schedules" else ALERT
            body = template.format(
                key=key,
                i=indent,
                comment=draw(st.sampled_from(["", "  # why"])),
                title=draw(TEXTS).replace("\n", "\n" + indent * 2),
                source_id=draw(st.sampled_from(NUMBERS)),
                paused=draw(st.sampled_from(BOOLS)),
                dest_title=draw(TEXTS).replace("\n", "\n" + indent * 3),
            )
            body = "".join(indent + line + "\n" for line in body.splitlines())
            if kind == "schedules" and draw(st.booleans()):  # a block scalar last: at the end of the file too
                body += f"{indent * 3}body_text: {draw(BLOCKS)}".replace("\n", "\n" + indent * 4).rstrip(" ") + "\n"
            if draw(st.booleans()):
                body += draw(st.sampled_from(["\n", f"{indent}# between\n", "# at the margin\n", f"{indent}\n"]))
            parts.append(body)
    text = "".join(parts).replace("\n", newline)
    return draw(st.sampled_from([text, text.rstrip("\r\n"), text + "  ", text + "\t\n", text + "..." + newline]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_a_file_reads_the_same_fast_or_in_full(text: str) -> None:
    same_either_way(text)


@pytest.mark.parametrize(
    "value",
    [
        "1_000",
        "0b101",
        "0X1F",
        "0O17",
        "_1",
        ".inf",
        "-.Inf",
        ".nan",
        "1e400",
        "{{$today}}",
        "2024-01-01",
        "12:30:00",
        "&a x",
        "!!str 1",
        '"nel\\N"',
        "x\u2028y",
        "x\x85y",
        "a\rb",
    ],
)
@pytest.mark.parametrize("where", ["title", "source_id", "alert value"])
def test_what_the_readers_read_otherwise_is_left_to_the_full_reader(value: str, where: str) -> None:
    """In a text field, a number field and a field that takes any number: a value read otherwise by
    the fast reader would be valid in one of them, and the plan would differ."""
    if where == "alert value":
        entry = ALERT.format(key="a", i="  ").replace("values: [1000]", f"values: [{value}]")
    else:
        fields = {"title": "T", "source_id": "1", where: value}
        entry = ENTRY.format(key="a", i="  ", comment="", paused="false", dest_title="t", **fields)
    text = ("alerts:\n" if where == "alert value" else "schedules:\n") + "".join(
        "  " + line + "\n" for line in entry.splitlines()
    )
    same_either_way(text)


@pytest.mark.parametrize(
    "text",
    [
        "schedules:\n  a: &x {title: t}\n  b: *x\n",  # an alias
        "schedules:\n  a:\n    <<: {title: t}\n",  # a merge key
        "schedules:\n  'a': {title: t}\n",  # a quoted key: the scan does not know it
        "schedules: {a: {title: t}}\n",  # flow style
        "schedules:\n  1: {title: t}\n",  # not a string key
        "schedules:\n  a:\n",  # an empty entry
        "schedules:\n  a: {title: t, title: u}\n",  # a duplicate
        "schedules:\n  a: {title: t}\n---\nschedules: {}\n",  # two documents
        "schedules:\n  a: {dest: {options: {a.b: 1}}}\n",  # a dotted key
        "schedules:\n  a: " + "[" * 40 + "]" * 40 + "\n",  # too deep
        "schedule:\n  a: {title: t}\n",  # an unknown top-level key
        "schedules:\n  a:\n   title: t\n b: {}\n",  # less indented
        "%YAML 1.2\n---\nschedules:\n  a: {title: t}\n",
    ],
)
def test_a_file_laid_out_otherwise_is_read_in_full(text: str) -> None:
    assert yamlfast.entries("team.yml", text) is None
    same_either_way(text)


def test_the_example_and_the_bench_workspace_are_read_fast_with_no_line_read_until_asked(tmp_path: Path) -> None:
    workload.write_desired(workload.remote_schedules(300), tmp_path, update_every=7, creates=5, unmanaged_every=11)
    example = REPO / "reconciler" / "example"
    files = [f for f in sorted(example.glob("*.yml")) if f.name != "sales.yml"] + sorted(tmp_path.rglob("*.yml"))
    assert yamlfast.entries("sales.yml", (example / "sales.yml").read_text()) is None  # anchors: read in full
    for file in files:
        text = file.read_text()
        fast = yamlfast.entries(str(file), text)
        assert fast, f"{file} was not read fast"
        source = fast[0].lines._source  # type: ignore[attr-defined]
        assert source._read is None, "no line of a field is read while reading"
        same_either_way(text)


def test_a_field_line_is_read_the_first_time_one_is_asked_for_once_for_the_whole_file() -> None:
    text = "# deliveries\nschedules:\n" + "".join(
        "  " + line + "\n"
        for key in ("a", "b")
        for line in ENTRY.format(
            key=key, i="  ", comment="", title="T", source_id=1, paused="false", dest_title="D"
        ).splitlines()
    )
    schedules, problems = yamlread._read_file("team.yml", text.encode())
    assert problems == [] and [s.line for s in schedules] == [3, 15]
    lines = schedules[1].field_lines
    assert isinstance(lines, LinesLater)
    source = lines._source
    assert source._read is None  # type: ignore[attr-defined]
    assert schedules[1].line_of("dest.recipients") == 25 and schedules[1].line_of("dest.nowhere") == 22
    assert schedules[0].line_of("schedule.paused") == 9
    assert source._read is not None  # type: ignore[attr-defined]


def test_lines_still_to_be_read_cross_to_a_worker_and_back() -> None:
    text = "schedules:\n" + "".join(
        "  " + line + "\n"
        for line in ENTRY.format(
            key="a", i="  ", comment="", title="T", source_id=1, paused="false", dest_title="D"
        ).splitlines()
    )
    schedules, _ = yamlread._read_file("team.yml", text.encode())
    back = pickle.loads(pickle.dumps(schedules))
    assert back[0].line_of("dest.type") == 10 and dict(back[0].field_lines) == dict(schedules[0].field_lines)


def test_an_invalid_entry_is_reported_by_the_full_reader_at_its_line() -> None:
    text = "schedules:\n  a:\n    title: t\n    source_type: Dashboard\n    source_id: nope\n"
    assert yamlfast.entries("team.yml", text) is not None  # it reads, but does not validate
    _, problems = yamlread._read_file("team.yml", text.encode())
    assert problems and all(isinstance(p, Problem) and p.line >= 2 for p in problems)
    same_either_way(text)


@pytest.mark.parametrize("name", ["sales_2024", '"dashboard_0"', "team_1_dash", "'cafe_1'"])
def test_names_with_a_digit_beside_an_underscore_are_read_fast(name: str) -> None:
    """Unames are often `word_2024`: only a word that could be a number is asked of yaml-rs."""
    text = f"schedules:\n  a:\n    title: {name}\n    dashboard: {name}\n    dest: {{type: EmailDest, title: t}}\n"
    assert yamlfast.entries("team.yml", text) is not None
    same_either_way(text)


E = ENTRY.format(key="a", i="  ", comment="", title="T", source_id=1, paused="false", dest_title="t")
E_LINES = "".join("  " + line + "\n" for line in E.splitlines())


@pytest.mark.parametrize(
    "text",
    [
        "schedules:\n" + E_LINES + "      body_text: |\n        Good morning,\n        here is the digest.",
        "schedules:\n" + E_LINES + "      body_text: |\n",
        "schedules:\n" + E_LINES + "      body_text: |\n        \n",
        "schedules:\n" + E_LINES + "      body_text: |\n        x\n        ",
        ("schedules:\n" + E_LINES + "      body_text: >\n        folded\n").replace("\n", "\r\n"),
        "schedules:\n  a:   # from the runbook\x0c\n" + E_LINES.split("\n", 1)[1],
        "schedules:\n" + E_LINES.replace("title: T", "title: Q3\x7f report"),
        "schedules:\n" + E_LINES.replace("title: T", "title: Q3\ufffe report"),
        "schedules:\n" + E_LINES.replace("source_id: 1", "source_id: +0x1F"),
        "schedules:\n" + E_LINES.replace("source_id: 1", "source_id: -0o17"),
        "schedules:\n" + E_LINES.replace("title: T", 'title: "Ops \\ud83d\\udcc8 digest"'),
        "schedules:\n" + E_LINES.replace("title: T", "title: ?Weekly"),
        "schedules:\n" + E_LINES.replace("[sales@example.com,", "[?a,"),
        "schedules:\n" + E_LINES.replace("[sales@example.com,", "[:x,"),
        "schedules:\n" + E_LINES.replace("[sales@example.com,", "[|a,"),
        "schedules:\n" + E_LINES.replace("[sales@example.com,", "[>a,"),
        "schedules:\n" + E_LINES.replace("{include_header: true,", "{include_header:,"),
        "schedules:\n" + E_LINES.replace("[sales@example.com,", "[a:,"),
        "schedules:\n"
        + E_LINES.replace(
            '    recipients: [sales@example.com, "ops@example.com"]', "    recipients:\n      -\tsales@example.com"
        ),
        "schedules:\n" + E_LINES + "      body_text: |\n        \tindented\n",
        "schedules:\n" + E_LINES + "      body_text: |\n        Good morning.\n   \t\n",
    ],
)
def test_what_a_hostile_run_found_yaml_rs_reads_otherwise_reads_as_in_full(text: str) -> None:
    """Each was read fast, and otherwise than the full reader: now refused by the gate, or (a block
    scalar ending the file) read with a key after it."""
    same_either_way(text)


A_LINES = "".join("  " + line + "\n" for line in ALERT.format(key="a", i="  ").splitlines())


@pytest.mark.parametrize(
    "flow",
    [
        "values: [?a]",
        "values: [:x]",
        "values: [|a]",
        "values: [>a]",
        "values: [a:]",
        "values: [{id: C1, name:}]",
        "values: [1000, ?a]",
        "values: [1000,?a]",
        "values: [|]",
        "values: [1000, ?]",
        "values: [:]",
        "values: [>, 1]",
        "values: [{a: |}]",
        'values: [">= 100", "|"]',
        "values: [{?a: 1}]",
        "values: [{|a: 1}]",
        "values: [{:a: 1}]",
    ],
)
@pytest.mark.parametrize("field", ["values", "field_name"])
def test_flow_scalars_yaml_rs_reads_otherwise_in_a_field_taking_any_value(flow: str, field: str) -> None:
    """Found by a hostile run in the fields that take any value, where validation cannot catch them."""
    if field == "values":
        text = "alerts:\n" + A_LINES.replace("values: [1000]", flow)
    else:  # the same start in a flow mapping's value: `{field_name: ?a}`
        value = flow.removeprefix("values: [").removesuffix("]").split(",")[-1].strip()
        text = "alerts:\n" + A_LINES.replace("field_name: revenue", f"field_name: {value}")
    same_either_way(text)


@pytest.mark.parametrize("key", ["?a", "|a", ":a", ">a", "? a", "a"])
def test_a_key_yaml_rs_reads_otherwise_in_a_slack_channel_taking_any_mapping(key: str) -> None:
    text = (
        "schedules:\n  a:\n    title: t\n    source_type: Dashboard\n    source_id: 1\n"
        '    schedule: {repeat: "0 8 * * 1"}\n'
        f"    dest: {{type: SlackDest, slack_channels: [{{{key}: 1, id: C1}}], message: m}}\n"
    )
    same_either_way(text)


@pytest.mark.parametrize("text", ["- " * 11500 + "x\n", "? " * 20000 + "x\n", " " * 300 + "- x\n"])
def test_nesting_that_overflows_yaml_rs_is_never_handed_to_it(text: str) -> None:
    """yaml-rs recurses per level: about 11,000 crash the process (a segfault, found by a hostile run)."""
    assert yamlfast.entries("team.yml", text) is None
    same_either_way(text)


@pytest.mark.parametrize(
    "text",
    [
        "# deliveries\nschedules:\n" + E_LINES + "# a comment at the margin\n" + E_LINES.replace("  a:", "  b:"),
        "---\nschedules:\n" + E_LINES,
        "schedules:\n" + E_LINES + "\n\n# the end\n",
    ],
)
def test_comments_at_the_margin_and_a_document_start_are_read_fast(text: str) -> None:
    assert yamlfast.entries("team.yml", text) is not None
    same_either_way(text)


def test_a_file_with_an_invalid_entry_is_validated_fast_only_up_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast read stops at the first invalid entry: the full reader then says every problem."""
    bad = E_LINES.replace("  a:", "  b:").replace("source_id: 1", "source_id: nope")
    text = "schedules:\n" + bad + "".join(E_LINES.replace("  a:", f"  c{i}:") for i in range(20))
    seen: list[str] = []
    real = yamlread.checked

    def counted(name: str, entry: Any, *, literal: bool = False) -> Any:
        seen.append(entry.key)
        return real(name, entry, literal=literal)

    monkeypatch.setattr(yamlread, "checked", counted)
    _, problems = yamlread._read_file("team.yml", text.encode())
    assert problems and seen.count("b") == 2 and len(seen) == 1 + 21  # b fast, then every entry in full


def _schedule(source_id: str = "1", schedule: str = "{repeat: '0 8 * * 1'}", dest: str = "") -> str:
    dest = dest or "{type: EmailDest, title: t, recipients: [a@b.c]}"
    return (
        f"schedules:\n  a:\n    title: t\n    source_type: Dashboard\n    source_id: {source_id}\n"
        f"    schedule: {schedule}\n    dest: {dest}\n"
    )


@pytest.mark.parametrize(
    "text",
    [
        "alerts:\n" + A_LINES.replace("values: [1000]", "values: [0xab_cd]"),
        "alerts:\n" + A_LINES.replace("values: [1000]", "values: [_.5, 1._, 0x_e, 0xe_e, 1e_+3]"),
        _schedule(source_id="0xdead_beef"),
        _schedule(source_id="1" * 4301),
        "alerts:\n" + A_LINES.replace("values: [1000]", f"values: [{'1' * 4301}]"),
        _schedule(schedule="{repeat: '0 8 * * 1', paused\n      : true}"),
        _schedule(schedule="{repeat: '0 8 * * 1', \"paused\"\n      : true}"),
        _schedule(schedule="{repeat: '0 8 * * 1', paused # c\n      : true}"),
        _schedule(dest="{type: SlackDest, slack_channels: [{x\n      y: 1}], message: m}"),
        "alerts:\n" + A_LINES.replace("values: [1000]", "values: [1000, |\n        ]"),
        "alerts:\n" + A_LINES.replace("values: [1000]", "values: [1000,\n        ?]"),
        ("alerts:\n" + A_LINES.replace("values: [1000]", "values: [1000, >\n        ]")).replace("\n", "\r\n"),
        "alerts:\n" + A_LINES.replace("values: [1000]", "values: [a:?b]"),
        _schedule(dest="{type: SlackDest, slack_channels: [{id: C1, name: a:?b}], message: m}"),
        "x-note: [|a]\n" + _schedule(),
        "x-note: {|a: 1}\n" + _schedule(),
        "x-note: [1_000]\n" + _schedule(),
    ],
)
def test_what_a_second_hostile_run_found_yaml_rs_reads_otherwise_reads_as_in_full(text: str) -> None:
    """Numbers with `_` and no digit beside it, ints past Python's 4,300 digits, flows over several
    lines, `:?` in a flow, and all of it inside an `x-` section: each was read fast, and otherwise."""
    assert yamlfast.entries("team.yml", text) is None
    same_either_way(text)
