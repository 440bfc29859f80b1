"""The command line: parse options, call the modules, render, choose the exit code."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler import problems as diagnostics
from reconciler.core.model import Plan
from reconciler.desired import discovery, schema, yamlwrite
from reconciler.errors import ExitCode, UserError
from reconciler.kinds.schedules import SCHEDULES, source_key
from reconciler.remote.client import (
    HOLISTICS_RATE_LIMIT,
    ConfigError,
    HolisticsClient,
    RateLimiter,
    default_rate_limit,
    resolve_base_url,
)
from reconciler.remote.reads import list_remote, read_sources, reference_problems
from reconciler.sandbox.command import sandbox
from reconciler.usecases import applying, lock, running
from reconciler.usecases import config as configuration
from reconciler.usecases.planning import Planned, Scope, Selection, load_desired, make_plan, schedule_paths
from reconciler.views import plan_json, plan_markdown, plan_text, plan_words, savedplan
from reconciler.views.console import printable, stderr, stdout

F = TypeVar("F", bound=Callable[..., Any])


class Failure(UserError):
    """A message from the command line itself (a missing key, a refused plan)."""


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
                click.echo(problem.github(), err=True)
        print_error(self.format_message())


class _Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:  # the one place where the user's errors become a message and exit 1
            raise _Shown(exc) from None


def print_error(message: str) -> None:
    from rich.text import Text  # rich is imported where something is printed with it, not by `plan --json`

    stderr().print(Text.assemble(("Error: ", "red"), message))


def project_config(ctx: click.Context) -> configuration.ProjectConfig:
    """The project config, read once per command."""
    root = ctx.find_root()
    if "config" not in root.meta:
        root.meta["config"] = configuration.load(root.params.get("config_path"))
    config: configuration.ProjectConfig = root.meta["config"]
    return config


def no_cache_option(func: F) -> F:
    """--no-cache, before or after the command; the environment carries it to `filecache.default`."""
    return click.option(
        "--no-cache",
        is_flag=True,
        help="Read every schedule file anew, without the cache (as HOLISTICS_SCHEDULES_NO_CACHE=1).",
    )(func)


def turn_cache_off(no_cache: bool) -> None:
    if no_cache:
        os.environ["HOLISTICS_SCHEDULES_NO_CACHE"] = "1"  # reconciler.desired.filecache.NO_CACHE_ENV


def connection_options(func: F) -> F:
    @click.option("--api-key", envvar="HOLISTICS_API_KEY", help="API key (env HOLISTICS_API_KEY, preferred).")
    @click.option(
        "--region",
        envvar="HOLISTICS_REGION",
        type=click.Choice(["apac", "eu", "us"], case_sensitive=False),
        help="apac (default), eu or us (env HOLISTICS_REGION).",
    )
    @click.option("--base-url", envvar="HOLISTICS_BASE_URL", help="Full API URL incl. /api/v2; overrides --region.")
    @click.option(
        "--rate-limit",
        envvar="HOLISTICS_RATE_LIMIT",
        help="At most N requests per S seconds, as N/S; 'none' to turn off "
        f"(default {HOLISTICS_RATE_LIMIT} on Holistics' hosts, none elsewhere). 429s are always honoured.",
    )
    @click.option("-v", "--verbose", is_flag=True, help="Log retries and waits, and fields the spec lacks, to stderr.")
    @click.option("--no-color", is_flag=True, help="No colour or other escape codes (as NO_COLOR=1).")
    @no_cache_option
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        api_key: str | None,
        region: str | None,
        base_url: str | None,
        rate_limit: str | None,
        verbose: bool,
        no_color: bool,
        no_cache: bool,
        **kwargs: Any,
    ) -> Any:
        if no_color:
            os.environ["NO_COLOR"] = "1"
        turn_cache_off(no_cache)
        ctx = click.get_current_context()
        verbose = verbose or bool(ctx.find_root().params.get("verbose"))  # -v before or after the command
        ctx.meta["verbose"] = verbose
        settings = project_config(ctx).connection
        env = click.core.ParameterSource.ENVIRONMENT
        region_flag = region is not None and ctx.get_parameter_source("region") != env
        if region_flag and ctx.get_parameter_source("base_url") == env:
            base_url = None  # flags win: --region on the command line beats HOLISTICS_BASE_URL

        def connect() -> HolisticsClient:
            if not api_key:
                raise Failure("no API key: set HOLISTICS_API_KEY (or pass --api-key)")
            try:
                url = resolve_base_url(region or settings.region, base_url or settings.base_url)
                pace = rate_limit or settings.rate_limit or default_rate_limit(url)
                limiter = RateLimiter.from_text(pace) if pace else None
            except ConfigError as exc:
                raise Failure(str(exc)) from None  # said as a plain error, without the API's wording
            on_event = (lambda msg: stderr().print(msg, style="dim", markup=False)) if verbose else None
            return HolisticsClient(url, api_key, on_event=on_event, rate_limiter=limiter)

        return func(*args, connect=connect, **kwargs)

    return wrapper  # type: ignore[return-value]


def paths_argument(func: F) -> F:
    return click.argument("paths", nargs=-1, type=click.Path(path_type=Path))(func)


def scope_options(func: F) -> F:
    for option in reversed(
        [
            click.option("--prune", is_flag=True, help="Delete remote schedules no YAML declares."),
            click.option(
                "--prune-since",
                metavar="REF",
                help="Delete only the schedules whose entries were removed from the YAML since git REF.",
            ),
            click.option("--target", "targets", multiple=True, metavar="KEY", help="Only these keys (globs)."),
            click.option("--exclude", "excludes", multiple=True, metavar="KEY", help="Not these keys (globs)."),
        ]
    ):
        func = option(func)
    return func


def scope_of(prune: bool, prune_since: str | None, targets: Sequence[str], excludes: Sequence[str]) -> Scope:
    return Scope(prune, prune_since, Selection(tuple(targets), tuple(excludes)))


def planned(client: HolisticsClient, paths: Sequence[Path], scope: Scope, *, cached: bool = True) -> Planned:
    config = project_config(click.get_current_context())
    if reason := scope.refusal(config, paths):
        raise Failure(reason)
    return make_plan(client, config, paths, scope=scope, cached=cached)


def _regular_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """--config, or ./holistics-schedules.yml when present, must be a regular file: a FIFO would hang
    the read, a device never end it, and a broken link must not silently mean "no config"."""
    path = value if value is not None else Path(configuration.CONFIG_FILE)
    if value is not None or os.path.lexists(path):
        why = discovery.not_regular_reason(path)
        if why is not None:
            raise click.BadParameter(diagnostics.escape_controls(f"{path}: {why}"), ctx=ctx, param=param)
    return value


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log retries and waits, and fields the spec lacks, to stderr.")
@click.option("--no-color", is_flag=True, help="No colour or other escape codes (as NO_COLOR=1).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    callback=_regular_config,
    help=f"Project config file (default: ./{configuration.CONFIG_FILE} when present).",
)
@no_cache_option
@click.version_option(__version__, prog_name="holistics-schedules")
def cli(verbose: bool, no_color: bool, config_path: Path | None, no_cache: bool) -> None:
    """Holistics data schedules as code: validate, plan, apply and import YAML."""
    if no_color:
        os.environ["NO_COLOR"] = "1"  # the consoles of this process read it, so every line obeys
    turn_cache_off(no_cache)


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
            raise Failure(str(checked)) from None  # the list went to stdout: stderr gets the summary
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


@cli.command()
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
@click.pass_context
def validate(
    ctx: click.Context, paths: tuple[Path, ...], remote: bool, fmt: str, connect: Callable[[], HolisticsClient]
) -> None:
    """Check schedule YAML and the config file. Exit 0 valid, 1 invalid; every problem at its file and line."""
    config = project_config(ctx)
    desired = load_desired(config, paths)
    if remote:
        with connect() as client:
            keys = [k for k in (source_key(d.fields) for d in desired) if k is not None]
            problems = reference_problems(desired, read_sources(client, keys), SCHEDULES)
        if problems:
            raise diagnostics.InvalidSchedules(problems, what="with references")
    if fmt == "json":
        click.echo(diagnostics.problems_json([]), nl=False)
        return
    files = len({d.file for d in desired})
    checked = " and their references" if remote else ""
    stdout().print(f"OK: {len(desired)} schedule(s) in {files} file(s){checked} are valid.")


@cli.command("plan")
@paths_argument
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--out", type=click.Path(path_type=Path), help="Also write the plan: FILE.json is a saved plan for apply."
)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 no changes, 2 changes, 1 error.")
@scope_options
@click.option("--show-sensitive", is_flag=True, help="Do not mask email addresses in markdown.")
@connection_options
def plan_command(
    paths: tuple[Path, ...],
    fmt: str,
    as_json: bool,
    out: Path | None,
    detailed_exitcode: bool,
    prune: bool,
    prune_since: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    show_sensitive: bool,
    connect: Callable[[], HolisticsClient],
) -> None:
    """Show what apply would do. Reads every remote schedule; writes nothing remotely."""
    fmt = "json" if as_json else fmt
    with connect() as client:
        result = planned(client, paths, scope_of(prune, prune_since, targets, excludes))
    the_plan, titles = result.plan, result.titles
    if result.undocumented and click.get_current_context().meta.get("verbose"):
        stderr().print(
            "note: the server returned fields the spec does not document; they are kept out of diffs, "
            f"adoption and updates (worth reporting): {', '.join(sorted(result.undocumented))}",
            markup=False,
        )

    def rendered(kind: str, *, whole: bool = False) -> str:
        if kind == "json":
            return plan_json.to_json(the_plan, titles)
        if kind == "markdown":
            # printed: sized for a pull-request comment; written to a file: the whole plan (job summary)
            limit = None if whole else plan_markdown.GITHUB_COMMENT_LIMIT
            return plan_markdown.markdown(the_plan, titles, show_sensitive=show_sensitive, limit=limit)
        return plan_text.text(the_plan, titles).plain

    if fmt == "text":
        stdout().print(plan_text.text(the_plan, titles))
    else:
        click.echo(printable(rendered(fmt)), nl=False)
    if out is not None:
        if out.suffix == ".json":
            content = savedplan.dumps(
                the_plan,
                paths=result.paths,
                files=result.files,
                remote=result.remote,
                workspace=client.base_url,
                titles=titles,
            )
        else:
            content = rendered("markdown" if out.suffix == ".md" else fmt, whole=True)
        yamlwrite.atomic_write(out, content)
        if out.suffix == ".json":
            stderr().print(
                f"Saved the plan to {out}: review it with `holistics-schedules show {out}`, "
                f"apply exactly it with `holistics-schedules apply {out}`.",
                markup=False,
            )
        else:
            stderr().print(f"Wrote the plan to {out}.", markup=False)
    if detailed_exitcode and the_plan.has_changes:
        sys.exit(ExitCode.CHANGES)


@cli.command("apply")
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
@connection_options
def apply_command(
    paths: tuple[Path, ...],
    auto_approve: bool,
    prune: bool,
    prune_since: str | None,
    targets: tuple[str, ...],
    excludes: tuple[str, ...],
    force: bool,
    parallelism: int,
    connect: Callable[[], HolisticsClient],
) -> None:
    """Make the plan's calls: POST to create, PUT to update, DELETE only with --prune.

    Given one FILE.json written by `plan --out`, applies exactly that plan, and refuses it when the
    YAML or a remote schedule it touches has changed since.
    """
    out = stdout()
    if len(paths) > 1 and any(p.suffix == ".json" for p in paths):
        raise click.UsageError("a saved plan (FILE.json) is applied on its own, without schedule paths")
    saved_path = paths[0] if len(paths) == 1 and paths[0].suffix == ".json" and paths[0].is_file() else None
    # one run at a time per checkout: two would both create what neither had seen made yet
    with lock.exclusive(lock.checkout_root(Path.cwd()), "apply"), connect() as client:
        if saved_path is not None:
            saved = saved_plan_still_valid(client, saved_path)
            the_plan, titles = saved.plan, dict(saved.titles)
            files = _project_files(project_config(click.get_current_context()))  # not the plan's own text
        else:
            # apply validates every file itself: the cache (restorable from CI caches) never decides a write
            result = planned(client, paths, scope_of(prune, prune_since, targets, excludes), cached=False)
            the_plan, titles, files = result.plan, result.titles, result.files
        out.print(plan_text.text(the_plan, titles))
        if not the_plan.has_changes:
            # still records ids of entries matched by content
            report = applying.apply(the_plan, client, schedule_files=files)
            if not _print_recorded(report):
                sys.exit(ExitCode.ERROR)
            return
        if the_plan.unsafe and not force:
            raise Failure(f"refusing an unsafe plan: {the_plan.unsafe}")
        if not auto_approve and saved_path is None:  # a saved plan was reviewed: applying it is the approval
            confirm()
        report = execute(the_plan, client, parallelism, files)
    all_recorded = _print_recorded(report, summary=False)
    done = sum(r.ok for r in report.results)
    missed = f", {len(report.unrecorded)} id(s) not recorded" if report.unrecorded else ""
    # "complete" only when every change was made: a reader of a CI log stops at that word
    verdict = "Apply complete" if report.ok else "Apply incomplete"
    out.print(f"{verdict}: {done} of {len(report.results)} change(s) made, {len(report.failed)} failed{missed}.")
    _print_unrecorded(report)
    if not report.ok or not all_recorded:
        sys.exit(ExitCode.ERROR)


def _project_files(config: configuration.ProjectConfig) -> list[Path]:
    """The project's schedule files, from its config: where the ids of a saved plan may be written."""
    existing = [p for p in schedule_paths(config, []) if os.path.lexists(p)]
    return discovery.discover(existing)


def saved_plan_still_valid(client: HolisticsClient, path: Path) -> savedplan.SavedPlan:
    saved = savedplan.load(path)
    remote = list_remote(client, SCHEDULES).schedules
    reasons = savedplan.stale_reasons(saved, client.base_url, discovery.discover(saved.paths), remote)
    if reasons:
        raise Failure(f"the saved plan {path} is stale; run plan again:\n  - " + "\n  - ".join(reasons))
    return saved


def confirm() -> None:
    if not sys.stdin.isatty():
        raise Failure("apply needs confirmation: run it in a terminal, or pass --auto-approve")
    answer = click.prompt("Apply these changes? Only 'yes' will be accepted", default="", show_default=False)
    if answer != "yes":
        raise Failure("apply cancelled; nothing was changed")


def execute(
    the_plan: Plan, client: HolisticsClient, parallelism: int, schedule_files: Sequence[Path]
) -> applying.Report:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    out, err = stdout(), stderr()
    # a live bar only where a person watches: stderr is a terminal and the apply is long
    live = err.is_terminal and len(the_plan.changes) > 10
    progress = Progress(
        TextColumn("applying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err, transient=True
    )
    task = progress.add_task("apply", total=len(the_plan.changes))
    ok_sink, error_sink = (err, err) if live else (out, err)

    def on_result(result: applying.Result) -> None:
        name = plan_words.change_name(result.change)
        if result.ok:
            target = f" (id {result.id})" if result.change.id is None and result.id else ""
            ok_sink.print(Text.assemble(("✓ ", "green"), f"{name}{target}: {result.message}"))
        else:
            error_sink.print(Text.assemble(("✗ ", "red"), f"{name}: {result.message}"))
            for problem in result.errors:
                error_sink.print(f"    {problem}", markup=False, emoji=False)
            if diagnostics.in_github_actions():  # each rejected field, annotated at its line in the pull request
                for problem in result.errors:
                    click.echo(problem.github(), err=True)
        progress.advance(task)

    def run() -> applying.Report:
        return applying.apply(
            the_plan, client, parallelism=parallelism, on_result=on_result, schedule_files=schedule_files
        )

    if live:
        with progress:
            return run()
    return run()


def _print_recorded(report: applying.Report, *, summary: bool = True) -> bool:
    """The ids written into each file; with `summary`, also those that could not be (see
    `_print_unrecorded`). True when every id is in the YAML."""
    for file, ids in sorted(report.recorded.items()):
        stdout().print(diagnostics.escape_controls(f"Recorded {len(ids)} id(s) in {file}"), markup=False)
    if summary:
        _print_unrecorded(report)
    return not report.unrecorded


def _print_unrecorded(report: applying.Report) -> None:
    """Each id apply could not record, as the line to add and where: the schedule exists remotely,
    and without its id the entry is matched again by content only while its content still matches."""
    if not report.unrecorded:
        return
    err = stderr()
    for missing in sorted(report.unrecorded, key=lambda u: (u.file, u.line, u.key)):
        err.print(str(missing), markup=False)
    print_error(
        f"{len(report.unrecorded)} id(s) could not be recorded in the YAML: add each line above by hand "
        "(or run apply again once the file can be written, to record them)"
    )


@cli.command("import")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), help="Directory for the YAML (default: schedules/).")
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
@click.option("--unmanaged", is_flag=True, help="Only the schedules no YAML declares, into new files.")
@connection_options
@click.pass_context
def import_command(
    ctx: click.Context,
    ids: tuple[str, ...],
    out_dir: Path | None,
    force: bool,
    unmanaged: bool,
    connect: Callable[[], HolisticsClient],
) -> None:
    """Write YAML for every remote schedule in scope (or just the IDs given), ids included, so that
    plan shows no changes. Entries leave out nulls and defaults and carry their source's title.

    With --unmanaged, only the schedules no YAML declares, into new files (existing files are never
    touched), with keys unique across the existing ones: UI schedules come under code bit by bit.
    With IDs too, each must be one no YAML declares (an id already declared is an error).
    """
    from reconciler.usecases import importing  # ruamel.yaml, which only writing needs, comes with it

    wanted = importing.parse_ids(ids)  # first: a typo is said before any request
    config = project_config(ctx)
    taken: set[str] = set()
    err = stderr()
    with connect() as client:
        if unmanaged:
            result = make_plan(client, config, [], check_references=False)
            left = set(result.plan.unmanaged)
            listed = result.remote
            taken = {d.key for d in result.desired}
            declared = {m.id: f"{m.key} in {m.file}" for m in result.plan.matches}
            remote = [r for r in listed if int(r["id"]) in left]
        else:
            listed = list_remote(client, SCHEDULES).schedules
            declared = {}
            remote = [r for r in listed if config.scope.contains(r)]
        if wanted:
            remote = importing.select(client, listed, wanted, in_scope=config.scope.contains, declared=declared)
        skipped = importing.unrepresentable(remote)
        for schedule_id, why in sorted(skipped.items()):
            err.print(f"warning: skipped schedule {schedule_id}: the YAML format cannot hold it ({why})", markup=False)
        remote = [r for r in remote if int(r["id"]) not in skipped]
        sources = importing.read_titles(client, remote, lambda message: err.print(f"warning: {message}", markup=False))
    target = out_dir or schedule_paths(config, [])[0]
    root = Path.cwd()
    hint = "; with IDs, --force would leave each file with just those: use --out or --unmanaged" if wanted else ""
    with lock.exclusive(lock.checkout_root(root), "import"):
        written = importing.write(
            remote,
            target,
            force=force,
            taken=taken,
            new_files_only=unmanaged,
            sources=sources,
            schema=importing.schema_reference(target, root),
            hint=hint if not unmanaged else "",
        )
    for path, count in written.items():
        stdout().print(f"wrote {count} schedule(s) to {path}", markup=False)
    note = f"; {len(skipped)} skipped (see the warnings above)" if skipped else ""
    stdout().print(f"Imported {sum(written.values())} schedule(s){note}.")
    if written and not (root / importing.SCHEMA_FILE).exists():
        stdout().print(
            f"The files name ./{importing.SCHEMA_FILE} for editors: make it with "
            f"`holistics-schedules schema > {importing.SCHEMA_FILE}`.",
            markup=False,
        )


@cli.command("run")
@click.argument("target")
@click.option("--no-wait", is_flag=True, help="Submit and print the job id without following it.")
@paths_argument
@connection_options
@click.pass_context
def run_command(
    ctx: click.Context, target: str, no_wait: bool, paths: tuple[Path, ...], connect: Callable[[], HolisticsClient]
) -> None:
    """Execute a schedule now (by YAML key or id) and follow its job. Exit 0 success, 1 failure."""
    schedule_id, named = resolve_target(ctx, target, paths, connect)
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
    raise Failure(f"job {outcome.job_id} ended with status {outcome.status}")


def resolve_target(
    ctx: click.Context, target: str, paths: Sequence[Path], connect: Callable[[], HolisticsClient]
) -> tuple[int, str]:
    """The schedule `target` names, and how it was named. A YAML key wins over an id: `run 7` runs
    the entry keyed "7" when there is one; an id is only taken when no schedule file declares it."""
    config = project_config(ctx)
    numeric = re.fullmatch(r"[0-9]+", target) is not None  # not str.isdigit: "٧" is a digit too
    if numeric and not any(p.exists() for p in schedule_paths(config, paths)):
        return int(target), "by id"
    desired = load_desired(config, paths)
    entry = next((d for d in desired if d.key == target), None)
    if entry is None:
        if numeric:
            return int(target), "by id"
        raise Failure(f"no schedule with key {target!r} in {', '.join(map(str, schedule_paths(config, paths)))}")
    named = f"key {target!r} in {entry.file}:{entry.line}"
    if entry.id is not None:
        return entry.id, named
    with connect() as client:
        result = make_plan(client, config, paths, check_references=False)
    match = next((m for m in result.plan.matches if m.key == target), None)
    if match is None:
        raise Failure(f"{target!r} does not exist in the workspace yet; apply it first")
    return match.id, named


@cli.command("show")
@click.argument("saved", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
@click.option("--show-sensitive", is_flag=True, help="Do not mask email addresses in markdown.")
def show_command(saved: Path, fmt: str, show_sensitive: bool) -> None:
    """Render a saved plan (FILE.json from `plan --out`) without contacting the workspace."""
    loaded = savedplan.load(saved)
    the_plan, titles = loaded.plan, dict(loaded.titles)
    if fmt == "text":
        stdout().print(plan_text.text(the_plan, titles))
    elif fmt == "json":
        click.echo(printable(plan_json.to_json(the_plan, titles)), nl=False)
    else:
        click.echo(
            printable(plan_markdown.markdown(the_plan, titles, show_sensitive=show_sensitive, limit=None)), nl=False
        )


@cli.command("schema")
@click.option("--config-file", is_flag=True, help=f"The schema of {configuration.CONFIG_FILE} instead.")
def schema_command(config_file: bool) -> None:
    """Print the JSON Schema (draft-07) of the schedule YAML, for editors and hooks."""
    click.echo(configuration.json_schema() if config_file else schema.dumps(), nl=False)


cli.add_command(sandbox)


@cli.command()
def demo() -> None:
    """Try it with no account: a seeded sandbox, then validate, plan, apply, plan on a copy of schedules/."""
    from reconciler.cli import walkthrough

    sys.exit(walkthrough.run(stdout()))


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
    except Exception as exc:  # the last line of defence against tracebacks
        if os.environ.get("HOLISTICS_DEBUG"):
            raise
        print_error(f"internal error: {type(exc).__name__}: {exc} (set HOLISTICS_DEBUG=1 for details)")
        sys.exit(ExitCode.ERROR)
    sys.exit(code if isinstance(code, int) else ExitCode.OK)
