#!/usr/bin/env bash
# The README's first command: install into a local venv and run the offline demo (no account needed).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip 2> >(grep -v 'is ignored: it is neither' >&2)
.venv/bin/python -m pip install --quiet . 2> >(grep -v 'is ignored: it is neither' >&2)
exec .venv/bin/holistics-schedules demo
