#!/usr/bin/env bash
# Measures the network faults (package network) side by side with the same
# traffic without them, in two network namespaces of its own joined by a
# veth pair, and times faults going into and out of a container FROM
# scratch on the Docker engine: latency accuracy, loss accuracy, a TCP
# stream through the packet queue and through the intercept, the CPU the
# queue costs at a few packet rates, whether a fault reaches an open
# keep-alive connection and whether removing it ever resets one. Comparisons take turns, ROUNDS of each; figures are medians.
# Needs root; without a Docker engine the container figures are left out.
#
#   sudo bench/network/run.sh
#   ROUNDS=7 SECS=3s bench/network/run.sh
#   ONLY=queue bench/network/run.sh     only the measurements so named
#   CC=cubic bench/network/run.sh       the streams' TCP congestion control
set -euo pipefail

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-3s}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
ID=netbench-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
CONTAINER=
cleanup() {
	if [[ -n $CONTAINER ]]; then
		docker rm -f "$CONTAINER" >/dev/null 2>&1 || true
		docker rmi "chaos-$ID" >/dev/null 2>&1 || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || { echo "network faults need root" >&2; exit 1; }
(cd "$ROOT" && CGO_ENABLED=0 go build -o "$TMP/netbench" ./bench/network)

PID=0
if docker info >/dev/null 2>&1; then
	# An image FROM scratch holding this program, which only waits.
	mkdir "$TMP/img"
	cp "$TMP/netbench" "$TMP/img/"
	printf 'FROM scratch\nCOPY netbench /netbench\nENTRYPOINT ["/netbench", "idle"]\n' >"$TMP/img/Dockerfile"
	docker build -q -t "chaos-$ID" "$TMP/img" >/dev/null 2>"$TMP/build.err" || { cat "$TMP/build.err" >&2; exit 1; }
	CONTAINER=chaos-$ID
	docker run -d --name "$CONTAINER" "chaos-$ID" >/dev/null
	PID=$(docker inspect -f '{{.State.Pid}}' "$CONTAINER")
else
	echo "no Docker engine: leaving out the container figures" >&2
fi

"$TMP/netbench" run -rounds "$ROUNDS" -secs "$SECS" -pid "$PID" ${ONLY:+-only "$ONLY"} ${CC:+-cc "$CC"}
