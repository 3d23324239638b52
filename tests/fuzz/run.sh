#!/bin/sh
# `make fuzz`: every libFuzzer target for SECONDS each (default 60), new
# inputs kept in build/corpus/NAME (the committed seeds in tests/fuzz/corpus
# are only read). A crash leaves its input in build/ and fails the run.
# To add what a long run found to the seeds: NAME -merge=1 tests/fuzz/corpus/X build/corpus/NAME
set -u
SECONDS_EACH=${1:-60}
B=${B:-build}
status=0
for f in "$B"/fuzz/fuzz_*; do
    [ -x "$f" ] || continue
    name=$(basename "$f")
    mkdir -p "$B/corpus/$name"
    echo "== $name for ${SECONDS_EACH}s"
    if "$f" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$B/" "$B/corpus/$name" "tests/fuzz/corpus/${name#fuzz_}" \
        > "$B/$name.log" 2>&1; then
        echo "ok $name: $(grep -o 'number_of_executed_units: [0-9]*' "$B/$name.log" | awk '{print $2}') runs"
    else
        tail -30 "$B/$name.log"
        echo "FAIL $name (the crashing input is in $B/)"
        status=1
    fi
done
exit $status
