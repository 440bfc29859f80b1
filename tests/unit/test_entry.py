"""The console script's entry ends the process without tearing the interpreter down (issue 22), and
still with every byte printed and the command's exit code."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

COMMAND = """
import atexit, sys
import reconciler.cli
def command():
    atexit.register(lambda: sys.stderr.write("torn down"))
    sys.stdout.write("x" * 1_000_000)  # more than a pipe holds: written out before the exit
    sys.exit(CODE)
reconciler.cli.main = command
from reconciler.entry import main
main()
"""


def _run(code: str) -> subprocess.CompletedProcess[bytes]:
    script = COMMAND.replace("CODE", code)
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=60, check=False)


def test_every_byte_and_the_exit_code_arrive_without_a_teardown() -> None:
    done = _run("2")
    assert done.returncode == 2
    assert done.stdout == b"x" * 1_000_000
    assert b"torn down" not in done.stderr  # exit handlers are part of the teardown skipped


def test_an_exit_with_a_message_ends_as_python_ends_it() -> None:
    done = _run("'Error: no'")
    assert done.returncode == 1
    assert b"Error: no" in done.stderr
    assert b"torn down" in done.stderr  # the usual exit, handlers and all


@pytest.mark.parametrize("closed", [1, 2], ids=["stdout", "stderr"])
def test_a_descriptor_closed_from_the_start_keeps_the_exit_code(closed: int) -> None:
    """Started with `>&-` (Python then has no sys.stdout): the code is still the command's (a hostile run
    found `plan --detailed-exitcode` saying 1, an error, where it meant 2, changes)."""
    lines = ["import sys, reconciler.cli", "reconciler.cli.main = lambda: sys.exit(2)"]
    script = "\n".join([*lines, "from reconciler.entry import main", "main()"])
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, timeout=60, check=False, preexec_fn=lambda: os.close(closed)
    )
    assert done.returncode == 2
