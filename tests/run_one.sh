#!/bin/sh
# One integration test for tests/run.sh: its ok/FAIL lines into
# B/results/NAME.out, its stderr into B/NAME.log. Usage: run_one.sh B TEST
B=$1
name=$(basename "$2")
printf '== integration: %s\n' "$2" >&2
bash "$2" > "$B/results/$name.out" 2> "$B/$name.log" ||
    echo "FAIL $name (exit $?, see $B/$name.log)" >> "$B/results/$name.out"
