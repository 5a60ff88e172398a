#!/usr/bin/env bash
# Measures the resource faults against containers of the local Docker
# engine, with the chaos binary built from this checkout as the worker:
# asked against measured CPU share (1 and 2 workers and loads, with and
# without a CPU quota), memory added to a container's usage, free space a
# disk fill leaves, and the time to apply and revert each fault next to
# two baselines. Needs root (the workers join the containers' cgroups) and
# a Docker engine on this host; prints Markdown.
#
#   bench/resource/run.sh                  # from the repository root
#   RUNS=5 SECS=5 ITERS=20 bench/resource/run.sh
#   ONLY=cpu bench/resource/run.sh      # one section: cpu, memory, disk, timings
set -euo pipefail

RUNS=${RUNS:-3}
SECS=${SECS:-5}
ITERS=${ITERS:-10}
ONLY=${ONLY:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
IMAGE=chaos-bench-resource:$$
cleanup() {
	docker image rm -f "$IMAGE" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

(cd "$ROOT" && CGO_ENABLED=0 go build -o "$TMP/chaos" ./cmd/chaos && go build -o "$TMP/rb" ./bench/resource)
# A FROM-scratch image whose process idles: the resource package's test
# service, static, which burns CPU only when asked over HTTP.
mkdir "$TMP/img"
(cd "$ROOT/internal/inject/resource/testdata/spin" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false \
	go build -o "$TMP/img/spin" main.go)
printf 'FROM scratch\nCOPY spin /spin\nENTRYPOINT ["/spin", "-listen", "127.0.0.1:8080"]\n' >"$TMP/img/Dockerfile"
docker build -q -t "$IMAGE" "$TMP/img" >/dev/null

"$TMP/rb" -chaos "$TMP/chaos" -image "$IMAGE" -runs "$RUNS" -secs "$SECS" -iters "$ITERS" -only "$ONLY"
