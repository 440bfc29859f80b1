"""Text from the server is inert in every output: hostile titles, destinations, presets, error
messages, debug ids and job logs, shown by every command and format, never start a GitHub workflow
command (`::warning`, `::stop-commands::`, the older `##[...]` anywhere in a line), never break a line
and never reach the terminal as a control character; and what is sent back to the server is still
the server's own text. In process against the sandbox, with GITHUB_ACTIONS=true and no colour.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.sandbox import Sandbox
from reconciler.sandbox import http as sandbox_http
from reconciler.sandbox import jobs as sandbox_jobs
from reconciler.sandbox.api import ApiError
from tests.helpers import REPO

HOSTILE = [
    "x\n::warning title=pwn::owned",
    "\r::error::x",
    "\x1b[2J",
    "a\u2028::notice::b",
    "::stop-commands::tok",
    "::group::x",
    "c\x85::add-mask::secret",
    "d ##[warning]legacy",
    "  ::debug::indented",
    "\u202eevil\u2069",
]
# the tool's own annotations are the only workflow commands it writes
OWN = re.compile(r"::error (file=[^:]*,)?(line=\d+,)?title=[^:]*::")
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
EXAMPLE = json.loads((REPO / "reconciler/sandbox/example.json").read_text())


def hostile(i: int) -> str:
    return HOSTILE[i % len(HOSTILE)]


def assert_inert(*outputs: str) -> None:
    """No line a runner would act on but the tool's own `::error` annotations, no raw control."""
    for output in outputs:
        assert not FORBIDDEN.search(output), repr(FORBIDDEN.search(output))
        for line in output.split("\n"):
            assert "##[" not in line, line
            if line.lstrip().startswith("::"):
                assert OWN.match(line), line


def _seed(tmp_path: Path) -> Path:
    """The example workspace with every text field the server returns made hostile."""
    data = copy.deepcopy(EXAMPLE)
    for i, dashboard in enumerate(data["dashboards"]):
        dashboard["title"] = hostile(i)
    for i, report in enumerate(data["query_reports"]):
        report["title"] = hostile(i + 1)
    counter = iter(range(1000))
    for schedule in data["data_schedules"]:
        schedule["title"] = hostile(next(counter))
        dest = schedule["dest"]
        for field in ("title", "message", "file_path", "sheet_title"):
            if field in dest:
                dest[field] = hostile(next(counter))
        for channel in dest.get("slack_channels") or []:
            channel["name"] = hostile(next(counter))
        if "recipients" in dest:
            dest["recipients"] = [*dest["recipients"], f"{hostile(next(counter))}@example.com"]
        for preset in schedule["dynamic_filter_presets"]:
            values = preset["preset_condition"]["values"]  # as many as the operator takes
            preset["preset_condition"]["values"] = [hostile(next(counter)) if isinstance(v, str) else v for v in values]
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(data))
    return seed


MANAGED = """\
schedules:
  weekly-sales:
    id: 4801
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest:
      type: EmailDest
      recipients: [new@example.com]
  fresh:
    title: Fresh
    source_type: QueryReport
    source_id: 5301
    schedule: {repeat: "0 6 * * *"}
    dest: {type: GsheetDest, sheet_url: "https://docs.google.com/spreadsheets/d/x", sheet_title: Orders}
"""


@pytest.fixture
def hostile_sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    with Sandbox(seed=str(_seed(tmp_path))) as sb:
        yield sb


Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    hostile_sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Run:
    """`run(*args)` -> (exit code, stdout, stderr) of the CLI in `tmp_path/work` (the YAML above)."""
    work = tmp_path / "work"
    (work / "schedules").mkdir(parents=True)
    (work / "schedules" / "main.yml").write_text(MANAGED)
    monkeypatch.chdir(work)
    for name in ("HOLISTICS_REGION", "HOLISTICS_SCHEDULES_NO_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOLISTICS_BASE_URL", hostile_sandbox.base_url)
    monkeypatch.setenv("HOLISTICS_API_KEY", hostile_sandbox.key)
    monkeypatch.setenv("HOLISTICS_RATE_LIMIT", "none")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("NO_COLOR", "1")

    def invoke(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out, err = capsys.readouterr()
        return int(exited.value.code or 0), out, err

    return invoke


def _puts(sb: Sandbox) -> list[dict[str, Any]]:
    return [r for r in sb.control.requests() if r["method"] == "PUT"]


def test_every_plan_format_and_a_saved_plan_show_the_workspace_inert(run: Run) -> None:
    outputs = []
    for args in (["plan", "--prune", "-v"], ["plan", "--prune", "--format", "markdown"], ["plan", "--prune", "--json"]):
        code, out, err = run(*args)
        assert code == 0, err
        outputs += [out, err]
    text, _, markdown, _, as_json, _ = outputs
    assert "pwn" in text and "stop-commands" in text and "legacy" in text, "the hostile text is shown, escaped"
    assert "\\n::warning title=pwn" in text  # a dashboard title in a change header, as an escape
    assert "pwn" in markdown
    plan = json.loads(as_json)  # the data itself, exact, for machines
    assert HOSTILE[0] in {c["title"] for c in plan["changes"]}
    assert_inert(*outputs)

    code, out, err = run("plan", "--prune", "--out", "plan.json")
    assert code == 0, err
    for fmt in ("text", "markdown", "json"):
        code, out, err = run("show", "plan.json", "--format", fmt)
        assert code == 0, err
        assert "pwn" in out
        assert_inert(out, err)


def test_an_update_sends_the_servers_exact_title_and_apply_prints_it_inert(run: Run, hostile_sandbox: Sandbox) -> None:
    code, out, err = run("apply", "--auto-approve")
    assert code == 0, err
    assert_inert(out, err)
    assert "pwn" in out  # the plan apply shows, with the dashboard's title
    assert [r["path"] for r in _puts(hostile_sandbox)] == ["/data_schedules/4801"]
    # a PUT replaces the whole schedule: had the body carried the shown (escaped) title, the server would keep that
    [updated] = [s for s in hostile_sandbox.control.schedules() if s["id"] == 4801]
    assert updated["title"] == HOSTILE[0] and updated["dest"]["recipients"] == ["new@example.com"]


def test_api_error_messages_and_debug_ids_are_inert_in_text_json_and_annotations(
    run: Run, hostile_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile_sandbox.control.set_error_shape("wrapped")
    monkeypatch.setattr(sandbox_http, "uuid", SimpleNamespace(uuid4=lambda: SimpleNamespace(hex=HOSTILE[4])))

    def refuse(method: str, path: str, query: Mapping[str, Any]) -> None:
        if method == "PUT":  # field errors
            raise ApiError(422, "RecordError\n::warning::type", HOSTILE[0], record={"title": [HOSTILE[5]]})
        if method == "POST" or (method == "GET" and path == "/data_schedules" and refuse_reads):
            raise ApiError(403, "PermissionDeniedError", HOSTILE[0])  # a message and a debug_id only

    refuse_reads = False
    hostile_sandbox.control.set_api_hook(refuse)
    for args in (["apply", "--auto-approve"], ["apply", "--auto-approve", "--json"]):
        code, out, err = run(*args)
        assert code == 1
        assert "pwn" in out + err and "::group::x" in out + err  # the server's message and field error
        assert_inert(out, err)
    for line in out.splitlines():
        json.loads(line)  # apply --json: still JSON, whatever it escaped

    refuse_reads = True
    code, out, err = run("plan")  # a command that stops: its `Error:` line, with the debug_id
    assert code == 1 and "Error:" in err and "pwn" in err and "stop-commands" in err
    assert_inert(out, err)


def test_validate_remote_problems_are_inert_as_text_json_and_annotations(run: Run, hostile_sandbox: Sandbox) -> None:
    text = MANAGED.replace(
        "dest:\n      type: EmailDest",
        "dynamic_filter_presets:\n      - dynamic_filter_id: 99\n"
        "        preset_condition: {operator: is, values: [x]}\n    dest:\n      type: EmailDest",
        1,
    )
    Path("schedules/main.yml").write_text(text)
    seen = []
    for args in (["validate", "--remote"], ["validate", "--remote", "--format", "json"]):
        code, out, err = run(*args)
        assert code == 1
        seen.append(out + err)
        assert_inert(out, err)
    assert "no dynamic filter 99" in seen[0] and "::error file=schedules/main.yml" in seen[0]


def test_import_and_run_show_the_workspace_inert(
    run: Run, hostile_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = run("import", "--unmanaged")
    assert code == 0, err
    assert_inert(out, err)
    for path in Path("schedules").glob("*.yml"):
        for line in path.read_text().splitlines():
            if line.lstrip().startswith("#"):
                assert not FORBIDDEN.search(line) and "\n" not in line, line

    monkeypatch.setattr(sandbox_jobs, "failure_message", lambda dest_type: HOSTILE[0])
    hostile_sandbox.control.fail_jobs(4801)
    code, out, err = run("run", "weekly-sales")  # the job fails: its error log is the server's text
    assert code == 1 and "pwn" in err
    assert_inert(out, err)


def test_fields_the_spec_lacks_are_named_inert() -> None:
    """`-v` names the fields a server sent beyond the spec: their names are the server's text too."""
    from reconciler.kinds.schedules import SCHEDULES
    from reconciler.remote.reads import RemoteSchedules

    remote = RemoteSchedules(SCHEDULES)
    schedule = {**EXAMPLE["data_schedules"][0], "x\n::warning::key": 1}
    remote.add(schedule, "the listing")
    assert remote.undocumented == {"x\\n::warning::key"}
    assert "x\n::warning::key" not in remote.schedules[0]


def test_text_the_console_prints_never_starts_a_workflow_command() -> None:
    """The last line of defence: whatever a future call site prints through the consoles."""
    from rich.text import Text

    from reconciler.views.console import printable

    for text in HOSTILE:
        assert_inert(printable(f"{text}\n{text}"))
    styled = Text.assemble(("  ", "red"), (":", "bold"), (":warning::x\n##", ""), ("[error]y", "green"))
    from reconciler.views.console import _printable_text

    shown = _printable_text(styled)
    assert_inert(shown.plain)
    assert [s.style for s in shown.spans] == ["red", "bold", "green"]  # styles stay where they were
    mid_line = Text.assemble("key: ", ("::x\x1b", "bold"))  # `::` inside a line is no command: left as it is
    assert _printable_text(mid_line).plain == "key: ::x\\u001b"
    assert json.loads(printable(json.dumps({"a": "##[x", "b": "\u2028"}, ensure_ascii=False))) == {
        "a": "##[x",
        "b": "\u2028",
    }, "in JSON, the escapes decode to the same data"
