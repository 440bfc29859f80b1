"""`run`: execute a schedule now and follow its job."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.options import Connect, connection_options, paths_argument, project_config
from reconciler.errors import CommandFailed
from reconciler.kinds.schedules import SCHEDULES
from reconciler.usecases import running
from reconciler.views.console import stderr, stdout


@click.command("run")
@click.argument("target")
@click.option("--no-wait", is_flag=True, help="Submit and print the job id without following it.")
@paths_argument
@connection_options
def run_command(target: str, no_wait: bool, paths: tuple[Path, ...], connect: Connect) -> None:
    """Execute a schedule now (by YAML key or id) and follow its job. Exit 0 success, 1 failure."""
    schedule_id, named = running.resolve_target(project_config(), target, paths, connect)
    out = stdout()
    with connect() as client:
        job = client.submit(SCHEDULES, schedule_id)
        out.print(f"Submitted schedule {schedule_id} ({named}): job {job.get('id')} {job.get('status')}")
        if no_wait:
            return
        outcome = running.follow(
            client, job, on_status=lambda job_id, status: out.print(f"job {job_id}: {status}"), on_note=out.print
        )
    if outcome.ok:
        out.print(f"Job {outcome.job_id} succeeded.", style="green", markup=False)
        return
    for line in outcome.error_logs or ((outcome.last_error,) if outcome.last_error else ()):
        stderr().print(f"  {line}", markup=False)
    raise CommandFailed(f"job {outcome.job_id} ended with status {outcome.status}")
