#!/usr/bin/env bash
# Installs the outside components the probe, load, notify and fault tests
# run against: Debian's prometheus, prometheus-pushgateway, redis-server,
# redis-tools, nginx, postgresql, etcd-server and etcd-client. The tests start their own instances on loopback, on ports
# they pick, with temporary data directories; the packages' own services are
# not started. The tests skip without these programs, or fail with
# CHAOS_REQUIRE_COMPONENTS=1.
set -euo pipefail

missing=()
command -v prometheus >/dev/null 2>&1 || missing+=(prometheus)
command -v prometheus-pushgateway >/dev/null 2>&1 || missing+=(prometheus-pushgateway)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || missing+=(postgresql)
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "components: missing ${missing[*]}: install them (Debian: apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "components: installing ${missing[*]}" >&2
# Keep the packages from starting their services: the tests run their own.
policy=/usr/sbin/policy-rc.d
made_policy=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	made_policy=1
fi
cleanup() { if [ -n "$made_policy" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
