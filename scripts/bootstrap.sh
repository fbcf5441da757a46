#!/usr/bin/env bash
# Create .venv (if needed) and install mlops-stack into it, editable, with the given extras.
# Sourced by scripts/demo.sh and scripts/test.sh; pip's chatter goes to .venv/install.log.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MLOPS_VENV:-$ROOT/.venv}"
EXTRAS="${1:-}"
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "error: mlops-stack needs Python 3.11 or newer ($PYTHON is $("$PYTHON" --version 2>&1))" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
spec="$ROOT"
[ -n "$EXTRAS" ] && spec="$ROOT[$EXTRAS]"
echo "installing mlops-stack${EXTRAS:+[$EXTRAS]} into $VENV ..."
if ! "$VENV/bin/python" -m pip install --disable-pip-version-check -q -e "$spec" >"$VENV/install.log" 2>&1; then
  tail -n 30 "$VENV/install.log" >&2
  echo "error: pip install failed; full log: $VENV/install.log" >&2
  exit 1
fi
export PATH="$VENV/bin:$PATH"
