"""The command line: parse options, call the modules, render, choose the exit code."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from reconciler import apply as applying
from reconciler import importer, render, yamlfiles
from reconciler.client import ConfigError, HolisticsClient, HolisticsError, resolve_base_url
from reconciler.plan import Plan, UnknownIds, plan
from reconciler.workspace import read_remote

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_PATHS = (Path("schedules"),)
EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


class Failure(click.ClickException):
    """A clear message, exit 1, no traceback."""

    exit_code = EXIT_ERROR

    def show(self, file: Any = None) -> None:
        stderr().print(f"[red]Error:[/red] {self.format_message()}", markup=True, highlight=False)


def connection_options(func: F) -> F:
    @click.option(
        "--api-key",
        envvar="HOLISTICS_API_KEY",
        help="API key (env HOLISTICS_API_KEY; prefer the env).",
        show_envvar=False,
    )
    @click.option(
        "--region",
        envvar="HOLISTICS_REGION",
        default="apac",
        show_default=True,
        type=click.Choice(["apac", "eu", "us"], case_sensitive=False),
        help="Holistics region (env HOLISTICS_REGION).",
    )
    @click.option(
        "--base-url",
        envvar="HOLISTICS_BASE_URL",
        help="Full API URL incl. /api/v2; overrides --region (env HOLISTICS_BASE_URL).",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Log retries and waits to stderr.")
    @functools.wraps(func)
    def wrapper(
        *args: Any, api_key: str | None, region: str, base_url: str | None, verbose: bool, **kwargs: Any
    ) -> Any:
        def connect() -> HolisticsClient:
            if not api_key:
                raise Failure("no API key: set HOLISTICS_API_KEY (or pass --api-key)")
            try:
                url = resolve_base_url(region, base_url)
            except ConfigError as exc:
                raise Failure(str(exc)) from None
            on_event = (lambda msg: stderr().print(f"[dim]{msg}[/dim]")) if verbose else None
            return HolisticsClient(url, api_key, on_event=on_event)

        return func(*args, connect=connect, **kwargs)

    return wrapper  # type: ignore[return-value]


def paths_argument(func: F) -> F:
    return click.argument("paths", nargs=-1, type=click.Path(path_type=Path))(func)


def load_desired(paths: Sequence[Path]) -> list[yamlfiles.DesiredSchedule]:
    try:
        return yamlfiles.load(paths or DEFAULT_PATHS)
    except yamlfiles.InvalidSchedules as exc:
        for problem in exc.problems:
            stderr().print(str(problem), markup=False)
        raise Failure(f"{len(exc.problems)} problem(s) in the schedule files; nothing was sent") from None


def make_plan(client: HolisticsClient, paths: Sequence[Path], prune: bool) -> Plan:
    desired = load_desired(paths)
    try:
        remote = read_remote(client, desired)
        return plan(desired, remote, prune=prune)
    except yamlfiles.InvalidSchedules as exc:
        for problem in exc.problems:
            stderr().print(str(problem), markup=False)
        raise Failure(f"{len(exc.problems)} problem(s) with the workspace; nothing was sent") from None
    except UnknownIds as exc:  # read_remote resolves these first; kept for a plan made by other callers
        raise Failure(f"unknown ids: {exc}") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="holistics-schedules")
def cli() -> None:
    """Holistics data schedules as code: validate, plan, apply and import YAML."""


@cli.command()
@paths_argument
def validate(paths: tuple[Path, ...]) -> None:
    """Check schedule YAML offline. Exit 0 valid, 1 invalid (every problem listed as file:line: key.path: message)."""
    desired = load_desired(paths)
    files = len({d.file for d in desired})
    stdout().print(f"OK: {len(desired)} schedule(s) in {files} file(s) are valid.")


@cli.command("plan")
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--out", type=click.Path(path_type=Path), help="Also write the plan to FILE.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error.")
@click.option("--prune", is_flag=True, help="Plan deleting remote schedules no YAML declares.")
@connection_options
def plan_command(
    paths: tuple[Path, ...],
    fmt: str,
    as_json: bool,
    out: Path | None,
    detailed_exitcode: bool,
    prune: bool,
    connect: Callable[[], HolisticsClient],
) -> None:
    """Show what apply would do. Reads every remote schedule; writes nothing remotely."""
    fmt = "json" if as_json else fmt
    with connect() as client:
        the_plan = make_plan(client, paths, prune)
    rendered = {"json": render.to_json, "markdown": render.markdown}.get(fmt)
    if rendered is None:
        stdout().print(render.text(the_plan))
    else:
        click.echo(rendered(the_plan), nl=False)
    if out is not None:
        yamlfiles.atomic_write(
            out,
            render.to_json(the_plan)
            if out.suffix == ".json"
            else (rendered or (lambda p: render.text(p).plain))(the_plan),
        )
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(EXIT_CHANGES)


@cli.command("apply")
@paths_argument
@click.option("--auto-approve", is_flag=True, help="Apply without asking (needed without a terminal).")
@click.option("--prune", is_flag=True, help="Delete remote schedules no YAML declares.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 32),
    default=applying.DEFAULT_PARALLELISM,
    show_default=True,
    help="Requests in flight at once.",
)
@connection_options
def apply_command(
    paths: tuple[Path, ...], auto_approve: bool, prune: bool, parallelism: int, connect: Callable[[], HolisticsClient]
) -> None:
    """Make the plan's calls: POST to create, PUT to update, DELETE only with --prune."""
    out, err = stdout(), stderr()
    with connect() as client:
        the_plan = make_plan(client, paths, prune)
        out.print(render.text(the_plan))
        if not the_plan.has_changes:
            report = applying.apply(the_plan, client)  # still records ids of entries matched by content
            _print_recorded(report)
            return
        if not auto_approve:
            if not sys.stdin.isatty():
                raise Failure("apply needs confirmation: run it in a terminal, or pass --auto-approve")
            if (
                click.prompt("Apply these changes? Only 'yes' will be accepted", default="", show_default=False)
                != "yes"
            ):
                raise Failure("apply cancelled; nothing was changed")

        def on_result(result: applying.Result) -> None:
            name = render.change_name(result.change)
            if result.ok:
                target = f" (id {result.id})" if result.change.id is None and result.id else ""
                out.print(f"[green]✓[/green] {name}{target}: {result.message}")
            else:
                err.print(f"[red]✗[/red] {name}: {result.message}")
                for line in result.errors:
                    err.print(f"    {line}", markup=False)

        report = applying.apply(the_plan, client, parallelism=parallelism, on_result=on_result)
    _print_recorded(report)
    done = sum(r.ok for r in report.results)
    out.print(f"Apply complete: {done} of {len(report.results)} change(s) made, {len(report.failed)} failed.")
    if not report.ok:
        sys.exit(EXIT_ERROR)


def _print_recorded(report: applying.Report) -> None:
    for file, ids in sorted(report.recorded.items()):
        stdout().print(f"Recorded {len(ids)} id(s) in {file}", markup=False)


@cli.command("import")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=DEFAULT_PATHS[0],
    show_default=True,
    help="Directory to write the YAML files into.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@connection_options
def import_command(out_dir: Path, force: bool, connect: Callable[[], HolisticsClient]) -> None:
    """Write YAML for every remote schedule, ids included."""
    with connect() as client:
        remote = list(client.list_schedules())
    try:
        written = importer.write(remote, out_dir, force=force)
    except importer.ImportConflict as exc:
        raise Failure(str(exc)) from None
    for path, count in written.items():
        stdout().print(f"wrote {count} schedule(s) to {path}", markup=False)
    stdout().print(f"Imported {sum(written.values())} schedule(s).")


@cli.command()
@click.option("--port", type=int, default=8765, show_default=True)
@click.option("--seed", default="example", show_default=True, help="example, empty, or a JSON file.")
@click.option("--key", default=None, help="The API key the sandbox accepts (default: sandbox-key).")
@click.option("--state", type=click.Path(path_type=Path), help="Persist state to this JSON file.")
@click.option("--latency-ms", type=int, default=0, show_default=True)
@click.option("--rate-limit", default=None, help="N/S: N requests per S seconds, e.g. 120/60.")
def sandbox(port: int, seed: str, key: str | None, state: Path | None, latency_ms: int, rate_limit: str | None) -> None:
    """Run a local Holistics API sandbox until stopped."""
    from reconciler.sandbox import server

    server.serve(port=port, seed=seed, key=key, state=state, latency_ms=latency_ms, rate_limit=rate_limit)


@cli.command()
def demo() -> None:
    """Try it with no account: a seeded sandbox, then validate, plan, apply, plan on a copy of schedules/."""
    from reconciler import demo as demo_module

    sys.exit(demo_module.run(stdout()))


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point. Anything unexpected is reported in one line, never as a traceback with secrets."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="holistics-schedules", standalone_mode=True)
    except HolisticsError as exc:
        stderr().print(f"[red]Error:[/red] {exc}")
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        stderr().print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("HOLISTICS_DEBUG"):
            raise
        stderr().print(
            f"[red]Internal error:[/red] {type(exc).__name__}: {exc} (set HOLISTICS_DEBUG=1 for details)", markup=True
        )
        sys.exit(EXIT_ERROR)
