"""Issue 22: where the plan's time over the two-ended floor goes. Writes docs/BENCHMARKS-budget.md.

    .venv/bin/python -m bench.budget             # 8 rounds at 10,000 schedules, warm and cold (~2 min)
    .venv/bin/python -m bench.budget --rounds 3  # fewer

The bare client (`bench/bare.py two-ended`) and the real CLI (`plan schedules --json --detailed-exitcode`)
run alternately, each a whole process with the same hook (`--child`): a wrapper of `requests`' one send
method notes when each request left and when its answer was in, and a mark at the end of the process's
work. So both are cut at the same points: when the first request leaves (the process's start: the bare
client imports `requests`; the CLI imports `requests`, click and its own modules), the listing (that
request to the last page of schedules in), and from the last page to the end (the bare client: nothing;
the CLI: the plan, the policy and the spread, then the JSON, made printable and written). The plan's
own steps after the last page are marked too. Times are medians of the rounds, each from the process's
first line (the interpreter's own start, the same for both, is before it); the whole process, start to
exit, is the parent's clock, as in `bench/overlap.py`.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()  # the child's clock starts with its first line; the parent's is its own

N = 10_000
ARGV = ["plan", "schedules", "--json", "--detailed-exitcode"]
# the plan's steps after the listing, as (module, function): each marked when it returns
STEPS = (
    ("reconciler.usecases.planning", "plan"),  # the core's plan of each kind
    ("reconciler.usecases.plan_sources", "sources"),
    ("reconciler.usecases.spread", "policed"),
    ("reconciler.views.plan_json", "to_json"),
    ("reconciler.views.console", "printable"),
)


def child(mode: str, out: Path, argv: list[str]) -> None:
    """The hooked process: the bare client's listing or the CLI, then its marks written to `out`."""
    import requests.adapters

    sent: list[tuple[str, float, float]] = []
    marks: list[tuple[str, float]] = []
    send = requests.adapters.HTTPAdapter.send

    @functools.wraps(send)
    def timed_send(self: Any, request: Any, **kwargs: Any) -> Any:
        left = time.perf_counter() - STARTED
        answer = send(self, request, **kwargs)
        sent.append((str(request.url), left, time.perf_counter() - STARTED))
        return answer

    requests.adapters.HTTPAdapter.send = timed_send  # type: ignore[method-assign]

    def write() -> None:
        schedules = [s for s in sent if "/data_schedules" in s[0]]
        result = {
            "first": min(s[1] for s in sent),
            "last_page": max(s[2] for s in schedules),
            "requests": len(sent),
            "marks": marks,
            "end": time.perf_counter() - STARTED,
        }
        out.write_text(json.dumps(result), encoding="utf-8")

    if mode == "bare":
        from bench import bare

        bare.main(["two-ended", *argv])
        write()
        return
    _mark_steps(marks)
    import reconciler.entry

    exit_now = reconciler.entry._exit_now

    def marked_exit(done: SystemExit) -> Any:
        write()
        return exit_now(done)

    reconciler.entry._exit_now = marked_exit  # type: ignore[assignment]
    sys.argv = ["holistics-schedules", *argv]
    reconciler.entry.main()


def _mark_steps(marks: list[tuple[str, float]]) -> None:
    """Marks each of STEPS when it returns, wrapping it as its module is first imported."""
    from bench.child import AfterImport

    wanted: dict[str, list[str]] = {}
    for module, name in STEPS:
        wanted.setdefault(module, []).append(name)

    def wrapped(function: Callable[..., Any], label: str) -> Callable[..., Any]:
        @functools.wraps(function)
        def mark(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            marks.append((label, time.perf_counter() - STARTED))
            return result

        return mark

    def patch(module: Any) -> None:
        for name in wanted[module.__name__]:
            setattr(module, name, wrapped(getattr(module, name), name))

    sys.meta_path.insert(0, AfterImport(set(wanted), patch))


def run(mode: str, env: dict[str, str], cwd: Path, argv: list[str]) -> dict[str, Any]:
    out = cwd / f"budget-{mode}.json"
    out.unlink(missing_ok=True)  # a run that fails must not be read as the one before it
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.budget", "--child", mode, str(out), *argv],
        env=env,
        cwd=cwd,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if proc.returncode not in (0, 2) or not out.exists():  # plan --detailed-exitcode: 2 is "changes"
        raise RuntimeError(f"budget child {mode} {' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["wall"] = time.perf_counter() - started
    return result


def measure(rounds: int, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    from bench import workload
    from bench.run import KEY, LATENCY_MS, ROOT, run_cli
    from reconciler.sandbox import Sandbox

    remote = workload.remote_schedules(N)
    cwd = tmp / "schedules-budget"
    workload.write_desired(remote, cwd / "schedules", update_every=100, creates=10, unmanaged_every=200)
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "warm": [], "cold": []}
    with Sandbox(key=KEY, seed="empty", latency_ms=LATENCY_MS) as sb:
        sb.control.put_schedules(remote, validate=False)
        run_cli(sb, ARGV, cwd)  # fills the cache of validated files
        env = {
            **os.environ,
            "HOLISTICS_BASE_URL": sb.base_url,
            "HOLISTICS_API_KEY": sb.key,
            "PYTHONPATH": str(ROOT),
            "NO_COLOR": "1",
            "HOLISTICS_SCHEDULES_CACHE_DIR": str(cwd / ".cache"),
        }
        for _ in range(rounds):
            runs["bare"].append(run("bare", env, cwd, [sb.base_url, str(cwd / "bare.json")]))
            runs["warm"].append(run("plan", env, cwd, ARGV))
            runs["cold"].append(run("plan", env, cwd, ["--no-cache", *ARGV]))
    return runs


def render(info: dict[str, str], runs: dict[str, list[dict[str, Any]]], rounds: int) -> str:
    from bench.run import LATENCY_MS, median

    def at(name: str, get: Callable[[dict[str, Any]], float]) -> float:
        return median([get(r) for r in runs[name]])

    def after_last(r: dict[str, Any]) -> float:
        return float(r["end"] - r["last_page"])

    def listing(r: dict[str, Any]) -> float:
        return float(r["last_page"] - r["first"])

    def step(label: str, before: str | None) -> Callable[[dict[str, Any]], float]:
        def took(r: dict[str, Any]) -> float:
            times = dict((name, t) for name, t in r["marks"])  # the last of each (plan runs once a kind)
            start = times[before] if before else r["last_page"]
            return float(times[label] - start)

        return took

    rows = [
        ("the first request leaves", lambda r: float(r["first"])),
        ("the listing: first request to the last page in", listing),
        ("the last page to the end of the process's work", after_last),
    ]
    floor = at("bare", lambda r: float(r["wall"]))
    lines = [
        "# Issue 22: where the plan's time over the floor goes",
        "",
        "Generated by `.venv/bin/python -m bench.budget` (bench/budget.py); do not edit by hand. The bare",
        "client (two-ended) and `plan` of 10,000 schedules (warm cache, and `--no-cache`), alternated, "
        f"{rounds} rounds,",
        f"the same hook in each (seconds from the process's first line; medians); {LATENCY_MS} ms a request.",
        "",
        f"**Machine:** {info['nproc']} CPUs, Python {info['python']}. Run {info['date']} at commit {info['commit']}; "
        f"load average {info['load']} at the start, {info['load_end']} at the end.",
        "",
        "| | bare client | plan, warm | over the floor | plan, cold | over the floor |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for label, get in rows:
        bare, warm, cold = at("bare", get), at("warm", get), at("cold", get)
        lines.append(f"| {label} | {bare:.3f} | {warm:.3f} | {warm - bare:+.3f} | {cold:.3f} | {cold - bare:+.3f} |")
    previous: str | None = None
    for _, name in STEPS:
        warm, cold = at("warm", step(name, previous)), at("cold", step(name, previous))
        lines.append(f"| ... then `{name}` returns | | {warm:.3f} | | {cold:.3f} | |")
        previous = name
    warm_wall, cold_wall = at("warm", lambda r: float(r["wall"])), at("cold", lambda r: float(r["wall"]))
    lines += [
        f"| whole process, start to exit (parent's clock) | {floor:.3f} | {warm_wall:.3f} | "
        f"{warm_wall / floor:.2f}x | {cold_wall:.3f} | {cold_wall / floor:.2f}x |",
        "",
        f"At 1.05x the plan may end {0.05 * floor:.3f} s after the bare client; at 1.1x, {0.1 * floor:.3f} s.",
    ]
    return "\n".join(lines)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--child"]:
        child(args[1], Path(args[2]), args[3:])
        return 0
    from bench.run import ROOT, machine

    parser = argparse.ArgumentParser(prog="python -m bench.budget", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=_positive, default=8)
    report = ROOT / "docs" / "BENCHMARKS-budget.md"
    parser.add_argument("--out", type=Path, default=report, help=f"report path (default {report})")
    parsed = parser.parse_args(args)
    if not parsed.out.parent.is_dir():  # said now, not after two minutes of measuring
        parser.error(f"--out: no directory {parsed.out.parent}")
    info = {**machine(), "load": f"{os.getloadavg()[0]:.1f}"}
    with tempfile.TemporaryDirectory(prefix="hs-bench-budget-") as tmp:
        runs = measure(parsed.rounds, Path(tmp))
    info["load_end"] = f"{os.getloadavg()[0]:.1f}"
    section = render(info, runs, parsed.rounds)
    print(section)
    parsed.out.write_text(section + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
