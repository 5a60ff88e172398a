#!/bin/sh
# Runs the load-generator benchmark: chaos's internal/load against vegeta,
# both driving a local server in a separate process. Takes about 2 minutes.
# Flags are passed on, e.g. ./run.sh -steady 10s -heavy 5s
set -eu
cd "$(dirname "$0")"
bin="$(mktemp -d)/loadbench"
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" .
"$bin" "$@"
