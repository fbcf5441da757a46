#!/usr/bin/env bash
# The main job end to end on a fresh machine: scaffold a project with `mlops init`, then run the
# generated project's own lint and tests (Pulumi mocks and moto; no cloud account needed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh dev
DEST="${1:-$ROOT/build/demo/churn-model}"
mkdir -p "$(dirname "$DEST")"

echo "== mlops init"
# Re-running refreshes the template's files in place; --force never deletes anything.
mlops init churn-model --dest "$DEST" --no-input --force
echo "== generated project: ruff + tests"
cd "$DEST"
ruff check .
python -m pytest -q -p no:cacheprovider
