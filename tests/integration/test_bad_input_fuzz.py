"""Bad input: hypothesis mutates a valid schedule file (lines deleted, duplicated, swapped, re-indented; values
replaced by wrong types, huge numbers, unicode, YAML tags, aliases; random text and bytes; alias bombs) and
feeds it to `validate` and to `plan` against a sandbox.

Whatever the input, the CLI (its real entry point, `reconciler.cli.main`, in-process) exits 0 or 1, never
shows a traceback or an internal error, names `file:line:` when it exits 1, and `plan` sends only GETs.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import cli
from reconciler.sandbox import Sandbox

pytestmark = pytest.mark.slow  # hypothesis feeds hundreds of mutated files to the CLI

KEY = "fuzz-test-key"

VALID = """\
# Sales and operations deliveries
x-email-defaults: &email-defaults
  include_header: true
  attachment_formats: [pdf, csv]

schedules:
  weekly-sales-email:
    id: 4801
    title: Weekly sales summary
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1", paused: false}
    dynamic_filter_presets:
      - dynamic_filter_id: 7
        preset_condition: {operator: is, values: [EMEA]}
    dest:
      type: EmailDest
      title: "Sales for {{$today}}"
      recipients: [sales@example.com, vp-sales@example.com]
      options:
        <<: *email-defaults
        preview: true
  orders-export:
    title: Daily orders export
    source_type: QueryReport
    source_id: 5301
    schedule:
      repeat: "0 6 * * *"
    dest:
      type: SftpDest
      data_source_id: 3
      file_path: /exports/orders.csv
      format: csv
  ops-slack:
    source_type: Dashboard
    source_id: 1251
    schedule: {repeat: "0 9 * * 1-5", paused: true}
    dest:
      type: SlackDest
      slack_channels:
        - {id: C123, name: ops, type: public_channel}
      message: "Ops"
"""

VALUES = [
    "",
    "~",
    "null",
    "yes",
    "no",
    "on",
    "true",
    "1e309",
    "-1e309",
    ".nan",
    ".inf",
    "-1",
    "0",
    "99999999999999999999999999999999",
    "-99999999999999999999",
    "1.5",
    "0x1F",
    "0o17",
    "017",
    "1_000",
    "'quoted'",
    '"\\u0000"',
    '"\\x00\\x01"',
    "[]",
    "{}",
    "[1, [2, [3, [4]]]]",
    "{a: {b: {c: d}}}",
    "!!python/object:os.system",
    "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!custom x",
    "!!str 5",
    "!!int '5'",
    "!!float x",
    "!!timestamp 2024-01-01",
    "*nope",
    "*email-defaults",
    "&anchor value",
    "2024-01-01",
    "2024-01-01T00:00:00Z",
    "12:30:00",
    "'\u202e gnirts'",
    "🙂🙃",
    "日本語のタイトル",
    "'\u0000'",
    "a\tb",
    "'a'b'",
    "|",
    ">-",
    "- a",
    "? complex",
    "{{$today}}",
    "@x",
    "`x`",
    "%",
    "=",
    '"' + "x" * 5000 + '"',
    "[" + ", ".join(["a@example.com"] * 300) + "]",
]

LINES = [
    "%YAML 1.1",
    "---",
    "...",
    "!!python/object/apply:os.system ['touch pwned']",
    "x-evil: !!python/object/apply:subprocess.check_output [['id']]",
    "  extra: !!python/object/new:dict {}",
    "    unknown_field: 1",
    "  <<: *email-defaults",
    "  <<: [*email-defaults, *email-defaults]",
    "schedules:",
    "schedules: []",
    "x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol]",
    "  another-entry: {source_type: Dashboard}",
    "  'quoted key': {}",
    "  ? [complex, key]\n  : value",
    "\ttabbed: 1",
    "# just a comment",
    "",
    "\ufeffbom: 1",
    "key: value: value",
    "- item",
]


def alias_bomb(depth: int, fanout: int) -> str:
    """`x-b0` .. `x-b{depth}`, each a list of `fanout` aliases of the previous: fanout**depth leaves."""
    lines = ["x-b0: &b0 [" + ", ".join(["lol"] * fanout) + "]"]
    lines += [f"x-b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * fanout) + "]" for i in range(1, depth + 1)]
    return "\n".join(lines)


def _swap(draw: st.DrawFn, lines: list[str], i: int) -> list[str]:
    j = draw(st.integers(0, len(lines) - 1))
    lines[i], lines[j] = lines[j], lines[i]
    return lines


def _value(draw: st.DrawFn, lines: list[str], i: int) -> list[str]:
    head, sep, _ = lines[i].partition(": ")
    if not sep:
        head, sep = lines[i].rstrip(":"), ": "
    lines[i] = head + sep + draw(st.sampled_from(VALUES))
    return lines


def _indent(draw: st.DrawFn, lines: list[str], i: int) -> list[str]:
    stripped = lines[i].lstrip(" ")
    spaces = max(0, len(lines[i]) - len(stripped) + draw(st.integers(-3, 3)))
    lines[i] = draw(st.sampled_from([" " * spaces, "\t", " \t"])) + stripped
    return lines


def _bomb(draw: st.DrawFn, lines: list[str], i: int) -> list[str]:
    depth, fanout = draw(st.integers(1, 4)), draw(st.integers(2, 8))
    lines.insert(0, alias_bomb(depth, fanout))
    target = draw(st.sampled_from(["title", "recipients", "message"]))
    return [re.sub(rf"^(\s+{target}): .*$", rf"\1: *b{depth}", line) for line in lines]


def _truncate(draw: st.DrawFn, lines: list[str], i: int) -> list[str]:
    text = "\n".join(lines)
    return text[: draw(st.integers(0, len(text)))].split("\n")


MUTATIONS: dict[str, Callable[[st.DrawFn, list[str], int], list[str]]] = {
    "delete": lambda draw, lines, i: lines[:i] + lines[i + 1 :],
    "duplicate": lambda draw, lines, i: [*lines[:i], lines[i], *lines[i:]],
    "swap": _swap,
    "value": _value,
    "indent": _indent,
    "insert": lambda draw, lines, i: [*lines[:i], draw(st.sampled_from(LINES)), *lines[i:]],
    "text": lambda draw, lines, i: [*lines[:i], draw(st.text(max_size=40)), *lines[i:]],
    "bomb": _bomb,
    "truncate": _truncate,
}


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    lines = VALID.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        lines = MUTATIONS[draw(st.sampled_from(list(MUTATIONS)))](draw, lines, i)
    text = "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:  # now and then, raw bytes somewhere in the file
        junk = draw(st.binary(min_size=1, max_size=16))
        at = draw(st.integers(0, len(data)))
        data = data[:at] + junk + data[at:]
    return data


def run_main(args: list[str], env: dict[str, str | None]) -> tuple[int, str]:
    """The real entry point in-process: (exit code, stdout + stderr)."""
    runner = CliRunner()
    code = 0
    with runner.isolation(env=env) as (_, _, output):
        try:
            cli.main(args)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        text = output.getvalue().decode("utf-8", "replace")
    return code, text


def check(code: int, output: str, path: Path) -> None:
    assert code in (0, 1), output
    assert "Traceback" not in output, output
    assert "internal error" not in output.lower(), output
    if code == 1:
        assert re.search(re.escape(str(path)) + r":\d+: ", output), f"no file:line: in {output!r}"


@pytest.fixture(scope="module")
def example() -> Iterator[Sandbox]:
    with Sandbox(key=KEY, seed="example") as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="fuzz-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def env_for(sb: Sandbox) -> dict[str, str | None]:
    return {"HOLISTICS_BASE_URL": sb.base_url, "HOLISTICS_API_KEY": sb.key, "NO_COLOR": "1", "HOLISTICS_DEBUG": None}


def test_the_unmutated_file_is_valid_and_plans(example: Sandbox, workdir: Path) -> None:
    path = workdir / "valid.yml"
    path.write_text(VALID, encoding="utf-8")
    assert run_main(["validate", str(path)], env_for(example))[0] == 0
    code, output = run_main(["plan", str(path)], env_for(example))
    assert code == 0, output
    assert "Plan: 2 to create, 1 to update, 0 to delete." in output


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_validate_never_crashes(data: bytes, workdir: Path, example: Sandbox) -> None:
    path = workdir / "validate.yml"
    path.write_bytes(data)
    check(*run_main(["validate", str(path)], env_for(example)), path)
    assert not (workdir / "pwned").exists()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_plan_never_crashes_and_never_writes(data: bytes, workdir: Path, example: Sandbox) -> None:
    path = workdir / "plan.yml"
    path.write_bytes(data)
    example.control.clear_requests()
    check(*run_main(["plan", str(path)], env_for(example)), path)
    methods = {r["method"] for r in example.control.requests()}
    assert methods <= {"GET"}, methods


@pytest.mark.parametrize("depth", [6, 9])
def test_a_deep_alias_bomb_is_refused_quickly(depth: int, workdir: Path, example: Sandbox) -> None:
    """9 aliases of 9 aliases of ... 9 levels deep is 387 million strings if expanded."""
    path = workdir / f"bomb{depth}.yml"
    path.write_text(alias_bomb(depth, 9) + "\n" + VALID.replace("title: Daily orders export", f"title: *b{depth}"))
    code, output = run_main(["validate", str(path)], env_for(example))
    check(code, output, path)
    assert code == 1


SELF_MERGE = """\
x-defaults: &defaults
  <<: *defaults
  include_header: true
schedules:
  weekly:
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest:
      type: EmailDest
      recipients: [a@example.com]
      options:
        <<: *defaults
"""


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(SELF_MERGE, id="merge-of-itself"),
        pytest.param(SELF_MERGE.replace("  <<: *defaults\n  include", "  <<: [*defaults]\n  include"), id="merge-list"),
    ],
)
def test_a_self_referencing_merge_is_a_problem_not_a_crash(text: str, workdir: Path, example: Sandbox) -> None:
    path = workdir / "self.yml"
    path.write_text(text, encoding="utf-8")
    code, output = run_main(["validate", str(path)], env_for(example))
    check(code, output, path)
    assert code == 1


@pytest.mark.parametrize("field", ["id", "source_id"])
def test_a_negative_id_is_a_problem_at_its_line(field: str, workdir: Path, example: Sandbox) -> None:
    path = workdir / f"negative-{field}.yml"
    path.write_text(VALID.replace(f"    {field}: 4801" if field == "id" else "    source_id: 1234", f"    {field}: -1"))
    assert f"{field}: -1" in path.read_text()
    for command in ("validate", "plan"):
        code, output = run_main([command, str(path)], env_for(example))
        check(code, output, path)
        assert code == 1, (command, output)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("? [complex, key]\n: value\nschedules: {}\n", id="top-level"),
        pytest.param("schedules:\n  ? [complex, key]\n  : value\n", id="entry"),
        pytest.param("schedules:\n  ? {a: 1}\n  : value\n", id="mapping-key"),
    ],
)
def test_a_complex_key_is_a_problem_not_a_crash(text: str, workdir: Path, example: Sandbox) -> None:
    path = workdir / "complex-key.yml"
    path.write_text(text, encoding="utf-8")
    code, output = run_main(["validate", str(path)], env_for(example))
    check(code, output, path)
    assert code == 1
