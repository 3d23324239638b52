#!/bin/bash
# Warden stops on SIGTERM even when the broker stops at the same moment (a
# machine shutting down, or a test's cleanup): it used to spin for ever in
# its final write of acknowledgements, because libmosquitto reports a lost
# connection as success once it is disconnecting. Five rounds, each with a
# stream running, the broker and Warden sent SIGTERM together; Warden must be
# gone within 5 seconds each time (before the fix, 5 rounds of 6 hung with
# build/warden, 1 of 3 with the sanitized build).
. "$(dirname "$0")/lib.sh"
gone=0
for round in 1 2 3 4 5; do
    start_broker
    start_warden
    "$WARDEN_PLAIN" sim --mqtt.port="$BROKER_PORT" --devices 20 --rate 2000 --format flatbuffers \
        --flows 2 --count 20000 > /dev/null 2>&1 &
    SIM_PID=$!
    PIDS+=("$SIM_PID")
    wait_sql "SELECT count(*) > 500 FROM flow_pack" 1 20 || fail "stop-round-$round-stream"
    kill -TERM "$BROKER_PID" "$WARDEN_PID"
    wait_gone "$WARDEN_PID" 5
    if kill -0 "$WARDEN_PID" 2> /dev/null; then
        echo "round $round: warden still running 5 s after SIGTERM" >&2
        kill -KILL "$WARDEN_PID"
    else
        gone=$((gone + 1))
    fi
    stop_pid "$WARDEN_PID"
    stop_pid "$SIM_PID"
    stop_pid "$BROKER_PID"
    unset BROKER_PORT
done
check warden-stops-when-the-broker-stops-with-it "$gone" 5
exit $NFAIL
