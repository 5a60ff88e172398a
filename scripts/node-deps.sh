#!/usr/bin/env bash
# Installs the npm packages the tests use (the Toxiproxy Node client in
# cmd/chaos/testdata/toxiproxy-node) from their committed package-lock.json.
# The tests skip without them, or fail with CHAOS_REQUIRE_NODE=1.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
	else
		echo "node-deps: npm not found: install Node.js 18 or newer" >&2
		exit 1
	fi
fi
npm ci --prefix cmd/chaos/testdata/toxiproxy-node --no-audit --no-fund --silent
