#!/bin/bash
# `make check-long`: the long versions of the reliability tests, each printing
# what it tried and what survived. The short versions run in `make test`.
#   a. the crash test at 200,000 messages with SIGTERM and SIGKILL mixed,
#      broker restarts during the stream, and the broker killed once;
#   b. a soak of simulated traffic with Warden's RSS sampled (soak.sh);
#   c. the integration tests once with LeakSanitizer reports collected, after
#      proving that a deliberate leak in a warden process is caught (leaks.sh).
# LONG_ONLY=crash|soak|leaks runs one of them.
set -u
cd "$(dirname "$0")/../.."
export B=${B:-build}
export WARDEN=${WARDEN:-$B/asan/warden} WARDEN_PLAIN=${WARDEN_PLAIN:-$B/warden}
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
mkdir -p "$B/long"
failed=0
only=${LONG_ONLY:-}

part() { # part NAME COMMAND...: run one part, keep its output, say how it went
    local name=$1 t0=$SECONDS
    shift
    [ -n "$only" ] && [ "$only" != "$name" ] && return
    echo "== long: $name"
    if "$@" > "$B/long/$name.out" 2> "$B/long/$name.log"; then :; else failed=$((failed + 1)); fi
    grep -E "^(ok|FAIL) " "$B/long/$name.out"
    echo "-- what it tried and what survived ($((SECONDS - t0)) s; log $B/long/$name.log):"
    grep -vE "^(ok|FAIL) |^\+|^[0-9T:.-]*Z warden" "$B/long/$name.log" | tail -40
}

part crash env CRASH_MESSAGES="${LONG_CRASH_MESSAGES:-200000}" CRASH_RATE="${LONG_CRASH_RATE:-3000}" \
    CRASH_KILLS="${LONG_CRASH_KILLS:-12}" CRASH_TERM_MIX=1 CRASH_BROKER_MID=1 CRASH_BROKER_KILL=1 \
    CRASH_ALERTS=1 bash tests/integration/test_crash.sh
part soak bash tests/long/soak.sh
part leaks bash tests/long/leaks.sh

echo "check-long: $failed part(s) failed"
[ "$failed" -eq 0 ]
