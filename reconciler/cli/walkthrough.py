"""`demo`: the whole workflow against a seeded in-process sandbox, with no account and no trace left."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import chdir, contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from reconciler.errors import ExitCode
from reconciler.sandbox import Sandbox


def example_schedules() -> Path:
    """The example the demo runs, wherever it is run from. A wheel ships the repository's
    schedules/ as reconciler/example/ (pyproject's package-dir); a checkout or an editable install
    has no such directory, and the example is that schedules/ itself, beside the package."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "example"
    return installed if installed.is_dir() else package.parent / "schedules"


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(console: Console, cli: click.Command, args: Sequence[str]) -> int:
    console.print(Rule(style="cyan"))
    console.print(Text(f"$ holistics-schedules {' '.join(args)}", style="bold cyan"))
    try:
        cli.main(args=list(args), prog_name="holistics-schedules", standalone_mode=False)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else ExitCode.ERROR
    except click.ClickException as exc:  # a failing step, shown as the command would show it
        exc.show()
        code = exc.exit_code
    else:
        code = ExitCode.OK
    console.print(f"[dim](exit {code})[/dim]\n")
    return code


def run(console: Console, cli: click.Command, example: Path | None = None) -> int:
    """Run the steps with `cli`, the command group (passed in: this module is one of its commands')."""
    example = example_schedules() if example is None else example
    if not example.is_dir():
        console.print(
            Text(f"Error: the example schedules are missing ({example}/): reinstall holistics-schedules", style="red")
        )
        return ExitCode.ERROR
    with Sandbox(seed="example") as sandbox, tempfile.TemporaryDirectory(prefix="holistics-demo-") as tmp:
        shutil.copytree(example, Path(tmp) / "schedules")
        remote = f"{len(sandbox.control.schedules())} schedules and {len(sandbox.control.alerts())} alerts"
        console.print(
            f"Sandbox running at {sandbox.base_url} with {remote} "
            f"(a seeded example workspace); working on a copy of the example schedules ({example}/) in {tmp}.\n"
        )
        # In the temporary directory, with the sandbox's connection: the demo is the same wherever it
        # is run, and a project config (scope, ignore rules, safety) or settings of the caller's own
        # repository and environment neither change it nor make it fail.
        with (
            chdir(tmp),
            _environment(
                HOLISTICS_BASE_URL=sandbox.base_url, HOLISTICS_API_KEY=sandbox.key, HOLISTICS_RATE_LIMIT="none"
            ),
        ):
            os.environ.pop("HOLISTICS_REGION", None)
            steps: list[tuple[list[str], set[int]]] = [
                (["validate"], {0}),  # each on schedules/, the default, as you would type them
                (["plan"], {0}),
                (["apply", "--auto-approve"], {0}),
                (["plan", "--detailed-exitcode"], {0}),
            ]
            for args, ok in steps:
                if _run(console, cli, args) not in ok:
                    console.print("[red]The demo stopped at a failing step.[/red]")
                    return ExitCode.ERROR
    console.print(
        "[green]Demo complete:[/green] validate, plan, apply (schedules and one new alert), and a second plan with "
        "no changes. "
        "The sandbox is stopped and the temporary copy removed."
    )
    return ExitCode.OK
