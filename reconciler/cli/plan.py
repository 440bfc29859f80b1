"""`plan`: what apply would do, as text, markdown or JSON, and optionally saved for `apply FILE`.

The use case and the views are imported where they are used: `plan --help` and a usage error pay
for neither, and a plan imports only the view of the format it prints."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.options import (
    Connect,
    config_leaves,
    early_connection_options,
    env_key,
    paths_argument,
    project_config,
    scope_options,
    verbose,
)
from reconciler.desired import discovery
from reconciler.errors import ExitCode, UserError
from reconciler.problems import InvalidSchedules
from reconciler.views.console import printable, stderr, stdout, without_hidden_values

if TYPE_CHECKING:
    from reconciler.usecases.config import ProjectConfig
    from reconciler.usecases.planning import Planned, Scope


def _rendered(result: Planned, fmt: str, *, show_sensitive: bool, whole: bool = False) -> str:
    exceptions = result.policy_exceptions
    if fmt == "json":
        from reconciler.views import plan_json

        return plan_json.to_json(result.plan, result.titles, exceptions, result.crowds)
    if fmt == "markdown":
        from reconciler.views import plan_markdown

        # printed: sized for a pull-request comment; written to a file: the whole plan (job summary)
        limit = None if whole else plan_markdown.GITHUB_COMMENT_LIMIT
        return plan_markdown.markdown(
            result.plan,
            result.titles,
            show_sensitive=show_sensitive,
            limit=limit,
            exceptions=exceptions,
            crowds=result.crowds,
        )
    from reconciler.views import plan_text

    return plan_text.text(result.plan, result.titles, exceptions=exceptions, crowds=result.crowds).plain


def _write(out: Path, result: Planned, fmt: str, *, show_sensitive: bool, workspace: str) -> None:
    """`--out FILE`: FILE.json is a saved plan for apply; FILE.md the whole markdown plan."""
    from reconciler.desired import yamlwrite
    from reconciler.views import savedplan

    if out.suffix == ".json":
        content = savedplan.dumps(
            result.plan,
            paths=result.paths,
            files=result.files,
            remote=result.remote_of,
            workspace=workspace,
            titles=result.titles,
            env=result.env,
            remote_key=env_key() if result.env else None,
            exceptions=result.policy_exceptions,
            crowds=result.crowds,
        )
    else:
        content = _rendered(
            result, "markdown" if out.suffix == ".md" else fmt, show_sensitive=show_sensitive, whole=True
        )
    yamlwrite.atomic_write(out, without_hidden_values(content))
    if out.suffix == ".json":
        stderr().print(
            f"Saved the plan to {out}: review it with `holistics-schedules show {out}`, "
            f"apply exactly it with `holistics-schedules apply {out}`.",
            markup=False,
        )
    else:
        stderr().print(f"Wrote the plan to {out}.", markup=False)


def _nothing_said_first(paths: Sequence[Path], scope: Scope) -> bool:
    """Whether the plan can have nothing to say before its first request: a refused option (only a
    plan that deletes can be refused) or a schedule path that cannot be read (one the config names
    is not known yet). What the config and the YAML say of themselves comes after; no write ever does."""
    if scope.deleting is not None or not (paths or config_leaves("paths")):
        return False
    try:
        return not discovery.scan(list(paths) or [discovery.DefaultPath(discovery.DEFAULT_SCHEDULES)])[1]
    except UserError:  # no schedules/ at all: a hint
        return False


def _config(*, reads_started: bool) -> ProjectConfig:
    """The project config; its problems end in "nothing was changed" once reads were sent before it."""
    try:
        return project_config()
    except InvalidSchedules as exc:
        if not reads_started:
            raise
        raise InvalidSchedules(exc.problems, exc.what) from None


# The last plan made lives on: the console script ends without freeing anything (`entry._exit_now`),
# and freeing a plan of 10,000 schedules object by object as this command returned took 50 ms.
_KEPT: list[Planned] = []


@click.command("plan")
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Also write the plan: FILE.json is a saved plan for apply."
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error.")
@scope_options
@click.option("--show-sensitive", is_flag=True, help="Do not mask email addresses in markdown.")
@early_connection_options
def plan_command(
    paths: tuple[Path, ...],
    fmt: str,
    as_json: bool,
    out: Path | None,
    detailed_exitcode: bool,
    scope: Scope,
    show_sensitive: bool,
    connect: Connect,
) -> None:
    """Show what apply would do. Reads every remote schedule and alert; writes nothing remotely."""
    from reconciler.usecases import plan_start

    fmt = "json" if as_json else fmt
    _KEPT.clear()  # one plan at most, and never one of an earlier command that a failed one would leave
    # the workspace's read starts before the plan's own code loads, when nothing can be said before it
    with plan_start.started(connect.early() if _nothing_said_first(paths, scope) else None) as listings:
        from reconciler.usecases.planning import plan_for

        config = _config(reads_started=listings is not None)
        with connect() as client:
            # a saved plan holds nothing the cache produced: apply sends what it carries
            saving = out is not None and out.suffix == ".json"
            # a saved plan fingerprints the values it took from the environment, under a key from the API key
            result = plan_for(
                client,
                config,
                paths,
                scope,
                cached=not saving,
                env_key=env_key if saving else None,
                listings=listings,
            )
    _KEPT[:] = [result]
    if result.undocumented and verbose():
        stderr().print(
            "note: the server returned fields the spec does not document; they are kept out of diffs, "
            f"adoption and updates (worth reporting): {', '.join(sorted(result.undocumented))}",
            markup=False,
        )
    if fmt == "text":
        from reconciler.views import plan_text

        stdout().print(
            plan_text.text(result.plan, result.titles, exceptions=result.policy_exceptions, crowds=result.crowds)
        )
    else:
        click.echo(printable(_rendered(result, fmt, show_sensitive=show_sensitive)), nl=False)
    if out is not None:
        _write(out, result, fmt, show_sensitive=show_sensitive, workspace=client.base_url)
    if detailed_exitcode and result.plan.has_changes:
        sys.exit(ExitCode.CHANGES)
