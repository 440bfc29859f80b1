"""`run`: execute a schedule or an alert now and follow its job."""

from __future__ import annotations

from pathlib import Path

import click

from reconciler.cli.options import Connect, connection_options, paths_argument, project_config
from reconciler.errors import CommandFailed
from reconciler.kinds.known import BY_YAML_KEY
from reconciler.usecases import running
from reconciler.views.console import stderr, stdout


@click.command("run")
@click.argument("target")
@click.option("--no-wait", is_flag=True, help="Submit and print the job id without following it.")
@click.option(
    "--kind",
    type=click.Choice(list(BY_YAML_KEY)),
    help="Which kind an id names, when a schedule and an alert both have it.",
)
@paths_argument
@connection_options
def run_command(target: str, no_wait: bool, kind: str | None, paths: tuple[Path, ...], connect: Connect) -> None:
    """Execute a schedule or an alert now (by YAML key or id) and follow its job. Exit 0 success, 1
    failure. An id that a schedule and an alert both have is refused: name it by key, or give --kind."""
    found = running.resolve_target(project_config(), target, paths, connect, kind=BY_YAML_KEY[kind] if kind else None)
    out = stdout()
    with connect() as client:
        running.refuse_breaking_policy(client, project_config(), found)
        job = client.submit(found.kind, found.id)
        out.print(
            f"Submitted {found.kind.noun} {found.id} ({found.named}): job {job.get('id')} {job.get('status')}",
            markup=False,
        )
        if no_wait:
            return
        outcome = running.follow(
            client,
            job,
            on_status=lambda job_id, status: out.print(f"job {job_id}: {status}"),
            on_note=out.print,
            noun=found.kind.noun,
        )
    if outcome.ok:
        out.print(f"Job {outcome.job_id} succeeded.", style="green", markup=False)
        return
    for line in outcome.error_logs or ((outcome.last_error,) if outcome.last_error else ()):
        stderr().print(f"  {line}", markup=False)
    raise CommandFailed(f"job {outcome.job_id} ended with status {outcome.status}")
