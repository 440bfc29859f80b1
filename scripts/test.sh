#!/usr/bin/env bash
# The README's second command (and what .ci/run calls): install with dev tools, lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip 2> >(grep -v 'is ignored: it is neither' >&2)
.venv/bin/python -m pip install --quiet -e '.[dev]' 2> >(grep -v 'is ignored: it is neither' >&2)
echo "== ruff";  .venv/bin/ruff check .
echo "== mypy";  .venv/bin/mypy
if [ -d .github/workflows ]; then
  echo "== workflows"; bash scripts/lint-workflows.sh
fi
echo "== pytest"
exec .venv/bin/pytest -n 2 -p no:cacheprovider "$@"
