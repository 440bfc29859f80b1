"""The workspace is read while the YAML is: reads only, each source once, and a YAML error said at
once however slow the server is. The real CLI (a subprocess) against the real sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.sandbox import Sandbox
from tests.test_e2e import EMAIL, cli, write_schedules

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
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=PROMPT_S,
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
    write_schedules(tmp_path, EMAIL)
    result = cli(sandbox, "plan", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    reads = [r["path"] for r in sandbox.control.requests() if r["path"].startswith(("/dashboards", "/query_reports"))]
    assert sorted(reads) == sorted(set(reads)), "a source read twice"
    listed = {
        f"/{'dashboards' if s['source_type'] == 'Dashboard' else 'query_reports'}/{s['source_id']}"
        for s in sandbox.control.schedules()
    }
    assert {"/dashboards/1234", "/query_reports/5301"} <= set(reads), "the YAML's sources are checked"
    assert set(reads) == listed | {"/dashboards/1234", "/query_reports/5301"}
    assert json.loads(result.stdout)["summary"]["create"] == 2
