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


def project_config(ctx: click.Context | None = None) -> ProjectConfig:
    """The project config, read once per command: from the very bytes `config_leaves` judged, if it did."""
    root = (ctx or click.get_current_context()).find_root()
    if "config" not in root.meta:
        from reconciler.usecases import config as configuration

        judged = root.meta.get(_CONFIG_BYTES, _UNREAD)
        if judged is None:  # judged missing by `config_leaves`: defaults, whatever appeared since
            root.meta["config"] = configuration.ProjectConfig()
        else:
            raw = None if judged is _UNREAD else judged
            root.meta["config"] = configuration.load(root.params.get("config_path"), raw=raw)
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


class Connect:
    """How a command gets its client, so that one which fails before it needs one never asks for a key.
    `connect()` makes it from the options and the project config. `connect.early()` makes it before
    the config is read, when the config file cannot change it (it has no `connection:`), for reads that
    start while the config's models load (`plan`); `connect()` then hands back that very client (the
    settings are compared once the config is read: a client made otherwise is a new one)."""

    def __init__(
        self, api_key: str | None, region: str | None, base_url: str | None, rate_limit: str | None, verbose: bool
    ) -> None:
        self._api_key, self._region, self._base_url, self._rate_limit = api_key, region, base_url, rate_limit
        self._verbose = verbose
        self._early: tuple[HolisticsClient, tuple[str, str | None]] | None = None

    def __call__(self) -> HolisticsClient:
        settings = project_config().connection
        url_and_pace = self._settings(settings.region, settings.base_url, settings.rate_limit)
        if self._early is not None and self._early[1] == url_and_pace:
            return self._early[0]
        return self._client(*url_and_pace)

    def early(self) -> HolisticsClient | None:
        """The client, before the config is read, when only the options and the environment decide it;
        else None (and `connect()` says what is wrong, in its turn)."""
        if not self._api_key or not config_leaves("connection"):
            return None
        try:
            url_and_pace = self._settings(None, None, None)
        except CommandFailed:
            return None
        client = self._client(*url_and_pace)
        self._early = (client, url_and_pace)
        return client

    def _settings(self, region: str | None, base_url: str | None, rate_limit: str | None) -> tuple[str, str | None]:
        """The API root and the pace (None: unpaced) that the options, then the config, ask for. The host
        is the options' when they name one (a region or a base URL, by flag or variable), else the
        config's: a `--region eu` is not overruled by the config's `base_url`."""
        from reconciler.remote.client import ConfigError, default_rate_limit, parse_rate, resolve_base_url

        if not self._api_key:
            raise CommandFailed("no API key: set HOLISTICS_API_KEY (or pass --api-key)")
        try:
            given = self._region or self._base_url
            url = resolve_base_url(self._region, self._base_url) if given else resolve_base_url(region, base_url)
            pace = self._rate_limit or rate_limit or default_rate_limit(url)
            if pace:
                parse_rate(pace)  # the one parser: a pace the client cannot keep is said here
        except ConfigError as exc:
            raise CommandFailed(str(exc)) from None  # said as a plain error, without the API's wording
        return url, pace

    def _client(self, url: str, pace: str | None) -> HolisticsClient:
        from reconciler.remote.client import HolisticsClient, RateLimiter

        assert self._api_key  # `_settings` refused to go on without one
        on_event = (lambda msg: stderr().print(msg, style="dim", markup=False)) if self._verbose else None
        limiter = RateLimiter.from_text(pace) if pace else None
        return HolisticsClient(url, self._api_key, on_event=on_event, rate_limiter=limiter)


def config_leaves(key: str) -> bool:
    """Whether the project config certainly leaves `key` (a top-level key) to its default, judged
    without its models: a file that does not spell the key, and has no backslash (a quoted key's
    escapes could spell it) and no NUL (UTF-16 would hide it), does; so does no file at all. One that
    cannot be read may not (reading it says why). The bytes judged are the ones the config is then
    read from (`project_config`): a file changed meanwhile changes nothing."""
    root = click.get_current_context().find_root()
    given = root.params.get("config_path")
    if _CONFIG_BYTES not in root.meta:
        try:
            root.meta[_CONFIG_BYTES] = discovery.read_regular(Path(given or discovery.CONFIG_FILE))
        except FileNotFoundError:
            if given is not None:
                return False  # a --config that went missing: `project_config` says so
            root.meta[_CONFIG_BYTES] = None  # no config: `project_config` gives the defaults
        except OSError:
            return False
    text: bytes | None = root.meta[_CONFIG_BYTES]
    if text is None:
        return True
    return key.encode() not in text.lower() and b"\\" not in text and b"\0" not in text


_CONFIG_BYTES = "holistics_schedules_config_bytes"  # in the root context's meta: bytes, or None (no file)
_UNREAD = object()


def connection_options(func: F) -> F:
    """The connection options (and -v, --no-color, --no-cache), passed on as `connect` (a `Connect`),
    once the project config is read: its problems come first."""
    return _connection_options(func, config_first=True)


def early_connection_options(func: F) -> F:
    """As `connection_options`, but the project config is left for the command to read: `plan` starts
    its reads first (`Connect.early`)."""
    return _connection_options(func, config_first=False)


def _connection_options(func: F, *, config_first: bool) -> F:
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
        if config_first:
            project_config()
        return func(*args, connect=Connect(api_key, region, base_url, rate_limit, verbose), **kwargs)

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
        from reconciler.usecases.plan_scope import Scope, Selection

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
