#!/bin/bash
# `warden evaluate` as a user runs it: usage errors, one pass at a chosen
# instant, and the scheduler counting a pass that overruns its interval.
. "$(dirname "$0")/lib.sh"
DB=$T/warden.db

"$WARDEN" evaluate --at 2026-11-29T10:00:00Z --db "$DB" 2>/dev/null
check evaluate-at-needs-once "$?" 2
"$WARDEN" evaluate --once --at yesterday --db "$DB" 2>/dev/null
check evaluate-bad-time-is-usage "$?" 2
"$WARDEN" evaluate --once --at 2026-11-29T10:00:00Z --db "$DB" 2>/dev/null
check evaluate-once-at "$?" 0
check evaluate-once-records-pass "$(sql "SELECT value FROM evaluator_state WHERE key = 'last_pass_ms'")" 1795946400000
"$WARDEN" evaluate --once --evaluator.interval=PT0S --db "$DB" 2>/dev/null
check evaluate-bad-interval-is-config-error "$?" 2

# Every pass made 1.5 s slower than its 1 s interval: each is an overrun.
WARDEN_TEST_SLOW_PASS_MS=1500 "$WARDEN" evaluate --evaluator.interval=PT1S --db "$DB" \
    > "$T/eval.log" 2>&1 &
EVAL_PID=$!
PIDS+=("$EVAL_PID")
wait_sql "SELECT value >= 2 FROM evaluator_state WHERE key = 'overruns_total'" 1 &&
    pass evaluate-overruns-counted || fail evaluate-overruns-counted "$(tail -3 "$T/eval.log")"
stop_pid "$EVAL_PID"
grep -q "longer than the interval" "$T/eval.log" && pass evaluate-overrun-logged ||
    fail evaluate-overrun-logged
exit $NFAIL
