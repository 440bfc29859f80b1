"""What the tests share, in one place: the CLI as a subprocess and in process, the sandbox fixtures,
schedule files and YAML fixtures, the fault tests' short-waiting client, a sample plan.

Test modules import from here, never from each other. PYTEST_DONT_REWRITE: no assertions here; the
marker lets conftest import the fixtures without pytest warning that the module was imported before
it could be rewritten.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.cli import cli as click_group
from reconciler.core.model import Action, Change, FieldDiff, Plan
from reconciler.remote.client import HolisticsClient
from reconciler.sandbox import Sandbox
from reconciler.usecases import import_entries
from reconciler.usecases.config import ProjectConfig
from reconciler.usecases.planning import Planned, make_plan
from reconciler.views import imported_yaml

__all__ = ["example_sandbox", "sandbox"]

REPO = Path(__file__).resolve().parents[1]
"""The checkout: its schedules/, action.yml, README and pyproject are read by some tests."""


# ---- sandbox fixtures (conftest makes them every test's) ----


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A started sandbox with the example's dashboards and reports but no data schedules."""
    with Sandbox(seed="empty") as sb:
        yield sb


@pytest.fixture
def example_sandbox() -> Iterator[Sandbox]:
    """A started sandbox seeded with the example workspace (41 data schedules)."""
    with Sandbox(seed="example") as sb:
        yield sb


# ---- the CLI as a subprocess ----

FIXED_CLOCK = (
    "import datetime, sys; from reconciler.views import cron_words as describe; "
    "describe.now = lambda: datetime.datetime(2030, 1, 7, 6, 0, tzinfo=datetime.UTC); "
    "sys.argv[0] = 'holistics-schedules'; from reconciler.entry import main; main()"
)
"""`python -c FIXED_CLOCK ARGS` is the command with its clock fixed, so next runs in a plan do not move."""


def cli_env(
    sb: Sandbox | None = None,
    *,
    key: str | None = None,
    base_url: str | None = None,
    drop: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """This process's environment without the tool's or the CI runner's variables (nor `drop`), with
    the sandbox's (or `base_url`'s) connection, NO_COLOR, and `env` last."""
    dropped = set(drop)
    out = {k: v for k, v in os.environ.items() if not k.startswith(("HOLISTICS_", "GITHUB_")) and k not in dropped}
    out["NO_COLOR"] = "1"
    if sb is not None or base_url is not None:
        out["HOLISTICS_BASE_URL"] = base_url or (sb.base_url if sb else "")
        out["HOLISTICS_API_KEY"] = key or (sb.key if sb else "")
    return out | dict(env or {})


def cli(
    sb: Sandbox | None,
    *args: str,
    cwd: Path,
    key: str | None = None,
    stdin: str | None = None,
    timeout: float = 120,
    preexec_fn: Callable[[], None] | None = None,
    base_url: str | None = None,
    drop_env: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    fixed_clock: bool = False,
) -> subprocess.CompletedProcess[str]:
    """The real CLI in a subprocess (as users and CI run it), in `cwd`, against the sandbox (or `base_url`
    with `key`). Without `stdin` it reads /dev/null; a hang (a FIFO read or written) fails at `timeout`."""
    command = ["-c", FIXED_CLOCK] if fixed_clock else ["-m", "reconciler"]
    return subprocess.run(
        [sys.executable, *command, *args],
        cwd=cwd,
        env=cli_env(sb, key=key, base_url=base_url, drop=drop_env, env=env),
        capture_output=True,
        text=True,
        timeout=timeout,
        **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
        preexec_fn=preexec_fn,
    )


# ---- the CLI in process ----


def invoke(sb: Sandbox | None, *args: str, cwd: Path) -> Result:
    """The CLI in-process (CliRunner), in `cwd`, talking to the sandbox over loopback."""
    env: dict[str, str | None] = {"NO_COLOR": "1", "HOLISTICS_REGION": None, "HOLISTICS_BASE_URL": None}
    if sb is not None:
        env |= {"HOLISTICS_BASE_URL": sb.base_url, "HOLISTICS_API_KEY": sb.key}
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(click_group, list(args), env=env)
    finally:
        os.chdir(old)


# ---- schedule files ----


def write_schedules(root: Path, text: str, name: str = "main.yml") -> Path:
    path = root / "schedules" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def writes(sb: Sandbox) -> list[dict[str, Any]]:
    """The requests that changed something: every one but GETs."""
    return [r for r in sb.control.requests() if r["method"] != "GET"]


EMAIL = """\
schedules:
  weekly-sales:
    title: Weekly sales (e2e)
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest:
      type: EmailDest
      recipients: [sales@example.com]
      options: {include_header: true, attachment_formats: [pdf, csv]}
  ops-sheet:
    source_type: QueryReport
    source_id: 5301
    schedule: {repeat: "0 6 * * *"}
    dest: {type: GsheetDest, sheet_url: "https://docs.google.com/spreadsheets/d/x", sheet_title: Orders}
"""

THREE = """\
schedules:
  sales-weekly:
    title: Sales weekly
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest: {type: EmailDest, recipients: [sales@example.com]}
  orders-sheet:
    title: Orders sheet
    source_type: QueryReport
    source_id: 5301
    schedule: {repeat: "0 6 * * *"}
    dest: {type: GsheetDest, sheet_url: "https://docs.google.com/spreadsheets/d/x", sheet_title: Orders}
  ops-digest:
    title: Ops digest
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 7 * * *"}
    dest: {type: EmailDest, recipients: [ops@example.com]}
"""

ENTRY = """\
schedules:
  weekly-sales:
    title: Weekly sales (review)
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dynamic_filter_presets:
      - dynamic_filter_id: 7
        preset_condition: {operator: is, values: [EMEA]}
    dest: {type: EmailDest, recipients: [finance@example.com]}
"""


def setup(tmp_path: Path, text: str = ENTRY) -> Path:
    """schedules/main.yml holding `text`."""
    (tmp_path / "schedules").mkdir(exist_ok=True)
    path = tmp_path / "schedules" / "main.yml"
    path.write_text(text)
    return path


# ---- the fault tests: a client that waits little, YAML made from the example's schedules ----

FAULT_KEY = "faults-test-key"


def example_schedules() -> list[dict[str, Any]]:
    data = json.loads(resources.files("reconciler.sandbox").joinpath("example.json").read_text())
    schedules: list[dict[str, Any]] = data["data_schedules"]
    return schedules


EXAMPLE = example_schedules()


def fast_client(
    sb: Sandbox, *, read_timeout: float = 5.0, max_retries: int = 30, retry_after_cap: float = 0.02
) -> HolisticsClient:
    """The CLI's client with short waits: 429s wait at most 20 ms (not the server's 1 s Retry-After), 5xx
    backoff a few ms. Because each wait is cut short, more retries are allowed than the CLI's 4."""
    return HolisticsClient(
        sb.base_url,
        sb.key,
        timeout=(2.0, read_timeout),
        max_retries=max_retries,
        retry_after_cap=retry_after_cap,
        backoff_base=0.002,
    )


def yaml_entry(schedule: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """The YAML form of a remote schedule, with some fields changed (`cron=`, `title=`, `id=`)."""
    data = import_entries.entry(schedule)
    cron = changes.pop("cron", None)
    if cron is not None:
        data["schedule"] = {**data["schedule"], "repeat": cron}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def new_entries(count: int, prefix: str = "new") -> dict[str, dict[str, Any]]:
    """`count` schedules the workspace does not have (unique titles), over many sources."""
    return {
        f"{prefix}-{i}": yaml_entry(EXAMPLE[i % len(EXAMPLE)], id=None, title=f"{prefix} schedule {i}")
        for i in range(count)
    }


def write_yaml(directory: Path, entries: Mapping[str, Mapping[str, Any]], name: str = "team.yml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(imported_yaml.render(entries), encoding="utf-8")
    return path


def plan_of(client: HolisticsClient, paths: Sequence[Path], *, prune: bool = False) -> Planned:
    return make_plan(client, ProjectConfig(), list(paths), prune=prune)


# ---- a loopback HTTP server for hand-written handlers ----


@contextmanager
def loopback_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` served on 127.0.0.1 in a thread; yields the base URL of its API."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/v2"
    finally:
        server.shutdown()
        server.server_close()


# ---- a plan to render ----


def sample_plan(n_updates: int = 1) -> Plan:
    changes = [
        Change(
            Action.DELETE,
            None,
            9,
            (FieldDiff("title", "Old report", None),),
            remote={"title": "Old report", "source_type": "QueryReport", "source_id": 5301},
        ),
        *[
            Change(
                Action.UPDATE,
                f"sched-{i}",
                100 + i,
                (
                    FieldDiff("dest.recipients", ["ann@example.com"], ["ann@example.com", "bob@example.org"]),
                    FieldDiff("schedule.repeat", "0 8 * * 1", "0 9 * * 1-5"),
                ),
                body={"source_type": "Dashboard", "source_id": 1234},
                file="schedules/a.yml",
                line=3 + i,
            )
            for i in range(n_updates)
        ],
        Change(
            Action.CREATE,
            "new-one",
            None,
            (FieldDiff("schedule.repeat", None, "*/15 * * * *"),),
            body={"source_type": "Dashboard", "source_id": 1234},
            file="schedules/a.yml",
            line=40,
        ),
    ]
    return Plan(tuple(changes), (), (77,), frozenset({9, 77, *range(100, 100 + n_updates)}), prune=True)


# ---- alerts: what the other parts of issue 19 bring, checked rather than assumed ----

ALERT_YAML = """\
alerts:
  revenue-drop:
    title: Revenue drop
    source_type: VizBlock
    source_id: "vb-42"
    schedule: {repeat: "0 * * * *"}
    viz_conditions:
      - field_path: {field_name: revenue}
        condition: {operator: less_than, values: [1000]}
    dest: {type: WebhookDest, endpoint: "https://events.example.com/hook"}
"""


def alerts_readable() -> bool:
    """Whether the YAML reader knows `alerts:` and gives its entries their kind."""
    import tempfile

    from reconciler.desired.yamlread import load
    from reconciler.problems import InvalidSchedules

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "alerts.yml"
        path.write_text(ALERT_YAML)
        try:
            entries = load([path], cache=False)
        except InvalidSchedules:
            return False
    return [e.kind for e in entries] == ["alerts"]


def sandbox_serves_alerts() -> bool:
    """Whether the sandbox answers `/data_alerts` (listing and control)."""
    from reconciler.sandbox.control import Control

    return hasattr(Control, "alerts")


def plans_every_kind() -> bool:
    """Whether `make_plan` answers a plan of every kind (`WorkspacePlan`)."""
    import typing

    from reconciler.core.model import WorkspacePlan

    return typing.get_type_hints(Planned).get("plan") is WorkspacePlan


def alerts_end_to_end() -> bool:
    """Whether alerts run through the whole pipeline: YAML, plan and sandbox."""
    return alerts_readable() and sandbox_serves_alerts() and plans_every_kind()


NOT_YET = (
    "alerts are not yet read from YAML, planned and served by the sandbox on this branch "
    "(issue 19's desired side, plan path and sandbox)"
)
