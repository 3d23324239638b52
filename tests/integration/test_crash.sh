#!/bin/bash
# Nothing acknowledged is lost: during one stream of security messages Warden
# is aborted right before a commit, right after a commit (before its
# acknowledgements are written), and killed with SIGKILL at random moments;
# then the broker is restarted, once with Warden's queue waiting in it and
# once with Warden connected. At the end every published event is stored
# exactly once.
#
# How "exactly once" is counted: event_ids_* hold one key per stored event,
# so their count is the number of distinct events stored; flow_raw holds a row
# per stored flow, duplicates included, and must equal the flows published.
. "$(dirname "$0")/lib.sh"
MESSAGES=${CRASH_MESSAGES:-50000}
RATE=${CRASH_RATE:-5000}
KILLS=${CRASH_KILLS:-4}
start_broker

events_stored() { sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)"; }
counter() { sql "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = '$1'"; }
aborted_batch() { grep -o "WARDEN_TEST_ABORT $1 commit [0-9]* holding [0-9]* messages" "$T/warden.log" | tail -1; }

# Warden's persistent session must exist before the stream starts, as it
# would in a lab: connect once, then stop.
start_warden
stop_pid "$WARDEN_PID"

"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --devices 100 --rate "$RATE" --format flatbuffers \
    --flows 2 --count "$MESSAGES" > "$T/sim.json" 2> "$T/sim.log" &
SIM_PID=$!
PIDS+=("$SIM_PID")
sleep 1

# 1. Abort right before the 3rd commit that holds messages: that batch was
# never committed, so it can only be in the database at the end if the broker
# re-delivered it.
WARDEN_TEST_ABORT=before_commit:3 ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 launch_warden
wait "$WARDEN_PID" 2>/dev/null
b=$(aborted_batch before)
echo "abort: $b" >&2
[ -n "$b" ] && pass crash-abort-before-commit-mid-batch || fail crash-abort-before-commit-mid-batch
# 2. Abort right after the 2nd commit, before its acknowledgements are
# written: the broker re-delivers messages that are already stored.
dups0=$(counter warden_events_duplicate_total)
WARDEN_TEST_ABORT=after_commit:2 ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 launch_warden
wait "$WARDEN_PID" 2>/dev/null
b=$(aborted_batch after)
echo "abort: $b" >&2
[ -n "$b" ] && pass crash-abort-after-commit-mid-batch || fail crash-abort-after-commit-mid-batch
# 3. SIGKILL at random moments while the stream runs.
kills=0
for i in $(seq 1 "$KILLS"); do
    start_warden
    sleep "$((RANDOM % 2)).$((RANDOM % 9 + 1))"
    before=$(events_stored)
    stop_pid "$WARDEN_PID" KILL && kills=$((kills + 1))
    echo "kill $i: $before events stored when killed" >&2
done
check crash-sigkills-done "$kills" "$KILLS"
# Re-deliveries after the kills show as duplicates dropped on the next start.
start_warden
sleep 1
dups1=$(counter warden_events_duplicate_total)
echo "duplicates dropped after the aborts and kills: $((dups1 - dups0))" >&2
[ "$dups1" -gt "$dups0" ] && pass crash-redeliveries-seen || fail crash-redeliveries-seen
stop_pid "$WARDEN_PID" KILL

# 4. The rest of the stream queues in the broker while Warden is down; the
# broker is stopped (SIGTERM: it saves its state) and started again.
wait "$SIM_PID" 2>/dev/null
published=$(grep -o '"events": *[0-9]*' "$T/sim.json" | grep -o '[0-9]*$')
flows=$(grep -o '"flows": *[0-9]*' "$T/sim.json" | grep -o '[0-9]*$')
echo "published: $published events, $flows flows; stored before the broker restart: $(events_stored)" >&2
stop_pid "$BROKER_PID" TERM
BROKER_PID=$(sh tools/broker.sh "$BROKER_PORT" "$T/broker")
PIDS+=("$BROKER_PID")
wait_port "$BROKER_PORT" || fail broker-restart
start_warden
wait_sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)" "$published" 120

# 5. The broker restarted while Warden is connected: Warden reconnects by itself.
stop_pid "$BROKER_PID" TERM
t0=$(date +%s%N)
BROKER_PID=$(sh tools/broker.sh "$BROKER_PORT" "$T/broker")
PIDS+=("$BROKER_PID")
wait_sql "SELECT connected FROM ingest_state" 0 5
wait_sql "SELECT connected FROM ingest_state" 1 60 && pass crash-reconnected-after-broker-restart ||
    fail crash-reconnected-after-broker-restart
echo "reconnect after the broker restart: $(( ($(date +%s%N) - t0) / 1000000 )) ms" >&2

stored=$(events_stored)
rows=$(sql "SELECT count(*) FROM flow_raw")
echo "published $published events / $flows flows; stored $stored distinct events / $rows flow rows;" \
    "lost $((published - stored)), stored twice $((rows - flows)) flows" >&2
check crash-zero-lost "$stored" "$published"
check crash-zero-stored-twice "$rows" "$flows"
stop_pid "$WARDEN_PID"
exit $NFAIL
