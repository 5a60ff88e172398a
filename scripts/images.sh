#!/usr/bin/env bash
# Builds the demo shop's images offline: chaos-demo-shop:latest and
# chaos-demo-payment:latest, FROM scratch, each holding one static binary.
# Usage: scripts/images.sh [TAG]   (default tag: latest)
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-latest}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
for svc in shop payment; do
	mkdir -p "$ctx/$svc"
	CGO_ENABLED=0 go build -o "$ctx/$svc/$svc" "./examples/targets/$svc"
	cp "examples/targets/$svc/Dockerfile" "$ctx/$svc/Dockerfile"
	# The classic builder needs nothing but the daemon; FROM scratch pulls nothing.
	DOCKER_BUILDKIT=0 docker build --quiet --label chaos.demo=black-friday -t "chaos-demo-$svc:$tag" "$ctx/$svc" >/dev/null 2>"$ctx/build.log" || {
		cat "$ctx/build.log" >&2
		exit 1
	}
	echo "built chaos-demo-$svc:$tag"
done
