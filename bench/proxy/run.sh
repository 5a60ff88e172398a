#!/usr/bin/env bash
# Measures the fault proxy against a direct connection and Toxiproxy v2.12.0:
# HTTP keep-alive req/s at 50 connections (wrk; also through the proxy with
# protocol: http, which parses every message), one raw TCP stream (MiB/s),
# the latency a 10 ms latency fault adds (p50 at 1 connection, p99 at 50),
# and 10 proxies in one process (Toxiproxy's API) against 1 proxy and
# against Toxiproxy with 10 proxies, under 10 wrk processes of 5 connections.
# Each figure is the median of RUNS runs of SECS seconds.
#
#   bench/proxy/run.sh            # from the repository root
#   RUNS=3 SECS=5 bench/proxy/run.sh
set -euo pipefail

RUNS=${RUNS:-3}
SECS=${SECS:-5}
LSECS=${LSECS:-3}
BASE=${BASE:-$((20000 + RANDOM % 10000))}  # below the ephemeral port range
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TMP=$(mktemp -d)
PIDS=()
cleanup() {
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

command -v wrk >/dev/null || { echo "wrk not found (apt-get install wrk)" >&2; exit 1; }
(cd "$ROOT" && go build -o "$TMP/pb" ./bench/proxy)

port() { echo $((BASE + $1)); }
SERVER=127.0.0.1:$(port 0)
SINK=127.0.0.1:$(port 1)
OURS=127.0.0.1:$(port 2)
OURS_SINK=127.0.0.1:$(port 3)
OURS_LAT=127.0.0.1:$(port 4)
TOXI_API=$(port 5)
TOXI=127.0.0.1:$(port 6)
TOXI_SINK=127.0.0.1:$(port 7)
TOXI_LAT=127.0.0.1:$(port 8)
OURS_HTTP=127.0.0.1:$(port 9)
OURS_API=$(port 10)
OURS10=() TOXI10=()
for i in $(seq 0 9); do
	OURS10+=("127.0.0.1:$(port $((11 + i)))")
	TOXI10+=("127.0.0.1:$(port $((21 + i)))")
done

start() { "$@" & PIDS+=($!); }
start "$TMP/pb" server -listen "$SERVER"
start "$TMP/pb" sink -listen "$SINK"
start "$TMP/pb" proxy -listen "$OURS" -upstream "$SERVER"
OURS_PID=${PIDS[-1]}
start "$TMP/pb" proxy -listen "$OURS_SINK" -upstream "$SINK"
start "$TMP/pb" proxy -listen "$OURS_LAT" -upstream "$SERVER" -latency 10ms
start "$TMP/pb" proxy -listen "$OURS_HTTP" -upstream "$SERVER" -protocol http
OURS_HTTP_PID=${PIDS[-1]}
start "$TMP/pb" toxiproxy -listen "127.0.0.1:$OURS_API"
OURS10_PID=${PIDS[-1]}

TOXIPROXY=yes
if [[ -x ${TOXIPROXY_BIN:-} ]]; then
	start "$TOXIPROXY_BIN" -host 127.0.0.1 -port "$TOXI_API" >/dev/null 2>&1
	TOXI_PID=${PIDS[-1]}
else
	# Built outside this module (as "go run ...@v2.12.0" would), so that
	# Toxiproxy never enters go.mod; installed rather than run so that
	# killing it kills the server, not a go command wrapping it.
	(cd "$TMP" && GOBIN="$TMP" go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0) || TOXIPROXY=no
	if [[ $TOXIPROXY == yes ]]; then
		start "$TMP/server" -host 127.0.0.1 -port "$TOXI_API" >/dev/null 2>&1
		TOXI_PID=${PIDS[-1]}
	else
		echo "could not build Toxiproxy v2.12.0; measuring direct and this proxy only" >&2
	fi
fi

wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	exit 1
}
for a in "$SERVER" "$SINK" "$OURS" "$OURS_SINK" "$OURS_LAT" "$OURS_HTTP" "127.0.0.1:$OURS_API"; do wait_port "$a"; done
# api PORT PATH JSON posts to a Toxiproxy API (Toxiproxy's or ours).
api() { curl -fsS -X POST "http://127.0.0.1:$1$2" -H 'Content-Type: application/json' -d "$3" >/dev/null; }
for i in $(seq 0 9); do
	api "$OURS_API" /proxies "{\"name\":\"p$i\",\"listen\":\"${OURS10[$i]}\",\"upstream\":\"$SERVER\"}"
done
if [[ $TOXIPROXY == yes ]]; then
	wait_port "127.0.0.1:$TOXI_API"
	api "$TOXI_API" /proxies "{\"name\":\"http\",\"listen\":\"$TOXI\",\"upstream\":\"$SERVER\"}"
	api "$TOXI_API" /proxies "{\"name\":\"sink\",\"listen\":\"$TOXI_SINK\",\"upstream\":\"$SINK\"}"
	api "$TOXI_API" /proxies "{\"name\":\"lat\",\"listen\":\"$TOXI_LAT\",\"upstream\":\"$SERVER\"}"
	api "$TOXI_API" /proxies/lat/toxics '{"type":"latency","stream":"downstream","attributes":{"latency":10}}'
	for i in $(seq 0 9); do
		api "$TOXI_API" /proxies "{\"name\":\"p$i\",\"listen\":\"${TOXI10[$i]}\",\"upstream\":\"$SERVER\"}"
	done
fi

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# wrk's latency in ms, from a line such as "    50%  312.00us".
to_ms() { awk -v p="$1%" '$1==p {v=$2; u=v; sub(/[0-9.]+/,"",u); sub(/[a-z]+$/,"",v);
	m = (u=="us") ? v/1000 : (u=="s") ? v*1000 : (u=="m") ? v*60000 : v; printf "%.3f\n", m}'; }
lat() { for _ in $(seq "$RUNS"); do wrk -t1 -c"$2" -d"${LSECS}s" --latency "http://$1/" | to_ms "$3"; done | median; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
# One wrk run against $2, appending its req/s to $TMP/$1.rps and, given the
# pid of the proxy in between ($3), that process's CPU time per request in
# microseconds to $TMP/$1.cpu.
wrk_run() {
	local t0 out n
	[[ -n ${3:-} ]] && t0=$(ticks "$3")
	out=$(wrk -t2 -c50 -d"${SECS}s" "http://$2/")
	awk '/Requests\/sec/ {print $2}' <<<"$out" >>"$TMP/$1.rps"
	if [[ -n ${3:-} ]]; then
		n=$(awk '/requests in/ {print $1}' <<<"$out")
		awk -v t=$(($(ticks "$3") - t0)) -v n="$n" -v hz="$HZ" 'BEGIN {printf "%.1f\n", t * 1e6 / hz / n}' >>"$TMP/$1.cpu"
	fi
}
# wrk10 NAME PID ADDR... runs one wrk of 5 connections against each of the
# 10 addresses at once (an address may repeat), appending the summed req/s
# to $TMP/NAME.rps and, given a pid, its CPU time per request to
# $TMP/NAME.cpu.
wrk10() {
	local name=$1 pid=$2 t0 i=0 wrks=()
	shift 2
	[[ -n $pid ]] && t0=$(ticks "$pid")
	for a in "$@"; do
		wrk -t1 -c5 -d"${SECS}s" "http://$a/" >"$TMP/w$i.out" &
		wrks+=($!)
		i=$((i + 1))
	done
	wait "${wrks[@]}"
	cat "$TMP"/w*.out | awk '/Requests\/sec/ {s += $2} END {printf "%.2f\n", s}' >>"$TMP/$name.rps"
	if [[ -n $pid ]]; then
		local n
		n=$(cat "$TMP"/w*.out | awk '/requests in/ {s += $1} END {print s}')
		awk -v t=$(($(ticks "$pid") - t0)) -v n="$n" -v hz="$HZ" 'BEGIN {printf "%.1f\n", t * 1e6 / hz / n}' >>"$TMP/$name.cpu"
	fi
	rm -f "$TMP"/w*.out
}
stream_run() { "$TMP/pb" stream -addr "$2" -for "${SECS}s" >>"$TMP/$1.mib"; }
med() { if [[ -s $TMP/$1 ]]; then median <"$TMP/$1"; else echo -; fi; }

echo "measuring: $RUNS x ${SECS}s per figure (latency: $RUNS x ${LSECS}s) ..." >&2
# Throughput runs take turns, so that a slower spell of the machine does
# not fall on one side only.
for _ in $(seq "$RUNS"); do
	wrk_run d "$SERVER"
	wrk_run o "$OURS" "$OURS_PID"
	wrk_run oh "$OURS_HTTP" "$OURS_HTTP_PID"
	[[ $TOXIPROXY == yes ]] && wrk_run t "$TOXI" "$TOXI_PID"
	stream_run d "$SINK"
	stream_run o "$OURS_SINK"
	[[ $TOXIPROXY == yes ]] && stream_run t "$TOXI_SINK"
	wrk10 d10 "" $(for _ in $(seq 10); do echo "$SERVER"; done)
	wrk10 o1x10 "$OURS_PID" $(for _ in $(seq 10); do echo "$OURS"; done)
	wrk10 o10 "$OURS10_PID" "${OURS10[@]}"
	[[ $TOXIPROXY == yes ]] && wrk10 t10 "$TOXI_PID" "${TOXI10[@]}"
done
D10_RPS=$(med d10.rps) O1X10_RPS=$(med o1x10.rps) O10_RPS=$(med o10.rps) T10_RPS=$(med t10.rps)
O1X10_CPU=$(med o1x10.cpu) O10_CPU=$(med o10.cpu) T10_CPU=$(med t10.cpu)
D_RPS=$(med d.rps) O_RPS=$(med o.rps) OH_RPS=$(med oh.rps) T_RPS=$(med t.rps)
O_CPU=$(med o.cpu) OH_CPU=$(med oh.cpu) T_CPU=$(med t.cpu)
D_MIB=$(med d.mib) O_MIB=$(med o.mib) T_MIB=$(med t.mib)
D_P50=$(lat "$SERVER" 1 50); O_P50=$(lat "$OURS" 1 50); OL_P50=$(lat "$OURS_LAT" 1 50)
D_P99=$(lat "$SERVER" 50 99); O_P99=$(lat "$OURS" 50 99); OL_P99=$(lat "$OURS_LAT" 50 99)
T_P50=- T_P99=- TL_P50=- TL_P99=-
if [[ $TOXIPROXY == yes ]]; then
	T_P50=$(lat "$TOXI" 1 50); TL_P50=$(lat "$TOXI_LAT" 1 50)
	T_P99=$(lat "$TOXI" 50 99); TL_P99=$(lat "$TOXI_LAT" 50 99)
fi

ratio() { [[ $2 == - || $1 == - ]] && echo - || awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2fx", a/b}'; }
printf '\n%-34s %12s %12s %12s %10s %10s\n' "" direct chaos toxiproxy chaos/dir chaos/toxi
printf '%-34s %12s %12s %12s %10s %10s\n' "HTTP req/s, 50 conns" "$D_RPS" "$O_RPS" "$T_RPS" "$(ratio "$O_RPS" "$D_RPS")" "$(ratio "$O_RPS" "$T_RPS")"
printf '%-34s %12s %12s %12s %10s\n' "  protocol: http" "" "$OH_RPS" "" "$(ratio "$OH_RPS" "$D_RPS")"
printf '%-34s %12s %12s %12s %10s %10s\n' "proxy CPU us per request" "" "$O_CPU" "$T_CPU" "" "$(ratio "$O_CPU" "$T_CPU")"
printf '%-34s %12s %12s %12s\n' "  protocol: http" "" "$OH_CPU" ""
printf '%-34s %12s %12s %12s %10s %10s\n' "raw TCP stream MiB/s" "$D_MIB" "$O_MIB" "$T_MIB" "$(ratio "$O_MIB" "$D_MIB")" "$(ratio "$O_MIB" "$T_MIB")"
printf '%-34s %12s %12s %12s %10s\n' "HTTP req/s, 10 wrk x 5 conns" "$D10_RPS" "$O1X10_RPS" "" "$(ratio "$O1X10_RPS" "$D10_RPS")"
printf '%-34s %12s %12s %12s %10s %10s\n' "  10 proxies in one process" "" "$O10_RPS" "$T10_RPS" "$(ratio "$O10_RPS" "$D10_RPS")" "$(ratio "$O10_RPS" "$T10_RPS")"
printf '%-34s %12s %12s %12s %10s\n' "  10 proxies / 1 proxy" "" "$(ratio "$O10_RPS" "$O1X10_RPS")" "" ""
printf '%-34s %12s %12s %12s %10s %10s\n' "  proxy CPU us per request, 1 / 10" "" "$O1X10_CPU / $O10_CPU" "$T10_CPU" "" "$(ratio "$O10_CPU" "$T10_CPU")"
printf '%-34s %12s %12s %12s\n' "p50 ms, 1 conn, no fault" "$D_P50" "$O_P50" "$T_P50"
printf '%-34s %12s %12s %12s\n' "p50 ms, 1 conn, 10ms latency" "" "$OL_P50" "$TL_P50"
printf '%-34s %12s %12s %12s\n' "  added over no fault (want 10+-0.3)" "" \
	"$(awk -v a="$OL_P50" -v b="$O_P50" 'BEGIN {printf "%.3f", a-b}')" \
	"$([[ $TOXIPROXY == yes ]] && awk -v a="$TL_P50" -v b="$T_P50" 'BEGIN {printf "%.3f", a-b}' || echo -)"
printf '%-34s %12s %12s %12s\n' "p99 ms, 50 conns, no fault" "$D_P99" "$O_P99" "$T_P99"
printf '%-34s %12s %12s %12s\n' "p99 ms, 50 conns, 10ms latency" "" "$OL_P99" "$TL_P99"
printf '%-34s %12s %12s %12s\n' "  added over no fault (want <= 11)" "" \
	"$(awk -v a="$OL_P99" -v b="$O_P99" 'BEGIN {printf "%.3f", a-b}')" \
	"$([[ $TOXIPROXY == yes ]] && awk -v a="$TL_P99" -v b="$T_P99" 'BEGIN {printf "%.3f", a-b}' || echo -)"
