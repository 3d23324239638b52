#!/bin/bash
# One device flooding does not silence the others: a device publishes as fast
# as the broker takes it (about 40,000 messages a second here, more than
# Warden stores) while a few ordinary devices publish at their cadence, and one
# of them crosses a C2D rule. The ordinary devices' messages must all be stored
# and their alert raised within a bound; the flooder gets its own alert (the
# D2C time-window rule), everything it sent is stored too, and Warden's peak
# RSS stays under a bound. It runs the plain build: the figure is the one a
# lab sees (the sanitized build keeps freed memory in quarantine).
#
# What bounds Warden here: a batch holds at most ingest.batch_max_messages
# (10,000) or 100 ms of reading, and the broker hands Warden at most
# max_inflight_messages (1,000) unacknowledged messages; the rest waits in the
# broker's queue (conf/mosquitto.conf), in arrival order for every device.
# So a flood delays others by the part of its backlog that arrived before
# them (Warden has no per-device fairness of its own; the broker's queue is
# one line), and costs Warden no memory beyond one batch.
. "$(dirname "$0")/lib.sh"
WARDEN=${WARDEN_PLAIN:-build/warden}
FLOOD_SECONDS=${FLOOD_SECONDS:-6}
NORMAL_RATE=${FLOOD_NORMAL_RATE:-20}   # messages a second over the ordinary devices
NORMAL_SECONDS=${FLOOD_NORMAL_SECONDS:-3}
BOUND_S=${FLOOD_BOUND_SECONDS:-30}     # others' data stored and evaluated within this
RSS_BOUND_KB=${FLOOD_RSS_BOUND_KB:-262144}

cat > "$T/group.json" <<'EOF'
{"name": "default", "properties": {"timeWindowRules": [
  {"ruleType": "MqttD2CMessagesNotInAllowedRange", "isEnabled": true,
   "minThreshold": 0, "maxThreshold": 2000, "timeWindowSize": "PT30S"},
  {"ruleType": "MqttC2DMessagesNotInAllowedRange", "isEnabled": true,
   "minThreshold": 0, "maxThreshold": 5, "timeWindowSize": "PT30S"}]}}
EOF
"$WARDEN" groups import "$T/group.json" --db "$T/warden.db" > /dev/null 2>&1 || fail flood-group-import

all_of() { # all_of LIKE: every message counted for the devices whose id is LIKE the pattern
    sql "SELECT coalesce(sum(value), 0) FROM device_counts WHERE device_id LIKE '$1'
         AND metric IN ('d2c_messages', 'c2d_messages', 'direct_method_invokes', 'twin_updates')"
}
alert_of() { sql "SELECT count(*) FROM alerts WHERE alert_type = '$1' AND alert_key LIKE '$2%'"; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

start_broker
start_warden --evaluator.interval=PT1S

# The flood: one device, QoS 1, as fast as the broker acknowledges.
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --devices 1 --prefix flood- --rate max \
    --format flatbuffers --flows 1 --duration "$FLOOD_SECONDS" > "$T/flood.json" 2> "$T/flood.log" &
FLOOD_PID=$!
PIDS+=("$FLOOD_PID")
# The flood is under way once Warden stores some of it: it publishes faster than Warden
# stores, so from then on a backlog waits in the broker ahead of the ordinary devices.
wait_until '[ "$(all_of "flood-%")" -gt 0 ]' || fail flood-started "$(tail -3 "$T/flood.log")"

# The ordinary devices, and a C2D burst to one of them, in the middle of the flood.
t0=$(date +%s%N)
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --devices 5 --prefix norm- --rate "$NORMAL_RATE" \
    --format mixed --duration "$NORMAL_SECONDS" > "$T/normal.json" 2> "$T/normal.log" &
NORMAL_PID=$!
PIDS+=("$NORMAL_PID")
seq 1 10 | mosquitto_pub -p "$BROKER_PORT" -q 1 -t "devices/victim-1/messages/devicebound/burst" -l
peak=0
sample_rss() { local r; r=$(rss_kb "$WARDEN_PID"); [ "$r" -gt "$peak" ] && peak=$r; return 0; }
# The peak RSS is sampled at wait_until's period for as long as the ordinary devices run.
wait_until 'sample_rss; ! kill -0 "$NORMAL_PID" 2>/dev/null' 300
wait_exit "$NORMAL_PID" 120 "its start"
normal=$(grep -o '"published": *[0-9]*' "$T/normal.json" | grep -o '[0-9]*$')
t_end=$(date +%s%N)

# Within the bound, while the flood still runs: every ordinary message counted,
# and the victim's C2D alert raised.
stored_ok=0 alert_ok=0 t_stored=0 t_alert=0 flood_then=0
flood_settled() { # both within the bound: every ordinary message counted, the victim's alert
    if [ "$stored_ok" = 0 ] && [ "$(all_of 'norm-%')" = "$normal" ]; then
        stored_ok=1 t_stored=$(( ($(date +%s%N) - t_end) / 1000000 ))
        flood_then=$(all_of 'flood-%')
    fi
    if [ "$alert_ok" = 0 ] && [ "$(alert_of IoT_CA_MqttC2DMessagesNotInAllowedRange victim-1)" -ge 1 ]; then
        alert_ok=1 t_alert=$(( ($(date +%s%N) - t0) / 1000000 ))
    fi
    sample_rss
    [ "$stored_ok$alert_ok" = 11 ]
}
wait_until flood_settled "$BOUND_S"
echo "ordinary devices: published $normal, counted $(all_of 'norm-%')" \
    "(all stored ${t_stored} ms after they stopped, when $flood_then of the flood were stored);" \
    "victim's C2D alert ${t_alert} ms after its burst" >&2
check flood-others-stored-within-bound "$stored_ok" 1
check flood-others-alert-within-bound "$alert_ok" 1

wait_exit "$FLOOD_PID" 120 "its start"
flooded=$(grep -o '"published": *[0-9]*' "$T/flood.json" | grep -o '[0-9]*$')
rate=$(grep -o '"rate": *[0-9.]*' "$T/flood.json" | grep -o '[0-9.]*$')
# Warden drains the flood's backlog from the broker, then the flooder's alert shows.
wait_sql "SELECT coalesce(sum(value), 0) FROM device_counts WHERE device_id LIKE 'flood-%'
          AND metric IN ('d2c_messages', 'c2d_messages', 'direct_method_invokes', 'twin_updates')" "$flooded" 120 ||
    fail flood-flooder-stored "$(all_of 'flood-%') of $flooded"
wait_sql "SELECT count(*) > 0 FROM alerts WHERE alert_type = 'IoT_CA_MqttD2CMessagesNotInAllowedRange' AND alert_key LIKE 'flood-%'" 1 30 &&
    pass flood-flooder-alerted || fail flood-flooder-alerted
check flood-ordinary-not-alerted-for-d2c "$(alert_of IoT_CA_MqttD2CMessagesNotInAllowedRange norm-)" 0
hwm=$(hwm_kb "$WARDEN_PID")
[ "$hwm" -gt "$peak" ] && peak=$hwm
echo "flooder: $flooded messages in ${FLOOD_SECONDS} s ($rate msg/s), all stored; ordinary: $normal stored;" \
    "warden peak RSS $((peak / 1024)) MiB (bound $((RSS_BOUND_KB / 1024)) MiB, $WARDEN)" >&2
[ "$peak" -gt 0 ] && [ "$peak" -lt "$RSS_BOUND_KB" ] && pass flood-memory-bounded ||
    fail flood-memory-bounded "peak $peak kB"
stop_pid "$WARDEN_PID"
exit $NFAIL
