#!/usr/bin/env bash
# Create .venv (if needed) and install mlops-stack into it, editable, with the given extras.
# Sourced by scripts/demo.sh and scripts/test.sh; the installer's chatter goes to
# .venv/install.log. uv installs in seconds where pip takes a minute or more (bench/bench_setup.py
# measures both); pip is the fallback when uv cannot be had, and MLOPS_INSTALLER=pip forces it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLOPS_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
PYTHON="${PYTHON:-python3}"
INSTALLER="${MLOPS_INSTALLER:-uv}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: mlops-stack needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
spec="$ROOT"
[ -n "$EXTRAS" ] && spec="$ROOT[$EXTRAS]"
log="$VENV/install.log"
if [ "$INSTALLER" = uv ] && [ ! -x "$VENV/bin/uv" ]; then
  "$VENV/bin/python" -m pip install --disable-pip-version-check -q "uv>=0.5,<1" >"$log" 2>&1 \
    || echo "note: uv could not be installed; falling back to pip (slower)" >&2
fi
echo "installing mlops-stack${EXTRAS:+[$EXTRAS]} into $VENV ..."
if [ "$INSTALLER" = uv ] && [ -x "$VENV/bin/uv" ]; then
  # uv writes no bytecode unless asked; without it every first import compiles from source
  # (`mlops --help` 0.45 s instead of 0.22 s with PYTHONDONTWRITEBYTECODE=1). pip compiles already.
  install=("$VENV/bin/uv" pip install --compile-bytecode --python "$VENV/bin/python" -e "$spec")
else
  install=("$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$spec")
fi
if ! "${install[@]}" >>"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "error: installing failed; full log: $log" >&2
  exit 1
fi
# The checkout itself is installed editable: compile it too (quietly, in place, as pip would),
# but not the packs' files/ trees, which are copied into projects as they are.
"$VENV/bin/python" -m compileall -q -j 0 -x '/files/' "$ROOT/cli" "$ROOT/composition" "$ROOT/core" \
  "$ROOT/infra" "$ROOT/pipelines" "$ROOT/templates" >>"$log" 2>&1 || true
export PATH="$VENV/bin:$PATH"
