"""The console script's entry: a module that imports nothing heavy, so that Ctrl-C while the rest
of the tool loads (pydantic, rich, requests take a noticeable moment) ends quietly with exit 130
instead of a traceback."""

from __future__ import annotations

import sys

INTERRUPTED = 130  # as errors.ExitCode.INTERRUPTED, which cannot be imported before the interrupt is caught


def main() -> None:
    try:
        from reconciler.cli import main as run

        run()  # it says its own interruptions; this catches one while it loads or says an error
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted\n")
        sys.exit(INTERRUPTED)
