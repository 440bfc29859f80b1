"""Issue 12's command-line polish, end to end (the real CLI against the real sandbox)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.helpers import EMAIL, cli, cli_env, write_schedules, writes


def test_plan_out_says_where_and_how_and_a_saved_plan_applies_without_asking(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    made = cli(sandbox, "plan", "--out", "plan.json", cwd=tmp_path)
    assert made.returncode == 0
    assert "Saved the plan to plan.json" in made.stderr and "holistics-schedules apply plan.json" in made.stderr
    applied = cli(sandbox, "apply", "plan.json", cwd=tmp_path)  # no terminal, no --auto-approve: it was reviewed
    assert applied.returncode == 0, applied.stderr
    assert len(sandbox.control.schedules()) == 2
    path = tmp_path / "schedules/main.yml"
    path.write_text(path.read_text().replace('"0 8 * * 1"', '"0 9 * * 1"'))
    asked = cli(sandbox, "apply", cwd=tmp_path)
    assert asked.returncode == 1 and "needs confirmation" in asked.stderr, "a fresh plan still asks"


def test_show_renders_a_saved_plan_in_every_format_offline(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    assert cli(sandbox, "plan", "--out", "plan.json", cwd=tmp_path).returncode == 0
    sandbox.control.clear_requests()
    text = cli(None, "show", "plan.json", cwd=tmp_path)
    assert text.returncode == 0 and "Plan: 2 to create, 0 to update, 0 to delete." in text.stdout
    assert 'report 5301 "Daily Orders' in text.stdout, "the titles saved with the plan"
    md = cli(None, "show", "plan.json", "--format", "markdown", cwd=tmp_path).stdout
    assert md.startswith("### Holistics schedules plan") and "s***@example.com" in md
    data = json.loads(cli(None, "show", "plan.json", "--format", "json", cwd=tmp_path).stdout)
    assert data["summary"]["create"] == 2
    assert sandbox.control.requests() == []
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    refused = cli(None, "show", "fifo.json", cwd=tmp_path)
    assert refused.returncode == 1 and "not a regular file" in refused.stderr


def test_verbose_and_no_color_work_before_or_after_the_command(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    sandbox.control.add_fault(method="GET", path="/data_schedules", status=503, count=2)
    before = cli(sandbox, "-v", "--no-color", "plan", cwd=tmp_path)
    assert before.returncode == 0 and "503 on GET /data_schedules, retry 1/4" in before.stderr
    sandbox.control.add_fault(method="GET", path="/data_schedules", status=503, count=1)
    after = cli(sandbox, "plan", "-v", "--no-color", cwd=tmp_path)
    assert after.returncode == 0 and "503 on GET /data_schedules, retry 1/4" in after.stderr
    for result in (before, after):
        assert "\x1b[" not in result.stdout + result.stderr


def test_run_says_it_follows_the_job_that_already_exists(example_sandbox: Sandbox, tmp_path: Path) -> None:
    assert cli(example_sandbox, "run", "4812", "--no-wait", cwd=tmp_path).returncode == 0
    result = cli(example_sandbox, "run", "4812", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "a job for this schedule was already running: following job" in result.stdout
    assert writes(example_sandbox)


def test_a_rejected_key_names_the_region_it_was_sent_to(tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    with Sandbox(seed="empty") as sb:
        result = cli(sb, "plan", cwd=tmp_path, key="a-key-of-another-region")
    assert result.returncode == 1
    assert f"the API key was rejected by {sb.base_url}" in result.stderr
    assert "a-key-of-another-region" not in result.stderr


def test_apply_with_a_failure_is_not_called_complete(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    sandbox.control.add_fault(method="POST", path="/data_schedules", status=422, count=1)
    result = cli(sandbox, "apply", "--auto-approve", "--parallelism", "1", cwd=tmp_path)
    assert result.returncode == 1
    assert "Apply incomplete: 1 of 2 change(s) made, 1 failed." in result.stdout
    assert "Apply complete" not in result.stdout


def test_a_busy_port_for_the_sandbox_suggests_another(tmp_path: Path) -> None:
    with Sandbox(seed="empty") as sb:
        result = cli(None, "sandbox", "--port", str(sb.port), cwd=tmp_path)
    assert result.returncode == 1
    assert f"port {sb.port} is taken: pass another with --port N" in result.stderr


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_output_that_cannot_be_written_is_one_clear_line(sandbox: Sandbox, tmp_path: Path) -> None:
    write_schedules(tmp_path, EMAIL)
    for args in (["validate", "--format", "json"], ["plan", "--json"], ["audit", "--format", "json"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [sys.executable, "-m", "reconciler", *args],
                cwd=tmp_path,
                env=cli_env(sandbox),
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=120,
            )
        assert done.returncode == 1
        assert done.stderr == "Error: cannot write the output: No space left on device\n", args
