"""The `sandbox` command: run a local Holistics API sandbox in the foreground until Ctrl-C.

One definition serves both `holistics-schedules sandbox` (`reconciler.cli` registers it) and
`python -m reconciler.sandbox`, where it runs on its own. It imports the server only when it runs, so
registering it costs the CLI's start-up nothing.
"""

from __future__ import annotations

import errno
from pathlib import Path

import click

from reconciler.errors import CommandFailed
from reconciler.sandbox.defaults import DEFAULT_KEY, DEFAULT_PORT


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True)
@click.option("--seed", default="example", show_default=True, help="example, empty, or a JSON file.")
@click.option("--key", default=None, help=f"The API key the sandbox accepts (default: {DEFAULT_KEY}).")
@click.option("--state", type=click.Path(path_type=Path), help="Persist state to this JSON file.")
@click.option("--latency-ms", type=int, default=0, show_default=True)
@click.option("--rate-limit", default=None, help="N/S: N requests per S seconds, e.g. 120/60.")
@click.option(
    "--server-like",
    is_flag=True,
    help="Behave like the real server: extra read-only fields the spec does not document on every schedule "
    "and alert; undocumented input refused (see --lenient-input).",
)
@click.option(
    "--strict-input/--lenient-input",
    default=None,
    help="Refuse (422) or ignore attributes the spec does not document. Default: strict with "
    "--server-like, else passed on to validation.",
)
@click.option(
    "--immutable-source", is_flag=True, help="Refuse (422) a PUT that changes a schedule's or alert's source."
)
@click.option(
    "--no-list-metadata",
    "no_list_metadata",
    is_flag=True,
    help="Answer GET /dashboards/list_metadata with 404, as an older deployment does (no dashboard names).",
)
def sandbox(
    port: int,
    seed: str,
    key: str | None,
    state: Path | None,
    latency_ms: int,
    rate_limit: str | None,
    server_like: bool,
    strict_input: bool | None,
    immutable_source: bool,
    no_list_metadata: bool,
) -> None:
    """Run a local Holistics API sandbox until stopped."""
    from reconciler.sandbox.server import serve

    try:
        serve(
            port=port,
            seed=seed,
            key=key,
            state=state,
            latency_ms=latency_ms,
            rate_limit=rate_limit,
            server_like=server_like,
            strict_input=strict_input,
            immutable_source=immutable_source,
            list_metadata=not no_list_metadata,
        )
    except OSError as exc:
        busy = exc.errno == errno.EADDRINUSE
        hint = f"; port {port} is taken: pass another with --port N (or --port 0 for any free one)" if busy else ""
        raise _cannot_start(f"cannot start the sandbox: {exc}{hint}") from None
    except (ValueError, OverflowError) as exc:  # port out of range, bad seed, bad --rate-limit
        raise _cannot_start(f"cannot start the sandbox: {exc}") from None


def _cannot_start(message: str) -> Exception:
    ctx = click.get_current_context()
    if ctx.parent is None:
        # run on its own: click's usage error, exit 2, as the argparse entry point this replaced exited
        return click.UsageError(message, ctx)
    # under holistics-schedules: its one-line error and exit 1 (its exit 2 means "changes")
    return CommandFailed(message)
