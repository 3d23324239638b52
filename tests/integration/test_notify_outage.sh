#!/bin/bash
# Alertmanager away (issue 17): stopped for many resend intervals while alerts
# are open and some are dismissed (resolved, for Alertmanager); when it returns
# with its data (silences, notification log) it holds exactly the open alerts
# and the receiver got every resolve, though notify.resolved_retention (3 s)
# ran out long before: the queue kept them. Then restarted with no data at all:
# Warden sees its start time move and the open alerts are back at once.
. "$(dirname "$0")/notify_lib.sh"
start_broker
start_receiver hooks
start_alertmanager am
notify_import
start_web --evaluator.interval=PT1S --notify.alertmanager.urls="$AM_URL" --notify.resend=PT1S \
    --notify.resolved_retention=PT3S --notify.timeout=PT2S
incidents
wait_until "same_open $AM_URL" 60 && pass notify-outage-before-holds-open ||
    fail notify-outage-before-holds-open "warden: $(warden_keys) am: $(am_keys "$AM_URL")"

# Three open event alerts (they stay open: the TTL is a day) to dismiss while it is away.
ids=$(sql "SELECT alert_id FROM alerts WHERE status = 'Active' AND alert_type IN
           ('IoT_TiConnection', 'IoT_Cert_Expired', 'IoT_Invalid_SAS_Token') ORDER BY alert_id")
check notify-outage-three-to-dismiss "$(echo $ids | wc -w)" 3
for id in $ids; do
    key=$(sql "SELECT alert_type || '|' || alert_key FROM alerts WHERE alert_id = $id")
    wait_until '[ "$(notified firing "$key")" -ge 1 ]' 30 || fail "notify-outage-fired-$id"
done

stop_pid "$AM_PID"
tries=$(sql "SELECT latency_count FROM notify_counters")
for id in $ids; do change "$id" dismiss; done
# Ten more requests, each refused: with the backoff capped at notify.resend (1 s), that is
# ten resend intervals and more, and three times notify.resolved_retention.
wait_sql "SELECT latency_count >= $tries + 10 FROM notify_counters" 1 90 && pass notify-outage-kept-trying ||
    fail notify-outage-kept-trying "$(sql "SELECT * FROM notify_counters")"
check notify-outage-queued "$(sql "SELECT count(*) FROM notify_queue WHERE kind = 'alert' AND ref IN ($(echo $ids | tr ' ' ,))")" 3
items=$(sql "SELECT (SELECT count(*) FROM alerts) + (SELECT count(*) FROM recommendations)")
[ "$(sql "SELECT count(*) FROM notify_queue")" -le "$items" ] && pass notify-outage-queue-bounded ||
    fail notify-outage-queue-bounded "$(sql "SELECT count(*) FROM notify_queue") rows for $items alerts"
req GET /metrics > /dev/null
grep -q "^warden_notifications_queue_length{alertmanager=\"$AM_URL\"} [1-9]" "$T/body" &&
    pass notify-outage-metric-queue || fail notify-outage-metric-queue "$(grep notifications_queue "$T/body")"
grep -q "^warden_notifications_errors_total{alertmanager=\"$AM_URL\"} [1-9]" "$T/body" &&
    pass notify-outage-metric-errors || fail notify-outage-metric-errors

# Back, on the same address with the same data.
start_alertmanager am
wait_until "same_open $AM_URL" 60 && pass notify-outage-after-holds-exactly-open ||
    fail notify-outage-after-holds-exactly-open "warden: $(warden_keys) am: $(am_keys "$AM_URL")"
for id in $ids; do
    key=$(sql "SELECT alert_type || '|' || alert_key FROM alerts WHERE alert_id = $id")
    wait_until '[ "$(notified resolved "$key")" -ge 1 ]' 60 && pass "notify-outage-resolve-reached-receiver-$id" ||
        fail "notify-outage-resolve-reached-receiver-$id" "$key"
done
wait_sql "SELECT count(*) FROM notify_queue" 0 30 && pass notify-outage-queue-drained || fail notify-outage-queue-drained

# Restarted with nothing: no alerts, no notification log. Warden notices (its uptime moved).
stop_pid "$AM_PID"
rm -rf "$T/am/data"
start_alertmanager am
t0=$(now_ms)
wait_until "same_open $AM_URL" 30 && pass notify-restart-open-alerts-back ||
    fail notify-restart-open-alerts-back "warden: $(warden_keys) am: $(am_keys "$AM_URL")"
echo "# open alerts back in a restarted Alertmanager after $(( $(now_ms) - t0 )) ms (resend 1 s)"
wait_log "notify: $AM_URL restarted" "$T/warden.log" 30 && pass notify-restart-noticed ||
    fail notify-restart-noticed "$(grep notify "$T/warden.log" | tail -3)"
stop_pid "$WARDEN_PID"
exit $NFAIL
