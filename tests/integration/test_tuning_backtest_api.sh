#!/bin/bash
# A group document's backtest on the JSON API (POST
# /api/v1/security-groups/{name}/backtest and its alias
# /api/v1/groups/{name}/backtest), on the data of test_tuning.sh: the answer to
# the tight document is the CLI's `groups backtest --json`, rule for rule;
# both paths work; the refusals (400 naming the rule of an invalid document,
# the span, an empty body; 404 for another resource; 415 for a body that is
# not sent as JSON, which a form of another site would be); a group that does
# not exist yet is backtested against the default group's rules, here none stored, so every
# rule off (200, not 404: it is the
# document about to create it); with web.auth.require_for_reads the backtest
# needs the token like any read. Then, with every job held in flight by the
# test hook: another request is answered while a backtest runs, a baseline
# queues behind it on the same worker, clients that leave cancel theirs; no
# sanitizer report throughout.
. "$(dirname "$0")/web_lib.sh"
. "$(dirname "$0")/tuning_lib.sh"
tuning_seed backtest-api-seed
"$WARDEN" groups backtest "$T/tight.json" --to "$TO" --json --db "$DB" > "$T/cli.json" ||
    { fail backtest-api-cli; exit 1; }
# An invalid document: a window that is not a multiple of 10 s.
sed -e '0,/"PT15M"/s//"PT7S"/' "$T/tight.json" > "$T/bad.json"

# r RULE FIELD [FILE]: a field of one rule of a backtest.
r() { json "(SELECT value FROM json_each(j, '\$.rules') WHERE value ->> 'rule' = '$1') ->> '$2'" \
      "${3:-$T/body}"; }
# same A B [KEY]: "same" when the two files hold equal JSON documents (or equal members KEY).
same() {
    python3 -c '
import json, sys
a, b = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
if len(sys.argv) > 3:
    a, b = a.get(sys.argv[3]), b.get(sys.argv[3])
print("same" if a == b and a is not None else "differ")' "$@"
}
metric() {
    req GET /metrics > /dev/null
    awk -v n="$1" '$1 == n { print $2 }' "$T/body"
}
JSON_CT=(-H 'Content-Type: application/json')
# backtest PATH FILE [CURL ARGS]: POST FILE as JSON to PATH; the status on stdout.
backtest() {
    local p=$1 f=$2
    shift 2
    req POST "$p" "${JSON_CT[@]}" --data-binary "@$f" "$@"
}

start_serve

# ---- the answer: the CLI's document ----
check backtest-api-status "$(backtest "/api/v1/security-groups/lab/backtest?to=$TO" "$T/tight.json")" 200
cp "$T/body" "$T/api.json"
check backtest-api-d2c-totals "$(r $D2C '$.added_total') $(r $D2C '$.removed_total')" \
    "$(r $D2C '$.added_total' "$T/cli.json") $(r $D2C '$.removed_total' "$T/cli.json")"
N=$(r $D2C '$.added_total')
[ "${N:-0}" -gt 50 ] && pass backtest-api-tight-raises-lows || fail backtest-api-tight-raises-lows "$N"
check backtest-api-rules-are-the-clis "$(same "$T/api.json" "$T/cli.json" rules)" same
check backtest-api-is-the-clis "$(same "$T/api.json" "$T/cli.json")" same
check backtest-api-alias-status "$(backtest "/api/v1/groups/lab/backtest?to=$TO" "$T/tight.json")" 200
check backtest-api-alias-is-the-clis "$(same "$T/body" "$T/cli.json")" same
check backtest-api-charset-param "$(req POST "/api/v1/groups/lab/backtest?to=$TO" \
    -H 'Content-Type: application/json; charset=utf-8' --data-binary "@$T/tight.json")" 200
# span reaches the backtest.
check backtest-api-span-status "$(backtest "/api/v1/groups/lab/backtest?to=$TO&span=P2D" "$T/tight.json")" 200
"$WARDEN" groups backtest "$T/tight.json" --to "$TO" --span P2D --json --db "$DB" > "$T/cli2.json"
check backtest-api-span-is-the-clis "$(json "j ->> '\$.span.duration'" "$T/body") $(same "$T/body" "$T/cli2.json")" \
    "P2D same"
# It changes nothing: the stored group is still lab.json's.
req GET /api/v1/security-groups/lab > /dev/null
check backtest-api-writes-nothing "$(json "(SELECT value ->> 'maxThreshold' FROM json_each(j, '\$.properties.timeWindowRules') WHERE value ->> 'ruleType' = '$D2C')" "$T/body")" 100000

# ---- a group that does not exist yet: the default group's rules (none stored: every rule off) ----
check backtest-api-new-group-status "$(backtest "/api/v1/groups/newgroup/backtest?to=$TO" "$T/tight.json")" 200
check backtest-api-new-group-named-by-path "$(json "j ->> 'group'" "$T/body") $(json "j ->> 'current_rules_since' IS NULL" "$T/body")" \
    "newgroup 1"
check backtest-api-new-group-current-off "$(json "(SELECT sum(value ->> '\$.current.alerts') || ' ' || sum(value ->> 'removed_total') || ' ' || count(*) FROM json_each(j, '\$.rules'))" "$T/body")" \
    "0 0 2"

# ---- refusals ----
expect_error backtest-api-invalid-document 400 "timeWindowRules[0] ($D2C)" \
    POST "/api/v1/security-groups/lab/backtest?to=$TO" "${JSON_CT[@]}" --data-binary "@$T/bad.json"
check backtest-api-invalid-names-value "$(json "instr(j ->> 'detail', 'PT7S') > 0 AND (j ->> 'error') = 'invalid security group'")" 1
expect_error backtest-api-not-a-group 400 "not a security group" \
    POST "/api/v1/groups/lab/backtest" "${JSON_CT[@]}" --data-binary '{"hello": 1}'
expect_error backtest-api-empty-body 400 body POST "/api/v1/groups/lab/backtest" "${JSON_CT[@]}"
expect_error backtest-api-form-type 415 Content-Type \
    POST "/api/v1/groups/lab/backtest" --data-binary "@$T/tight.json"
expect_error backtest-api-text-type 415 Content-Type \
    POST "/api/v1/security-groups/lab/backtest" -H 'Content-Type: text/plain' --data-binary "@$T/tight.json"
expect_error backtest-api-no-type 415 Content-Type \
    POST "/api/v1/security-groups/lab/backtest" -H 'Content-Type:' --data-binary "@$T/tight.json"
expect_error backtest-api-json-prefix-type 415 Content-Type \
    POST "/api/v1/security-groups/lab/backtest" -H 'Content-Type: application/jsonx' --data-binary "@$T/tight.json"
expect_error backtest-api-span-past-retention 400 'span: the span must be positive and at most retention.counts (90 days)' \
    POST "/api/v1/groups/lab/backtest?span=P100D" "${JSON_CT[@]}" --data-binary "@$T/tight.json"
expect_error backtest-api-span-bogus 400 span \
    POST "/api/v1/groups/lab/backtest?span=bogus" "${JSON_CT[@]}" --data-binary "@$T/tight.json"
expect_error backtest-api-to-bogus 400 to \
    POST "/api/v1/groups/lab/backtest?to=bogus" "${JSON_CT[@]}" --data-binary "@$T/tight.json"
expect_error backtest-api-bad-name 400 name \
    POST "/api/v1/groups/bad%20name/backtest" "${JSON_CT[@]}" --data-binary "@$T/tight.json"
expect_error backtest-api-other-resource 404 "no such resource" \
    POST "/api/v1/security-groups/lab/nosuch" "${JSON_CT[@]}" --data-binary "@$T/tight.json"
expect_error backtest-api-group-itself 404 "no such resource" \
    POST "/api/v1/security-groups/lab" "${JSON_CT[@]}" --data-binary "@$T/tight.json"
check backtest-api-get-is-not-it "$(req GET /api/v1/groups/lab/backtest)" 404
check backtest-api-baseline-still-served "$(req GET "/api/v1/security-groups/lab/baseline?to=$TO")" 200
stop_pid "$SERVE_PID"

# ---- credentials: a read, so the token when reads need it ----
start_serve --web.auth.require_for_reads=true
check backtest-api-reads-need-token "$(backtest "/api/v1/groups/lab/backtest?to=$TO" "$T/tight.json")" 401
check backtest-api-token-suffices "$(backtest "/api/v1/groups/lab/backtest?to=$TO" "$T/tight.json" \
    -H "Authorization: Bearer $TOKEN")" 200
check backtest-api-token-answer "$(same "$T/body" "$T/cli.json")" same
stop_pid "$SERVE_PID"

# ---- off the loop: every job held in flight (the hook stops early for a client gone) ----
export WARDEN_TEST_SLOW_BASELINE_MS=60000
start_serve
unset WARDEN_TEST_SLOW_BASELINE_MS
BG=()
curl -s -o "$T/bg.0" --max-time 90 "${JSON_CT[@]}" --data-binary "@$T/tight.json" \
    "$WEB/api/v1/groups/lab/backtest?to=$TO" &
BG+=($!)
PIDS+=($!)
wait_until '[ "$(metric warden_baseline_running)" = 1 ]' 20 &&
    pass backtest-api-runs-off-loop || fail backtest-api-runs-off-loop "$(metric warden_baseline_running)"
check backtest-api-other-request-answers "$(req GET /api/v1/security-groups)" 200
[ "$(req_ms)" -lt 5000 ] && pass backtest-api-other-request-prompt ||
    fail backtest-api-other-request-prompt "$(req_ms) ms"
curl -s -o "$T/bg.1" --max-time 90 "$WEB/api/v1/groups/lab/baseline?to=$TO" &
BG+=($!)
PIDS+=($!)
wait_until '[ "$(metric warden_baseline_queued)" = 1 ]' 20 &&
    pass backtest-api-baseline-queues-behind || fail backtest-api-baseline-queues-behind "$(metric warden_baseline_queued)"
check backtest-api-still-running "$(metric warden_baseline_running)" 1
kill "${BG[@]}" 2> /dev/null
wait_until '[ "$(metric warden_baseline_cancelled_total)" = 2 ] &&
            [ "$(metric warden_baseline_running)" = 0 ] && [ "$(metric warden_baseline_queued)" = 0 ]' 20 &&
    pass backtest-api-clients-gone-cancel ||
    fail backtest-api-clients-gone-cancel "cancelled $(metric warden_baseline_cancelled_total), running $(metric warden_baseline_running), queued $(metric warden_baseline_queued)"
stop_pid "$SERVE_PID"
sanitizers_clean backtest-api-sanitizers-clean
exit $NFAIL
