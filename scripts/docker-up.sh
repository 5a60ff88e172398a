#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine: installs Debian's
# docker.io when there is no dockerd, starts dockerd in the background when
# nothing listens on the socket, and waits for it. Needs root for both.
set -euo pipefail

sock=/var/run/docker.sock
if [ -S "$sock" ] && docker version >/dev/null 2>&1; then
	exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
	echo "docker-up: installing docker.io" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq docker.io >/dev/null
fi
if ! [ -S "$sock" ] || ! docker version >/dev/null 2>&1; then
	echo "docker-up: starting dockerd" >&2
	nohup dockerd >/tmp/dockerd.log 2>&1 &
fi
for _ in $(seq 1 60); do
	if [ -S "$sock" ] && docker version >/dev/null 2>&1; then
		echo "docker-up: dockerd answers on $sock" >&2
		exit 0
	fi
	sleep 1
done
echo "docker-up: dockerd did not come up; its log:" >&2
tail -n 30 /tmp/dockerd.log >&2 || true
exit 1
