"""Reading many schedule files in worker processes, beside the listing, not in its way.

Why: a plan lists the workspace in threads while the main thread reads the YAML, and parsing and
validating 10,000 entries is about 1.5 s of CPU in pure Python (libyaml composes, the builder and
pydantic run per node). In one process that CPU holds the GIL the listing threads need between
their requests, and nothing else can use the machine's other cores. In worker processes it runs on
another core, and the listing threads have the interpreter to themselves.

What a worker does is exactly `yamlread._read_file` (one file's name and bytes in, its entries and
problems out), so the entries, the problems, their files and lines are the same as in-process; the
results come back pickled from a process this one started (never from disk: the cache stays JSON).
A worker is a fresh interpreter (`spawn`: the listing threads are already running, and forking a
process with threads can copy a lock held by one of them), which costs a few tenths of a second of
start-up on another core: only worth it for a large workspace (`worth_it`). A worker ignores Ctrl-C
(the command says its interruption once), and when workers cannot be started at all (no semaphores,
a platform without processes) or one dies, the files are read in-process as before.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import Problem

Read = tuple[list[DesiredEntry], list[Problem]]
ReadFile = Callable[[str, bytes], Read]

PARALLEL_FROM_BYTES = 400_000  # about 1,000 entries: below this a worker's start-up costs more than it saves
MAX_WORKERS = 2  # each is an interpreter, started once per command: more than the cores is only cost


def worth_it(sizes: Sequence[int]) -> bool:
    return sum(sizes) >= PARALLEL_FROM_BYTES and _cores() > 1


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _quiet() -> None:
    """In each worker: Ctrl-C is the parent's to say; and no cyclic collection (see `gc_paused`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()


def read_in_workers(read_file: ReadFile, files: Sequence[tuple[str, bytes]]) -> list[Read]:
    """`read_file(name, raw)` of each file, in file order, in up to MAX_WORKERS processes; in this one
    when workers cannot be had. `read_file` must be a module-level function (it is sent by name)."""
    try:
        pool: Executor = ProcessPoolExecutor(
            max_workers=max(1, min(MAX_WORKERS, _cores(), len(files))),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_quiet,
        )
    except (OSError, NotImplementedError, ImportError):  # no semaphores here (some containers, AWS Lambda)
        return [read_file(name, raw) for name, raw in files]
    try:
        # the biggest files first, so that no worker is left with a big one at the end
        order = sorted(range(len(files)), key=lambda i: -len(files[i][1]))
        futures = {i: pool.submit(read_file, *files[i]) for i in order}
        return [futures[i].result() for i in range(len(files))]
    except BrokenProcessPool:  # a worker died (killed, out of memory): read them here, as before
        return [read_file(name, raw) for name, raw in files]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
