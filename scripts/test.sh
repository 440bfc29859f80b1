#!/usr/bin/env bash
# The README's second command (and what .ci/run calls): install with dev tools, lint, type-check,
# package, test.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip 2> >(grep -v 'is ignored: it is neither' >&2)
.venv/bin/python -m pip install --quiet -e '.[dev]' 2> >(grep -v 'is ignored: it is neither' >&2)
echo "== ruff";  .venv/bin/ruff check . && .venv/bin/ruff format --check --quiet .
echo "== size"   # no module of the package over 400 lines: split it by what it holds
if long=$(find reconciler -name "*.py" -exec wc -l {} + | awk '$2 != "total" && $1 > 400') && [ -n "$long" ]; then
  echo "modules over 400 lines:" >&2; echo "$long" >&2; exit 1
fi
echo "== mypy";  .venv/bin/mypy
echo "== imports"
if ! contracts=$(.venv/bin/lint-imports --no-cache 2>&1); then echo "$contracts" >&2; exit 1; fi
grep -E " (KEPT|BROKEN)$" <<< "$contracts"
if [ -d .github/workflows ]; then
  echo "== workflows"; bash scripts/lint-workflows.sh
fi

# The release as a user gets it: sdist, then the wheel built from that sdist (so a file the sdist
# leaves out fails here), twine's checks, and the wheel installed into a fresh venv outside the
# tree and run from a directory with no reconciler/ or schedules/ to fall back on.
echo "== package"
pkg="$(mktemp -d "${TMPDIR:-/tmp}/holistics-package-XXXXXX")"
trap 'rm -rf "$pkg"' EXIT
if ! .venv/bin/python -m build --outdir "$pkg/dist" . > "$pkg/build.log" 2>&1; then
  cat "$pkg/build.log" >&2; exit 1
fi
COLUMNS=200 .venv/bin/twine --no-color check --strict "$pkg"/dist/*
python3 -m venv "$pkg/venv"
"$pkg/venv/bin/python" -m pip install --quiet "$pkg"/dist/*.whl 2> >(grep -v 'is ignored: it is neither' >&2)
mkdir "$pkg/elsewhere"
source_version=$(.venv/bin/python -c 'import reconciler; print(reconciler.__version__)')
(
  cd "$pkg/elsewhere"
  unset PYTHONPATH
  export NO_COLOR=1
  printed=$("$pkg/venv/bin/holistics-schedules" --version)
  installed=$("$pkg/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("holistics-schedules"))')
  echo "$printed (wheel metadata $installed, source $source_version)"
  if [ "$printed" != "holistics-schedules, version $source_version" ] || [ "$installed" != "$source_version" ]; then
    echo "package: the installed tool's version differs from reconciler.__version__" >&2; exit 1
  fi
  if ! "$pkg/venv/bin/holistics-schedules" demo > demo.log 2>&1 \
    || ! grep -q "Demo complete" demo.log || ! grep -qF "($pkg/venv/lib/" demo.log; then
    cat demo.log >&2; echo "package: the installed demo failed or did not run the packaged example" >&2; exit 1
  fi
  echo "installed demo: $(grep -c '^\$ holistics-schedules' demo.log) steps, example from the wheel"
)
rm -rf "$pkg"; trap - EXIT

echo "== pytest"
exec .venv/bin/pytest -n 2 -p no:cacheprovider "$@"
