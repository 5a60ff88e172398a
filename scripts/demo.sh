#!/usr/bin/env bash
# Builds chaos and the example targets, then runs the demo experiment.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin .chaos
CGO_ENABLED=0 go build -o bin/ ./cmd/chaos ./examples/targets/...
exec ./bin/chaos run "$@" experiments/process-stop.yaml
