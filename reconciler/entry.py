"""The console script's entry: a module that imports nothing heavy, so that Ctrl-C while the rest
of the tool loads (pydantic, rich, requests take a noticeable moment) ends quietly with exit 130
instead of a traceback."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

INTERRUPTED = 130  # as errors.ExitCode.INTERRUPTED, which cannot be imported before the interrupt is caught


def main() -> None:
    try:
        from reconciler.cli import main as run

        run()  # it says its own interruptions; this catches one while it loads or says an error
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        sys.exit(INTERRUPTED)
    except SystemExit as done:  # how every command ends
        _exit_now(done)


def _exit_now(done: SystemExit) -> NoReturn:
    """Ends the process with `done`'s code once all it printed is written, without tearing the
    interpreter down: a plan of 10,000 schedules leaves millions of objects that exit would free one
    by one, a tenth of a second with nothing left to do (issue 22; mypy ends the same way). Every
    thread doing work was joined by the command; what is left are idle daemons. If the output cannot
    be written, the usual exit happens, and says so as it always has."""
    if not isinstance(done.code, int):  # None or a message: Python's own handling
        raise done
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:  # None: the process was started with that descriptor closed
                stream.flush()
    except (OSError, ValueError):
        raise done from None
    os._exit(done.code)
