#!/usr/bin/env bash
# Runs the whole test suite with the race detector. Tests that need a Docker
# engine skip when none answers (set CHAOS_REQUIRE_DOCKER=1 to make that a
# failure; scripts/docker-up.sh starts one).
set -euo pipefail
cd "$(dirname "$0")/.."

# The race detector needs cgo, and cgo a C compiler.
if ! command -v gcc >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
	else
		echo "test: the race detector needs gcc: apt-get install gcc" >&2
		exit 1
	fi
fi
export CGO_ENABLED=1
# One package at a time: the truth tables judge services by their latency
# under faults, and the load tests a sender's rate; a second package's
# tests on the same two cores would be judged with them.
go test -race -p 1 -timeout 40m ./... "$@"
