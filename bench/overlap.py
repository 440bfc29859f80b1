"""Issue 22: the plan against the two-ended floor, in one run. Writes its section of docs/BENCHMARKS.md.

    .venv/bin/python -m bench.overlap            # 3 rounds at 10,000 and mixed, the curve once (~6 min)
    .venv/bin/python -m bench.overlap --quick    # 1 round of everything (~3 min)

Every measurement is a whole process, started by this one (the sandbox's: it serves on loopback with
20 ms of latency a request, in a thread here, so neither client shares its GIL):

- the floors: the bare client (`bench/bare.py`), reading page after page (`sequential`) and from both
  ends at once (`two-ended`); for the mixed workspace, both kinds' listings and one `list_metadata`
  request at once (`mixed`). Timed from process start to exit, as the plan is.
- `plan schedules --json --detailed-exitcode`, with a warm cache of validated files, and with
  `--no-cache` (cold), through `bench/child.py` (its peak RSS, its phases).

Within a round the floors and the plans run seconds apart, and the ratios are paired within a round
before the median is taken (the machine's 2 CPUs are shared: the load average is recorded). Each
plan's stdout is hashed: cold and warm, every round, must print the same bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench import alerts as alerts_bench
from bench import names as names_bench
from bench import workload
from bench.run import KEY, LATENCY_MS, ROOT, machine, median, run_cli
from reconciler.sandbox import Sandbox

REPORT = ROOT / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- issue 22: begin (bench/overlap.py) -->", "<!-- issue 22: end -->"
MAIN_N = 10_000
CURVE = (1_000, 5_000, 10_000, 20_000, 50_000)
MIXED = (10_000, 2_000, 1_000)  # schedules, alerts, dashboards
ARGV = ["plan", "schedules", "--json", "--detailed-exitcode"]
TARGET_COLD, TARGET_WARM = 1.10, 1.05


def bare(sandbox: Sandbox, mode: str, cwd: Path) -> float:
    """The bare client's whole process, start to exit."""
    out = cwd / "bare.json"
    env = {**os.environ, "HOLISTICS_API_KEY": sandbox.key, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "bench.bare", mode, sandbox.base_url, str(out)], env=env, check=True)
    return time.perf_counter() - started


@dataclass
class Rounds:
    """Per round: each floor's and each plan's wall time; the plans' peak RSS and output hashes."""

    n: int
    floors: dict[str, list[float]] = field(default_factory=dict)
    plans: dict[str, list[float]] = field(default_factory=dict)
    rss_mib: dict[str, list[float]] = field(default_factory=dict)
    hashes: set[str] = field(default_factory=set)
    phases: dict[str, dict[str, float]] = field(default_factory=dict)  # the last round's, per plan

    def add(self, into: dict[str, list[float]], name: str, value: float) -> None:
        into.setdefault(name, []).append(value)

    def time(self, name: str) -> float:
        return median(self.floors.get(name) or self.plans[name])

    def ratio(self, plan: str, floor: str) -> float:
        """The median of the round-by-round ratios."""
        return median([p / f for p, f in zip(self.plans[plan], self.floors[floor], strict=True)])

    @property
    def identical(self) -> bool:
        return len(self.hashes) == 1


def measure(sandbox: Sandbox, cwd: Path, rounds: int, floors: Sequence[str], result: Rounds) -> Rounds:
    run_cli(sandbox, ARGV, cwd)  # fills the cache of validated files
    for _ in range(rounds):
        for mode in floors:
            result.add(result.floors, mode, bare(sandbox, mode, cwd))
        for name, argv in (("warm", ARGV), ("cold", ["--no-cache", *ARGV])):
            run = run_cli(sandbox, argv, cwd)
            result.add(result.plans, name, run.wall_s)
            result.add(result.rss_mib, name, run.child["maxrss_mib"])
            result.hashes.add(hashlib.sha256(run.stdout.encode()).hexdigest())
            result.phases[name] = {k: v for k, v in run.phases.items() if not k.endswith("_end")}
    return result


def bench_schedules(n: int, tmp: Path, rounds: int) -> Rounds:
    remote = workload.remote_schedules(n)
    cwd = tmp / f"schedules-{n}"
    workload.write_desired(remote, cwd / "schedules", update_every=100, creates=10, unmanaged_every=200)
    with Sandbox(key=KEY, seed="empty", latency_ms=LATENCY_MS) as sb:
        sb.control.put_schedules(remote, validate=False)
        return measure(sb, cwd, rounds, ("sequential", "two-ended"), Rounds(n))


def bench_mixed(tmp: Path, rounds: int) -> Rounds:
    n_schedules, n_alerts, n_dashboards = MIXED
    schedules = names_bench.schedules(n_schedules, n_dashboards)
    alerts = alerts_bench.remote_alerts(n_alerts)
    cwd = tmp / "mixed"
    names_bench.write_yaml(schedules, cwd / "schedules", "dashboard")
    alerts_bench.write_alerts(alerts, cwd / "schedules", update_every=100, creates=5)
    with Sandbox(key=KEY, seed="empty", latency_ms=LATENCY_MS) as sb:
        for dashboard in names_bench.dashboards(n_dashboards):
            sb.control.add_dashboard(dashboard)
        sb.control.put_schedules(schedules, validate=False)
        sb.control.put_alerts(alerts, validate=False)
        result = measure(sb, cwd, rounds, ("mixed",), Rounds(n_schedules))
        sb.control.clear_requests()
        run_cli(sb, ARGV, cwd)
        result.phases["requests"] = {"count": float(len(sb.control.requests()))}
    return result


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else f"**missed** by {100 * (value / target - 1):.0f}%"


def render(info: dict[str, str], main: Rounds, mixed: Rounds, curve: list[Rounds], rounds: int, quick: bool) -> str:
    cold2, warm2 = main.ratio("cold", "two-ended"), main.ratio("warm", "two-ended")
    cold_mixed, warm_mixed = mixed.ratio("cold", "mixed"), mixed.ratio("warm", "mixed")
    at_20k = next((c for c in curve if c.n == 20_000), None)
    command = "`.venv/bin/python -m bench.overlap" + (" --quick`" if quick else "`")
    lines = [
        BEGIN,
        "## Issue 22: the plan against the two-ended floor",
        "",
        f"Generated by {command} (bench/overlap.py); do not edit by hand. Every time is a whole process,",
        "start to exit: the bare client (`bench/bare.py`) or the real CLI, `plan schedules --json",
        f"--detailed-exitcode` (`bench/child.py`), against the sandbox on loopback at {LATENCY_MS} ms a request.",
        f"Medians of {rounds} round(s); each ratio is taken within a round, then the median of those.",
        "",
        f"**Machine:** {info['nproc']} CPUs ({info['cpu']}), Python {info['python']}, {info['os']}. Run "
        f"{info['date']} at commit {info['commit']}; load average {info['load']} at the start, "
        f"{info['load_end']} at the end (shared machine: other work was running).",
        "",
        "| target | result | |",
        "|---|---|---|",
        f"| 10,000 schedules, cold (`--no-cache`) <= {TARGET_COLD}x the two-ended floor | {cold2:.2f}x | "
        f"{verdict(cold2, TARGET_COLD)} |",
        f"| 10,000 schedules, warm <= {TARGET_WARM}x the two-ended floor | {warm2:.2f}x | "
        f"{verdict(warm2, TARGET_WARM)} |",
        f"| mixed (10,000 + 2,000 alerts, 1,000 dashboards), cold <= {TARGET_COLD}x its floor | {cold_mixed:.2f}x | "
        f"{verdict(cold_mixed, TARGET_COLD)} |",
        f"| mixed, warm <= {TARGET_COLD}x its floor | {warm_mixed:.2f}x | {verdict(warm_mixed, TARGET_COLD)} |",
    ]
    if at_20k is not None:
        peak = max(at_20k.rss_mib["cold"] + at_20k.rss_mib["warm"])
        lines.append(f"| peak RSS at 20,000 < 200 MB | {peak:.0f} MB | {'met' if peak < 200 else '**missed**'} |")
    same = all(r.identical for r in [main, mixed, *curve])
    lines += [
        f"| the same output, cold and warm, every round | {'identical' if same else 'DIFFERENT'} | "
        f"{'met' if same else '**missed**'} |",
        "",
        "### 10,000 schedules (11 dashboards and reports; 1 in 100 changed, 10 added, 1 in 200 unmanaged)",
        "",
        "| | time | vs two-ended floor | vs sequential floor | peak RSS |",
        "|---|---:|---:|---:|---:|",
        f"| bare client, page after page (sequential floor) | {main.time('sequential'):.2f} s | "
        f"{median([s / t for s, t in zip(main.floors['sequential'], main.floors['two-ended'], strict=True)]):.2f}x "
        "| 1.00x | |",
        f"| bare client, both ends at once (two-ended floor) | {main.time('two-ended'):.2f} s | 1.00x | | |",
    ]
    for name, label in (("cold", "`plan --no-cache` (cold)"), ("warm", "`plan` (warm cache)")):
        lines.append(
            f"| {label} | {main.time(name):.2f} s | {main.ratio(name, 'two-ended'):.2f}x | "
            f"{main.ratio(name, 'sequential'):.2f}x | {median(main.rss_mib[name]):.0f} MB |"
        )
    lines += [
        "",
        "Phases of the last round (s; `_cpu`: that phase's CPU, the listing's own thread for `listing`):",
        "",
        *(f"- {name}: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(p.items())) for name, p in main.phases.items()),
        "",
        "### Mixed workspace: 10,000 schedules and 2,000 alerts over 1,000 dashboards (`dashboard:` names)",
        "",
        "Floor: the schedules from both ends, the alerts' one walk and one `GET /dashboards/list_metadata`,",
        f"all at once. One plan sends {mixed.phases.get('requests', {}).get('count', 0):.0f} requests.",
        "",
        "| | time | vs floor |",
        "|---|---:|---:|",
        f"| bare: both listings + list_metadata at once | {mixed.time('mixed'):.2f} s | 1.00x |",
        f"| `plan --no-cache` (cold) | {mixed.time('cold'):.2f} s | {cold_mixed:.2f}x |",
        f"| `plan` (warm cache) | {mixed.time('warm'):.2f} s | {warm_mixed:.2f}x |",
        "",
        "### Cost curve (one round per size" + ("" if quick else "; 10,000 is the round above") + ")",
        "",
        "| N | sequential floor | two-ended floor | cold | warm | cold / two-ended | warm / two-ended "
        "| cold / sequential | peak RSS (cold, warm) | MB per 1,000 more (warm) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    previous: Rounds | None = None
    for c in curve:
        rss, warm_rss = median(c.rss_mib["cold"]), median(c.rss_mib["warm"])
        before = median(previous.rss_mib["warm"]) if previous is not None else 0.0
        growth = "" if previous is None else f"{1000 * (warm_rss - before) / (c.n - previous.n):.1f}"
        previous = c
        lines.append(
            f"| {c.n:,} | {c.time('sequential'):.2f} s | {c.time('two-ended'):.2f} s | {c.time('cold'):.2f} s | "
            f"{c.time('warm'):.2f} s | {c.ratio('cold', 'two-ended'):.2f}x | {c.ratio('warm', 'two-ended'):.2f}x | "
            f"{c.ratio('cold', 'sequential'):.2f}x | {rss:.0f}, {warm_rss:.0f} MB | {growth} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def section_of(path: Path) -> str | None:
    """This bench's section of the report, as it stands (for `python -m bench`, which writes the rest)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    found = re.search(re.escape(BEGIN) + ".*?" + re.escape(END), text, re.S)
    return found.group(0) if found else None


def write_section(path: Path, section: str) -> None:
    """Replaces this bench's section of the report (or appends it), leaving the rest as it is."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overlap", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of everything")
    parser.add_argument("--sizes", type=lambda s: tuple(int(x) for x in s.split(",")), default=CURVE)
    parser.add_argument("--out", type=Path, default=REPORT, help=f"report path (default {REPORT})")
    args = parser.parse_args(argv)
    rounds = 1 if args.quick else 3
    info = {**machine(), "load": f"{os.getloadavg()[0]:.1f}"}
    say: Callable[[str], None] = lambda text: print(text, flush=True)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="hs-bench-overlap-") as tmp_name:
        tmp = Path(tmp_name)
        main_rounds = bench_schedules(MAIN_N, tmp, rounds)
        say(f"10,000: {main_rounds}")
        mixed = bench_mixed(tmp, rounds)
        say(f"mixed: {mixed}")
        curve = [main_rounds if n == MAIN_N else bench_schedules(n, tmp, 1) for n in args.sizes]
        for c in curve:
            say(f"{c.n}: {c.floors} {c.plans}")
    info["load_end"] = f"{os.getloadavg()[0]:.1f}"
    section = render(info, main_rounds, mixed, curve, rounds, args.quick)
    write_section(args.out, section)
    say(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
