"""Files read in worker processes (reconciler.desired.yamlpool) give what reading them here gives: the
same entries, the same problems, each naming its file and line; and a large workspace is read so."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import pytest

from bench import workload
from reconciler.desired import yamlpool, yamlread
from reconciler.problems import InvalidSchedules, Problem

BROKEN = """\
schedules:
  good:
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest: {type: EmailDest, recipients: [sales@example.com]}
  bad-cron:
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "every day"}
    dest: {type: EmailDest, recipients: [sales@example.com]}
  bad-email:
    source_type: Dashboard
    source_id: 1234
    schedule: {repeat: "0 8 * * 1"}
    dest:
      type: EmailDest
      recipients: [not-an-address]
"""


def files(tmp_path: Path) -> list[tuple[str, bytes]]:
    workload.write_desired(workload.remote_schedules(300), tmp_path / "ok", update_every=50, creates=3)
    (tmp_path / "broken.yml").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "syntax.yml").write_text("schedules:\n  a: [unclosed\n", encoding="utf-8")
    paths = [*sorted((tmp_path / "ok").glob("*.yml")), tmp_path / "broken.yml", tmp_path / "syntax.yml"]
    return [(str(p), p.read_bytes()) for p in paths]


def full(entries: list[yamlread.DesiredEntry]) -> list[tuple[object, ...]]:
    """Everything an entry holds, its lines and values from the environment included (not compared by ==)."""
    return [(*dataclasses.astuple(e)[:5], dict(e.field_lines), e.kind, dict(e.env)) for e in entries]


@pytest.fixture(autouse=True)
def workers_start_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """These files are small: without a head start, a worker reads some of them all the same."""
    monkeypatch.setattr(yamlpool, "WORKER_START_BYTES", 0)


def test_workers_read_what_this_process_reads(tmp_path: Path) -> None:
    named = files(tmp_path)
    here = [yamlread._read_file(name, raw) for name, raw in named]
    there = yamlpool.read_in_workers(yamlread._read_file, named)
    assert [full(entries) for entries, _ in there] == [full(entries) for entries, _ in here]
    assert [problems for _, problems in there] == [problems for _, problems in here]
    broken, syntax = there[-2][1], there[-1][1]
    assert {(p.file, p.line) for p in broken} == {(named[-2][0], 10), (named[-2][0], 18)}
    assert [(p.file, p.line) for p in syntax] == [(named[-1][0], 3)]
    assert sum(len(entries) for entries, _ in there) == 303 + 1


def test_a_large_workspace_is_read_in_workers_with_the_same_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = files(tmp_path)
    paths = [Path(name) for name, _ in named[:-2]]
    here = yamlread.load(paths, cache=False)
    used: list[int] = []
    real = yamlpool.read_in_workers

    def counted(read_file: yamlpool.ReadFile, to_read: list[tuple[str, bytes]]) -> list[yamlpool.Read]:
        used.append(len(to_read))
        return real(read_file, to_read)

    monkeypatch.setattr(yamlpool, "PARALLEL_FROM_BYTES", 1)
    monkeypatch.setattr(yamlpool, "_cores", lambda: 3)
    monkeypatch.setattr(yamlpool, "read_in_workers", counted)
    assert full(yamlread.load(paths, cache=False)) == full(here)
    assert used == [len(paths)]
    with pytest.raises(InvalidSchedules) as invalid:
        yamlread.load([Path(named[-2][0])], cache=False)
    assert sorted((p.line, p.path) for p in invalid.value.problems) == [
        (10, "bad-cron.schedule.repeat"),
        (18, "bad-email.dest.recipients.0"),
    ]
    assert used == [len(paths), 1]


@pytest.mark.parametrize("how", ["cannot start", "gives no answer"])
def test_without_workers_the_files_are_read_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    def no_processes(*args: object, **kwargs: object) -> None:
        raise OSError("no processes here")

    if how == "cannot start":
        monkeypatch.setattr(yamlpool.subprocess, "Popen", no_processes)
    else:
        monkeypatch.setattr(yamlpool, "WORKER", "reconciler.no_such_module")
    named = files(tmp_path)
    there = yamlpool.read_in_workers(yamlread._read_file, named)
    assert [full(entries) for entries, _ in there] == [full(yamlread._read_file(n, r)[0]) for n, r in named]


def test_what_a_worker_raises_is_raised_here(tmp_path: Path) -> None:
    named = files(tmp_path)
    with pytest.raises(ZeroDivisionError):
        yamlpool.read_in_workers(divide, named)


def divide(name: str, raw: bytes) -> yamlpool.Read:
    raise ZeroDivisionError(name)


def test_this_process_reads_a_share_while_a_worker_reads_the_rest(tmp_path: Path) -> None:
    named = files(tmp_path)
    pids = {problems[0].line for _, problems in yamlpool.read_in_workers(reader_pid, named)}
    assert len(pids) == 2 and os.getpid() in pids


def test_what_only_a_worker_raises_is_raised_here(tmp_path: Path) -> None:
    with pytest.raises(ZeroDivisionError):
        yamlpool.read_in_workers(divide_in_a_worker, files(tmp_path))


def reader_pid(name: str, raw: bytes) -> yamlpool.Read:
    """Which process read the file, as a problem's line."""
    return [], [Problem(name, os.getpid(), "-", "read here")]


def divide_in_a_worker(name: str, raw: bytes) -> yamlpool.Read:
    if sys.argv[0].endswith("yamlworker.py"):
        raise ZeroDivisionError(name)
    return yamlread._read_file(name, raw)


def test_the_files_are_dealt_biggest_first_to_whoever_is_done_first() -> None:
    sizes = [500, 100, 900, 300, 300]
    assert yamlpool._shares(sizes, 1) == [[2, 1], [0, 3, 4]]  # a worker: 1,000; here: 1,100
    assert yamlpool._shares([100], 1) == [[0], []]  # one file: a worker's, here nothing to parse


def test_a_worker_counts_from_its_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlpool, "WORKER_START_BYTES", 1000)
    assert yamlpool._shares([500, 500, 500], 1) == [[2], [0, 1]]  # here first: the worker is still starting
    assert yamlpool._shares([100], 1) == [[], [0]]  # read here: no worker is started for nothing
