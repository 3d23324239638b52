#!/bin/sh
# The test runner of `make test`: unit tests (sanitized), a short run of every
# fuzz target over its corpus, and the integration tests (real broker, real
# database, sanitized warden). Each test prints "ok NAME" or "FAIL NAME"; the
# last line counts them: "N passed, N failed".
set -u
B=${B:-build}
out=$B/test-results.txt
mkdir -p "$B"
: > "$out"
export WARDEN="$B/asan/warden"
export WARDEN_PLAIN="$B/warden"
export HUB_PLUGIN_SO="$B/asan/warden_hub.so"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

note() { printf '%s\n' "$*" >&2; }

# Test vectors made by Debian's flatc from the JSON fixtures.
for gen in tests/fixtures/*/gen.sh; do
    [ -f "$gen" ] || continue
    sh "$gen" "$B/fixtures/$(basename "$(dirname "$gen")")" || echo "FAIL fixtures-$gen" >> "$out"
done

for t in "$B"/asan/tests/test_*; do
    [ -x "$t" ] || continue
    note "== unit: $t"
    if ! "$t" >> "$out" 2> "$B/$(basename "$t").log"; then
        grep -q . "$B/$(basename "$t").log" && cat "$B/$(basename "$t").log" >&2
        grep -q "^FAIL" "$out" || echo "FAIL $(basename "$t") (crashed, see $B/$(basename "$t").log)" >> "$out"
    fi
    grep "^FAIL" "$out" >&2 || true
done

FUZZ_SECONDS=${FUZZ_TEST_SECONDS:-5}
for f in "$B"/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    corpus=tests/fuzz/corpus/${name#fuzz_}
    note "== fuzz: $name for ${FUZZ_SECONDS}s"
    # New inputs go to a scratch corpus (the first directory); the committed seeds are only read.
    mkdir -p "$B/corpus/$name"
    if "$f" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$B/" "$B/corpus/$name" "$corpus" > "$B/$name.log" 2>&1; then
        echo "ok $name ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$B/$name.log" | awk '{print $2}') runs)" >> "$out"
    else
        tail -30 "$B/$name.log" >&2
        echo "FAIL $name" >> "$out"
    fi
done

# The integration tests, TEST_JOBS (default 2) at a time: most of their time is
# spent waiting on brokers, passes and timeouts, not on the CPU, and each has
# its own directory and free ports. A test whose header has a line "# alone:"
# (it measures time or load) runs after them, by itself.
mkdir -p "$B/results"
rm -f "$B"/results/*.out
# shellcheck disable=SC2046
grep -L '^# alone:' tests/integration/test_*.sh | xargs -P "${TEST_JOBS:-2}" -n 1 sh tests/run_one.sh "$B"
for t in $(grep -l '^# alone:' tests/integration/test_*.sh); do
    sh tests/run_one.sh "$B" "$t"
done
for t in tests/integration/test_*.sh; do
    cat "$B/results/$(basename "$t").out" >> "$out"
done

cat "$out"
passed=$(grep -c "^ok " "$out")
failed=$(grep -c "^FAIL" "$out")
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
