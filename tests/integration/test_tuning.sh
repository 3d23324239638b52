#!/bin/bash
# Thresholds from evidence: `warden groups baseline` over seven days of a
# group's history (tuning_data.py seeds it and works out, independently, what
# the figures must be): percentiles, the windows an alert of their device set
# apart, the suggested range flagging the one misbehaving device and nothing
# else, the document it writes, and the refusals (unknown group, a span
# longer than retention).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tuning_lib.sh"
tuning_seed tuning-seed

e() { json "j ->> '$1'" "$EXP"; }                           # the independent figure
b() { json "(SELECT value FROM json_each(j, '\$.rules') WHERE value ->> 'rule' = '$1') ->> '$2'" \
      "$T/base.json"; }                                     # Warden's, of one rule

"$WARDEN" groups baseline lab --to "$TO" --json --db "$DB" > "$T/base.json" 2> "$T/err"
check baseline-json-exit "$?" 0
check baseline-group "$(json "j ->> 'group'" "$T/base.json")" lab
check baseline-span "$(json "j ->> '\$.span.from' || ' ' || (j ->> '\$.span.duration')" "$T/base.json")" \
    "2026-11-30T00:00:00.000Z P7D"
check baseline-every-observed-rule "$(json "json_array_length(j, '\$.rules')" "$T/base.json")" 8
for p in p1 p5 p50 p95 p99 max windows devices excluded_windows; do
    check "baseline-d2c-$p" "$(b $D2C "\$.group.$p")" "$(e "\$.windows.$p")"
done
check baseline-histogram-holds-every-window "$(json "(SELECT sum(h.value ->> 'windows') FROM json_each(j, '\$.rules') r, json_each(r.value, '\$.histogram') h WHERE r.value ->> 'rule' = '$D2C')" "$T/base.json")" \
    "$(e '$.windows.windows')"
check baseline-d2c-zero-share "$(b $D2C '$.group.zero_share')" 0.0
check baseline-d2c-window "$(b $D2C '$.window')" PT15M
check baseline-d2c-enough-history "$(b $D2C '$.enough_history')" 1
# The flood of day 5 is left out: the group's max is a normal day's, not the flood's.
[ "$(b $D2C '$.group.max')" -lt "$(e '$.windows.with_alerted_max')" ] &&
    pass baseline-flood-windows-left-out || fail baseline-flood-windows-left-out
check baseline-suggested-min "$(b $D2C '$.suggested.min')" "$(e '$.windows.suggested_min')"
check baseline-suggested-max "$(b $D2C '$.suggested.max')" "$(e '$.windows.suggested_max')"
check baseline-suggested-flags-one-device "$(b $D2C '$.suggested.flagged_devices')" 1
check baseline-suggested-flagged-windows "$(b $D2C '$.suggested.flagged_windows')" \
    "$(e '$.windows.flagged_windows')"
check baseline-flagged-device-is-the-flooder "$(b $D2C '$.devices[0].device_id') $(b $D2C '$.devices[0].flagged')" \
    "dev-07 $(e '$.windows.flagged_windows')"
check baseline-devices-listed "$(b $D2C '$.devices_total') $(json "json_array_length((SELECT value FROM json_each(j, '\$.rules') WHERE value ->> 'rule' = '$D2C'), '\$.devices')" "$T/base.json")" "20 5"
# Distinct flows where raw flows are kept (retention.raw, P2D), not before.
check baseline-conn-p50 "$(b $CONN '$.group.p50')" "$(e '$.flows.p50')"
check baseline-conn-max "$(b $CONN '$.group.max')" "$(e '$.flows.max')"
check baseline-conn-windows "$(b $CONN '$.group.windows')" "$(e '$.flows.windows')"
check baseline-conn-zero-share "$(b $CONN '$.group.zero_share')" "$(e '$.flows.zero_share')"
check baseline-conn-history-from "$(b $CONN '$.history.from') $(b $CONN '$.enough_history')" \
    "2026-12-05T00:00:00.000Z 0"

# Kept, the flood's windows are the group's maximum.
"$WARDEN" groups baseline lab --to "$TO" --json --include-alerted --rule $D2C --db "$DB" \
    > "$T/base.json"
check baseline-include-alerted-max "$(b $D2C '$.group.max')" "$(e '$.windows.with_alerted_max')"
check baseline-include-alerted-none-apart "$(b $D2C '$.group.excluded_windows')" 0
check baseline-rule-alone "$(json "json_array_length(j, '\$.rules')" "$T/base.json")" 1

# Two days are not enough to learn from; the figures come anyway, marked.
"$WARDEN" groups baseline lab --to "$TO" --span P2D --rule $D2C --db "$DB" > "$T/text" 2>&1
check baseline-short-span-exit "$?" 0
grep -q "not enough history yet" "$T/text" && pass baseline-short-span-marked ||
    fail baseline-short-span-marked "$(head -5 "$T/text")"
grep -q "suggested: \[" "$T/text" && pass baseline-text-suggestion ||
    fail baseline-text-suggestion "$(cat "$T/text")"

# The document with the suggestion, as `groups import` takes it.
"$WARDEN" groups baseline lab --to "$TO" --rule $D2C --document --db "$DB" > "$T/doc.json"
check baseline-document-exit "$?" 0
"$WARDEN" groups import "$T/doc.json" --db "$DB" > /dev/null
check baseline-document-imports "$?" 0
"$WARDEN" groups export lab --db "$DB" > "$T/export.json"
check baseline-document-range "$(json "(SELECT value ->> 'minThreshold' || ' ' || (value ->> 'maxThreshold') FROM json_each(j, '\$.properties.timeWindowRules') WHERE value ->> 'ruleType' = '$D2C')" "$T/export.json")" \
    "$(e '$.windows.suggested_min') $(e '$.windows.suggested_max')"
check baseline-document-keeps-other-rules "$(json "(SELECT value ->> 'maxThreshold' FROM json_each(j, '\$.properties.timeWindowRules') WHERE value ->> 'ruleType' = '$CONN')" "$T/export.json")" 1000

# Refusals.
"$WARDEN" groups baseline nosuch --db "$DB" > /dev/null 2> "$T/err"
check baseline-unknown-group "$? $(grep -c 'no security group "nosuch"' "$T/err")" "1 1"
"$WARDEN" groups baseline lab --span P100D --db "$DB" > /dev/null 2> "$T/err"
check baseline-span-past-retention "$? $(grep -c 'retention.counts (90 days)' "$T/err")" "2 1"
"$WARDEN" groups baseline lab --rule NoSuchRule --db "$DB" > /dev/null 2>&1
check baseline-unknown-rule-is-usage "$?" 2

# ---- the backtest: the production evaluator's decisions, replayed without writing ----
# A live evaluator run over the same history (every pass of the schedule, back to back)
# must raise exactly the alerts the backtest says, alert for alert.
IV=--evaluator.interval=PT5M
FIRST=2026-11-30T00:05:00Z
"$WARDEN" groups import "$T/lab.json" --db "$DB" > /dev/null # the current rules again
live_run() { # live_run DOC OUT_DB: DOC imported into a copy of the database, then every pass
    cp "$DB" "$2" && "$WARDEN" groups import "$1" --db "$2" > /dev/null &&
        "$WARDEN" evaluate --from $FIRST --to "$TO" $IV --db "$2" > /dev/null
}
"$WARDEN" groups backtest "$T/doc.json" --to "$TO" $IV --json --db "$DB" > "$T/bt1.json"
check backtest-exit "$?" 0
r() { json "(SELECT value FROM json_each(j, '\$.rules') WHERE value ->> 'rule' = '$1') ->> '$2'" \
      "${3:-$T/bt1.json}"; }
check backtest-suggested-adds-the-flooder "$(r $D2C '$.added_total') $(r $D2C '$.removed_total') $(r $D2C '$.added[0].device_id')" \
    "1 0 dev-07"
check backtest-passes "$(json "j ->> 'passes'" "$T/bt1.json")" 2016
check backtest-days-sum "$(json "(SELECT sum(value ->> 'proposed') FROM json_each(j, '\$.days'))" "$T/bt1.json")" \
    "$(json "(SELECT sum(value ->> '\$.proposed.alerts') FROM json_each(j, '\$.rules'))" "$T/bt1.json")"
live_run "$T/doc.json" "$T/live1.db" || fail backtest-live-run
check backtest-suggested-equals-live "$(python3 tests/integration/tuning_data.py compare "$T/live1.db" "$T/bt1.json" proposed)" "same 1"

# A tight range: every quiet night is below it, except day 4, when Warden was not ingesting.
"$WARDEN" groups backtest "$T/tight.json" --to "$TO" $IV --json --db "$DB" > "$T/bt2.json"
N=$(r $D2C '$.added_total' "$T/bt2.json")
[ "$N" -gt 50 ] && pass backtest-tight-raises-lows || fail backtest-tight-raises-lows "$N"
live_run "$T/tight.json" "$T/live2.db" || fail backtest-live-run-tight
check backtest-tight-equals-live "$(python3 tests/integration/tuning_data.py compare "$T/live2.db" "$T/bt2.json" proposed)" "same $N"
check backtest-no-low-while-down "$(sqlite3 "$T/live2.db" "SELECT count(*) FROM alerts WHERE alert_type = 'IoT_CA_$D2C' AND start_ms >= $((TO_MS - 4 * 86400000)) AND start_ms < $((TO_MS - 3 * 86400000)) AND value < 106")" 0
# Where the tight rules were live, "current" is what the evaluator raised.
"$WARDEN" groups backtest "$T/lab.json" --to "$TO" $IV --json --db "$T/live2.db" > "$T/bt3.json"
check backtest-current-equals-raised "$(python3 tests/integration/tuning_data.py compare "$T/live2.db" "$T/bt3.json" current)" "same $N"
check backtest-writes-nothing "$(sqlite3 "$T/live2.db" "SELECT count(*) FROM alerts WHERE alert_type = 'IoT_CA_$D2C'")" "$N"
"$WARDEN" groups backtest "$T/tight.json" --to "$TO" --db "$DB" > "$T/text"
grep -q "^MqttD2CMessagesNotInAllowedRange: 0 alerts now" "$T/text" && pass backtest-text ||
    fail backtest-text "$(head -5 "$T/text")"
# A group not stored yet: its devices (other-00, tagged "other") are judged by the default
# group now, so that is what the document is compared with.
sed -e 's/"name": "lab"/"name": "default"/' -e 's/"maxThreshold": 100000,/"maxThreshold": 1000,/' \
    "$T/lab.json" > "$T/default.json"
sed -e 's/"name": "lab"/"name": "other"/' "$T/lab.json" > "$T/other.json"
cp "$DB" "$T/defaults.db" && "$WARDEN" groups import "$T/default.json" --db "$T/defaults.db" > /dev/null
"$WARDEN" groups backtest "$T/other.json" --to "$TO" --json --db "$T/defaults.db" > "$T/bt4.json"
check backtest-new-group-against-default "$(r $D2C '$.current.alerts' "$T/bt4.json") $(r $D2C '$.proposed.alerts' "$T/bt4.json") $(r $D2C '$.removed[0].device_id' "$T/bt4.json")" \
    "1 0 other-00"
"$WARDEN" groups backtest "$T/nosuch.json" --db "$DB" > /dev/null 2>&1
check backtest-missing-file-is-usage "$?" 2
exit $NFAIL
