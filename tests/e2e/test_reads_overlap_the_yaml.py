"""The workspace is read while the YAML is: reads only, each source once, and a YAML error said at
once however slow the server is. The real CLI (a subprocess) against the real sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from reconciler.kinds.schedules import SCHEDULES
from reconciler.remote.client import HolisticsClient
from reconciler.remote.listings import Reads
from reconciler.sandbox import Sandbox
from reconciler.sandbox.api import ApiError
from tests.helpers import EMAIL, cli, write_schedules

STALL_MS = 300_000  # an answer that never comes in the test's time
# Below the client's 30 s read timeout: a CLI that waited for the stalled read (or had the interpreter
# join a worker blocked on it at exit) would run into this and fail. Far above a normal run's 1 s.
PROMPT_S = 20

BROKEN = EMAIL.replace('repeat: "0 8 * * 1"', 'repeat: "0 8 * * 1", colour: red')


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(seed="example") as sb:
        yield sb


def writes(sb: Sandbox) -> list[dict[str, object]]:
    return [r for r in sb.control.requests() if r["method"] != "GET"]


@pytest.mark.parametrize(
    "stalled",
    ["/data_schedules", "/dashboards/*", "/query_reports/*"],
    ids=["listing", "dashboard", "report"],
)
def test_invalid_yaml_is_said_at_once_while_a_read_stalls(sandbox: Sandbox, tmp_path: Path, stalled: str) -> None:
    write_schedules(tmp_path, BROKEN)
    sandbox.control.add_fault("GET", stalled, status=None, count=None, delay_ms=STALL_MS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOLISTICS_")}
    env |= {"NO_COLOR": "1", "HOLISTICS_BASE_URL": sandbox.base_url, "HOLISTICS_API_KEY": sandbox.key}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", "plan"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=PROMPT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"plan waited for a stalled GET {stalled} before saying the YAML is invalid")
    assert result.returncode == 1
    assert "weekly-sales.schedule.colour" in result.stderr
    assert "nothing was changed" in result.stderr and "Traceback" not in result.stderr
    assert writes(sandbox) == []


def test_each_source_is_read_once_though_both_the_listing_and_the_yaml_name_it(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.control.set_list_metadata(False)  # each source read by GET: a server without list_metadata (issue 20)
    write_schedules(tmp_path, EMAIL)
    result = cli(sandbox, "plan", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    reads = [
        r["path"]
        for r in sandbox.control.requests()
        if r["path"].startswith(("/dashboards", "/query_reports")) and r["path"] != "/dashboards/list_metadata"
    ]
    assert sorted(reads) == sorted(set(reads)), "a source read twice"
    listed = {
        f"/{'dashboards' if s['source_type'] == 'Dashboard' else 'query_reports'}/{s['source_id']}"
        for s in sandbox.control.schedules()
    }
    assert {"/dashboards/1234", "/query_reports/5301"} <= set(reads), "the YAML's sources are checked"
    assert set(reads) == listed | {"/dashboards/1234", "/query_reports/5301"}
    assert json.loads(result.stdout)["summary"]["create"] == 2


# ---- what cancelled or finished reads leave behind ----


class YamlInvalid(Exception):
    """Stands for the InvalidSchedules a plan raises inside `Reads`."""


def test_reads_give_back_the_switch_interval_they_lowered(sandbox: Sandbox) -> None:
    """A process-wide setting: a library caller's threads must not stay at 1 ms after a plan."""
    before = sys.getswitchinterval()
    with HolisticsClient(sandbox.base_url, sandbox.key) as client, Reads(client, SCHEDULES, lambda _: True) as reads:
        reads.remote([])
    assert sys.getswitchinterval() == before


def test_an_answer_arriving_after_cancel_announces_no_retry(sandbox: Sandbox) -> None:
    """Invalid YAML cancels the reads; a 500 that comes back afterwards ends the request, and `-v`
    must not print "retry 1/4" for a retry that is never made (after the command's Error line)."""
    exited, answered = threading.Event(), threading.Event()

    def hook(method: str, path: str, query: Mapping[str, Any]) -> None:
        if path.endswith("/data_schedules"):
            exited.wait(10)  # hold the answer until the plan has given up
            answered.set()
            raise ApiError(500, "InternalHolisticsError", "boom")

    sandbox.control.set_api_hook(hook)
    events: list[str] = []
    with HolisticsClient(sandbox.base_url, sandbox.key, on_event=events.append) as client:
        with pytest.raises(YamlInvalid), Reads(client, SCHEDULES, lambda _: True, with_sources=False):
            raise YamlInvalid
        exited.set()
        assert answered.wait(10)
        for thread in threading.enumerate():
            if thread.name == "listing":
                thread.join(10)
    assert not [e for e in events if "retry" in e]


def _failing_once(sandbox: Sandbox) -> threading.Event:
    """The first listing request answers 500; the event is set when its retry arrives (by then the
    client has announced the retry)."""
    retried = threading.Event()
    calls: list[str] = []

    def hook(method: str, path: str, query: Mapping[str, Any]) -> None:
        if path.endswith("/data_schedules") and "after" not in query and "sort" not in query:
            calls.append(path)
            if len(calls) == 1:
                raise ApiError(500, "InternalHolisticsError", "boom")
            retried.set()

    sandbox.control.set_api_hook(hook)
    return retried


def test_what_the_reads_have_to_say_waits_for_valid_yaml(sandbox: Sandbox) -> None:
    """-v prints retries; a retry of a read made while the YAML was still being checked must not come
    before the YAML's problems (with invalid YAML it is not said at all: those reads decided nothing)."""
    retried = _failing_once(sandbox)
    events: list[str] = []
    with (
        HolisticsClient(sandbox.base_url, sandbox.key, on_event=events.append) as client,
        pytest.raises(YamlInvalid),
        Reads(client, SCHEDULES, lambda _: True, with_sources=False),
    ):
        assert retried.wait(10)
        raise YamlInvalid
    assert events == []


def test_held_events_are_said_once_the_yaml_is_valid(sandbox: Sandbox) -> None:
    retried = _failing_once(sandbox)
    events: list[str] = []
    with HolisticsClient(sandbox.base_url, sandbox.key, on_event=events.append) as client:
        with Reads(client, SCHEDULES, lambda _: True, with_sources=False) as reads:
            assert retried.wait(10)
            assert events == [], "held while the YAML is read"
            reads.remote([])
        assert len([e for e in events if "500 on GET /data_schedules" in e]) == 1, events
