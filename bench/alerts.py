"""Alerts beside schedules: a plan of N schedules and M alerts against the bare listings of both kinds.

    .venv/bin/python -m bench.alerts            # 10,000 schedules and 2,000 alerts; writes docs/BENCHMARKS-alerts.md
    .venv/bin/python -m bench.alerts --quick    # 1,000 and 200, to try the harness

The plan reads both listings at once (the schedules' two-ended walk, the alerts' one forward walk:
their listing neither sorts nor counts). The floor it is set beside is the bare client reading both
listings at once, each page after page, nothing checked (`bare_listings`). Reported: wall times
(median of 3, warm and cold cache), requests by kind from the sandbox's log (the target: one per 100
of each, plus the page where the schedule walks meet), and whether every run printed the same bytes.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench import workload
from bench.run import KEY, LATENCY_MS, REPEATS, ROOT, machine, median
from reconciler.kinds.alerts import ALERTS
from reconciler.sandbox import Sandbox
from reconciler.usecases import import_entries

REPORT = ROOT / "docs" / "BENCHMARKS-alerts.md"
FIRST_ALERT_ID = 500_001


def remote_alerts(count: int) -> list[dict[str, Any]]:
    """`count` distinct alerts cycling the example workspace's, in the shape the API returns them."""
    data = json.loads((ROOT / "reconciler" / "sandbox" / "example.json").read_text(encoding="utf-8"))
    base: list[dict[str, Any]] = data["data_alerts"]
    out = []
    for i in range(count):
        alert = copy.deepcopy(base[i % len(base)])
        alert["id"] = FIRST_ALERT_ID + i
        alert["title"] = f"{alert.get('title') or 'Alert'} #{i}"
        out.append(alert)
    return out


def write_alerts(remote: Sequence[Mapping[str, Any]], directory: Path, *, update_every: int, creates: int) -> int:
    """Alert YAML for `remote`, every entry with its id, every `update_every`-th with another cron,
    and `creates` new ones; returns the number of entries."""
    entries: dict[str, dict[str, Any]] = {}
    for i, alert in enumerate(remote):
        entry = import_entries.entry(alert, ALERTS)
        if update_every and i % update_every == 0:
            entry["schedule"] = {**entry["schedule"], "repeat": "5 * * * *"}
        entries[f"a{alert['id']}"] = entry
    for i in range(creates):
        entry = import_entries.entry(remote[i % len(remote)], ALERTS)
        entry.pop("id", None)
        entry["title"] = f"New alert {i}"
        entries[f"new-alert-{i}"] = entry
    items = list(entries.items())
    for start in range(0, len(items), workload.ENTRIES_PER_FILE):
        path = directory / f"alerts-{start // workload.ENTRIES_PER_FILE:03d}.yml"
        path.write_text(workload.render(dict(items[start : start + workload.ENTRIES_PER_FILE]), "alerts"), "utf-8")
    return len(entries)


def _read_listing(session: requests.Session, url: str, list_key: str, out: list[int]) -> None:
    params: dict[str, Any] = {"limit": 100}
    while True:
        data = session.get(url, params=params, headers={"X-Holistics-Key": KEY}).json()
        out.append(len(data[list_key]))
        after = (data.get("cursors") or {}).get("next")
        if not after:
            return
        params["after"] = after


def bare_listings(base_url: str) -> float:
    """Both listings read at once by the simplest client (one session and thread per kind)."""
    pages: dict[str, list[int]] = {"data_schedules": [], "data_alerts": []}
    with requests.Session() as one, requests.Session() as other:
        threads = [
            threading.Thread(target=_read_listing, args=(s, f"{base_url}/{key}", key, pages[key]))
            for s, key in ((one, "data_schedules"), (other, "data_alerts"))
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started


@dataclass
class Result:
    schedules: int
    alerts: int
    bare_s: list[float]
    warm_s: list[float]
    cold_s: list[float]
    requests: dict[str, int]
    summary: dict[str, Any]
    identical: bool


def _plan(sandbox: Sandbox, cwd: Path) -> tuple[float, str]:
    env = {
        **os.environ,
        "HOLISTICS_BASE_URL": sandbox.base_url,
        "HOLISTICS_API_KEY": sandbox.key,
        "NO_COLOR": "1",
        "HOLISTICS_SCHEDULES_CACHE_DIR": str(cwd / ".cache"),
    }
    argv = [sys.executable, "-m", "reconciler", "plan", "schedules", "--json", "--detailed-exitcode"]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 2):
        raise RuntimeError(f"plan exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, done.stdout


def _by_kind(log: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in log:
        parts = [p for p in str(request["path"]).split("/") if p]
        name = f"{request['method']} /{parts[0]}" + ("" if len(parts) == 1 else "/{id}")
        counts[name] = counts.get(name, 0) + 1
    return counts


def bench(n_schedules: int, n_alerts: int, tmp: Path) -> Result:
    schedules = workload.remote_schedules(n_schedules)
    alerts = remote_alerts(n_alerts)
    cwd = tmp / "mixed"
    workload.write_desired(schedules, cwd / "schedules", update_every=100, creates=10, unmanaged_every=200)
    write_alerts(alerts, cwd / "schedules", update_every=100, creates=5)
    bare, warm, cold, outputs = [], [], [], []
    with Sandbox(key=KEY, seed="empty", latency_ms=LATENCY_MS) as sb:
        sb.control.put_schedules(schedules, validate=False)
        sb.control.put_alerts(alerts, validate=False)
        _plan(sb, cwd)  # fills the cache
        log: list[dict[str, Any]] = []
        for _ in range(REPEATS):
            bare.append(bare_listings(sb.base_url))
            sb.control.clear_requests()
            wall, out = _plan(sb, cwd)
            log = sb.control.requests()
            warm.append(wall)
            outputs.append(out)
            shutil.rmtree(cwd / ".cache", ignore_errors=True)
            wall, out = _plan(sb, cwd)
            cold.append(wall)
            outputs.append(out)
    summary = json.loads(outputs[0])
    return Result(
        n_schedules,
        n_alerts,
        bare,
        warm,
        cold,
        _by_kind(log),
        {"total": summary["summary"], "by_kind": summary.get("summary_by_kind")},
        len(set(outputs)) == 1,
    )


def render(result: Result, info: Mapping[str, str]) -> str:
    bare, warm, cold = median(result.bare_s), median(result.warm_s), median(result.cold_s)
    schedule_pages = math.ceil(result.schedules / 100)
    alert_pages = math.ceil(result.alerts / 100)
    lists = result.requests.get("GET /data_schedules", 0), result.requests.get("GET /data_alerts", 0)
    lines = [
        "# Benchmarks: alerts beside schedules",
        "",
        "Generated by `.venv/bin/python -m bench.alerts` (bench/alerts.py); do not edit by hand. The real CLI",
        f"(`python -m reconciler plan --json`) against the bundled sandbox on loopback, {LATENCY_MS} ms of latency",
        f"on every request; medians of {REPEATS}.",
        "",
        f"**Machine:** {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, {info['os']}. "
        f"Run {info['date']} at commit {info['commit']}; load average {info.get('load', '?')} when it started"
        " (the CLI and the sandbox share the CPUs: run it on an idle machine to compare).",
        "",
        f"**Workspace:** {result.schedules:,} schedules and {result.alerts:,} alerts; the YAML declares all but 1 in",
        "200 schedules, changes 1 in 100 of each kind and adds 10 schedules and 5 alerts.",
        "",
        "| | time | vs bare listings |",
        "|---|---|---|",
        f"| bare listings of both kinds, read at once, each page after page | {bare:.2f} s | 1.00x |",
        f"| plan, warm cache of validated files | {warm:.2f} s | {warm / bare:.2f}x |",
        f"| plan, cold cache | {cold:.2f} s | {cold / bare:.2f}x |",
        "",
        "| requests of one plan | count | target |",
        "|---|---|---|",
        f"| schedule list pages | {lists[0]} | {schedule_pages} (+1 where the two ends meet) |",
        f"| alert list pages | {lists[1]} | {alert_pages} (one walk: no sort, no count) |",
        f"| everything else | {sum(result.requests.values()) - sum(lists)} | the sources' titles (one GET each) |",
        "",
        f"Every plan printed the same bytes: {result.identical}. Plan summary: `{json.dumps(result.summary)}`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.alerts", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 schedules and 200 alerts")
    parser.add_argument("--out", type=Path, default=REPORT, help=f"report path (default {REPORT})")
    args = parser.parse_args(argv)
    sizes = (1_000, 200) if args.quick else (10_000, 2_000)
    info = {**machine(), "load": f"{os.getloadavg()[0]:.1f}"}
    with tempfile.TemporaryDirectory(prefix="hs-bench-alerts-") as tmp:
        result = bench(*sizes, Path(tmp))
    text = render(result, info)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
