"""A local stand-in for the Holistics API v2: a real HTTP server on loopback, with faults on demand.

`Sandbox` is the handle a test (or `serve`, the `sandbox` command's foreground loop) starts and
stops. Routes, fields, status codes and error bodies follow the official OpenAPI spec (`api.py`),
or, with `server_like`, what a real server adds to it (fields the spec does not list, strict input);
beside `/api/v2` it serves a control endpoint, `/_sandbox/...` (`control.py`), through which a test
(or a user's CI) sets up remote state and injects latency, rate limits and failures; the same
abilities are on `Sandbox.control` in-process. `http.py` carries requests between the two.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from reconciler.sandbox.api import API_PREFIX
from reconciler.sandbox.control import ErrorShape, RetryAfterFormat, Settings, parse_rate_limit
from reconciler.sandbox.controlroutes import CONTROL_PREFIX
from reconciler.sandbox.defaults import DEFAULT_KEY, DEFAULT_PORT
from reconciler.sandbox.faults import Fault, Faults, RequestLog
from reconciler.sandbox.http import App, Server
from reconciler.sandbox.seed import SeedArg, load_seed
from reconciler.sandbox.state import State


class Sandbox:
    """A Holistics API v2 sandbox on loopback.

    >>> with Sandbox(seed="example") as sb:
    ...     requests.get(f"{sb.base_url}/data_schedules", headers={"X-Holistics-Key": sb.key})
    """

    def __init__(
        self,
        key: str = DEFAULT_KEY,
        seed: SeedArg = "example",
        state_file: str | Path | None = None,
        latency_ms: int = 0,
        rate_limit: tuple[int, float] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        retry_after: RetryAfterFormat = "seconds",
        error_shape: ErrorShape = "flat",
        faults: Sequence[Fault | Mapping[str, Any]] = (),
        echo: Callable[[str], None] | None = None,
        server_like: bool = False,
        strict_input: bool | None = None,
        immutable_source: bool = False,
        list_metadata: bool = True,
    ) -> None:
        """`server_like`: every schedule carries read-only fields the spec does not document, and
        undocumented input is ignored; `strict_input` (default: as `server_like`) refuses undocumented
        input with a 422 instead; `immutable_source`: a PUT may not change a schedule's source;
        `list_metadata=False`: `GET /dashboards/list_metadata` answers 404, as an older deployment.
        See `api.ServerOptions`."""
        if not key:
            raise ValueError("the sandbox needs a non-empty key")
        self.key = key
        self.host = host
        self._port = port
        state = State(load_seed(seed), Path(state_file) if state_file is not None else None)
        self._app = App(key, state, Settings(), Faults(), RequestLog(), echo)
        self.control = self._app.control
        self.control.set_latency(latency_ms)
        if rate_limit is not None:
            self.control.set_rate_limit(*rate_limit)
        self.control.set_retry_after_format(retry_after)
        self.control.set_error_shape(error_shape)
        self.control.set_server_like(server_like, strict_input)
        self.control.set_immutable_source(immutable_source)
        self.control.set_list_metadata(list_metadata)
        for fault in faults:
            self.control.register_fault(fault)
        self._server: Server | None = None
        self._bound_port: int | None = None
        self._thread: threading.Thread | None = None

    # addresses

    @property
    def port(self) -> int:
        """The bound port (still known after stop(), so a test can show where it was)."""
        if self._bound_port is None:
            raise RuntimeError("the sandbox is not started")
        return self._bound_port

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = "[::1]" if host == "::" else f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + API_PREFIX

    @property
    def control_url(self) -> str:
        return self.url + CONTROL_PREFIX

    # lifecycle

    def _bind(self) -> Server:
        self._app.late.reopen()
        if self._server is None:
            self._server = Server((self.host, self._port), self._app)
            self._bound_port = int(self._server.server_address[1])
        return self._server

    def start(self) -> Sandbox:
        """Serve in a background thread; returns self."""
        if self._thread is not None:
            return self
        server = self._bind()
        # a short poll keeps stop() quick: shutdown() waits for the loop to notice
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, name="holistics-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C raises KeyboardInterrupt out of here)."""
        server = self._bind()
        try:
            server.serve_forever(poll_interval=0.2)
        finally:
            server.close_connections()
            server.server_close()
            self._server = None

    def stop(self) -> None:
        self._app.late.cancel()  # a late write still pending dies with the server
        server, thread = self._server, self._thread
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join()
        server.close_connections()
        server.server_close()
        self._server, self._thread = None, None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve(
    port: int = DEFAULT_PORT,
    seed: SeedArg = "example",
    key: str | None = None,
    state: str | Path | None = None,
    latency_ms: int = 0,
    rate_limit: str | tuple[int, float] | None = None,
    echo: Callable[[str], None] = print,
    host: str = "127.0.0.1",
    server_like: bool = False,
    strict_input: bool | None = None,
    immutable_source: bool = False,
    list_metadata: bool = True,
) -> None:
    """Run a sandbox in the foreground until Ctrl-C (what the `sandbox` command calls)."""
    sandbox = Sandbox(
        key=key or DEFAULT_KEY,
        seed=seed,
        state_file=state,
        latency_ms=latency_ms,
        rate_limit=parse_rate_limit(rate_limit),
        host=host,
        port=port,
        echo=echo,
        server_like=server_like,
        strict_input=strict_input,
        immutable_source=immutable_source,
        list_metadata=list_metadata,
    )
    sandbox._bind()
    echo(f"Holistics API sandbox at {sandbox.base_url}")
    # the banner shows the key so the user can configure a client; request lines never carry it
    echo(f"  key:     {sandbox.key}  (header X-Holistics-Key)")
    echo(f"  control: {sandbox.control_url}")
    if state:
        echo(f"  state:   {state}")
    config = sandbox.control.config()
    # the modes that depart from the default: list_metadata is on unless turned off
    modes = [name for name, on in config.items() if on is True and name != "list_metadata"]
    modes += [] if config["list_metadata"] else ["no list_metadata"]
    if modes:
        echo(f"  modes:   {', '.join(modes)}")
    echo("Press Ctrl-C to stop.")
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        echo("Sandbox stopped.")
    finally:
        sandbox._app.late.cancel()
