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
# With uv, the venv gets no pip of its own (ensurepip is most of `python -m venv`'s seconds):
# the caller's pip puts uv in it (`pip --python`, pip 22.3+). pip is added when it is needed.
if [ ! -x "$VENV/bin/python" ]; then
  if [ "$INSTALLER" = uv ]; then "$PYTHON" -m venv --without-pip "$VENV"; else "$PYTHON" -m venv "$VENV"; fi
fi
spec="$ROOT"
[ -n "$EXTRAS" ] && spec="$ROOT[$EXTRAS]"
log="$VENV/install.log"
: >"$log"
venv_pip() {  # the venv's own pip, installed on first need
  "$VENV/bin/python" -m pip --version >/dev/null 2>&1 || "$VENV/bin/python" -m ensurepip >>"$log" 2>&1  # (ensurepip has no -q)
  "$VENV/bin/python" -m pip "$@"
}
if [ "$INSTALLER" = uv ] && [ ! -x "$VENV/bin/uv" ]; then
  "$PYTHON" -m pip --python "$VENV/bin/python" install --disable-pip-version-check -q "uv>=0.5,<1" \
    >>"$log" 2>&1 \
    || venv_pip install --disable-pip-version-check -q "uv>=0.5,<1" >>"$log" 2>&1 \
    || echo "note: uv could not be installed; falling back to pip (slower)" >&2
fi
echo "installing mlops-stack${EXTRAS:+[$EXTRAS]} into $VENV ..."
if [ "$INSTALLER" = uv ] && [ -x "$VENV/bin/uv" ]; then
  install=("$VENV/bin/uv" pip install --python "$VENV/bin/python" -e "$spec")
else
  install=(venv_pip install --disable-pip-version-check -q -e "$spec")
fi
if ! "${install[@]}" >>"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "error: installing failed; full log: $log" >&2
  exit 1
fi
# Bytecode at install, for what runs: without it every start with PYTHONDONTWRITEBYTECODE=1
# compiles from source (`mlops --help` 0.45 s instead of 0.22 s). Not uv's --compile-bytecode:
# it compiles all of pulumi_aws's thousands of modules (+15 s on a fresh clone) where the
# stacks import a dozen.
# So: the checkout (not the packs' files/, copied into projects as they are), then one import
# of every command and of the provider modules the programs use, and `mlops --help` (its
# rendering imports more), which write the bytecode of what runs. A failure here costs speed
# only, never the install.
"$VENV/bin/python" -m compileall -q -j 0 -x '/files/' "$ROOT/cli" "$ROOT/composition" "$ROOT/core" \
  "$ROOT/infra" "$ROOT/pipelines" "$ROOT/templates" >>"$log" 2>&1 || true
# (PYTHONDONTWRITEBYTECODE may be set in the caller's environment: not for these.)
# Two warm-ups side by side, one per core (each compiles what it imports, single-threaded): the
# tool's path, then `mlops --help` and a preview; and the runtime's path (the model server, the
# trainer, drift, the embedded AWS endpoint). A module both import is written by both, each
# write atomic (py_compile replaces the file), so the result is the same either way.
warm_up() {  # $1: which path's modules to import
  env -u PYTHONDONTWRITEBYTECODE MLOPS_WARM="$1" \
    MLOPS_WARM_K8S="$([ "$EXTRAS" = local ] && echo 0 || echo 1)" \
    "$VENV/bin/python" - <<'PY'
import importlib, os, pkgutil
if os.environ["MLOPS_WARM"] == "tool":
    import mlops.cli.commands as commands
    from mlops.composition.preview import AWS_MODULES, K8S_MODULES
    names = [f"mlops.cli.commands.{m.name}" for m in pkgutil.iter_modules(commands.__path__)]
    # The demo's install (`local`) runs the AWS flavour only: the Kubernetes provider's modules
    # (7 MB of source) are compiled for the other installs.
    k8s = [*K8S_MODULES] if os.environ.get("MLOPS_WARM_K8S") != "0" else []
    names += ["mlops.cli.main", "mlops.infra.aws", "mlops.composition.preview",
              "mlops.composition.run", "mlops.composition.lifecycle", *AWS_MODULES, *k8s]
else:  # the model server's and the trainer's path (`make serve`, `mlops serve`, the demo)
    names = ["mlops.pipelines.container", "mlops.pipelines.serving", "mlops.pipelines.drift",
             "mlops.pipelines.uvicorn_server", "uvicorn", "scipy.stats", "pyarrow.parquet",
             "sklearn.linear_model", "sklearn.preprocessing", "sklearn.pipeline",
             "sklearn.metrics", "joblib", "boto3", "moto.server"]
for name in names:  # pulumi_aws's service packages are lean: the previews below load their part
    try:
        importlib.import_module(name)
    except Exception as exc:  # an optional extra missing: that module just compiles later
        print(f"warm-up: {name}: {exc}")
PY
}
warm="$(mktemp -d)"
warm_up runtime >"$warm/runtime.log" 2>&1 &
runtime_pid=$!
{
  warm_up tool
  env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/mlops" --help >/dev/null || true
  # A stack evaluated once under the mock runtime imports the rest of what preview and local up
  # run (Pulumi's runtime, the components, the policy pack, and the pulumi_aws resource modules
  # the stacks use: only those, not whole service packages), in a project that is thrown away.
  # The generated stacks (dev, staging, prod, local) all import the same modules: one is enough.
  # It names the package index as its mlops-stack source: from a checkout, init would first build
  # a wheel of it for the project's wheels/ (1.3 s on a fresh machine), which no preview reads.
  env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/mlops" init warm-up --no-input --no-git \
    --mlops-source index --dest "$warm/warm-up" \
    && env -u PYTHONDONTWRITEBYTECODE "$VENV/bin/mlops" preview --stack prod --no-tree \
      --project "$warm/warm-up"
} >>"$log" 2>&1 || true
wait "$runtime_pid" || true  # our own child, started above
cat "$warm/runtime.log" >>"$log"
rm -rf "$warm"
export PATH="$VENV/bin:$PATH"
unset -f warm_up
