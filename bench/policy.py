"""The delivery policy's cost on a large workspace, pure (no network): the spread (`max_same_minute`)
over 10,000 schedules and 2,000 hourly alerts, the shortest gap of every distinct cron a workspace
might hold (`min_interval_minutes`), and the audit's text view of 12,000 deliveries.

    .venv/bin/python -m bench.policy          # writes docs/BENCHMARKS-policy.md

Each figure is the median of 3 runs in this process, caches cleared before each (the crons' start
times and gaps are cached per expression, as a plan reuses them)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import date

from bench.run import ROOT, machine, median
from reconciler.policy import crowding, timing
from reconciler.views import audit_text
from reconciler.views.audit_model import Audit, Delivery

REPORT = ROOT / "docs" / "BENCHMARKS-policy.md"
RUNS = 3


def _workspace(rng: random.Random) -> list[crowding.Delivery]:
    days = ["* * *", "* * 1-5", "* * 1", "1 * *", "15 * *"]
    schedules = [
        f"{rng.choice([0, 0, 15, 30, rng.randrange(60)])} {rng.randrange(6, 12)} {rng.choice(days)}"
        for _ in range(10_000)
    ]
    alerts = [f"{rng.randrange(60)} * * * *" for _ in range(2000)]
    return [
        crowding.Delivery("schedules" if i < 10_000 else "alerts", i + 1, None, cron, False)
        for i, cron in enumerate([*schedules, *alerts])
    ]


def _clear() -> None:
    for module in (timing, crowding):
        for value in vars(module).values():
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()


def _timed(work: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        _clear()
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return median(times)


def main() -> None:
    rng = random.Random(21)
    workspace = _workspace(rng)
    crons = sorted({d.cron for d in workspace})
    spread = _timed(lambda: crowding.crowds(workspace, "Europe/Berlin", 5, today=date(2027, 3, 1)))
    gaps = _timed(lambda: [timing.shortest_gap_minutes(c, "Europe/Berlin") for c in crons])
    row = {"kind": "schedules", "title": "Weekly", "source_type": "Dashboard", "source_id": 1234}
    named = {**row, "source_uname": "sales_performance", "source_title": "Sales", "dest_type": "EmailDest"}
    deliveries = tuple(Delivery(**named, id=i, cron="0 8 * * 1") for i in range(12_000))
    audit = Audit(deliveries, "Europe/Berlin", ("allowed_email_domains",), tuple((0,) * 24 for _ in range(7)))
    text = _timed(lambda: audit_text.plain(audit))
    m = machine()
    REPORT.write_text(
        "# Benchmarks: the delivery policy\n\n"
        "Written by `.venv/bin/python -m bench.policy` (pure: no network; medians of 3, caches cleared).\n\n"
        f"**Machine:** {m['nproc']} CPUs ({m['cpu']}), Python {m['python']}, {m['os']}. "
        f"Run {m['date']} at commit {m['commit']}.\n\n"
        "| what | size | time |\n|---|---:|---:|\n"
        f"| the spread: each delivery's busiest shared minute (`crowding.crowds`) | 10,000 schedules + 2,000 alerts "
        f"| {spread:.2f} s |\n"
        f"| the shortest gap of each distinct cron, this year and next (`timing.shortest_gap_minutes`) "
        f"| {len(crons):,} crons | {gaps:.2f} s |\n"
        f"| the audit's text view, a line per delivery (`audit_text.plain`) | 12,000 deliveries | {text:.2f} s |\n"
    )
    print(REPORT.read_text())


if __name__ == "__main__":
    main()
