#!/bin/bash
# Warden SIGKILLed between a transition and its send, five times (issue 17).
# Each round freezes Alertmanager (SIGSTOP: it accepts connections and answers
# nothing, so the send is in flight), dismisses or reactivates the TI alert
# through the API, waits until the transition is committed and queued, kills
# Warden with SIGKILL, thaws Alertmanager and starts Warden again. The receiver
# must get every resolve and every firing again, and no alert that stayed open
# may ever be sent resolved: Warden's restarts are shorter than the lease
# (4 x notify.resend = 12 s), so nothing flaps.
. "$(dirname "$0")/notify_lib.sh"
start_broker
start_receiver hooks
start_alertmanager am
notify_import
ARGS=(--evaluator.interval=PT1S --notify.alertmanager.urls="$AM_URL" --notify.resend=PT3S
      --notify.timeout=PT5S)
start_web "${ARGS[@]}"
incidents
wait_until "[ -n \"\$(sql \"SELECT alert_id FROM alerts WHERE alert_type = 'IoT_TiConnection'\")\" ]" 60
id=$(sql "SELECT alert_id FROM alerts WHERE alert_type = 'IoT_TiConnection'")
key=$(sql "SELECT alert_type || '|' || alert_key FROM alerts WHERE alert_id = $id")
wait_until "same_open $AM_URL" 60 && pass notify-crash-before-holds-open ||
    fail notify-crash-before-holds-open "warden: $(warden_keys) am: $(am_keys "$AM_URL")"
wait_until '[ "$(notified firing "$key")" -ge 1 ]' 30 || fail notify-crash-fired-first

for round in 1 2 3 4 5; do
    if [ $((round % 2)) = 1 ]; then what=dismiss to=resolved; else what=reactivate to=firing; fi
    before=$(notified "$to" "$key")
    kill -STOP "$AM_PID"
    change "$id" "$what"
    wait_sql "SELECT count(*) FROM notify_queue WHERE kind = 'alert' AND ref = $id" 1 30 ||
        fail "notify-crash-$round-queued"
    kill -KILL "$WARDEN_PID"
    wait_exit "$WARDEN_PID" 30 sigkill
    kill -CONT "$AM_PID"
    start_web "${ARGS[@]}"
    wait_until '[ "$(notified "$to" "$key")" -gt "$before" ]' 60 && pass "notify-crash-$round-$what-reached-receiver" ||
        fail "notify-crash-$round-$what-reached-receiver" "$(notified "$to" "$key") $to notifications, $before before"
done
check notify-crash-resolves-seen "$(notified resolved "$key")" 3
check notify-crash-firings-seen "$(notified firing "$key")" 3

# None of the alerts that stayed open (never dismissed, never resolved) was ever sent resolved.
wait_until "same_open $AM_URL" 60 && pass notify-crash-after-holds-open ||
    fail notify-crash-after-holds-open "warden: $(warden_keys) am: $(am_keys "$AM_URL")"
early=0
for k in $(sql "SELECT alert_type || '|' || alert_key FROM alerts a WHERE status = 'Active' AND alert_id <> $id AND
                NOT EXISTS (SELECT 1 FROM alert_transitions t WHERE t.alert_id = a.alert_id AND
                            t.from_status IS NOT NULL)"); do
    [ "$(notified resolved "$k")" = 0 ] || { early=$((early + 1)); echo "# resolved early: $k"; }
done
check notify-crash-nothing-resolved-early "$early" 0
stop_pid "$WARDEN_PID"
exit $NFAIL
