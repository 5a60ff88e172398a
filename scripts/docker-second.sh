#!/usr/bin/env bash
# Starts a second Docker engine on this machine, beside the one
# scripts/docker-up.sh starts, for the tests of experiments that span
# several engines: its own socket (unix:///var/run/docker-b.sock), data
# root, exec root and pid file, and its own bridge, chaosb0 with
# 172.29.0.0/24, made here, so that it leaves the first engine's docker0
# and its iptables rules alone. Never start it with --bridge none, nor
# with --default-address-pool: either makes dockerd delete docker0, the
# first engine's bridge (the second when it finds its own default network
# from an earlier start). Needs root.
# Usage: scripts/docker-second.sh        (stop it: kill "$(cat /var/run/docker-b.pid)")
set -euo pipefail

sock=/var/run/docker-b.sock
host=unix://$sock
bridge=chaosb0
subnet_gw=172.29.0.1/24
log=/tmp/dockerd-b.log

if [ -S "$sock" ] && docker -H "$host" version >/dev/null 2>&1; then
	echo "docker-second: dockerd answers on $sock" >&2
	exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
	echo "docker-second: no dockerd: run scripts/docker-up.sh first" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "docker-second: needs root to start dockerd" >&2
	exit 1
fi
if ! command -v ip >/dev/null 2>&1; then
	echo "docker-second: installing iproute2" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq iproute2 >/dev/null
fi
if ! ip link show "$bridge" >/dev/null 2>&1; then
	ip link add "$bridge" type bridge
	ip addr add "$subnet_gw" dev "$bridge"
fi
ip link set "$bridge" up

mkdir -p /var/lib/docker-b /var/run/docker-b
echo "docker-second: starting dockerd on $sock" >&2
nohup dockerd \
	--host "$host" \
	--data-root /var/lib/docker-b \
	--exec-root /var/run/docker-b \
	--pidfile /var/run/docker-b.pid \
	--bridge "$bridge" \
	--iptables=false \
	--ip-masq=false \
	>"$log" 2>&1 &
for _ in $(seq 1 60); do
	if [ -S "$sock" ] && docker -H "$host" version >/dev/null 2>&1; then
		echo "docker-second: dockerd answers on $sock" >&2
		exit 0
	fi
	sleep 1
done
echo "docker-second: dockerd did not come up; its log:" >&2
tail -n 30 "$log" >&2 || true
exit 1
