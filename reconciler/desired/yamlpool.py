"""Reading many schedule files in worker processes, beside the listing, not in its way.

Why: a plan lists the workspace in threads while the main thread reads the YAML, and parsing and
validating 10,000 entries is about a second of CPU (pydantic per entry; five times that for files only
the full reader takes, whose builder runs per node). In one process that CPU holds the GIL the listing
threads need between their requests, and nothing else can use the machine's other cores. In a worker
process it runs on another core. The main process reads a share as well: when every file needed the
full reader, parsing took longer than the listing waited on the network, and the one worker alone was
the plan's critical path.

What a worker does is exactly `yamlread._read_file` (one file's name and bytes in, its entries and
problems out), so the entries, the problems, their files and lines are the same as in-process. A
worker is a fresh interpreter running `reconciler.desired.yamlworker` (not `multiprocessing`, which
would run the caller's own script again in the worker when it has no `__main__` guard; nor a fork,
which would copy a lock held by a listing thread): the bytes go to it and the results come back
pickled, through its pipes (never through a file: the cache stays JSON). Its start-up costs a few
tenths of a second on another core, so it is only worth it for a large workspace (`worth_it`). A
worker ignores Ctrl-C (the command says its interruption once), and when a worker cannot be started
or gives no answer, its files are read in-process, as before.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Any

from reconciler.kinds.entries import DesiredEntry
from reconciler.problems import Problem

Read = tuple[list[DesiredEntry], list[Problem]]
ReadFile = Callable[[str, bytes], Read]

PARALLEL_FROM_BYTES = 2_000_000  # about 3,500 entries: measured, at 1,000 a worker saves nothing (its start-up)
# Each is an interpreter, started once per command, and this process needs a core for the listing:
# one worker on 2 cores (measured: a second one's start-up costs more than it parses), two from 3.
MAX_WORKERS = 2
# A worker's start-up and its answers' way back cost about what parsing this many bytes here does (0.4 s
# on the bench's machine): this process, which starts at once, reads that much more than a worker.
WORKER_START_BYTES = 600_000
WORKER = "reconciler.desired.yamlworker"


def worth_it(sizes: Sequence[int]) -> bool:
    return sum(sizes) >= PARALLEL_FROM_BYTES and _cores() > 1


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def read_in_workers(read_file: ReadFile, files: Sequence[tuple[str, bytes]]) -> list[Read]:
    """`read_file(name, raw)` of each file, in file order, in up to MAX_WORKERS processes and here: this
    process reads a share too, while the workers read theirs (waiting for the network, it has a core's
    worth of time to spare: a plan of 10,000 cold schedules took the one worker's whole parse, issue 22).
    A worker that cannot be had leaves its files to be read here. `read_file` must be a module-level
    function (it is sent by name). What it raises in a worker is raised here, as it would be in-process."""
    count = max(1, min(MAX_WORKERS, _cores() - 1, len(files)))
    shares = _shares([len(raw) for _, raw in files], count)
    workers = [_start(read_file, [files[i] for i in share]) if share else None for share in shares[:count]]
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="yaml-answers") as readers:
        try:
            # each worker's answers taken as they come, while this process reads its share: a worker
            # whose answers nobody takes stops at the first that does not fit in its pipe
            coming = [
                readers.submit(_answers, worker, len(share))
                for share, worker in zip(shares[:count], workers, strict=True)
            ]
            results: dict[int, Read] = {i: read_file(*files[i]) for i in shares[count]}
            for share, answered in zip(shares[:count], coming, strict=True):
                given = answered.result()
                answers: Sequence[tuple[str, Any] | None] = [None] * len(share) if given is None else given
                for i, answer in zip(share, answers, strict=True):
                    results[i] = read_file(*files[i]) if answer is None else _result(answer)
        finally:
            for worker in workers:  # only one still reading when what was read here raised
                if worker is not None and worker.poll() is None:
                    worker.kill()
    return [results[i] for i in range(len(files))]


def _shares(sizes: Sequence[int], count: int) -> list[list[int]]:
    """The files (by index) each of `count` workers reads, then this process's: the biggest first, each
    to whichever will be done first, a worker counting from its start-up."""
    loads = [WORKER_START_BYTES] * count + [0]
    shares: list[list[int]] = [[] for _ in loads]
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        least = min(range(len(loads)), key=loads.__getitem__)
        shares[least].append(i)
        loads[least] += sizes[i]
    return shares


def _start(read_file: ReadFile, files: list[tuple[str, bytes]]) -> subprocess.Popen[bytes] | None:
    try:
        worker = subprocess.Popen(
            [sys.executable, "-m", WORKER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # a worker that fails is read again here, where errors are said
        )
    except OSError:
        return None
    assert worker.stdin is not None
    try:
        with worker.stdin:
            pickle.dump((read_file.__module__, read_file.__qualname__, files), worker.stdin, pickle.HIGHEST_PROTOCOL)
    except OSError:  # it died before reading what it was sent
        pass
    return worker


def _answers(worker: subprocess.Popen[bytes] | None, count: int) -> list[tuple[str, Any]] | None:
    """The worker's answer for each of its files, or None when it gave not all of them."""
    if worker is None:
        return None
    assert worker.stdout is not None
    try:
        with worker.stdout:
            return [_load(worker.stdout) for _ in range(count)]
    except (EOFError, OSError, pickle.UnpicklingError):
        return None
    finally:
        worker.wait()


def _load(stream: IO[bytes]) -> tuple[str, Any]:
    answer: tuple[str, Any] = pickle.load(stream)  # from the process started above, through its own pipe
    return answer


def _result(answer: tuple[str, Any]) -> Read:
    status, value = answer
    if status == "error":
        raise value
    result: Read = value
    return result
