"""The command line: the `holistics-schedules` group, its entry point, and the one place where a
user's error becomes a message and exit 1. Each command lives in its own module: it parses its
options, calls a use case, renders what it returns and chooses the exit code. A command's module is
imported only when that command runs (or --help lists them): `plan` pays for no other command's."""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler import __version__
from reconciler import problems as diagnostics
from reconciler.cli.options import no_cache_option, regular_config, turn_cache_off
from reconciler.desired.discovery import CONFIG_FILE
from reconciler.errors import ExitCode, UserError
from reconciler.views.console import print_error, stderr, without_hidden_values

COMMANDS = {
    "validate": "reconciler.cli.validate:validate_command",
    "plan": "reconciler.cli.plan:plan_command",
    "apply": "reconciler.cli.apply:apply_command",
    "import": "reconciler.cli.import_cmd:import_command",
    "run": "reconciler.cli.run:run_command",
    "show": "reconciler.cli.show:show_command",
    "audit": "reconciler.cli.audit:audit_command",
    "schema": "reconciler.cli.schema:schema_command",
    "sandbox": "reconciler.sandbox.command:sandbox",
    "demo": "reconciler.cli.demo:demo_command",
}
"""Each command's name and where it is defined ("module:attribute"), imported when it is resolved."""


class _Shown(click.ClickException):
    """How every UserError ends: its detail lines, then one clear message; exit 1, no traceback."""

    exit_code = ExitCode.ERROR

    def __init__(self, error: UserError) -> None:
        super().__init__(str(error))
        self.error = error

    def show(self, file: Any = None) -> None:
        err = stderr()
        for line in self.error.details():
            err.print(line, markup=False, emoji=False)  # `:100:` in a quoted value stays as written
        if isinstance(self.error, diagnostics.InvalidSchedules) and diagnostics.in_github_actions():
            for problem in self.error.problems:  # also as annotations on the lines of the pull request
                click.echo(without_hidden_values(problem.github()), err=True)
        print_error(self.format_message())


class _Commands(click.Group):
    """The group whose commands are imported when resolved; --help resolves them all, for their short help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in COMMANDS:
            return self._load(cmd_name)
        for name in COMMANDS.keys() - self.commands.keys():  # a misspelling: click suggests from those loaded
            self._load(name)
        return None

    def _load(self, cmd_name: str) -> click.Command:
        module, attribute = COMMANDS[cmd_name].split(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command) or command.name != cmd_name:
            raise TypeError(f"{COMMANDS[cmd_name]} is not the click command {cmd_name!r}")
        self.add_command(command)  # resolved once
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:  # the one place where the user's errors become a message and exit 1
            raise _Shown(exc) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log retries and waits, and fields the spec lacks, to stderr.")
@click.option("--no-color", is_flag=True, help="No colour or other escape codes (as NO_COLOR=1).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    callback=regular_config,
    help=f"Project config file (default: ./{CONFIG_FILE} when present).",
)
@no_cache_option
@click.version_option(__version__, prog_name="holistics-schedules")
def cli(verbose: bool, no_color: bool, config_path: Path | None, no_cache: bool) -> None:
    """Holistics data schedules as code: validate, plan, apply and import YAML."""
    if no_color:
        os.environ["NO_COLOR"] = "1"  # the consoles of this process read it, so every line obeys
    turn_cache_off(no_cache)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point. Errors are one clear line and exit 1 (also usage errors: exit 2 means "changes"
    under --detailed-exitcode); never a traceback."""
    try:
        code = cli.main(
            args=list(argv) if argv is not None else None, prog_name="holistics-schedules", standalone_mode=False
        )
    except click.UsageError as exc:
        exc.show()
        sys.exit(ExitCode.ERROR)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort as exc:
        interrupted = isinstance(exc.__cause__ or exc.__context__, KeyboardInterrupt)
        print_error("interrupted; what was made is recorded, run it again to finish" if interrupted else "aborted")
        sys.exit(ExitCode.INTERRUPTED if interrupted else ExitCode.ERROR)
    except KeyboardInterrupt:
        print_error("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except OSError as exc:
        if exc.errno not in _WRITE_ERRORS:
            _internal(exc)
        # `plan --json > /dev/full`, `| head`: what was printed could not be written
        print_error(f"cannot write the output: {exc.strerror or exc}")
        sys.exit(ExitCode.ERROR)
    except Exception as exc:  # the last line of defence against tracebacks
        _internal(exc)
    sys.exit(code if isinstance(code, int) else ExitCode.OK)


_WRITE_ERRORS = {errno.ENOSPC, errno.EPIPE, errno.EDQUOT, errno.EFBIG, errno.EIO}


def _internal(exc: BaseException) -> NoReturn:
    if os.environ.get("HOLISTICS_DEBUG"):
        raise exc
    print_error(f"internal error: {type(exc).__name__}: {exc} (set HOLISTICS_DEBUG=1 for details)")
    sys.exit(ExitCode.ERROR)
