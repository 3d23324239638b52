#!/bin/bash
# A group's baseline on the JSON API (GET /api/v1/security-groups/{name}/baseline
# and its alias /api/v1/groups/{name}/baseline), on the data of test_tuning.sh:
# the answer is the CLI's `groups baseline --json`, document for document; the
# parameters reach the baseline (rule, include_alerted, devices); the refusals
# (404 unknown group, 400 naming span, rule or devices). Then, with every
# baseline held in flight by a test hook: the server answers other requests
# while one runs, a sixth request finds the worker and its queue of four taken
# (503 with Retry-After), clients that leave cancel their jobs, and Warden
# stops promptly with one running; no sanitizer report throughout.
. "$(dirname "$0")/web_lib.sh"
. "$(dirname "$0")/tuning_lib.sh"
tuning_seed tuning-api-seed
"$WARDEN" groups baseline lab --to "$TO" --json --db "$DB" > "$T/cli.json" ||
    { fail tuning-api-cli; exit 1; }

e() { json "j ->> '$1'" "$EXP"; }                           # the independent figure
b() { json "(SELECT value FROM json_each(j, '\$.rules') WHERE value ->> 'rule' = '$1') ->> '$2'" \
      "$T/body"; }                                          # the API's, of one rule
c() { json "(SELECT value FROM json_each(j, '\$.rules') WHERE value ->> 'rule' = '$1') ->> '$2'" \
      "$T/cli.json"; }                                      # the CLI's
# same A B: "same" when the two files hold equal JSON documents.
same() {
    python3 -c 'import json, sys; print("same" if json.load(open(sys.argv[1])) == json.load(open(sys.argv[2])) else "differ")' "$1" "$2"
}
# metric NAME: its value in /metrics now.
metric() {
    req GET /metrics > /dev/null
    awk -v n="$1" '$1 == n { print $2 }' "$T/body"
}

start_serve

# ---- the answer: the CLI's document ----
check api-baseline-status "$(req GET "/api/v1/security-groups/lab/baseline?to=$TO")" 200
check api-baseline-is-the-clis "$(same "$T/body" "$T/cli.json")" same
check api-baseline-every-observed-rule "$(json "json_array_length(j, '\$.rules')" "$T/body")" 8
for p in p50 p99 max; do
    check "api-baseline-d2c-$p" "$(b $D2C "\$.group.$p") $(c $D2C "\$.group.$p")" \
        "$(e "\$.windows.$p") $(e "\$.windows.$p")"
done
check api-baseline-d2c-suggested "$(b $D2C '$.suggested.min') $(b $D2C '$.suggested.max')" \
    "$(e '$.windows.suggested_min') $(e '$.windows.suggested_max')"
check api-baseline-devices-default "$(json "json_array_length((SELECT value FROM json_each(j, '\$.rules') WHERE value ->> 'rule' = '$D2C'), '\$.devices')" "$T/body")" 5
check api-baseline-alias-status "$(req GET "/api/v1/groups/lab/baseline?to=$TO")" 200
check api-baseline-alias-is-the-clis "$(same "$T/body" "$T/cli.json")" same

# ---- parameters ----
check api-baseline-rule-status "$(req GET "/api/v1/groups/lab/baseline?to=$TO&rule=$D2C")" 200
check api-baseline-rule-alone "$(json "json_array_length(j, '\$.rules') || ' ' || (j ->> '\$.rules[0].rule')" "$T/body")" \
    "1 $D2C"
check api-baseline-rule-figures "$(b $D2C '$.group.p99') $(b $D2C '$.suggested.max')" \
    "$(e '$.windows.p99') $(e '$.windows.suggested_max')"
req GET "/api/v1/groups/lab/baseline?to=$TO&rule=$D2C&include_alerted=1&devices=2&span=P7D" > "$T/status"
check api-baseline-include-alerted "$(cat "$T/status") $(b $D2C '$.group.max') $(b $D2C '$.group.excluded_windows')" \
    "200 $(e '$.windows.with_alerted_max') 0"
check api-baseline-devices-param "$(json "json_array_length(j, '\$.rules[0].devices')" "$T/body")" 2
"$WARDEN" groups baseline lab --to "$TO" --json --rule $D2C --include-alerted --devices 2 --db "$DB" \
    > "$T/cli2.json"
check api-baseline-params-are-the-clis "$(same "$T/body" "$T/cli2.json")" same

# ---- refusals ----
expect_error api-baseline-unknown-group 404 'no security group "nosuch"' \
    GET /api/v1/security-groups/nosuch/baseline
expect_error api-baseline-alias-unknown-group 404 'no security group "nosuch"' \
    GET /api/v1/groups/nosuch/baseline
expect_error api-baseline-span-past-retention 400 'span: the span must be positive and at most retention.counts (90 days)' \
    GET "/api/v1/security-groups/lab/baseline?span=P100D"
expect_error api-baseline-span-bogus 400 span GET "/api/v1/security-groups/lab/baseline?span=bogus"
expect_error api-baseline-rule-unknown 400 rule GET "/api/v1/groups/lab/baseline?rule=NoSuchRule"
expect_error api-baseline-devices-past-max 400 devices GET "/api/v1/groups/lab/baseline?devices=10001"
expect_error api-baseline-bad-name 400 name GET "/api/v1/groups/bad%20name/baseline"
check api-baseline-devices-max "$(req GET "/api/v1/groups/lab/baseline?to=$TO&rule=$D2C&devices=10000")" 200
check api-group-still-served "$(req GET /api/v1/security-groups/lab) $(json "j ->> 'name'" "$T/body")" \
    "200 lab"
stop_pid "$SERVE_PID"

# ---- off the loop: every baseline held in flight (the hook stops early for a client gone) ----
export WARDEN_TEST_SLOW_BASELINE_MS=60000
start_serve
unset WARDEN_TEST_SLOW_BASELINE_MS
BG=()
bg_baseline() { # bg_baseline N: a baseline request in the background, its answer in $T/bg.N
    curl -s -o "$T/bg.$1" --max-time 90 "$WEB/api/v1/security-groups/lab/baseline?to=$TO" &
    BG+=($!)
    PIDS+=($!)
}
bg_baseline 0
wait_until '[ "$(metric warden_baseline_running)" = 1 ]' 20 &&
    pass api-baseline-runs-off-loop || fail api-baseline-runs-off-loop "$(metric warden_baseline_running)"
check api-baseline-other-request-answers "$(req GET /api/v1/security-groups)" 200
[ "$(req_ms)" -lt 5000 ] && pass api-baseline-other-request-prompt ||
    fail api-baseline-other-request-prompt "$(req_ms) ms"
check api-baseline-still-running-after "$(metric warden_baseline_running)" 1
for i in 1 2 3 4; do bg_baseline "$i"; done
wait_until '[ "$(metric warden_baseline_queued)" = 4 ]' 20 &&
    pass api-baseline-queue-of-four || fail api-baseline-queue-of-four "$(metric warden_baseline_queued)"
expect_error api-baseline-busy 503 busy GET "/api/v1/groups/lab/baseline?to=$TO"
check api-baseline-busy-retry-after "$(header Retry-After)" 5
check api-baseline-busy-counted "$(metric 'warden_baseline_refused_total{reason="busy"}')" 1
kill "${BG[@]}" 2> /dev/null
wait_until '[ "$(metric warden_baseline_cancelled_total)" = 5 ] &&
            [ "$(metric warden_baseline_running)" = 0 ] && [ "$(metric warden_baseline_queued)" = 0 ]' 20 &&
    pass api-baseline-clients-gone-cancel ||
    fail api-baseline-clients-gone-cancel "cancelled $(metric warden_baseline_cancelled_total), running $(metric warden_baseline_running), queued $(metric warden_baseline_queued)"
# Stopping with a baseline in flight: its client is let go and the worker stops at once.
bg_baseline 5
wait_until '[ "$(metric warden_baseline_running)" = 1 ]' 20 || fail api-baseline-in-flight-at-stop
t0=$(now_ms)
stop_pid "$SERVE_PID"
[ $(($(now_ms) - t0)) -lt 20000 ] && pass api-baseline-stop-in-flight-prompt ||
    fail api-baseline-stop-in-flight-prompt "$(($(now_ms) - t0)) ms"
sanitizers_clean api-baseline-sanitizers-clean
exit $NFAIL
