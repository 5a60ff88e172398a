#!/bin/sh
# Runs the side-by-side benchmarks of package resilience, sony/gobreaker
# and failsafe-go, keeps the raw output in bench.txt, and prints the table
# of medians and ratios. Extra arguments go to go test, e.g. -benchtime 200ms.
set -eu
cd "$(dirname "$0")"
go test -run '^$' -bench . -benchmem -count 5 -cpu 1,2 "$@" . | tee bench.txt
echo
go run ./cmd/benchratio < bench.txt
