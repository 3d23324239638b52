#!/bin/bash
# The benchmark harness at tiny sizes (bench/run.py --quick), so that it
# cannot rot: every benchmark must run, check its own counts against the
# database, and write well-formed results. Figures are not judged here (the
# machine running the tests is busy); only that they were measured and checked.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$HERE"
B=${B:-build}
BENCHES="ingest-flatbuffers ingest-json ingest-latency storage memory evaluator intel web hub-plugin notify"
out=$(mktemp /tmp/warden-bench-smoke.XXXXXX)
trap 'rm -f "$out"' EXIT

B=$B python3 bench/run.py --quick > "$out" 2>&1
status=$?

# bench/run.py prints "ok BENCH CHECK: ..." or "FAIL BENCH CHECK: ..." for each check
# (CHECK may follow BENCH after a colon: "FAIL evaluator: longer history ...").
for b in $BENCHES; do
    oks=$(grep -cE "^ok $b[ :]" "$out")
    fails=$(grep -E "^FAIL $b[ :]" "$out")
    if [ -n "$fails" ]; then
        echo "FAIL bench-smoke-$b: $(echo "$fails" | head -3 | tr '\n' ';')"
    elif [ "$oks" -eq 0 ]; then
        echo "FAIL bench-smoke-$b: did not run (no checks)"
    else
        echo "ok bench-smoke-$b ($oks checks)"
    fi
done

json=$B/bench-results/latest.json
if [ "$(sqlite3 :memory: "SELECT json_valid(readfile('$json'))
        AND json_array_length(readfile('$json'), '\$.figures') > 0" 2>/dev/null)" = 1 ]; then
    echo "ok bench-smoke-results-json"
else
    echo "FAIL bench-smoke-results-json: $json missing or not JSON"
fi
if [ "$status" -eq 0 ] && grep -q '^checks: .* 0 FAIL' "$out"; then
    echo "ok bench-smoke-exit"
else
    echo "FAIL bench-smoke-exit: bench/run.py --quick exited $status"
    tail -20 "$out" >&2
fi
