#!/usr/bin/env bash
# Issue 14, point 5: retained messages are not counted again on every restart.
# A broker sends its retained messages again at each subscription, so at each
# start of Warden; IoT Hub retains nothing. Warden ingests a retained message
# once (it arrives live, without the flag), and at each restart acknowledges
# the re-sent copy, counts it in warden_messages_retained_ignored_total and
# stores nothing: two restarts change no count.
. "$(dirname "$0")/lib.sh"

N=20
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
start_broker
start_warden
d2c() { sql "SELECT coalesce(sum(d2c_messages), 0) FROM counts c JOIN devices d ON d.id = c.dev WHERE d.device_id = '$1'"; }
ignored() { sql "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = 'warden_messages_retained_ignored_total'"; }

# Retained D2C messages on N topics (a broker keeps one a topic), and a retained hub record.
for i in $(seq 1 $N); do
    mosquitto_pub -p "$BROKER_PORT" -q 1 -r -t "devices/ret-1/messages/events/n=$i" -m "m$i"
done
mosquitto_pub -p "$BROKER_PORT" -q 1 -r -t hub/lab-hub/operations -m "{\"time\": \"$NOW\",
  \"category\": \"DirectMethods\", \"operation\": \"invoke\", \"result\": \"Succeeded\", \"deviceId\": \"ret-1\"}"
wait_sql "SELECT count(*) FROM hub_operations" 1 10 || fail retained-hub-record-ingested
wait_sql "SELECT coalesce(sum(d2c_messages), 0) FROM counts" $N 10 || fail retained-ingested-once "$(d2c ret-1)"
check retained-ingested-live-once "$(d2c ret-1)" $N
before="$(d2c ret-1) $(sql "SELECT sum(direct_method_invokes) FROM counts") $(sql "SELECT count(*) FROM hub_operations") $(sql "SELECT count(*) FROM dead_letters")"

for round in 1 2; do
    stop_pid "$WARDEN_PID"
    start_warden
    # The broker re-sends the N + 1 retained messages at the subscription: each is ignored.
    wait_sql "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = 'warden_messages_retained_ignored_total'" \
        $(((N + 1) * round)) 20 || fail "restart-$round-retained-ignored" "counted $(ignored)"
    # A message after them on the same session: whatever the restart re-sent is behind us.
    pub devices/marker/messages/events/ -m "after-$round"
    wait_sql "SELECT coalesce(sum(d2c_messages), 0) FROM counts c JOIN devices d ON d.id = c.dev WHERE d.device_id = 'marker'" \
        "$round" 10 || fail "restart-$round-marker"
    after="$(d2c ret-1) $(sql "SELECT sum(direct_method_invokes) FROM counts") $(sql "SELECT count(*) FROM hub_operations") $(sql "SELECT count(*) FROM dead_letters")"
    check "restart-$round-changes-no-count" "$after" "$before"
done
# Acknowledged: the re-sent copies did not come back within the session.
check retained-acknowledged-not-redelivered "$(ignored)" $((2 * (N + 1)))

exit $NFAIL
