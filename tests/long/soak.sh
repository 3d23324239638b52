#!/bin/bash
# Soak: simulated traffic for LONG_SOAK_SECONDS (default 1800) into `warden
# run` (the plain build, as a lab runs it) with the evaluator on and every
# rule of the demo group enabled. Warden's RSS is sampled every 10 s. Flat
# means the largest sample of the last third is within SOAK_SLACK_PCT (10%)
# of the largest of the middle third. The first third is warm-up: SQLite's
# page caches, the evaluator's windows and the first rollups and retention
# steps grow memory once (a 30-minute run here: 12 MiB at the start, a plateau
# near 20 MiB after about 14 minutes), while a leak keeps growing to the end.
# Its growth over the first third is printed too. At the end every published
# event must be stored.
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
    kb=$(awk '/^VmRSS/ {r = $2} /^RssAnon/ {a = $2} END {if (r) print r, a}' \
        "/proc/$WARDEN_PID/status" 2>/dev/null)
    [ -n "$kb" ] || { fail soak-warden-alive; break; }
    echo "$((SECONDS - t0)) $kb" >> "$T/rss"
    sleep 10 # kept: the RSS sampling period of the soak, not a wait for anything
done
wait "$SIM_PID"
published=$(grep -o '"events": *[0-9]*' "$T/sim.json" | grep -o '[0-9]*$')
msgs=$(grep -o '"published": *[0-9]*' "$T/sim.json" | grep -o '[0-9]*$')
wait_sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)" "$published" 60
stored=$(sql "SELECT (SELECT count(*) FROM event_ids_0) + (SELECT count(*) FROM event_ids_1)")
n=$(wc -l < "$T/rss")
read -r first middle last peak anon_mid anon_last <<< "$(awk -v n="$n" '
    NR <= n / 3 && $2 > f {f = $2}
    NR > n / 3 && NR <= n - n / 3 {if ($2 > m) m = $2; if ($3 > am) am = $3}
    NR > n - n / 3 {if ($2 > l) l = $2; if ($3 > al) al = $3}
    $2 > p {p = $2}
    END {print f + 0, m + 0, l + 0, p + 0, am + 0, al + 0}' "$T/rss")"
echo "RSS samples (s:MiB): $(awk '{printf "%s:%.1f ", $1, $2 / 1024}' "$T/rss" | head -c 3000)" >&2
echo "soak: $msgs messages, $published events published, $stored stored;" \
    "$(sql "SELECT count(*) FROM alerts") alerts; $n RSS samples; max of the first third" \
    "$((first / 1024)) MiB, of the middle third $((middle / 1024)) MiB (heap $((anon_mid / 1024)) MiB)," \
    "of the last third $((last / 1024)) MiB (heap $((anon_last / 1024)) MiB), peak $((peak / 1024)) MiB;" \
    "last third vs first: +$(( (last - first) * 100 / (first > 0 ? first : 1) ))%;" \
    "database $(( $(stat -c %s "$T/warden.db") / 1048576 )) MiB" >&2
check soak-nothing-lost "$stored" "$published"
if [ "$n" -ge 6 ] && [ "$last" -le $((middle + middle * SLACK / 100)) ]; then
    echo "soak verdict: flat (last third within ${SLACK}% of the middle third)" >&2
    pass soak-rss-flat
else
    echo "soak verdict: growing (or too few samples)" >&2
    fail soak-rss-flat "middle third $middle kB, last third $last kB, $n samples"
fi
stop_pid "$WARDEN_PID"
exit $NFAIL
