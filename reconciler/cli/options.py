"""The options several commands share, each turned into the object a command needs: the connection
into a `HolisticsClient` factory, the scope options into a `Scope`, the project config read once.

The group imports this module for every command, so it imports the client, the config's models and
the use cases only where they are used: a command pays for what it runs, `--help` for none of it."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler import problems as diagnostics
from reconciler.desired import discovery
from reconciler.errors import CommandFailed
from reconciler.views.console import stderr

if TYPE_CHECKING:
    from reconciler.remote.client import HolisticsClient
    from reconciler.usecases.config import ProjectConfig

F = TypeVar("F", bound=Callable[..., Any])
Connect = Callable[[], "HolisticsClient"]


def project_config(ctx: click.Context | None = None) -> ProjectConfig:
    """The project config, read once per command."""
    root = (ctx or click.get_current_context()).find_root()
    if "config" not in root.meta:
        from reconciler.usecases import config as configuration

        root.meta["config"] = configuration.load(root.params.get("config_path"))
    config: ProjectConfig = root.meta["config"]
    return config


def verbose() -> bool:
    """-v given before or after the command (set by `connection_options`)."""
    return bool(click.get_current_context().meta.get("verbose"))


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


def _connector(
    api_key: str | None, region: str | None, base_url: str | None, rate_limit: str | None, verbose: bool
) -> Connect:
    settings = project_config().connection

    def connect() -> HolisticsClient:
        from reconciler.remote.client import (
            ConfigError,
            HolisticsClient,
            RateLimiter,
            default_rate_limit,
            resolve_base_url,
        )

        if not api_key:
            raise CommandFailed("no API key: set HOLISTICS_API_KEY (or pass --api-key)")
        try:
            url = resolve_base_url(region or settings.region, base_url or settings.base_url)
            pace = rate_limit or settings.rate_limit or default_rate_limit(url)
            limiter = RateLimiter.from_text(pace) if pace else None
        except ConfigError as exc:
            raise CommandFailed(str(exc)) from None  # said as a plain error, without the API's wording
        on_event = (lambda msg: stderr().print(msg, style="dim", markup=False)) if verbose else None
        return HolisticsClient(url, api_key, on_event=on_event, rate_limiter=limiter)

    return connect


def connection_options(func: F) -> F:
    """The connection options (and -v, --no-color, --no-cache), passed on as `connect`: a function
    that makes the client, so a command that fails before it needs one never asks for a key."""
    from reconciler.remote.client import HOLISTICS_RATE_LIMIT  # the commands that connect import it anyway

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
        ctx.meta[_ENV_KEY] = api_key  # read only by `env_key`, which derives the fingerprint key from it
        env = click.core.ParameterSource.ENVIRONMENT
        region_flag = region is not None and ctx.get_parameter_source("region") != env
        if region_flag and ctx.get_parameter_source("base_url") == env:
            base_url = None  # flags win: --region on the command line beats HOLISTICS_BASE_URL
        return func(*args, connect=_connector(api_key, region, base_url, rate_limit, verbose), **kwargs)

    return wrapper  # type: ignore[return-value]


_ENV_KEY = "holistics_schedules_api_key"


def env_key() -> bytes | None:
    """The key that fingerprints values from the environment in a saved plan, derived from the API key
    (`desired.envvalues.fingerprint_key`), or None without one. The resolver is imported only here."""
    api_key = click.get_current_context().meta.get(_ENV_KEY)
    if not api_key:
        return None
    from reconciler.desired import envvalues

    key: bytes = envvalues.fingerprint_key(api_key)
    return key


def paths_argument(func: F) -> F:
    return click.argument("paths", nargs=-1, type=click.Path(path_type=Path))(func)


def scope_options(func: F) -> F:
    """--prune, --prune-since, --target, --exclude, --prune-duplicates: passed on as one `scope`."""

    @click.option("--prune", is_flag=True, help="Delete remote schedules and alerts no YAML declares.")
    @click.option(
        "--prune-since",
        metavar="REF",
        help="Delete only the schedules and alerts whose entries were removed from the YAML since git REF.",
    )
    @click.option("--target", "targets", multiple=True, metavar="KEY", help="Only these keys (globs).")
    @click.option("--exclude", "excludes", multiple=True, metavar="KEY", help="Not these keys (globs).")
    @click.option(
        "--prune-duplicates",
        is_flag=True,
        help="Also delete the probable duplicates: schedules or alerts no entry claims whose content is an entry's.",
    )
    @functools.wraps(func)
    def wrapper(
        *args: Any,
        prune: bool,
        prune_since: str | None,
        targets: Sequence[str],
        excludes: Sequence[str],
        prune_duplicates: bool,
        **kwargs: Any,
    ) -> Any:
        from reconciler.usecases.planning import Scope, Selection

        scope = Scope(prune, prune_since, Selection(tuple(targets), tuple(excludes)), prune_duplicates)
        return func(*args, scope=scope, **kwargs)

    return wrapper  # type: ignore[return-value]


def regular_config(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """--config, or ./holistics-schedules.yml when present, must be a regular file: a FIFO would hang
    the read, a device never end it, and a broken link must not silently mean "no config"."""
    path = value if value is not None else Path(discovery.CONFIG_FILE)
    if value is not None or os.path.lexists(path):
        why = discovery.not_regular_reason(path)
        if why is not None:
            raise click.BadParameter(diagnostics.escape_controls(f"{path}: {why}"), ctx=ctx, param=param)
    return value
