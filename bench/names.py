"""Names, not numbers: what a plan of N schedules over D dashboards costs in requests and time.

    .venv/bin/python -m bench.names            # 3,000 schedules over 1,000 dashboards; writes docs/BENCHMARKS-names.md
    .venv/bin/python -m bench.names --quick    # 300 over 100, to try the harness

Four plans of the same workspace (every schedule on an AML dashboard, each with a filter preset),
the real CLI against the bundled sandbox: by ids on a server without `list_metadata` (the plan as it
was: a GET per dashboard, for titles), by ids with it, by `dashboard:` names, and by names for the
filters too (`dynamic_filter:`: each dashboard read once for its filters' unames). Reported: requests
by kind from the sandbox's log, wall time with the sandbox's latency, and the time the same count
takes under Holistics' reported quota of 120 requests a minute (computed: requests / 2 per second).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import workload
from bench.run import HOLISTICS_QUOTA, KEY, LATENCY_MS, REPEATS, ROOT, machine, median
from reconciler.sandbox import Sandbox
from reconciler.usecases import import_entries

REPORT = ROOT / "docs" / "BENCHMARKS-names.md"
FIRST_DASHBOARD = 20_001
FIRST_FILTER = 90_001
CASES = (
    ("ids, server without list_metadata (as before)", "ids", False),
    ("ids, with list_metadata", "ids", True),
    ("`dashboard:` names", "dashboard", True),
    ("`dashboard:` and `dynamic_filter:` names", "filters", True),
)


def dashboards(count: int) -> list[dict[str, Any]]:
    return [
        {
            "id": FIRST_DASHBOARD + i,
            "title": f"Dashboard {i}",
            "uname": f"dashboard_{i}",
            "project_id": 1,
            "dynamic_filters": [{"id": FIRST_FILTER + i, "uname": "region", "label": "Region"}],
            "widgets": [],
        }
        for i in range(count)
    ]


def schedules(count: int, n_dashboards: int) -> list[dict[str, Any]]:
    """`count` schedules spread evenly over the dashboards, each with a preset on its `region` filter."""
    out = workload.remote_schedules(count)
    for i, schedule in enumerate(out):
        d = i % n_dashboards
        schedule["source_type"], schedule["source_id"] = "Dashboard", FIRST_DASHBOARD + d
        schedule["dynamic_filter_presets"] = [
            {"dynamic_filter_id": FIRST_FILTER + d, "preset_condition": {"operator": "is", "values": ["EMEA"]}}
        ]
    return out


def write_yaml(remote: Sequence[Mapping[str, Any]], directory: Path, how: str) -> None:
    """The workspace as YAML (every entry with its id, so the plan is clean), in the form `how`."""
    entries = {}
    for schedule in remote:
        entry = import_entries.entry(schedule)
        if how != "ids":
            d = int(entry.pop("source_id")) - FIRST_DASHBOARD
            entry.pop("source_type")
            entry = {"dashboard": f"dashboard_{d}", **entry}
            if how == "filters":
                entry["dynamic_filter_presets"] = [
                    {"dynamic_filter": "region", **{k: v for k, v in p.items() if k != "dynamic_filter_id"}}
                    for p in entry["dynamic_filter_presets"]
                ]
        entries[f"s{schedule['id']}"] = entry
    items = list(entries.items())
    directory.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(items), workload.ENTRIES_PER_FILE):
        path = directory / f"team-{start // workload.ENTRIES_PER_FILE:03d}.yml"
        path.write_text(workload.render(dict(items[start : start + workload.ENTRIES_PER_FILE])), "utf-8")


def _plan(sandbox: Sandbox, cwd: Path) -> tuple[float, dict[str, Any]]:
    env = {
        **os.environ,
        "HOLISTICS_BASE_URL": sandbox.base_url,
        "HOLISTICS_API_KEY": sandbox.key,
        "NO_COLOR": "1",
        "HOLISTICS_SCHEDULES_CACHE_DIR": str(cwd / ".cache"),
    }
    argv = [sys.executable, "-m", "reconciler", "plan", "schedules", "--json"]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"plan exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)


def _by_kind(log: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Requests by endpoint: `GET /dashboards/list_metadata` apart from `GET /dashboards/{id}`."""
    counts: dict[str, int] = {}
    for request in log:
        parts = [p for p in str(request["path"]).split("/") if p]
        tail = "" if len(parts) == 1 else "/list_metadata" if parts[1:] == ["list_metadata"] else "/{id}"
        name = f"{request['method']} /{parts[0]}{tail}"
        counts[name] = counts.get(name, 0) + 1
    return counts


@dataclass
class Case:
    name: str
    walls: list[float]
    requests: dict[str, int]
    summary: dict[str, Any]

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def bench_case(name: str, how: str, metadata: bool, n_schedules: int, n_dashboards: int, tmp: Path) -> Case:
    remote = schedules(n_schedules, n_dashboards)
    cwd = tmp / how / ("meta" if metadata else "nometa")
    write_yaml(remote, cwd / "schedules", how)
    with Sandbox(key=KEY, seed="empty", latency_ms=LATENCY_MS, list_metadata=metadata) as sb:
        for dashboard in dashboards(n_dashboards):
            sb.control.add_dashboard(dashboard)
        sb.control.put_schedules(remote, validate=False)
        _plan(sb, cwd)  # fills the cache of validated files
        walls, log, summary = [], [], {}
        for _ in range(REPEATS):
            sb.control.clear_requests()
            wall, out = _plan(sb, cwd)
            walls.append(wall)
            log, summary = sb.control.requests(), out["summary"]
    return Case(name, walls, _by_kind(log), summary)


def quota_time(requests: int) -> str:
    count, window = HOLISTICS_QUOTA
    seconds = requests * window / count
    return f"{seconds / 60:.1f} min" if seconds >= 90 else f"{seconds:.1f} s"


def render(cases: Sequence[Case], n_schedules: int, n_dashboards: int, info: Mapping[str, str]) -> str:
    kinds = sorted({k for c in cases for k in c.requests})
    lines = [
        "# Benchmarks: names, and what a plan costs in requests",
        "",
        "Generated by `.venv/bin/python -m bench.names` (bench/names.py); do not edit by hand. The real CLI",
        "(`python -m reconciler plan --json`, warm cache of validated files) against the bundled sandbox on loopback,",
        f"{LATENCY_MS} ms of latency on every request; wall times are medians of {REPEATS}.",
        "",
        f"**Machine:** {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, {info['os']}. "
        f"Run {info['date']} at commit {info['commit']}.",
        "",
        f"**Workspace:** {n_schedules:,} schedules spread over {n_dashboards:,} AML dashboards, each schedule with a",
        "filter preset; the YAML declares every one as it is (the plan has no changes).",
        "",
        f"The time under quota is the request count at Holistics' reported {HOLISTICS_QUOTA[0]} requests a "
        f"minute ({HOLISTICS_QUOTA[0] / HOLISTICS_QUOTA[1]:.0f} a second): what the same plan takes against a quota, "
        "however fast the network.",
        "",
        "| plan | requests | " + " | ".join(kinds) + " | wall time | time under the quota |",
        "|---|---:|" + "---:|" * len(kinds) + "---:|---:|",
    ]
    for case in cases:
        counts = " | ".join(str(case.requests.get(k, 0)) for k in kinds)
        lines.append(
            f"| {case.name} | {case.total:,} | {counts} | {median(case.walls):.2f} s | {quota_time(case.total)} |"
        )
    lines += [
        "",
        "By ids or by `dashboard:` names, the plan costs the listing pages plus one `list_metadata` request,",
        "however many dashboards the schedules span: dashboard titles come from `list_metadata`. Naming filters",
        "(`dynamic_filter:`) costs one `GET /dashboards/{id}` per dashboard whose filters the YAML names, since",
        "filter unames are only in each dashboard's definition.",
        "",
        f"Plan summaries: `{json.dumps([c.summary for c in cases])}`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.names", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 schedules over 100 dashboards")
    parser.add_argument("--out", type=Path, default=REPORT, help=f"report path (default {REPORT})")
    args = parser.parse_args(argv)
    n_schedules, n_dashboards = (300, 100) if args.quick else (3_000, 1_000)
    with tempfile.TemporaryDirectory(prefix="hs-bench-names-") as tmp:
        cases = [bench_case(*case, n_schedules, n_dashboards, Path(tmp)) for case in CASES]
    text = render(cases, n_schedules, n_dashboards, machine())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
