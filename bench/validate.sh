#!/usr/bin/env bash
# Measures `chaos validate` on one experiment, process start included, and
# `chaos version` in the same run as the baseline of starting the binary.
# Prints the medians of 50 runs each, in milliseconds.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
CGO_ENABLED=0 go build -o bin/chaos ./cmd/chaos
file=${1:-experiments/process-stop.yaml}

median() {
	sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
measure() {
	for _ in $(seq 1 50); do
		s=$(date +%s%N)
		"$@" >/dev/null
		e=$(date +%s%N)
		echo $(( (e - s) / 1000 ))
	done | median
}
base=$(measure bin/chaos version)
val=$(measure bin/chaos validate "$file")
awk -v b="$base" -v v="$val" 'BEGIN {
	printf "chaos version (process start)  %7.2f ms\n", b/1000
	printf "chaos validate %-16s%7.2f ms  (%.2fx the start; target < 30 ms)\n", "", v/1000, v/b
}'
