"""Benchmarks: plan at 1,000 and 10,000 schedules, against a per-schedule-GET baseline under the quota,
and apply throughput by parallelism, with and without a quota. Writes docs/BENCHMARKS.md.

    .venv/bin/python -m bench            # everything (6-7 minutes on 2 cores)
    .venv/bin/python -m bench --quick    # smaller sizes, for trying the harness (not for the report)

Every plan and apply is the real CLI (`reconciler.cli.main`), run in a child process (`bench/child.py`)
against a sandbox on loopback in this process, so client and server do not share a GIL.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import baseline, workload
from reconciler.client import HolisticsClient
from reconciler.sandbox import Sandbox
from reconciler.workspace import read_sources

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "BENCHMARKS.md"
KEY = "bench-key-0123456789"
LATENCY_MS = 20
PLAN_SIZES = (1_000, 10_000)
BASELINE_N = 240
HOLISTICS_QUOTA = (120, 60.0)
APPLY_N = 500
APPLY_PARALLELISM = (1, 4, 8)
APPLY_QUOTA = (40, 2.0)  # 20 requests/s sustained, a burst of 40: far below what 8 workers could send
REPEATS = 3  # short runs are repeated and the median reported: the CLI and the sandbox share 2 CPUs


# ---------------------------------------------------------------------------------------------------
# plumbing


@dataclass
class Run:
    """One CLI run in a child process and what the sandbox saw."""

    wall_s: float
    exit_code: int
    child: dict[str, Any]
    requests: list[dict[str, Any]]
    stdout: str
    sandbox_cpu_s: float  # CPU the sandbox (this process) spent while the child ran

    @property
    def phases(self) -> dict[str, float]:
        phases: dict[str, float] = self.child.get("phases", {})
        return phases

    def count(self, kind: str) -> int:
        return sum(1 for r in self.requests if classify(r) == kind)

    @property
    def throttled(self) -> int:
        return sum(1 for r in self.requests if r.get("status") == 429)


def classify(request: Mapping[str, Any]) -> str:
    method, path = str(request["method"]), str(request["path"])
    parts = [p for p in path.split("/") if p]
    if method == "GET" and parts == ["data_schedules"]:
        return "list"
    if method == "GET" and parts[:1] == ["data_schedules"]:
        return "get_schedule"
    if method == "GET" and parts[:1] in (["dashboards"], ["query_reports"]):
        return "source"
    if method in ("POST", "PUT", "DELETE"):
        return method.lower()
    return "other"


def run_cli(sandbox: Sandbox, argv: Sequence[str], cwd: Path) -> Run:
    """The real CLI in a child process, with phase timers (bench/child.py)."""
    sandbox.control.clear_requests()
    out = cwd / "child.json"
    env = {
        **os.environ,
        "HOLISTICS_BASE_URL": sandbox.base_url,
        "HOLISTICS_API_KEY": sandbox.key,
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    cmd = [sys.executable, "-m", "bench.child", str(out), "--", *argv]
    started, cpu = time.perf_counter(), time.process_time()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"bench child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    child = json.loads(out.read_text(encoding="utf-8"))
    wall -= child["post_s"]  # the child's re-runs of the pure diff after the CLI finished
    if child["exit_code"] not in (0, 2):
        raise RuntimeError(f"CLI {' '.join(argv)} exited {child['exit_code']}: {proc.stderr[-2000:]}")
    return Run(wall, int(child["exit_code"]), child, sandbox.control.requests(), proc.stdout, cpu)


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout
        commit += " + uncommitted changes" if dirty.strip() else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "?"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "commit": commit,
    }


def say(text: str) -> None:
    print(text, flush=True)


# ---------------------------------------------------------------------------------------------------
# 1. plan at scale


@dataclass
class PlanResult:
    n: int
    run: Run
    desired: workload.Desired
    summary: dict[str, int]
    sources: int
    quota_read_s: float | None = None
    quota_read_requests: int | None = None
    quota_read_throttled: int | None = None
    walls: list[float] = field(default_factory=list)  # every repeat's wall time; `run` is the median one

    @property
    def pages(self) -> int:
        return math.ceil(self.n / 100)

    @property
    def floor_s(self) -> float:
        return self.pages * LATENCY_MS / 1000


def bench_plan(n: int, tmp: Path) -> PlanResult:
    remote = workload.remote_schedules(n)
    desired = workload.write_desired(
        remote, tmp / f"plan-{n}" / "schedules", update_every=100, creates=10, unmanaged_every=200
    )
    argv = ["plan", "schedules", "--json", "--detailed-exitcode"]
    cwd = tmp / f"plan-{n}"
    with Sandbox(key=KEY, seed="empty", latency_ms=LATENCY_MS) as sb:
        sb.control.put_schedules(remote, validate=False)
        runs = sorted((run_cli(sb, argv, cwd) for _ in range(REPEATS)), key=lambda r: r.wall_s)
        run = runs[len(runs) // 2]
        # the same remote read under Holistics' quota (for the baseline comparison)
        sb.control.set_rate_limit(*HOLISTICS_QUOTA)
        sb.control.clear_requests()
        with HolisticsClient(sb.base_url, sb.key) as client:
            t0 = time.perf_counter()
            listed = client.list_schedules_all()
            read_sources(client, workload.distinct_sources(listed))
            quota_read_s = time.perf_counter() - t0
        log = sb.control.requests()
    summary = json.loads(run.stdout)["summary"]
    return PlanResult(
        n,
        run,
        desired,
        summary,
        len(workload.distinct_sources(remote)),
        quota_read_s,
        len(log),
        sum(1 for r in log if r["status"] == 429),
        [r.wall_s for r in runs],
    )


# ---------------------------------------------------------------------------------------------------
# 2. the per-schedule-GET baseline under the quota


@dataclass
class BaselineResult:
    n: int
    baseline_s: float
    baseline_requests: int
    baseline_throttled: int
    per_request_s: float
    ours: Run


def bench_baseline(n: int, tmp: Path) -> BaselineResult:
    remote = workload.remote_schedules(n)
    workload.write_desired(remote, tmp / f"baseline-{n}" / "schedules", update_every=100, creates=2)
    # one unthrottled pass first, to measure the per-request time the model needs
    with Sandbox(key=KEY, seed="empty", latency_ms=LATENCY_MS) as sb:
        sb.control.put_schedules(remote, validate=False)
        with HolisticsClient(sb.base_url, sb.key) as client:
            client.get_schedule(remote[0]["id"])  # warm the connection
            t0 = time.perf_counter()
            for schedule in remote[:50]:
                client.get_schedule(schedule["id"])
            per_request = (time.perf_counter() - t0) / 50
    with Sandbox(key=KEY, seed="empty", latency_ms=LATENCY_MS, rate_limit=HOLISTICS_QUOTA) as sb:
        sb.control.put_schedules(remote, validate=False)
        with HolisticsClient(sb.base_url, sb.key, max_retries=10) as client:
            t0 = time.perf_counter()
            got = baseline.refresh(client)
            baseline_s = time.perf_counter() - t0
        assert len(got) == n, len(got)
        log = sb.control.requests()
    with Sandbox(key=KEY, seed="empty", latency_ms=LATENCY_MS, rate_limit=HOLISTICS_QUOTA) as sb:
        sb.control.put_schedules(remote, validate=False)
        ours = run_cli(sb, ["plan", "schedules", "--json", "--detailed-exitcode"], tmp / f"baseline-{n}")
    return BaselineResult(
        n,
        baseline_s,
        sum(1 for r in log if r["status"] != 429),
        sum(1 for r in log if r["status"] == 429),
        per_request,
        ours,
    )


# ---------------------------------------------------------------------------------------------------
# 3. apply throughput


@dataclass
class ApplyResult:
    parallelism: int
    quota: tuple[int, float] | None
    latency_ms: int
    run: Run
    landed: int
    puts_ok: int
    spread: list[float] = field(default_factory=list)  # every repeat's throughput; this is the median one
    paced: bool = False  # the CLI was told the quota (--rate-limit), as it is by default on Holistics' hosts

    @property
    def seconds(self) -> float:
        return self.run.phases["apply"]

    @property
    def throughput(self) -> float:
        return APPLY_N / self.seconds

    @property
    def bound(self) -> float:
        bounds = [self.parallelism / (self.latency_ms / 1000)] if self.latency_ms else []
        if self.quota is not None:
            bounds.append(self.quota[0] / self.quota[1])
        return min(bounds) if bounds else math.inf

    @property
    def client_cpu_ms(self) -> float:
        """CPU of the CLI process per request during the apply phase."""
        writes = sum(1 for r in self.run.requests if r["method"] == "PUT")
        return 1000 * self.run.phases["apply_cpu"] / max(writes, 1)

    @property
    def sandbox_cpu_ms(self) -> float:
        """CPU of the sandbox per request, over the whole run (plan requests included)."""
        return 1000 * self.run.sandbox_cpu_s / max(len(self.run.requests), 1)


def bench_apply(
    tmp: Path,
    quota: tuple[int, float] | None,
    *,
    latency_ms: int = LATENCY_MS,
    parallelisms: Sequence[int] = APPLY_PARALLELISM,
    repeats: int = 1,
    paced: bool = False,
) -> list[ApplyResult]:
    remote = workload.remote_schedules(APPLY_N)
    cwd = tmp / f"apply-{quota is not None}-{latency_ms}-{paced}"
    desired = workload.write_desired(remote, cwd / "schedules", update_every=1)
    assert desired.updates == APPLY_N
    results = []
    with Sandbox(key=KEY, seed="empty", latency_ms=latency_ms) as sb:
        for p in parallelisms:
            tries = []
            for _ in range(repeats):
                sb.control.set_rate_limit(None)
                sb.control.put_schedules(remote, validate=False)
                if quota is not None:
                    sb.control.set_rate_limit(*quota)
                argv = ["apply", "schedules", "--auto-approve", "--force", "--parallelism", str(p)]
                if quota is not None:
                    argv += ["--rate-limit", f"{quota[0]}/{quota[1]:g}" if paced else "none"]
                run = run_cli(sb, argv, cwd)
                if run.exit_code != 0:
                    raise RuntimeError(f"apply at parallelism {p} failed: {run.stdout[-2000:]}")
                landed = sum(1 for s in sb.control.schedules() if s["schedule"]["repeat"] == "30 6 * * 1-5")
                puts_ok = sum(1 for r in run.requests if r["method"] == "PUT" and r["status"] == 200)
                tries.append(ApplyResult(p, quota, latency_ms, run, landed, puts_ok, paced=paced))
            tries.sort(key=lambda r: r.throughput)
            results.append(tries[len(tries) // 2])
            results[-1].spread = [r.throughput for r in tries]
            say(
                f"  apply p={p} quota={quota} paced={paced} latency={latency_ms}: {results[-1].throughput:.1f}/s, "
                f"{run.throttled} x 429"
            )
    return results


# ---------------------------------------------------------------------------------------------------
# the report


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def fmt_s(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.2f} s"


@dataclass
class Report:
    machine: dict[str, str]
    plans: list[PlanResult]
    base: BaselineResult
    apply_free: list[ApplyResult]
    apply_quota: list[ApplyResult]
    apply_ceiling: list[ApplyResult]
    total_s: float


def render(report: Report) -> str:
    m = report.machine
    lines = [
        "# Benchmarks",
        "",
        "Generated by `.venv/bin/python -m bench` (bench/run.py); do not edit by hand. Every plan",
        "and apply is the real CLI (`reconciler.cli.main`) in a child process, against the bundled sandbox on",
        f"loopback in the parent process, with {LATENCY_MS} ms of injected latency on every API request.",
        "",
        f"**Machine:** {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['os']}. Run {m['date']} at commit",
        f"{m['commit']}; the whole benchmark took {fmt_s(report.total_s)}.",
        "",
        "## Targets at a glance",
        "",
        "| target | result | |",
        "|---|---|---|",
        *glance(report),
        "",
    ]
    lines += render_plan(report.plans)
    lines += render_baseline(report.base, report.plans)
    lines += render_apply(report.apply_free, report.apply_quota, report.apply_ceiling)
    lines += NOTES
    return "\n".join(lines) + "\n"


def glance(report: Report) -> list[str]:
    rows = []
    for p in report.plans:
        lists_ok = p.run.count("list") == p.pages and p.run.count("get_schedule") == 0
        rows.append(
            f"| plan, N = {p.n:,}: exactly {p.pages} list requests, no per-schedule GET | "
            f"{p.run.count('list')} lists, {p.run.count('get_schedule')} GETs by id "
            f"(+ {p.run.count('source')} source GETs) | {verdict(lists_ok)} |"
        )
        target = 1.2 * p.floor_s + 1
        rows.append(
            f"| plan, N = {p.n:,}: wall time <= 1.2 x {fmt_s(p.floor_s)} + 1 s = {fmt_s(target)} | "
            f"{fmt_s(p.run.wall_s)} ({p.run.wall_s / target:.1f}x the target) | {verdict(p.run.wall_s <= target)} |"
        )
        rows.append(
            f"| plan, N = {p.n:,}: peak memory < 200 MB | {p.run.child['maxrss_mib'] * MIB_TO_MB:.0f} MB "
            f"| {verdict(p.run.child['maxrss_mib'] * MIB_TO_MB < 200)} |"
        )
    big = max(report.plans, key=lambda p: p.n)
    pure = big.run.child["pure_diff_cpu_s"]
    rows.append(f"| pure diff of {big.n:,} schedules < 1 s CPU | {fmt_s(pure)} | {verdict(pure < 1)} |")
    for r in [*report.apply_free, *report.apply_quota]:
        quota = (
            "no quota" if r.quota is None else f"quota {r.quota[0]}/{r.quota[1]:g} s" + (", paced" if r.paced else "")
        )
        rows.append(
            f"| apply {APPLY_N} updates, P = {r.parallelism}, {quota}: >= 0.8 x {r.bound:.0f}/s | "
            f"{r.throughput:.1f}/s ({r.throughput / r.bound:.2f}) | {verdict(r.throughput / r.bound >= 0.8)} |"
        )
    return rows


MIB_TO_MB = 1.048576


def render_plan(plans: Sequence[PlanResult]) -> list[str]:
    lines = [
        "## 1. plan at scale",
        "",
        "The workspace has N schedules over 11 dashboards and reports (the example workspace's, cycled). The YAML",
        "declares all but 1 in 200 of them with their ids, changes the cron of 1 in 100 and adds 10 new entries,",
        "in files of 1,000 entries. Command: `plan schedules --json --detailed-exitcode`, timed from process",
        f"start to exit, {REPEATS} times; the details are those of the median run. The floor is the list pages",
        "times the latency.",
        "",
        "| | " + " | ".join(f"N = {p.n:,}" for p in plans) + " |",
        "|---|" + "---|" * len(plans),
    ]

    def row(name: str, values: Sequence[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(values) + " |")

    row("plan summary", [", ".join(f"{v} {k}" for k, v in p.summary.items()) for p in plans])
    row("list requests (GET /data_schedules)", [f"{p.run.count('list')} (ceil(N/100) = {p.pages})" for p in plans])
    row("per-schedule GETs", [str(p.run.count("get_schedule")) for p in plans])
    row("source GETs (one per dashboard/report)", [f"{p.run.count('source')} ({p.sources} sources)" for p in plans])
    row("writes", [str(p.run.count("post") + p.run.count("put") + p.run.count("delete")) for p in plans])
    row("floor: list pages x latency", [fmt_s(p.floor_s) for p in plans])
    row("**wall time, whole CLI** (median)", [f"**{fmt_s(p.run.wall_s)}**" for p in plans])
    row(f"wall time of the {REPEATS} runs", [", ".join(fmt_s(w) for w in p.walls) for p in plans])
    row("wall / floor", [f"{p.run.wall_s / p.floor_s:.1f}x" for p in plans])
    row("- interpreter start, imports and exit", [fmt_s(p.run.wall_s - p.run.child["cli_s"]) for p in plans])
    row("- reading and validating the YAML", [fmt_s(p.run.phases["load_yaml"]) for p in plans])
    row("- listing remote schedules (wall)", [fmt_s(p.run.phases["read_remote"]) for p in plans])
    row("- listing: CPU spent in the CLI", [fmt_s(p.run.phases["read_remote_cpu"]) for p in plans])
    row("- reading sources", [fmt_s(p.run.phases["read_sources"]) for p in plans])
    row("- diff as the CLI runs it (CPU)", [fmt_s(p.run.phases["diff_cpu"]) for p in plans])
    row("pure diff `plan(desired, remote)` (CPU)", [fmt_s(p.run.child["pure_diff_cpu_s"]) for p in plans])
    row("listing / its floor", [f"{p.run.phases['read_remote'] / p.floor_s:.2f}x" for p in plans])
    row("sandbox CPU over the run (its process)", [fmt_s(p.run.sandbox_cpu_s) for p in plans])
    row("peak RSS of the CLI process", [f"{p.run.child['maxrss_mib'] * MIB_TO_MB:.0f} MB" for p in plans])
    lines.append("")
    for p in plans:
        target = 1.2 * p.floor_s + 1
        if p.run.wall_s <= target:
            continue
        phases = {
            "interpreter start, imports and exit": p.run.wall_s - p.run.child["cli_s"],
            "reading the YAML": p.run.phases["load_yaml"],
            "listing": p.run.phases["read_remote"],
            "reading sources": p.run.phases["read_sources"],
            "diffing": p.run.phases["diff"],
        }
        top = sorted(phases.items(), key=lambda kv: -kv[1])[:2]
        lines.append(
            f"N = {p.n:,} misses the wall-time target ({fmt_s(target)}) by {fmt_s(p.run.wall_s - target)}: "
            + " and ".join(f"{name} took {fmt_s(seconds)}" for name, seconds in top)
            + f", against a network floor of {fmt_s(p.floor_s)}."
        )
    slow_listing = [p for p in plans if p.run.phases["read_remote"] > 1.2 * p.floor_s]
    for p in slow_listing:
        cpu = p.run.phases["read_remote_cpu"]
        server = p.run.sandbox_cpu_s
        lines.append(
            f"At N = {p.n:,} the listing takes {p.run.phases['read_remote'] / p.floor_s:.2f}x its floor, "
            f"{fmt_s(p.run.phases['read_remote'] - p.floor_s)} over it. The CLI spent {fmt_s(cpu)} of CPU listing "
            f"({1000 * cpu / p.pages:.1f} ms a page, mostly decoding JSON); the sandbox spent {fmt_s(server)} of CPU "
            "over the whole run (list pages and source reads; it sorts and keys all N schedules again for every "
            "page it serves)."
        )
    lines.append("")
    return lines


def render_baseline(base: BaselineResult, plans: Sequence[PlanResult]) -> list[str]:
    count, window = HOLISTICS_QUOTA
    model = baseline.QuotaModel(count, window, base.per_request_s)
    predicted = model.seconds(baseline.QuotaModel.refresh_requests(base.n))
    big = max(plans, key=lambda p: p.n)
    big_requests = baseline.QuotaModel.refresh_requests(big.n)
    big_baseline = model.seconds(big_requests)
    ours = base.ours
    ours_big_requests = big.run.count("list") + big.run.count("source")
    rate = count / window
    return [
        f"## 2. Against a per-schedule-GET baseline, under a quota of {count} per {window:g} s",
        "",
        "The baseline refreshes the way a Terraform provider does: list the ids, then `GET /data_schedules/{id}` for",
        "each, sequentially, through the same client (same retries, same Retry-After handling). Sandbox quota",
        f"{count} requests per {window:g} s (a sliding window, as Holistics counts), latency {LATENCY_MS} ms.",
        "",
        "| | baseline (a GET per schedule) | holistics-schedules plan |",
        "|---|---|---|",
        f"| N = {base.n}, measured | {fmt_s(base.baseline_s)}: {base.baseline_requests} requests answered, "
        f"{base.baseline_throttled} more answered 429 | {fmt_s(ours.wall_s)} (whole CLI): {ours.count('list')} list "
        f"+ {ours.count('source')} source requests, {ours.throttled} answered 429 |",
        f"| N = {base.n}, the model below | {fmt_s(predicted)} | |",
        f"| N = {big.n:,} | **{fmt_s(big_baseline)}, extrapolated** from the model ({big_requests:,} requests, "
        f"{(big_requests - 1) // count} waits for the window); not run | {fmt_s(big.run.wall_s)}, measured "
        f"(section 1); its remote read alone under this quota, measured: {fmt_s(big.quota_read_s or 0)}, "
        f"{big.quota_read_requests} requests, {big.quota_read_throttled} answered 429 |",
        "",
        f"The model: R = ceil(N/100) + N requests, each taking {base.per_request_s * 1000:.1f} ms (measured "
        f"unthrottled); the first {count} go at once, then every further {count} wait for the window to slide "
        f"({window:g} s). It predicts {fmt_s(predicted)} for N = {base.n} against {fmt_s(base.baseline_s)} measured "
        f"({base.baseline_s / predicted:.2f}x), so the {big.n:,} figure is that model **extrapolated, not measured**.",
        "",
        f"holistics-schedules reads {big.n:,} schedules in {ours_big_requests} requests ({big.run.count('list')} "
        f"pages + {big.run.count('source')} sources), within one window's {count}: from a fresh window it is never "
        f"throttled. Back to back with a full window, the quota would hold it to {fmt_s(ours_big_requests / rate)} "
        f"a plan, and the baseline to {fmt_s(big_requests / rate)}.",
        "",
    ]


def render_apply(
    free: Sequence[ApplyResult], quota: Sequence[ApplyResult], ceiling: Sequence[ApplyResult]
) -> list[str]:
    one = next((r for r in ceiling if r.parallelism == 1), None)
    top = max(ceiling, key=lambda r: r.throughput) if ceiling else None
    service_s = 1 / one.throughput if one is not None else 0.0
    cpu_max = top.throughput if top is not None else math.inf

    def served_bound(r: ApplyResult) -> float:
        """The bound with each request's own service time (measured at 0 ms) and the sandbox's CPU ceiling."""
        bounds = [r.parallelism / (r.latency_ms / 1000 + service_s), cpu_max]
        if r.quota is not None:
            bounds.append(r.quota[0] / r.quota[1])
        return min(bounds)

    lines = [
        f"## 3. apply: {APPLY_N} updates",
        "",
        f"{APPLY_N} schedules, each with a new cron in the YAML: `apply --auto-approve --force --parallelism P`,",
        "timed over the apply phase alone (`reconciler.apply.apply`, after the plan). The bound is",
        "min(P / latency, quota) and the target 0.8 of it. The last column is the bound once each request's own",
        "service time (client, loopback, the sandbox validating the body: measured with no latency) and the",
        "sandbox's CPU ceiling are counted. Runs without a quota are repeated "
        f"{REPEATS} times and the median shown (all runs in brackets); the quota runs are long and run once.",
        "",
        "| latency | quota | P | apply time | throughput (all runs) | bound | ratio | target | PUTs answered 200 "
        "| 429s | schedules updated | CPU per request: CLI, sandbox | bound with service time (ratio) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in [*free, *quota, *ceiling]:
        label = "none" if r.quota is None else f"{r.quota[0]} / {r.quota[1]:g} s"
        label += ", paced" if r.paced else ""
        if math.isinf(r.bound):
            bound, ratio, target, served = "-", "-", "(no latency: the ceiling)", "-"
        else:
            bound, ratio = f"{r.bound:.0f}/s", f"{r.throughput / r.bound:.2f}"
            target = verdict(r.throughput / r.bound >= 0.8)
            served = f"{served_bound(r):.0f}/s ({r.throughput / served_bound(r):.2f})"
        lines.append(
            f"| {r.latency_ms} ms | {label} | {r.parallelism} | {fmt_s(r.seconds)} | {r.throughput:.1f}/s "
            f"({', '.join(f'{t:.0f}' for t in r.spread)}) | {bound} "
            f"| {ratio} | {target} | {r.puts_ok} | {r.run.throttled} | {r.landed} of {APPLY_N} "
            f"| {r.client_cpu_ms:.1f} ms, {r.sandbox_cpu_ms:.1f} ms | {served} |"
        )
    lines.append("")
    if one is not None and top is not None:
        lines += [
            f"With no latency one worker completes a PUT every {service_s * 1000:.1f} ms and {top.parallelism} workers "
            f"top out at {top.throughput:.0f}/s: the sandbox is one Python process (one GIL) doing the CPU work shown "
            f"per request. At {LATENCY_MS} ms a worker can therefore do at best 1 / ({LATENCY_MS} + "
            f"{service_s * 1000:.1f}) ms = {1 / (LATENCY_MS / 1000 + service_s):.0f}/s, not {1000 / LATENCY_MS:.0f}/s; "
            "P / latency leaves that out. A miss at high P without a quota is this machine's sandbox, not the client.",
            "",
        ]
    for r in quota:
        if r.quota is None or r.paced:
            continue
        rate = r.quota[0] / r.quota[1]
        if r.throughput / r.bound < 0.8:
            worker = r.parallelism / (LATENCY_MS / 1000 + service_s)
            cycle = rate / (1 + rate / worker)
            lines += [
                f"With the quota and P = {r.parallelism} the client reaches {r.throughput:.1f}/s of {rate:g}/s: after "
                "each 429 it waits the whole Retry-After, at least 1 s (whole seconds), while the window frees a slot "
                f"every {1000 / rate:.0f} ms; then its {r.parallelism} worker(s) send the ~{rate:g} freed slots at "
                f"{worker:.0f}/s and hit the quota again. About {rate:g} requests per (1 + {rate:g}/{worker:.0f}) s "
                f"= {cycle:.1f}/s. Told the quota (`--rate-limit N/S`, the default on Holistics' own hosts), the "
                "client paces itself over the same sliding window as the server: the `paced` rows.",
                "",
            ]
            break
    if quota:
        lines += [
            "With the quota every update still lands exactly once (PUTs answered 200 = schedules updated, exit 0):",
            "each 429 pauses every worker for the server's Retry-After, and no change fails. Throughput above the",
            "sustained rate is the window's initial burst.",
            "",
        ]
    return lines


NOTES = [
    "## Notes",
    "",
    "- Peak memory is the CLI process's maximum RSS (`getrusage`), interpreter and libraries included.",
    "- Request counts come from the sandbox's request log; 429 answers are counted apart.",
    "- The CLI's phases are timed by wrapping its own functions in the child process (`bench/child.py`):",
    "  `project.load_desired`, `read_remote`, `plan`, `read_sources` and `apply.apply`.",
    "- On a shared 2-CPU VM the CPU-bound figures (YAML, diff, the no-latency ceiling) move by a third or more",
    "  between runs an hour apart; the request counts and the latency-bound figures do not. Compare the repeats.",
]


# ---------------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    global PLAN_SIZES, BASELINE_N, APPLY_N, HOLISTICS_QUOTA
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the harness quickly")
    parser.add_argument("--out", type=Path, default=REPORT, help=f"report path (default {REPORT})")
    args = parser.parse_args(argv)
    if args.quick:
        PLAN_SIZES, BASELINE_N, APPLY_N, HOLISTICS_QUOTA = (200, 1_000), 40, 100, (20, 5.0)
    started = time.perf_counter()
    info = machine()
    say(f"machine: {info}")
    with tempfile.TemporaryDirectory(prefix="hs-bench-") as tmp_name:
        tmp = Path(tmp_name)
        plans = []
        for n in PLAN_SIZES:
            say(f"plan over {n:,} schedules ...")
            plans.append(bench_plan(n, tmp))
            p = plans[-1]
            say(
                f"  {fmt_s(p.run.wall_s)} wall, {p.run.count('list')} lists, {p.run.count('source')} sources, "
                f"yaml {fmt_s(p.run.phases['load_yaml'])}, {p.run.child['maxrss_mib']:.0f} MiB"
            )
        say(f"baseline at {BASELINE_N} under {HOLISTICS_QUOTA} ...")
        base = bench_baseline(BASELINE_N, tmp)
        say(f"  baseline {fmt_s(base.baseline_s)}, ours {fmt_s(base.ours.wall_s)}")
        say(f"apply {APPLY_N} updates ...")
        free = bench_apply(tmp, None, repeats=REPEATS)
        quota = bench_apply(tmp, APPLY_QUOTA) + bench_apply(tmp, APPLY_QUOTA, paced=True)
        ceiling = bench_apply(tmp, None, latency_ms=0, parallelisms=(1, 8), repeats=REPEATS)
    report = Report(info, plans, base, free, quota, ceiling, time.perf_counter() - started)
    text = render(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    say(text)
    say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
