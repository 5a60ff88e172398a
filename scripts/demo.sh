#!/usr/bin/env bash
# The Black Friday demo: builds chaos and the demo shop, then runs
# experiments/black-friday.yaml twice at once, against the naive shop and
# against the resilient one, and shows the two verdicts side by side.
# Extra arguments are passed to both runs (for example --var delay=5s).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "building chaos, shop and payment into ./bin ..."
mkdir -p bin
CGO_ENABLED=0 go build -o bin/ ./cmd/chaos ./examples/targets/shop ./examples/targets/payment

out=chaos-report/demo-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out/naive" "$out/resilient"
echo "running experiments/black-friday.yaml against both shops (about 30 s) ..."
# The two runs use separate ports so that they can run side by side. The
# services keep their databases in the temporary directory across
# restarts: each run's is its own report directory, so that every demo
# starts with no orders and no charges.
TMPDIR="$PWD/$out/naive" ./bin/chaos run --report-dir "$out/naive" --ledger "$out/naive/ledger" \
	--var mode=naive --var shop_port=18190 --var payment_port=18191 --var proxy_port=18192 \
	"$@" experiments/black-friday.yaml >"$out/naive.log" 2>&1 &
naive=$!
TMPDIR="$PWD/$out/resilient" ./bin/chaos run --report-dir "$out/resilient" --ledger "$out/resilient/ledger" \
	--var mode=resilient --var shop_port=18290 --var payment_port=18291 --var proxy_port=18292 \
	"$@" experiments/black-friday.yaml >"$out/resilient.log" 2>&1 &
resilient=$!
naive_code=0 resilient_code=0
wait "$naive" || naive_code=$?
wait "$resilient" || resilient_code=$?

# verdict DIR: the verdict, then each broken check with its numbers and
# what the checks saw under each fault (x: something broke, ok: every
# check held), from the run's Markdown summary.
verdict() {
	local md=$1/summary.md
	[ -f "$md" ] || { echo "no report (see the log)"; return; }
	sed -n '1s/.*: \([a-z-]*\)$/\1/p' "$md" | tr a-z A-Z
	grep '^- \*\*' "$md" | sed 's/^- \*\*\([^*]*\)\*\*\(.*: every check held\)/ok \1:\2/; s/^- \*\*\([^*]*\)\*\*/x \1:/; s/&lt;/</g; s/&gt;/>/g; s/&amp;/\&/g; s/\\//g' || echo "every check held"
}

printf '\n%-62s%s\n' "NAIVE SHOP (exit $naive_code)" "RESILIENT SHOP (exit $resilient_code)"
pr -m -t -w 124 <(verdict "$out/naive" | fold -s -w 60) <(verdict "$out/resilient" | fold -s -w 60) | expand
echo
for mode in naive resilient; do
	echo "== $mode: load over the whole run"
	sed -n '/^## Load/,/^Latencies/p' "$out/$mode/summary.md" | grep '^| [a-z]'
done
echo
echo "reports:"
echo "  naive:     $out/naive/report.html  ($out/naive/summary.md, $out/naive/journal.json)"
echo "  resilient: $out/resilient/report.html  ($out/resilient/summary.md, $out/resilient/journal.json)"
if [ "$naive_code" -eq 1 ] && [ "$resilient_code" -eq 0 ]; then
	echo "as expected: the naive shop deviated, the resilient shop passed"
	exit 0
fi
echo "unexpected: the naive shop should deviate (exit 1) and the resilient one pass (exit 0)" >&2
exit 1
