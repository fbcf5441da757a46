#!/usr/bin/env bash
# The main job end to end on a fresh machine, on the embedded AWS endpoint (moto on 127.0.0.1):
# `mlops demo` scaffolds a project, brings local mode up, ingests, validates, trains, evaluates,
# registers, approves and deploys a model, sends normal then drifted traffic, measures drift and
# decides to retrain. It writes build/demo/report.json.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/bootstrap.sh local
mkdir -p build/demo
mlops demo --dir build/demo --report build/demo/report.json "$@"
