"""`apply`: make the plan's calls (a fresh plan, or exactly a saved one) and say what was done, as
text or as JSON Lines (`--json`)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from reconciler.cli.options import (
    Connect,
    connection_options,
    env_key,
    paths_argument,
    project_config,
    scope_options,
)
from reconciler.errors import CommandFailed, ExitCode, UserError
from reconciler.usecases import applying, lock
from reconciler.usecases.planning import Scope, plan_to_apply
from reconciler.views.apply_view import JsonView, TextView


def confirm(as_json: bool) -> None:
    if as_json:  # the question would be a line of the JSON output
        raise CommandFailed("apply --json asks no question: pass --auto-approve, or apply a saved plan")
    if not sys.stdin.isatty():
        raise CommandFailed("apply needs confirmation: run it in a terminal, or pass --auto-approve")
    answer = click.prompt("Apply these changes? Only 'yes' will be accepted", default="", show_default=False)
    if answer != "yes":
        raise CommandFailed("apply cancelled; nothing was changed")


def _saved_plan(paths: tuple[Path, ...]) -> Path | None:
    if len(paths) > 1 and any(p.suffix == ".json" for p in paths):
        raise click.UsageError("a saved plan (FILE.json) is applied on its own, without schedule paths")
    return paths[0] if len(paths) == 1 and paths[0].suffix == ".json" and paths[0].is_file() else None


@contextmanager
def _errors_shown_by(view: TextView | JsonView) -> Iterator[None]:
    try:
        yield
    except UserError as exc:
        view.error(exc)
        raise


@click.command("apply")
@paths_argument
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed without a terminal).")
@scope_options
@click.option("--force", is_flag=True, help="Apply a plan marked unsafe (it changes too much at once).")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 32),
    default=applying.DEFAULT_PARALLELISM,
    show_default=True,
    help="Requests in flight at once.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="JSON Lines on stdout: an object per change as it completes, the ids, a summary last (needs --auto-approve "
    "or a saved plan).",
)
@connection_options
def apply_command(
    paths: tuple[Path, ...],
    auto_approve: bool,
    scope: Scope,
    force: bool,
    parallelism: int,
    as_json: bool,
    connect: Connect,
) -> None:
    """Make the plan's calls: POST to create, PUT to update, DELETE only with --prune (or
    --prune-since, --prune-duplicates).

    Given one FILE.json written by `plan --out`, applies exactly that plan, and refuses it when the
    YAML or a remote schedule it touches has changed since.
    """
    view = JsonView() if as_json else TextView()
    saved = _saved_plan(paths)
    if saved is not None and scope.prune_duplicates:
        # a saved plan is applied as it was reviewed: what it deletes was decided when it was made
        raise click.UsageError("a saved plan is applied as it was made: give --prune-duplicates to `plan --out`")
    # one run at a time per checkout: two would both create what neither had seen made yet
    with _errors_shown_by(view), lock.exclusive(lock.checkout_root(Path.cwd()), "apply"), connect() as client:
        todo = plan_to_apply(client, project_config(), paths, scope, saved, env_key=env_key)
        view.plan(todo.plan, todo.titles)
        if not todo.plan.has_changes:
            report = applying.apply(todo.plan, client, schedule_files=todo.files)  # ids matched by content
            view.nothing_to_do(report)
            if report.unrecorded:
                sys.exit(ExitCode.ERROR)
            return
        if todo.plan.unsafe and not force:
            raise CommandFailed(f"refusing an unsafe plan: {todo.plan.unsafe}")
        if not auto_approve and not todo.saved:
            confirm(as_json)
        with view.progress(len(todo.plan.changes)) as on_result:
            report = applying.apply(
                todo.plan, client, parallelism=parallelism, on_result=on_result, schedule_files=todo.files
            )
    view.finish(report)
    if not report.ok or report.unrecorded:
        sys.exit(ExitCode.ERROR)
