"""Errors where people look: `validate --format text|json|github`, annotations from plan and apply in
GitHub Actions, "did you mean", the hint for a repo without schedules/, and config-file errors at their
lines. End to end: the real CLI in a subprocess, against the real sandbox on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reconciler import problems as diagnostics
from reconciler.problems import Problem
from reconciler.sandbox import Sandbox
from reconciler.usecases import config
from tests.helpers import EMAIL


def run(
    sb: Sandbox | None, *args: str, cwd: Path, actions: bool = False, key: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m reconciler ARGS` in `cwd`; `actions`: as in a GitHub Actions job (GITHUB_ACTIONS=true)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOLISTICS_", "GITHUB_"))}
    env["NO_COLOR"] = "1"
    if actions:
        env["GITHUB_ACTIONS"] = "true"
    if sb is not None:
        env["HOLISTICS_BASE_URL"] = sb.base_url
        env["HOLISTICS_API_KEY"] = key or sb.key
    argv = [sys.executable, "-m", "reconciler", *args]
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def annotations(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("::")]


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


# several problems in one file, each at its own line: a misspelt field, a wrong value, a bad email
BROKEN = """\
schedules:
  weekly-sales:
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest:
      type: EmailDest
      recipents: [sales@example.com]
  ops-sheet:
    source_type: QueryReport
    source_id: 0
    schedule: {repeat: "0 6 * * *"}
    dest: {type: GsheetDest, sheet_url: "https://x", sheet_title: Orders}
"""
F = "schedules/main.yml"
BROKEN_PROBLEMS = [
    (F, 6, "weekly-sales.dest.recipients", "missing required field"),
    (F, 8, "weekly-sales.dest.recipents", "unknown field; did you mean `recipients`?"),
    (F, 11, "ops-sheet.source_id", "Input should be greater than 0"),
]


# ---- validate --format ----


def test_validate_text_lists_every_problem_and_does_not_say_nothing_was_sent(tmp_path: Path) -> None:
    write(tmp_path, F, BROKEN)
    result = run(None, "validate", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.splitlines() == [
        *(f"{f}:{line}: {path}: {message}" for f, line, path, message in BROKEN_PROBLEMS),
        "Error: 3 problems in the schedules",
    ]
    assert annotations(result.stderr) == [], "no annotations outside GitHub Actions"


def test_validate_json_gives_tools_the_same_list(tmp_path: Path) -> None:
    write(tmp_path, F, BROKEN)
    result = run(None, "validate", "--format", "json", cwd=tmp_path)
    assert result.returncode == 1
    assert json.loads(result.stdout) == {
        "valid": False,
        "problems": [{"file": f, "line": n, "path": p, "message": m} for f, n, p, m in BROKEN_PROBLEMS],
    }
    assert result.stderr == "Error: 3 problems in the schedules\n"
    write(tmp_path, F, EMAIL)
    valid = run(None, "validate", "--format", "json", cwd=tmp_path)
    assert valid.returncode == 0 and json.loads(valid.stdout) == {"valid": True, "problems": []}


def test_validate_github_prints_one_annotation_per_problem(tmp_path: Path) -> None:
    write(tmp_path, F, BROKEN)
    result = run(None, "validate", "--format", "github", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"::error file={f},line={n},title={p}::{m}" for f, n, p, m in BROKEN_PROBLEMS]
    assert result.stderr == "Error: 3 problems in the schedules\n"
    in_a_job = run(None, "validate", "--format", "github", cwd=tmp_path, actions=True)
    assert (in_a_job.stdout, in_a_job.stderr) == (result.stdout, result.stderr), "each annotation once, in a job too"
    write(tmp_path, F, EMAIL)
    valid = run(None, "validate", "--format", "github", cwd=tmp_path)
    assert valid.returncode == 0 and annotations(valid.stdout) == []


def test_a_config_error_is_in_the_format_asked_for_too(tmp_path: Path) -> None:
    # the config is read before the command's own checks: its problems still come as JSON or annotations
    write(tmp_path, F, EMAIL)
    write(tmp_path, "holistics-schedules.yml", "safety:\n  max_change_share: 2\n")
    as_json = run(None, "validate", "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["problems"] == [
        {
            "file": "holistics-schedules.yml",
            "line": 2,
            "path": "safety.max_change_share",
            "message": "must be at most 1",
        }
    ]
    github = run(None, "validate", "--format", "github", cwd=tmp_path)
    assert github.stdout == (
        "::error file=holistics-schedules.yml,line=2,title=safety.max_change_share::must be at most 1\n"
    )
    assert github.stderr == "Error: 1 problem in the config file\n"


def test_remote_reference_problems_come_in_the_format_too(sandbox: Sandbox, tmp_path: Path) -> None:
    write(tmp_path, F, EMAIL.replace("source_id: 1234", "source_id: 4242"))
    result = run(sandbox, "validate", "--remote", "--format", "github", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == (
        f"::error file={F},line=5,title=weekly-sales.source_id::Dashboard 4242 does not exist in the workspace\n"
    )
    assert result.stderr == "Error: 1 problem with references\n"


# ---- GitHub workflow-command escaping ----


def test_annotations_escape_what_the_runner_would_read_as_syntax() -> None:
    problem = Problem("dir/50%, a:b.yml", 3, "key.dest.title", "100% sure:\r\nnext, line")
    assert problem.github() == (
        "::error file=dir/50%25%2C a%3Ab.yml,line=3,title=key.dest.title::100%25 sure:%0D%0Anext, line"
    )
    # a control character a terminal would act on is shown, not sent; a file-level problem has no line
    assert (
        Problem("a.yml", 0, "-", "bad \x1b[2J").github() == "::error file=a.yml,title=holistics-schedules::bad \\x1b[2J"
    )
    assert (
        Problem("a.yml", 1, "odd:key,x", "m")
        .github(title=None)
        .startswith("::error file=a.yml,line=1,title=odd%3Akey%2Cx::")
    )
    data = json.loads(diagnostics.problems_json([problem]))
    assert data["problems"][0]["message"] == "100% sure:\r\nnext, line", "JSON carries the text itself"


def test_escaping_end_to_end_in_file_names_and_messages(tmp_path: Path) -> None:
    # the duplicate is reported in the second file, with a message that names the first (and its newline)
    entry = (
        'schedules:\n  dup:\n    source_type: QueryReport\n    source_id: 5301\n    schedule: {repeat: "0 6 * * *"}\n'
    )
    entry += '    dest: {type: GsheetDest, sheet_url: "https://x", sheet_title: O}\n'
    write(tmp_path, "schedules/a\nb.yml", entry)
    write(tmp_path, "schedules/b%, c:d.yml", entry)
    result = run(None, "validate", "--format", "github", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == (
        "::error file=schedules/b%25%2C c%3Ad.yml,line=2,title=dup::"
        "duplicate key: also defined at schedules/a%0Ab.yml:2\n"
    )
    text = run(None, "validate", cwd=tmp_path)
    assert "schedules/b%, c:d.yml:2: dup: duplicate key: also defined at schedules/a\\nb.yml:2" in text.stderr


def test_annotation_paths_are_relative_to_the_checkout_root(tmp_path: Path) -> None:
    # run from a subfolder of the repository (a monorepo's working-directory): GitHub wants repo paths
    (tmp_path / ".git").mkdir()
    project = tmp_path / "infra" / "holistics"
    write(project, F, BROKEN)
    result = run(None, "validate", "--format", "github", cwd=project)
    assert annotations(result.stdout)[0].startswith(f"::error file=infra/holistics/{F},line=6,")
    absolute = run(None, "validate", "--format", "github", str(project / "schedules"), cwd=project)
    assert annotations(absolute.stdout)[0].startswith(f"::error file=infra/holistics/{F},line=6,")
    assert f"{project / F}:6:" in run(None, "validate", str(project / "schedules"), cwd=project).stderr


# ---- plan and apply in GitHub Actions ----


def test_plan_in_github_actions_annotates_invalid_yaml_and_sends_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    write(tmp_path, F, BROKEN)
    result = run(sandbox, "plan", cwd=tmp_path, actions=True)
    assert result.returncode == 1
    assert annotations(result.stderr) == [f"::error file={f},line={n},title={p}::{m}" for f, n, p, m in BROKEN_PROBLEMS]
    assert f"{F}:8: weekly-sales.dest.recipents: unknown field" in result.stderr, "the text lines stay"
    assert "Error: 3 problems in the schedules; nothing was changed" in result.stderr
    assert [r for r in sandbox.control.requests() if r["method"] != "GET"] == [], "reads only, no write"
    outside = run(sandbox, "plan", cwd=tmp_path)
    assert outside.returncode == 1 and annotations(outside.stderr) == []


def test_plan_in_github_actions_annotates_a_missing_dashboard(sandbox: Sandbox, tmp_path: Path) -> None:
    write(tmp_path, F, EMAIL.replace("source_id: 1234", "source_id: 4242"))
    result = run(sandbox, "plan", "--format", "json", cwd=tmp_path, actions=True)
    assert result.returncode == 1 and result.stdout == "", "stdout (a plan file, perhaps) gets no annotation"
    assert annotations(result.stderr) == [
        f"::error file={F},line=5,title=weekly-sales.source_id::Dashboard 4242 does not exist in the workspace"
    ]
    assert all(r["method"] == "GET" for r in sandbox.control.requests())


def test_apply_in_github_actions_annotates_a_422_at_the_fields_line(sandbox: Sandbox, tmp_path: Path) -> None:
    # a key that may not read dashboard 4242 cannot check it; the server then refuses the schedule
    write(tmp_path, F, EMAIL.replace("source_id: 1234", "source_id: 4242"))
    sandbox.control.set_list_metadata(False)  # with it, 4242 is known missing before any write (issue 20)
    sandbox.control.add_fault(method="GET", path="/dashboards/4242", status=403, count=None)
    result = run(sandbox, "apply", "--auto-approve", cwd=tmp_path, actions=True)
    assert result.returncode == 1
    assert f"    {F}:5: weekly-sales.source_id: Dashboard 4242 does not exist" in result.stderr
    assert annotations(result.stderr) == [
        f"::error file={F},line=5,title=weekly-sales.source_id::Dashboard 4242 does not exist"
    ]
    assert len(sandbox.control.schedules()) == 1, "the other entry was still created"
    again = run(sandbox, "apply", "--auto-approve", cwd=tmp_path)
    assert again.returncode == 1 and annotations(again.stderr) == [], "no annotations outside GitHub Actions"


def test_an_annotation_never_carries_the_api_key(sandbox: Sandbox, tmp_path: Path) -> None:
    write(tmp_path, F, EMAIL.replace("source_id: 1234", "source_id: 4242"))
    sandbox.control.add_fault(method="GET", path="/dashboards/4242", status=403, count=None)
    result = run(sandbox, "apply", "--auto-approve", cwd=tmp_path, actions=True)
    assert annotations(result.stderr) and sandbox.key not in result.stdout + result.stderr


# ---- did you mean ----


@pytest.mark.parametrize(
    ("yaml_text", "line", "expected"),
    [
        (
            "recipients: [sales@example.com]",
            "recipents: [sales@example.com]",
            "dest.recipents: unknown field; did you mean `recipients`?",
        ),
        ("source_id: 1234", "sourceid: 1234", "sourceid: unknown field; did you mean `source_id`?"),
        ("source_id: 1234", "Source-Id: 1234", "Source-Id: unknown field; did you mean `source_id`?"),
        (
            "options: {include_header: true",
            "optons: {include_header: true",
            "dest.optons: unknown field; did you mean `options`?",
        ),
        (
            "include_header: true",
            "include_headr: true",
            "options.include_headr: unknown field; did you mean `include_header`?",
        ),
        (
            'repeat: "0 8 * * 1"',
            'repeat: "0 8 * * 1", pased: true',
            "schedule.pased: unknown field; did you mean `paused`?",
        ),
        ("type: EmailDest", "type: EmailDst", "dest.type: unknown dest type 'EmailDst'; one of: EmailDest"),
        ("source_type: Dashboard", "source_type: Dashbord", "did you mean `Dashboard`?"),
        ("attachment_formats: [pdf, csv]", "attachment_formats: [pfd, csv]", "did you mean `pdf`?"),
    ],
)
def test_an_unknown_field_or_value_gets_the_nearest_known_one(
    tmp_path: Path, yaml_text: str, line: str, expected: str
) -> None:
    assert yaml_text in EMAIL
    write(tmp_path, F, EMAIL.replace(yaml_text, line, 1))
    result = run(None, "validate", cwd=tmp_path)
    assert result.returncode == 1 and expected in result.stderr, result.stderr
    if "EmailDst" in line:
        assert "did you mean `EmailDest`?" in result.stderr


def test_no_guess_when_nothing_is_near_or_the_name_is_already_there(tmp_path: Path) -> None:
    write(tmp_path, F, EMAIL.replace("source_id: 1234", "source_id: 1234\n    colour: red\n    sources_id: 1"))
    result = run(None, "validate", cwd=tmp_path)
    assert f"{F}:6: weekly-sales.colour: unknown field\n" in result.stderr
    assert f"{F}:7: weekly-sales.sources_id: unknown field\n" in result.stderr, "source_id is written already"


def test_a_misspelt_top_level_key_gets_a_guess(tmp_path: Path) -> None:
    write(tmp_path, F, EMAIL.replace("schedules:", "schedule:", 1))
    result = run(None, "validate", cwd=tmp_path)
    assert (
        f"{F}:1: schedule: unknown top-level key: `schedules`, `alerts` or `x-...` (for anchors); "
        "did you mean `schedules`?" in (result.stderr)
    )


CONFIG_TYPOS = """\
pathz: [schedules]
scope:
  dashbaords: [1234]
connection:
  Region: eu
ignore:
  fields:
    - recipients
    - recipents
    - schedule.paued
"""


def test_config_keys_and_ignored_fields_get_a_guess_at_their_lines(tmp_path: Path) -> None:
    write(tmp_path, F, EMAIL)
    write(tmp_path, "holistics-schedules.yml", CONFIG_TYPOS)
    result = run(None, "validate", cwd=tmp_path)
    assert result.returncode == 1
    c = "holistics-schedules.yml"
    assert result.stderr.splitlines() == [
        f"{c}:1: pathz: unknown key; did you mean `paths`?",
        f"{c}:3: scope.dashbaords: unknown key; did you mean `dashboards`?",
        f"{c}:5: connection.Region: unknown key; did you mean `region`?",
        f"{c}:9: ignore.fields.1: 'recipents' is not a field of any destination; did you mean `recipients`?",
        f"{c}:10: ignore.fields.2: 'schedule.paued' is not a field of `schedule`; did you mean `paused`?",
        "Error: 5 problems in the config file",
    ]


# ---- a repo with no schedules/ ----

HINT = "no schedules/ here: run `holistics-schedules import` to start from your workspace, or pass a path"


def test_no_schedules_folder_gets_a_hint_from_every_command(sandbox: Sandbox, tmp_path: Path) -> None:
    for args in (("validate",), ("plan",), ("apply", "--auto-approve"), ("run", "weekly-sales")):
        result = run(sandbox, *args, cwd=tmp_path)
        assert result.returncode == 1, args
        assert result.stderr == f"Error: {HINT}\n", (args, result.stderr)
    assert sandbox.control.requests() == []
    as_json = json.loads(run(None, "validate", "--format", "json", cwd=tmp_path).stdout)
    assert as_json == {"valid": False, "problems": [], "error": HINT}
    github = run(None, "validate", "--format", "github", cwd=tmp_path)
    assert github.stdout == f"::error title=holistics-schedules::{HINT}\n"
    # the command the hint names works here, and afterwards there is something to validate
    sandbox.control.add_schedule(
        {
            "source_type": "QueryReport",
            "source_id": 5301,
            "schedule": {"repeat": "0 6 * * *", "paused": False},
            "dest": {"type": "GsheetDest", "sheet_url": "https://x", "sheet_title": "O"},
        }
    )
    assert run(sandbox, "import", cwd=tmp_path).returncode == 0
    assert run(None, "validate", cwd=tmp_path).returncode == 0


def test_a_missing_path_someone_gave_stays_a_problem_at_its_name(tmp_path: Path) -> None:
    given = run(None, "validate", "schedules", cwd=tmp_path)
    assert given.returncode == 1 and "schedules:0: -: no such file or directory" in given.stderr
    assert HINT not in given.stderr
    write(tmp_path, "holistics-schedules.yml", "paths: [deliveries]\n")
    configured = run(None, "validate", cwd=tmp_path)
    assert configured.returncode == 1 and "deliveries:0: -: no such file or directory" in configured.stderr
    assert HINT not in configured.stderr
    # an empty schedules/ is a start, not an error
    (tmp_path / "schedules").mkdir()
    (tmp_path / "holistics-schedules.yml").unlink()
    assert run(None, "validate", cwd=tmp_path).returncode == 0


# ---- config-file errors, at their lines, in the tool's words ----

CONFIG_ERRORS = """\
# the project's settings
connection:
  region: europe
  rate_limit: "5"
scope:
  dest_types: [EmailDest, FaxDest]
safety:
  max_change_share: 0
  min_managed: lots
timezone: [UTC]
paths: schedules
"""


def test_config_errors_name_file_line_and_key_in_the_tools_words(tmp_path: Path) -> None:
    write(tmp_path, F, EMAIL)
    write(tmp_path, "holistics-schedules.yml", CONFIG_ERRORS)
    result = run(None, "validate", cwd=tmp_path)
    assert result.returncode == 1
    c = "holistics-schedules.yml"
    assert result.stderr.splitlines() == [
        f"{c}:3: connection.region: one of: apac, eu, us",
        f"{c}:4: connection.rate_limit: rate limit '5' is ambiguous without a window: give N/S, e.g. 5/60 "
        "for at most 5 requests per minute, or none",
        # one list of both kinds' destinations, each named once (WebhookDest is an alert's)
        f"{c}:6: scope.dest_types.1: one of: EmailDest, EmailSubscriptionDest, SlackDest, SftpDest, GsheetDest, "
        "WebhookDest",
        f"{c}:8: safety.max_change_share: must be greater than 0",
        f"{c}:9: safety.min_managed: must be a whole number",
        f"{c}:10: timezone: must be text (a string)",
        f"{c}:11: paths: must be a list",
        "Error: 7 problems in the config file",
    ]
    assert "Input should" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "connection:\n  region: eu\n  token: SECRET-VALUE\n",
            ":3: connection.token: the API key never goes in a file",
        ),
        ("api_key: SECRET-VALUE\n", ":1: api_key: the API key never goes in a file"),
        ("connection: {api_key: SECRET-VALUE}\n", ":1: connection.api_key: the API key never goes in a file"),
        ("connection: 5\n", ":1: connection: must be a mapping"),
        ("scope:\n  dashboards: [1\n", ":3: -: YAML syntax"),
        ("scope: {dashboards: [1]}\nscope: {}\n", ":2: scope: duplicate key in this mapping"),
        ("x: !!python/object:os.system ls\n", ":1: -: YAML tag"),
        ("- paths\n", ":1: -: the config file must be a mapping of keys"),
        (
            "ignore:\n  schedules:\n    weekly-sales: schedule.paused\n",
            ":3: ignore.schedules.weekly-sales: must be a list",
        ),
        ("ignore:\n  fields: [id]\n", ":2: ignore.fields.0: 'id' is not a schedule field"),
    ],
)
def test_a_broken_config_is_one_clear_problem_at_its_line(tmp_path: Path, text: str, expected: str) -> None:
    write(tmp_path, F, EMAIL)
    (tmp_path / "holistics-schedules.yml").write_text(text)
    result = run(None, "validate", cwd=tmp_path)
    assert result.returncode == 1 and f"holistics-schedules.yml{expected}" in result.stderr, result.stderr
    assert "SECRET-VALUE" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_config_error_stops_plan_before_any_write(sandbox: Sandbox, tmp_path: Path) -> None:
    """The workspace's read may have started before the config was read (issue 22: `plan_start`); it is
    cancelled, and the config's problem is all that is said."""
    write(tmp_path, F, EMAIL)
    write(tmp_path, "holistics-schedules.yml", "scope:\n  dashbaords: [1234]\n")
    result = run(sandbox, "plan", cwd=tmp_path, actions=True)
    assert result.returncode == 1
    assert annotations(result.stderr) == [
        "::error file=holistics-schedules.yml,line=2,title=scope.dashbaords::unknown key; did you mean `dashboards`?"
    ]
    assert "Error: 1 problem in the config file; nothing was changed" in result.stderr
    assert [r for r in sandbox.control.requests() if r["method"] != "GET"] == []


def test_the_config_reads_as_yaml_1_2_like_the_schedule_files(tmp_path: Path) -> None:
    # the same reader as schedule files: a BOM, a merge key and 0x10 read as written; `no` stays text
    write(tmp_path, "deliveries/a.yml", EMAIL)
    (tmp_path / "holistics-schedules.yml").write_text(
        "\ufeffpaths: [deliveries]\nsafety: {<<: {max_change_share: 0.5}, min_managed: 0x10}\n"
    )
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        loaded = config.load()
    finally:
        os.chdir(old)
    assert (loaded.paths, loaded.safety.max_change_share, loaded.safety.min_managed) == (["deliveries"], 0.5, 16)
    (tmp_path / "holistics-schedules.yml").write_text("paths: [deliveries]\ntimezone: no\n")
    result = run(None, "validate", cwd=tmp_path)
    assert "holistics-schedules.yml:2: timezone: 'no' is not an IANA time zone name" in result.stderr


# ---- the console shows what was written ----


def test_a_quoted_value_is_printed_as_written_not_as_an_emoji(tmp_path: Path) -> None:
    write(tmp_path, F, EMAIL.replace("sales@example.com", '":100:"'))
    result = run(None, "validate", cwd=tmp_path)
    assert result.returncode == 1 and "':100:'" in result.stderr and "\U0001f4af" not in result.stderr


def test_the_config_says_where_each_key_was_written(tmp_path: Path) -> None:
    # for problems only the schedules reveal later (an ignore rule for a key no schedule has)
    path = write(tmp_path, "team.yml", "paths: [s]\nignore:\n  schedules:\n    sales-alert: [title]\n")
    loaded = config.load(path)
    assert loaded.where("ignore.schedules.sales-alert") == (str(path), 4)
    assert loaded.where("ignore.schedules.sales-alert.0") == (str(path), 4)
    assert loaded.where("scope") == (str(path), 0), "not written: no line"
