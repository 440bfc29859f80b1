"""`validate`: check the schedule files and the config, offline (or their references, online)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from reconciler import problems as diagnostics
from reconciler.cli.options import Connect, F, connection_options, paths_argument, project_config
from reconciler.errors import CommandFailed, UserError
from reconciler.usecases.planning import check_references, load_desired
from reconciler.views.console import stdout


def _problems_in_format(func: F) -> F:
    """validate's problems printed as `--format` asks, wherever they arise: the config file is read
    (in `connection_options`) before the command's body runs."""

    @functools.wraps(func)
    def wrapper(*args: Any, fmt: str, **kwargs: Any) -> Any:
        try:
            return func(*args, fmt=fmt, **kwargs)
        except diagnostics.InvalidSchedules as exc:
            checked = exc.checked()  # validate sends nothing: its summary says only what it found
            if fmt == "text":
                raise checked from None
            _print_problems(fmt, checked.problems)
            raise CommandFailed(str(checked)) from None  # the list went to stdout: stderr gets the summary
        except UserError as exc:  # no file's problem (no schedules/, the network): still in the format
            if fmt != "text":
                _print_problems(fmt, [], error=str(exc))
            raise

    return wrapper  # type: ignore[return-value]


def _print_problems(fmt: str, problems: Sequence[diagnostics.Problem], error: str | None = None) -> None:
    if fmt == "json":
        click.echo(diagnostics.problems_json(problems, error), nl=False)
        return
    for problem in problems:
        click.echo(problem.github())
    if error is not None:
        click.echo(f"::error title=holistics-schedules::{diagnostics.github_data(error)}")


@click.command("validate")
@paths_argument
@click.option("--remote", is_flag=True, help="Also check each dashboard/report and dynamic filter exists (online).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="text: file:line: key.path: message on stderr; json: {valid, problems} on stdout; "
    "github: one ::error annotation per problem on stdout.",
)
@_problems_in_format
@connection_options
def validate_command(paths: tuple[Path, ...], remote: bool, fmt: str, connect: Connect) -> None:
    """Check schedule YAML and the config file. Exit 0 valid, 1 invalid; every problem at its file and line."""
    config = project_config()
    desired = load_desired(config, paths)
    if remote:
        with connect() as client:
            check_references(client, config, desired)
    if fmt == "json":
        click.echo(diagnostics.problems_json([]), nl=False)
        return
    files = len({d.file for d in desired})
    checked = " and their references" if remote else ""
    alerts = sum(1 for d in desired if d.kind == "alerts")
    counted = f"{len(desired) - alerts} schedule(s)" + (f" and {alerts} alert(s)" if alerts else "")
    stdout().print(f"OK: {counted} in {files} file(s){checked} are valid.")
