#!/bin/bash
# Nothing acknowledged is lost: during one stream of security messages Warden
# is aborted right before a commit, right after a commit (before its
# acknowledgements are written), and killed with SIGKILL at random moments;
# then the broker is restarted, once with Warden's queue waiting in it and
# once with Warden connected. At the end every published event is stored
# exactly once.
#
# How "exactly once" is counted: event_ids_* hold one key per stored event,
# so their count is the number of distinct events stored; the flows view has a row
# per stored flow, duplicates included, and must equal the flows published.
#
# `make check-long` (tests/long/run.sh) runs it longer through these: more
# messages and kills, CRASH_TERM_MIX=1 (each kill SIGTERM or SIGKILL at
# random), CRASH_BROKER_MID=1 (the broker restarted with SIGTERM halfway
# through the kills, while the stream runs), CRASH_BROKER_KILL=1 (at the end,
# a stream queued in the broker, the broker killed with SIGKILL: what it loses
# is reported as the broker's), and CRASH_ALERTS=1 (the demo security group
# and a 1-second evaluator, so alerts open and resolve across the kills).
. "$(dirname "$0")/lib.sh"
MESSAGES=${CRASH_MESSAGES:-50000}
RATE=${CRASH_RATE:-5000}
KILLS=${CRASH_KILLS:-4}
TERM_MIX=${CRASH_TERM_MIX:-0}
BROKER_MID=${CRASH_BROKER_MID:-0}
BROKER_KILL=${CRASH_BROKER_KILL:-0}
EVAL_ARGS=()
if [ "${CRASH_ALERTS:-0}" = 1 ]; then
    "$WARDEN" groups import conf/demo-group.json --db "$T/warden.db" > /dev/null 2>&1 || fail crash-group-import
    EVAL_ARGS=(--evaluator.interval=PT1S)
fi
start_broker
restart_broker() { # restart_broker SIGNAL
    stop_pid "$BROKER_PID" "$1"
    BROKER_PID=$(sh tools/broker.sh "$BROKER_PORT" "$T/broker")
    PIDS+=("$BROKER_PID")
    wait_port "$BROKER_PORT" || fail "broker-restart-after-$1"
}

events_stored() { sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)"; }
counter() { sql "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = '$1'"; }
aborted_batch() { grep -o "WARDEN_TEST_ABORT $1 commit [0-9]* holding [0-9]* messages" "$T/warden.log" | tail -1; }

# Warden's persistent session must exist before the stream starts, as it
# would in a lab: connect once, then stop.
start_warden
stop_pid "$WARDEN_PID"

# The stream is flowing (and queueing for Warden) once a subscriber sees its first message.
start_sub "$T/stream.out" -p "$BROKER_PORT" -t 'devices/#' -C 1 -W 120 || exit 1
STREAM_SUB=$SUB_PID
"$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --devices 100 --rate "$RATE" --format flatbuffers \
    --flows 2 --count "$MESSAGES" > "$T/sim.json" 2> "$T/sim.log" &
SIM_PID=$!
PIDS+=("$SIM_PID")
wait "$STREAM_SUB"

# 1. Abort right before the 3rd commit that holds messages: that batch was
# never committed, so it can only be in the database at the end if the broker
# re-delivered it.
WARDEN_TEST_ABORT=before_commit:3 ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 launch_warden
wait_exit "$WARDEN_PID" 120 "its start"
b=$(aborted_batch before)
echo "abort: $b" >&2
[ -n "$b" ] && pass crash-abort-before-commit-mid-batch || fail crash-abort-before-commit-mid-batch
# 2. Abort right after the 2nd commit, before its acknowledgements are
# written: the broker re-delivers messages that are already stored.
dups0=$(counter warden_events_duplicate_total)
WARDEN_TEST_ABORT=after_commit:2 ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 launch_warden
wait_exit "$WARDEN_PID" 120 "its start"
b=$(aborted_batch after)
echo "abort: $b" >&2
[ -n "$b" ] && pass crash-abort-after-commit-mid-batch || fail crash-abort-after-commit-mid-batch
# 3. SIGKILL (or, mixed in, SIGTERM) at random moments while the stream runs.
kills=0 terms=0
for i in $(seq 1 "$KILLS"); do
    start_warden "${EVAL_ARGS[@]}"
    # Kept sleep (the scenario): the kill comes at a random moment of the stream, 0.1-1.9 s in.
    sleep "$((RANDOM % 2)).$((RANDOM % 9 + 1))"
    before=$(events_stored)
    sig=KILL
    [ "$TERM_MIX" = 1 ] && [ $((RANDOM % 2)) = 0 ] && sig=TERM && terms=$((terms + 1))
    stop_pid "$WARDEN_PID" "$sig" && kills=$((kills + 1))
    echo "kill $i: SIG$sig with $before events stored" >&2
    if [ "$BROKER_MID" = 1 ] && [ "$i" = $((KILLS / 2)) ]; then
        restart_broker TERM
        echo "broker restarted with SIGTERM during the stream, $(events_stored) events stored" >&2
    fi
done
echo "warden stopped $kills times: $((kills - terms)) SIGKILL, $terms SIGTERM" >&2
check crash-sigkills-done "$kills" "$KILLS"
# Re-deliveries after the kills show as duplicates dropped on the next start.
start_warden "${EVAL_ARGS[@]}"
wait_until '[ "$(counter warden_events_duplicate_total)" -gt "$dups0" ]'
dups1=$(counter warden_events_duplicate_total)
echo "duplicates dropped after the aborts and kills: $((dups1 - dups0))" >&2
[ "$dups1" -gt "$dups0" ] && pass crash-redeliveries-seen || fail crash-redeliveries-seen
stop_pid "$WARDEN_PID" KILL

# 4. The rest of the stream queues in the broker while Warden is down; the
# broker is stopped (SIGTERM: it saves its state) and started again.
wait_exit "$SIM_PID" $((120 + MESSAGES / RATE * 4)) "its start"
published=$(grep -o '"events": *[0-9]*' "$T/sim.json" | grep -o '[0-9]*$')
flows=$(grep -o '"flows": *[0-9]*' "$T/sim.json" | grep -o '[0-9]*$')
echo "published: $published events, $flows flows; stored before the broker restart: $(events_stored)" >&2
stop_pid "$BROKER_PID" TERM
BROKER_PID=$(sh tools/broker.sh "$BROKER_PORT" "$T/broker")
PIDS+=("$BROKER_PID")
wait_port "$BROKER_PORT" || fail broker-restart
start_warden "${EVAL_ARGS[@]}"
wait_sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)" "$published" $((120 + MESSAGES / 2000))

# 5. The broker restarted while Warden is connected: Warden reconnects by itself (it logs
# each connection).
connections() { grep -c "connected to 127.0.0.1:$BROKER_PORT as" "$T/warden.log"; }
n_conn=$(connections)
stop_pid "$BROKER_PID" TERM
t0=$(now_ms)
BROKER_PID=$(sh tools/broker.sh "$BROKER_PORT" "$T/broker")
PIDS+=("$BROKER_PID")
wait_until '[ "$(connections)" -gt "$n_conn" ]' 60 && wait_sql "SELECT connected FROM ingest_state" 1 &&
    pass crash-reconnected-after-broker-restart || fail crash-reconnected-after-broker-restart
echo "reconnect after the broker restart: $(($(now_ms) - t0)) ms" >&2

stored=$(events_stored)
rows=$(sql "SELECT count(*) FROM flows")
echo "published $published events / $flows flows; stored $stored distinct events / $rows flow rows;" \
    "lost $((published - stored)), stored twice $((rows - flows)) flows" >&2
check crash-zero-lost "$stored" "$published"
check crash-zero-stored-twice "$rows" "$flows"
open_twice=$(sql "SELECT count(*) FROM (SELECT alert_key FROM alerts WHERE status IN ('Active', 'Dismissed')
                  GROUP BY alert_key HAVING count(*) > 1)")
echo "alerts: $(sql "SELECT count(*) FROM alerts") raised, $(sql "SELECT count(DISTINCT alert_key) FROM alerts") keys;" \
    "keys open twice: $open_twice" >&2
check crash-no-alert-key-open-twice "$open_twice" 0

# 6. The broker killed with SIGKILL while Warden's queue waits in it: Mosquitto
# keeps only what it last saved (autosave_interval in conf/mosquitto.conf), so
# what it loses is the broker's loss, counted apart from Warden's.
if [ "$BROKER_KILL" = 1 ]; then
    stop_pid "$WARDEN_PID"
    before=$(events_stored)
    "$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --devices 100 --rate "$RATE" --format flatbuffers \
        --flows 2 --count $((RATE * 8)) --prefix late- > "$T/sim2.json" 2> "$T/sim2.log"
    # Kept sleep (the scenario): the SIGKILL comes at a random moment of the broker's
    # 5-second autosave cycle, 0.1-4.9 s after the stream.
    sleep "$((RANDOM % 5)).$((RANDOM % 9 + 1))"
    restart_broker KILL
    # A marker queued behind what the broker kept: the broker delivers Warden's queue in
    # order, so once the marker is stored, so is everything before it.
    pub devices/late-marker/messages/events/ -m marker
    start_warden "${EVAL_ARGS[@]}"
    late=$(grep -o '"events": *[0-9]*' "$T/sim2.json" | grep -o '[0-9]*$')
    wait_sql "SELECT count(*) FROM devices WHERE device_id = 'late-marker'" 1 $((120 + RATE * 8 / 2000)) ||
        fail crash-broker-sigkill-queue-drained
    got=$(( $(events_stored) - before ))
    echo "broker SIGKILL: $late events queued in it, $got stored after its restart;" \
        "the broker lost $((late - got)) ($(( (late - got) * 100 / late ))%)" >&2
    [ "$got" -le "$late" ] && pass crash-broker-sigkill-loss-reported || fail crash-broker-sigkill-loss-reported
fi
stop_pid "$WARDEN_PID"
exit $NFAIL
