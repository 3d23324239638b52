#!/bin/bash
# Soak: simulated traffic for LONG_SOAK_SECONDS (default 1800) into `warden
# run` (the plain build, as a lab runs it) with the evaluator on and every
# rule of the demo group enabled. Warden's RSS is sampled every 10 s. Flat
# means the largest sample of the last third is within SOAK_SLACK_PCT (10%)
# of the largest of the first third: caches fill early, a leak keeps growing.
# At the end every published event must be stored.
. "$(dirname "$0")/../integration/lib.sh"
WARDEN=${WARDEN_PLAIN:-build/warden}
SECONDS_TOTAL=${LONG_SOAK_SECONDS:-1800}
DEVICES=${SOAK_DEVICES:-200}
RATE=${SOAK_RATE:-400}
SLACK=${SOAK_SLACK_PCT:-10}

"$WARDEN" groups import conf/demo-group.json --db "$T/warden.db" > /dev/null 2>&1 || fail soak-group
start_broker
start_warden --evaluator.interval=PT10S
"$WARDEN" sim --mqtt.port="$BROKER_PORT" --devices "$DEVICES" --rate "$RATE" --format mixed \
    --scenario demo --duration "$SECONDS_TOTAL" > "$T/sim.json" 2> "$T/sim.log" &
SIM_PID=$!
PIDS+=("$SIM_PID")
echo "soak: $DEVICES devices at $RATE msg/s (demo scenario) for $SECONDS_TOTAL s" >&2
: > "$T/rss"
t0=$SECONDS
while kill -0 "$SIM_PID" 2>/dev/null; do
    kb=$(awk '/^VmRSS/ {print $2}' "/proc/$WARDEN_PID/status" 2>/dev/null)
    [ -n "$kb" ] || { fail soak-warden-alive; break; }
    echo "$((SECONDS - t0)) $kb" >> "$T/rss"
    sleep 10
done
wait "$SIM_PID"
published=$(grep -o '"events": *[0-9]*' "$T/sim.json" | grep -o '[0-9]*$')
msgs=$(grep -o '"published": *[0-9]*' "$T/sim.json" | grep -o '[0-9]*$')
wait_sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)" "$published" 60
stored=$(sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)")
n=$(wc -l < "$T/rss")
read -r first last peak <<< "$(awk -v n="$n" '
    NR <= n / 3 && $2 > f {f = $2} NR > n - n / 3 && $2 > l {l = $2} $2 > p {p = $2}
    END {print f + 0, l + 0, p + 0}' "$T/rss")"
echo "RSS samples (s kB): $(awk '{printf "%s:%s ", $1, $2}' "$T/rss" | head -c 2000)" >&2
echo "soak: $msgs messages, $published events published, $stored stored;" \
    "$(sql "SELECT count(*) FROM alerts") alerts; $n RSS samples; max of the first third" \
    "$((first / 1024)) MiB, of the last third $((last / 1024)) MiB, peak $((peak / 1024)) MiB;" \
    "database $(( $(stat -c %s "$T/warden.db") / 1048576 )) MiB" >&2
check soak-nothing-lost "$stored" "$published"
if [ "$n" -ge 3 ] && [ "$last" -le $((first + first * SLACK / 100)) ]; then
    echo "soak verdict: flat (last third within ${SLACK}% of the first)" >&2
    pass soak-rss-flat
else
    echo "soak verdict: growing (or too few samples)" >&2
    fail soak-rss-flat "first third $first kB, last third $last kB, $n samples"
fi
stop_pid "$WARDEN_PID"
exit $NFAIL
