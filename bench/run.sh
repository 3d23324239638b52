#!/bin/sh
# Warden's benchmarks, each printed beside the ceiling it measured in the
# same run: the machine's speed drifts from run to run, so only ratios
# measured together mean anything. bench/README.md says what each figure is.
#
#   sh bench/run.sh [--quick] [BENCH ...]
#
# With no BENCH, every benchmark in BENCHES runs and the results go to
# bench/results/latest.json and latest.md; --quick (what `make test` runs)
# uses tiny sizes so the harness cannot rot, and, like a run of only some
# benchmarks, writes its results under $B/bench-results/ instead.
#
# A benchmark is a function bench_NAME that measures, checks its own counts
# against the database (check), and records figures (figure); adding one is
# writing that function and naming it in BENCHES. Everything runs on
# 127.0.0.1 on free ports; every process started is stopped by its pid.
set -eu

HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"
B=${B:-build}
WARDEN=$B/warden
BIN=$B/bench
BENCHES="ingest_flatbuffers ingest_json ingest_latency storage memory evaluator intel web hub_plugin"
# Not in the default run (about 15 minutes on its own): the evaluator over the
# SPEC's 1 and 7 days of history for 10,000 devices. `sh bench/run.sh evaluator_days`.
EXTRA_BENCHES="evaluator_days"

QUICK=0
SELECTED=""
for arg in "$@"; do
    case $arg in
    --quick) QUICK=1 ;;
    -h | --help)
        sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    -*)
        echo "usage: sh bench/run.sh [--quick] [BENCH ...]; BENCH one of: $BENCHES" >&2
        exit 2
        ;;
    *) SELECTED="$SELECTED $arg" ;;
    esac
done

# Sizes: the full run lasts several seconds per figure and fits, all of it,
# in 15 minutes on 2 cores; --quick takes seconds.
if [ "$QUICK" = 1 ]; then
    DEVICES=100          # simulated devices of the ingest runs
    FB_COUNT=3000        # messages of the FlatBuffers runs
    JSON_COUNT=1000      # messages of the JSON runs
    JSON_SAMPLE=300      # messages json_ceiling captures and parses
    JSON_CPU=0.3         # seconds of CPU json_ceiling parses for, at least
    LAT_SECONDS=1        # seconds of steady publishing for the latency
    FILL_DEVICES=10      # storage_fill: devices and hours
    FILL_HOURS=1
    WAIT_MAX=60          # seconds Warden may take to store a run
    EVAL_DEVICES=100     # eval_bench: devices, days of history (short, long), ranges
    EVAL_DAYS="0.02 0.14"
    EVAL_RANGES=1000
    INTEL_RANGES=1000    # intel_bench: ranges and seconds of lookups
    INTEL_SECONDS=0.1
    MEM_DEVICES=100      # memory: devices, messages, threat-list ranges
    MEM_COUNT=3000
    MEM_RANGES=1000
    WEB_ALERTS=2000      # web: alerts and devices stored, seconds of each wrk run
    WEB_DEVICES=100
    WRK_SECONDS=1
else
    DEVICES=1000
    FB_COUNT=200000
    JSON_COUNT=40000
    JSON_SAMPLE=5000
    JSON_CPU=3
    EVAL_DEVICES=10000
    EVAL_DAYS="0.1 0.7"
    EVAL_RANGES=1000000
    INTEL_RANGES=1000000
    INTEL_SECONDS=2
    MEM_DEVICES=10000
    MEM_COUNT=100000
    MEM_RANGES=1000000
    WEB_ALERTS=1000000
    WEB_DEVICES=10000
    WRK_SECONDS=10
    LAT_SECONDS=10
    FILL_DEVICES=1000
    FILL_HOURS=3
    WAIT_MAX=300
fi
FLOWS=20                 # flows per network-activity message (the issue's 20)
WIRE_BYTES=36            # what a flow takes on the wire (FlatBuffers)
RSS_TARGET_MIB=256

for f in "$WARDEN" "$BIN/null_sub" "$BIN/json_ceiling" "$BIN/sqlite_ceiling" "$BIN/latency_pub" \
    "$BIN/storage_fill" "$BIN/http_ceiling"; do
    [ -x "$f" ] || { echo "bench: $f is missing: run make B=$B bench" >&2; exit 2; }
done
for tool in mosquitto sqlite3 awk timeout wrk curl; do
    command -v "$tool" > /dev/null || { echo "bench: $tool is not installed" >&2; exit 2; }
done

T=$(mktemp -d /tmp/warden-bench.XXXXXX)
# Started as root, the broker drops to the mosquitto user: it must reach $T.
chmod 755 "$T"
PIDS=""
NFAIL=0
: > "$T/figures.tsv"
: > "$T/checks.tsv"
: > "$T/raw.tsv"
: > "$T/done"

cleanup() {
    for p in $PIDS; do kill "$p" 2> /dev/null || true; done
    for p in $PIDS; do
        i=0
        while alive "$p" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    done
    if [ "$NFAIL" -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$T"; else echo "bench: kept $T" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "bench: $*" >&2; }

# ---- processes -------------------------------------------------------------------

track() { PIDS="$PIDS $1"; }

# alive PID: the process exists and has not exited (a child that exited
# stays a zombie until it is waited for, and kill -0 still finds it).
alive() {
    [ "$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2> /dev/null)" != "" ] &&
        [ "$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2> /dev/null)" != Z ]
}

# stop PID: SIGTERM one of ours, SIGKILL after 20 s, and wait until it is
# gone. The broker is not our child (tools/broker.sh starts it): `wait` does
# not apply to it, hence the polling.
stop() {
    kill "$1" 2> /dev/null || true
    i=0
    while alive "$1"; do
        i=$((i + 1))
        [ $i -eq 200 ] && kill -KILL "$1" 2> /dev/null
        sleep 0.1
    done
    wait "$1" 2> /dev/null || true
    rest=""
    for p in $PIDS; do [ "$p" = "$1" ] || rest="$rest $p"; done
    PIDS=$rest
}

# A TCP port on 127.0.0.1 that no socket uses, from the kernel's own tables.
free_port() {
    while :; do
        # Below the ephemeral range (32768-60999), which outgoing connections take from.
        p=$(($(od -An -N2 -tu2 /dev/urandom) % 12000 + 20000))
        if ! awk -v port=":$(printf '%04X' "$p")" 'substr($2, length($2) - 4) == port { found = 1 }
                END { exit !found }' /proc/net/tcp /proc/net/tcp6 2> /dev/null; then
            echo "$p"
            return
        fi
    done
}

listening() { # listening PORT: something listens on it
    awk -v port=":$(printf '%04X' "$1")" 'substr($2, length($2) - 4) == port && $4 == "0A" { found = 1 }
        END { exit !found }' /proc/net/tcp /proc/net/tcp6 2> /dev/null
}

# wait_until SECONDS COMMAND...: poll every 0.05 s until COMMAND succeeds.
wait_until() {
    n=$(($1 * 20))
    shift
    while [ "$n" -gt 0 ]; do
        "$@" && return 0
        sleep 0.05
        n=$((n - 1))
    done
    return 1
}

# start_broker DIR: the lab broker (conf/mosquitto.conf) on a free port, state
# in DIR; sets BROKER_PORT and BROKER_PID. A port taken meanwhile: try another.
start_broker() {
    for attempt in 1 2 3 4 5; do
        BROKER_PORT=$(free_port)
        BROKER_PID=$(sh tools/broker.sh "$BROKER_PORT" "$1")
        track "$BROKER_PID"
        if wait_until 10 listening "$BROKER_PORT" && alive "$BROKER_PID"; then
            return 0
        fi
        stop "$BROKER_PID"
    done
    fail broker "cannot start mosquitto: $(tail -3 "$1/mosquitto.log")"
    exit 1
}

sq() { sqlite3 -batch -noheader "$1" "$2"; }

connected() { [ "$(sq "$1" 'SELECT connected FROM ingest_state' 2> /dev/null)" = 1 ]; }

# start_warden DIR: `warden run` on DIR/warden.db (fresh, unless a benchmark
# filled it) against the current broker, the web on a free port of its own
# (WEB_PORT); waits until it is connected.
start_warden() {
    WEB_PORT=$(free_port)
    "$WARDEN" run --db "$1/warden.db" --mqtt.port="$BROKER_PORT" --mqtt.client_id=bench \
        --web.listen="127.0.0.1:$WEB_PORT" >> "$1/warden.log" 2>&1 &
    WARDEN_PID=$!
    track "$WARDEN_PID"
    if ! wait_until 20 connected "$1/warden.db"; then
        fail warden-start "$(tail -5 "$1/warden.log")"
        exit 1
    fi
}

# Peak resident memory of a process so far, in KiB.
vm_hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# ---- numbers and JSON lines --------------------------------------------------------

# jget FILE KEY: a number from a one-line JSON object (the last line of FILE).
jget() {
    tail -n 1 "$1" | tr ',{}' '\n\n\n' | awk -F: -v k="\"$2\"" '{ gsub(/ /, "", $1) }
        $1 == k { gsub(/ /, "", $2); print $2; found = 1 } END { exit !found }'
}

calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }

# Messages Warden counted, every kind but "security" (a subset of d2c).
MSGS_SQL="SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = 'warden_messages_total'
          AND label IN ('kind=\"d2c\"', 'kind=\"c2d\"', 'kind=\"method\"', 'kind=\"twin\"', 'kind=\"hub\"')"
counter() { # counter DB NAME [LABEL]
    if [ $# -gt 2 ]; then
        sq "$1" "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = '$2' AND label = '$3'"
    else
        sq "$1" "SELECT coalesce(sum(value), 0) FROM ingest_counters WHERE name = '$2'"
    fi
}

# wait_stored DB EXPECTED: poll until Warden has counted EXPECTED messages.
# Sets LAST_COMMIT_MS from the same snapshot: the counters and
# ingest_state.last_commit_ms are written by the same transaction, and the
# next commit (an idle one) comes no sooner than a second later, so the
# first snapshot showing the count carries the time of the commit that made it.
wait_stored() {
    deadline=$(($(date +%s) + WAIT_MAX))
    while :; do
        row=$(sq "$1" "SELECT ($MSGS_SQL), (SELECT last_commit_ms FROM ingest_state)" 2> /dev/null) || row="0|0"
        if [ "${row%|*}" -ge "$2" ]; then
            LAST_COMMIT_MS=${row#*|}
            return 0
        fi
        if [ "$(date +%s)" -gt "$deadline" ]; then
            LAST_COMMIT_MS=0
            return 1
        fi
        sleep 0.05
    done
}

# ---- results -----------------------------------------------------------------------

fail() { NFAIL=$((NFAIL + 1)); printf 'FAIL\t%s\t%s\n' "$1" "$2" >> "$T/checks.tsv"; echo "FAIL $1: $2"; }

# check NAME ACTUAL EXPECTED [WHAT]: a benchmark's own output against the database.
check() {
    if [ "$2" = "$3" ]; then
        printf 'ok\t%s\t%s\n' "$1" "${4:-}$2" >> "$T/checks.tsv"
        echo "ok $1: ${4:-}$2"
    else
        fail "$1" "${4:-}got $2, expected $3"
    fi
}

# figure BENCH FIGURE VALUE UNIT CEILING_LABEL CEILING_VALUE TARGET
# TARGET: "ratio>=X" (value / ceiling), "value<X", "value>=X", or "-" (report only).
# Ratio is value / ceiling when there is a ceiling.
figure() {
    awk -v b="$1" -v f="$2" -v v="$3" -v u="$4" -v cl="$5" -v c="$6" -v t="$7" 'BEGIN {
        r = (c != "-" && c + 0 > 0) ? v / c : "-"
        s = "-"
        if (t ~ /^ratio>=/) { x = substr(t, 8); s = (r != "-" && r >= x + 0) ? "PASS" : "MISS" }
        else if (t ~ /^value</) { x = substr(t, 7); s = (v + 0 < x + 0) ? "PASS" : "MISS" }
        else if (t ~ /^value>=/) { x = substr(t, 8); s = (v + 0 >= x + 0) ? "PASS" : "MISS" }
        if (r != "-") r = sprintf("%.3f", r)
        printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b, f, v, u, cl, c, r, t, s
    }' >> "$T/figures.tsv"
}

# raw KEY FILE: keep a tool's JSON summary line for latest.json.
raw() { printf '%s\t%s\n' "$1" "$(tail -n 1 "$2")" >> "$T/raw.tsv"; }

# ---- ingest ------------------------------------------------------------------------

SIM_ARGS="--rate max --flows $FLOWS --devices $DEVICES"

# ceiling_broker FORMAT COUNT DIR: the broker and `warden sim` feeding
# null_sub, a QoS 1 subscriber that does nothing. Sets CEIL_RATE and
# CEIL_RECEIVED. DIR is named after the benchmark, and so are its checks.
ceiling_broker() {
    name=$(basename "$3")
    start_broker "$3/broker"
    "$BIN/null_sub" "$BROKER_PORT" "$2" 10 > "$3/null_sub.json" 2> "$3/null_sub.err" &
    ns=$!
    track "$ns"
    wait_until 10 grep -q ready "$3/null_sub.err" || { fail "$name" "null_sub did not subscribe"; exit 1; }
    timeout 900 "$WARDEN" sim --mqtt.port="$BROKER_PORT" $SIM_ARGS --format "$1" --count "$2" \
        > "$3/sim-ceiling.json" 2> "$3/sim-ceiling.err" ||
        { fail "$name" "sim failed: $(tail -3 "$3/sim-ceiling.err")"; exit 1; }
    wait "$ns" || true
    stop "$ns"
    stop "$BROKER_PID"
    CEIL_RATE=$(jget "$3/null_sub.json" rate)
    CEIL_RECEIVED=$(jget "$3/null_sub.json" received)
    check "$name ceiling-received" "$CEIL_RECEIVED" "$(jget "$3/sim-ceiling.json" published)" "null_sub received "
}

# ingest_warden FORMAT COUNT DIR: the same broker and sim command into `warden run`.
# Sets W_MSGS, W_FLOWS_RATE, W_RATE, W_SECONDS, W_HWM_KIB and the sim's figures.
ingest_warden() {
    name=$(basename "$3")
    start_broker "$3/broker"
    start_warden "$3"
    timeout 900 "$WARDEN" sim --mqtt.port="$BROKER_PORT" $SIM_ARGS --format "$1" --count "$2" \
        > "$3/sim.json" 2> "$3/sim.err" || { fail "$name" "sim failed: $(tail -3 "$3/sim.err")"; exit 1; }
    SIM_PUBLISHED=$(jget "$3/sim.json" published)
    SIM_FLOWS=$(jget "$3/sim.json" flows)
    SIM_SECURITY=$(jget "$3/sim.json" security_messages)
    SIM_EVENTS=$(jget "$3/sim.json" events)
    wait_stored "$3/warden.db" "$SIM_PUBLISHED" ||
        fail "$name" "Warden stored $(sq "$3/warden.db" "$MSGS_SQL") of $SIM_PUBLISHED messages in ${WAIT_MAX}s"
    W_HWM_KIB=$(vm_hwm "$WARDEN_PID")
    stop "$WARDEN_PID"
    stop "$BROKER_PID"
    db=$3/warden.db
    # The first message of the run registered its device: devices.first_seen_ms is its recv_ms.
    first=$(sq "$db" 'SELECT min(first_seen_ms) FROM devices')
    W_SECONDS=$(calc "($LAST_COMMIT_MS - $first) / 1000")
    W_MSGS=$(sq "$db" "$MSGS_SQL")
    W_STORED_FLOWS=$(sq "$db" 'SELECT count(*) FROM flow_pack, json_each(flows)')
    W_RATE=$(calc "$W_MSGS / $W_SECONDS")
    W_FLOWS_RATE=$(calc "$W_STORED_FLOWS / $W_SECONDS")
    printf '{"messages": %s, "flows": %s, "seconds": %s, "rate": %s, "flows_rate": %s, "vm_hwm_kib": %s}\n' \
        "$W_MSGS" "$W_STORED_FLOWS" "$W_SECONDS" "$W_RATE" "$W_FLOWS_RATE" "$W_HWM_KIB" > "$3/warden.json"
}

# check_ingest NAME DIR: Warden's rows and counters against the simulator's and null_sub's counts.
check_ingest() {
    db=$2/warden.db
    check "$1 published" "$SIM_PUBLISHED" "$CEIL_RECEIVED" "the simulator published, as for the ceiling, "
    check "$1 messages" "$W_MSGS" "$CEIL_RECEIVED" "Warden counted (d2c+c2d+method+twin+hub) "
    check "$1 flows-stored" "$W_STORED_FLOWS" "$SIM_FLOWS" "count(*) FROM flow_pack, json_each(flows) "
    check "$1 flows-counted" "$(counter "$db" warden_flows_total)" "$SIM_FLOWS" "warden_flows_total "
    check "$1 security-messages" "$(counter "$db" warden_messages_total 'kind="security"')" "$SIM_SECURITY" \
        "security messages "
    check "$1 events" "$(counter "$db" warden_events_total)" "$SIM_EVENTS" "warden_events_total "
    check "$1 no-loss" "$(counter "$db" warden_dead_letters_total)/$(counter "$db" warden_events_duplicate_total)" \
        "0/0" "dead letters/duplicates "
}

bench_ingest_flatbuffers() {
    d=$T/ingest-flatbuffers
    mkdir -p "$d"
    say "ingest, FlatBuffers: ceiling (broker + null_sub), $FB_COUNT messages"
    ceiling_broker flatbuffers "$FB_COUNT" "$d"
    FB_CEILING=$CEIL_RATE
    say "ingest, FlatBuffers: warden run"
    ingest_warden flatbuffers "$FB_COUNT" "$d"
    FB_WARDEN_FLOWS=$W_FLOWS_RATE
    check_ingest ingest-flatbuffers "$d"
    # Where the storing alone would stop: the same number of flow rows into
    # Warden's schema with nothing else to do (bench/sqlite_ceiling.c).
    say "ingest, FlatBuffers: ceiling (SQLite inserts alone), $SIM_FLOWS rows"
    "$BIN/sqlite_ceiling" "$d/sqlite.db" "$SIM_FLOWS" > "$d/sqlite_ceiling.json" 2> "$d/sqlite_ceiling.err" ||
        fail ingest-flatbuffers "sqlite_ceiling: $(tail -3 "$d/sqlite_ceiling.err")"
    check "ingest-flatbuffers sqlite-rows" "$(sq "$d/sqlite.db" 'SELECT count(*) FROM flow_pack, json_each(flows)')" "$SIM_FLOWS" \
        "sqlite_ceiling rows "
    per_msg=$(calc "$SIM_FLOWS / $SIM_PUBLISHED")
    figure "ingest, FlatBuffers" "messages/s" "$W_RATE" "msg/s" "broker + null subscriber" "$CEIL_RATE" "ratio>=0.8"
    figure "ingest, FlatBuffers" "flows/s" "$W_FLOWS_RATE" "flows/s" "broker + null subscriber" \
        "$(calc "$CEIL_RATE * $per_msg")" "ratio>=0.8"
    figure "ingest, FlatBuffers" "flows/s" "$W_FLOWS_RATE" "flows/s" "SQLite inserts alone, one core" \
        "$(jget "$d/sqlite_ceiling.json" rate)" "-"
    rm -f "$d/sqlite.db" "$d/sqlite.db-wal" "$d/sqlite.db-shm"
    echo "$W_HWM_KIB" > "$T/hwm-flatbuffers"
    raw ingest_flatbuffers.sim "$d/sim.json"
    raw ingest_flatbuffers.null_sub "$d/null_sub.json"
    raw ingest_flatbuffers.warden "$d/warden.json"
    raw ingest_flatbuffers.sqlite_ceiling "$d/sqlite_ceiling.json"
    FB_DB=$d/warden.db
}

bench_ingest_json() {
    d=$T/ingest-json
    mkdir -p "$d"
    say "ingest, JSON: ceiling (broker + null_sub), $JSON_COUNT messages"
    ceiling_broker json "$JSON_COUNT" "$d"
    # Jansson alone: json_ceiling captures the first JSON_SAMPLE messages of the
    # same sim command, then parses them on one core with the broker idle.
    say "ingest, JSON: ceiling (Jansson alone), $JSON_SAMPLE messages captured"
    start_broker "$d/broker-capture"
    "$BIN/json_ceiling" "$BROKER_PORT" "$JSON_SAMPLE" "$JSON_CPU" 10 > "$d/json_ceiling.json" 2> "$d/json_ceiling.err" &
    jc=$!
    track "$jc"
    wait_until 10 grep -q ready "$d/json_ceiling.err" || { fail ingest-json "json_ceiling did not subscribe"; exit 1; }
    timeout 900 "$WARDEN" sim --mqtt.port="$BROKER_PORT" $SIM_ARGS --format json --count "$JSON_SAMPLE" \
        > "$d/sim-capture.json" 2> "$d/sim-capture.err" || { fail ingest-json "sim failed"; exit 1; }
    wait "$jc" || fail ingest-json "json_ceiling failed: $(tail -3 "$d/json_ceiling.err")"
    stop "$jc"
    stop "$BROKER_PID"
    check "ingest-json parser-sample" "$(jget "$d/json_ceiling.json" captured)/$(jget "$d/json_ceiling.json" errors)" \
        "$JSON_SAMPLE/0" "json_ceiling captured/parse errors "
    JANSSON=$(jget "$d/json_ceiling.json" rate)

    say "ingest, JSON: warden run"
    ingest_warden json "$JSON_COUNT" "$d"
    check_ingest ingest-json "$d"
    lower=$(awk -v a="$CEIL_RATE" -v b="$JANSSON" 'BEGIN { print (a < b) ? a : b }')
    which=$(awk -v a="$CEIL_RATE" -v b="$JANSSON" 'BEGIN { print (a < b) ? "broker + null subscriber" : "Jansson alone" }')
    figure "ingest, JSON" "messages/s" "$W_RATE" "msg/s" "lower ceiling: $which" "$lower" "ratio>=0.7"
    figure "ingest, JSON" "messages/s" "$W_RATE" "msg/s" "broker + null subscriber" "$CEIL_RATE" "-"
    figure "ingest, JSON" "messages/s" "$W_RATE" "msg/s" "Jansson alone, one core" "$JANSSON" "-"
    figure "ingest, JSON" "flows/s" "$W_FLOWS_RATE" "flows/s" "-" "-" "-"
    echo "$W_HWM_KIB" > "$T/hwm-json"
    raw ingest_json.sim "$d/sim.json"
    raw ingest_json.null_sub "$d/null_sub.json"
    raw ingest_json.json_ceiling "$d/json_ceiling.json"
    raw ingest_json.warden "$d/warden.json"
}

# latency_run RATE DIR: `warden run` fed by bench/latency_pub.c at RATE
# messages a second; checks that every message arrived. Sets LAT (the JSON file).
latency_run() {
    mkdir -p "$2"
    start_broker "$2/broker"
    start_warden "$2"
    "$BIN/latency_pub" "$BROKER_PORT" "$2/warden.db" "$1" "$LAT_SECONDS" "$DEVICES" "$FLOWS" \
        > "$2/latency.json" 2> "$2/latency.err" || true
    stop "$WARDEN_PID"
    stop "$BROKER_PID"
    LAT=$2/latency.json
    published=$(jget "$LAT" published) || { fail ingest-latency "latency_pub: $(tail -3 "$2/latency.err")"; return 1; }
    check "ingest-latency $1/s seen" "$(jget "$LAT" seen)/$(jget "$LAT" extra)" "$published/0" \
        "messages seen in flow_pack/extra "
    check "ingest-latency $1/s flows-stored" "$(sq "$2/warden.db" 'SELECT count(*) FROM flow_pack, json_each(flows)')" \
        "$((published * FLOWS))" "count(*) FROM flow_pack, json_each(flows) "
}

# Publish-to-commit delay at half the FlatBuffers ceiling (messages a second),
# the issue's figure; and, to tell queueing from batching, at half the flows a
# second Warden itself reached.
bench_ingest_latency() {
    run_bench ingest_flatbuffers
    rate=$(awk -v c="$FB_CEILING" 'BEGIN { printf "%d", c / 2 }')
    say "ingest latency: $rate messages/s (half the FlatBuffers ceiling) for ${LAT_SECONDS}s"
    if latency_run "$rate" "$T/ingest-latency-ceiling"; then
        achieved=$(printf '%.0f' "$(jget "$LAT" rate)")
        figure "ingest latency" "publish->commit p99 at $achieved msg/s (ceiling / 2)" "$(jget "$LAT" p99_ms)" \
            "ms" "-" "-" "value<250"
        figure "ingest latency" "publish->commit p50" "$(jget "$LAT" p50_ms)" "ms" "-" "-" "-"
        figure "ingest latency" "publish->recv p99" "$(jget "$LAT" recv_p99_ms)" "ms" "-" "-" "-"
        figure "ingest latency" "recv->commit p99" "$(jget "$LAT" commit_p99_ms)" "ms" "-" "-" "-"
        raw ingest_latency.ceiling_half "$LAT"
    fi
    # In flows: every message here has 20, the simulator's 14 on average.
    rate=$(awk -v c="$FB_WARDEN_FLOWS" -v n="$FLOWS" 'BEGIN { printf "%d", c / 2 / n }')
    say "ingest latency: $rate messages/s (half Warden's FlatBuffers flows/s) for ${LAT_SECONDS}s"
    if latency_run "$rate" "$T/ingest-latency-warden"; then
        achieved=$(printf '%.0f' "$(jget "$LAT" rate)")
        figure "ingest latency" "publish->commit p99 at $achieved msg/s (Warden's flows/s / 2)" "$(jget "$LAT" p99_ms)" \
            "ms" "-" "-" "-"
        figure "ingest latency" "publish->commit p50" "$(jget "$LAT" p50_ms)" "ms" "-" "-" "-"
        figure "ingest latency" "recv->commit p99" "$(jget "$LAT" commit_p99_ms)" "ms" "-" "-" "-"
        raw ingest_latency.warden_half "$LAT"
    fi
}

# ---- storage -----------------------------------------------------------------------

# used_bytes DB: pages in use times page size.
used_bytes() {
    sq "$1" 'SELECT (SELECT page_count FROM pragma_page_count) * (SELECT page_size FROM pragma_page_size)
             - (SELECT freelist_count FROM pragma_freelist_count) * (SELECT page_size FROM pragma_page_size)'
}

# per_table DB FLOWS OUT: bytes per flow of each table and index (dbstat), as JSON.
per_table() {
    sq "$1" "SELECT name, sum(pgsize) FROM dbstat GROUP BY name HAVING sum(pgsize) > 4096 ORDER BY 2 DESC" |
        awk -F'|' -v n="$2" 'BEGIN { printf "{" } { printf "%s\"%s\": %.2f", (NR > 1 ? ", " : ""), $1, $2 / n }
            END { print "}" }' > "$3"
}

bench_storage() {
    # What the ingest benchmark left (the simulator's traffic, a few minutes of it);
    # first, as it sets d for itself.
    run_bench ingest_flatbuffers
    d=$T/storage
    mkdir -p "$d"
    flows=$(sq "$FB_DB" 'SELECT count(*) FROM flow_pack, json_each(flows)')
    figure "storage" "bytes/flow after the FlatBuffers ingest run" "$(calc "$(used_bytes "$FB_DB") / $flows")" \
        "bytes" "a flow on the wire" "$WIRE_BYTES" "-"

    # A simulated lab written through the store API (bench/storage_fill.c).
    say "storage: $FILL_HOURS simulated hours of $FILL_DEVICES devices through the store"
    "$BIN/storage_fill" "$d/warden.db" "$FILL_DEVICES" "$FILL_HOURS" "$FLOWS" > "$d/fill.out" 2> "$d/fill.err" ||
        { fail storage "storage_fill: $(tail -3 "$d/fill.err")"; return; }
    tail -n 1 "$d/fill.out" > "$d/fill.json"
    flows=$(jget "$d/fill.json" flows)
    check "storage flows-stored" "$(sq "$d/warden.db" 'SELECT count(*) FROM flow_pack, json_each(flows)')" "$flows" "count(*) FROM flow_pack, json_each(flows) "
    check "storage integrity" "$(sq "$d/warden.db" 'PRAGMA quick_check')" "ok" "quick_check "
    used=$(used_bytes "$d/warden.db")
    # A day is the hours written plus (24 - H) more hours of steady growth,
    # the growth of the last simulated hour (the dedup ids stop growing after
    # two hours; everything else grows with time).
    grep '"hour"' "$d/fill.out" > "$d/hours.json"
    hours=$(wc -l < "$d/hours.json")
    target="value<80"
    if [ "$hours" -ge 2 ]; then
        tail -n 1 "$d/hours.json" > "$d/last.json"
        tail -n 2 "$d/hours.json" | head -n 1 > "$d/prev.json"
        grow=$(($(jget "$d/last.json" used_bytes) - $(jget "$d/prev.json" used_bytes)))
        hour_flows=$(($(jget "$d/last.json" flows) - $(jget "$d/prev.json" flows)))
        figure "storage" "bytes/flow, a day of $FILL_DEVICES devices ($hours h written + $((24 - hours)) x the last hour)" \
            "$(calc "($used + (24 - $hours) * $grow) / ($flows + (24 - $hours) * $hour_flows)")" "bytes" \
            "a flow on the wire" "$WIRE_BYTES" "$target"
        figure "storage" "bytes/flow of the last hour's growth" "$(calc "$grow / $hour_flows")" "bytes" \
            "a flow on the wire" "$WIRE_BYTES" "-"
        target="-"
    fi
    figure "storage" "bytes/flow after $hours h of $FILL_DEVICES devices" "$(calc "$used / $flows")" "bytes" \
        "a flow on the wire" "$WIRE_BYTES" "$target"
    per_table "$d/warden.db" "$flows" "$d/tables.json"
    raw storage.fill "$d/fill.json"
    raw storage.bytes_per_flow_by_table "$d/tables.json"
}

# ---- memory ------------------------------------------------------------------------

# intel_list N: N distinct ranges, three IPv4 /24 to one IPv6 /48, one a line
# (the format `warden intel load` reads).
intel_list() {
    awk -v n="$1" 'BEGIN {
        for (i = 0; i < n; i++) {
            if (i % 4 == 3) { printf "2a%02x:%x::/48\n", int(i / 65536) % 256, i % 65536; continue }
            a = (i * 2654435761) % 16777216
            printf "%d.%d.%d.0/24\n", int(a / 65536), int(a / 256) % 256, a % 256
        }
    }'
}

evaluated() { [ "$(sq "$1" "SELECT value FROM evaluator_state WHERE key = 'passes_total'" 2> /dev/null)" -ge 1 ] 2> /dev/null; }

# Peak memory of `warden run` with the issue's fleet: MEM_DEVICES devices and
# a threat list of MEM_RANGES ranges loaded (the evaluator builds its matcher
# before the load starts), through a FlatBuffers ingest run of its own; and,
# for context, the VmHWM of the two ingest benchmarks (1,000 devices, no list).
bench_memory() {
    d=$T/memory
    mkdir -p "$d"
    say "memory: $MEM_DEVICES devices, a threat list of $MEM_RANGES ranges, $MEM_COUNT FlatBuffers messages"
    intel_list "$MEM_RANGES" > "$d/intel.txt"
    "$WARDEN" db migrate --db "$d/warden.db" > "$d/intel.log" 2>&1 &&
        "$WARDEN" intel load "$d/intel.txt" --name bench --db "$d/warden.db" >> "$d/intel.log" 2>&1 ||
        { fail memory "intel load: $(tail -3 "$d/intel.log")"; return; }
    check "memory ranges-loaded" "$(sq "$d/warden.db" 'SELECT count(*) FROM intel_ranges')" "$MEM_RANGES" \
        "intel_ranges rows "
    start_broker "$d/broker"
    start_warden "$d"
    # The first pass comes at once; it builds the matcher from the list.
    wait_until 120 evaluated "$d/warden.db" || fail memory "no evaluator pass in 120 s: $(tail -3 "$d/warden.log")"
    before=$(vm_hwm "$WARDEN_PID")
    timeout 900 "$WARDEN" sim --mqtt.port="$BROKER_PORT" --rate max --flows "$FLOWS" --devices "$MEM_DEVICES" \
        --format flatbuffers --count "$MEM_COUNT" > "$d/sim.json" 2> "$d/sim.err" ||
        { fail memory "sim failed: $(tail -3 "$d/sim.err")"; exit 1; }
    published=$(jget "$d/sim.json" published)
    wait_stored "$d/warden.db" "$published" ||
        fail memory "Warden stored $(sq "$d/warden.db" "$MSGS_SQL") of $published messages in ${WAIT_MAX}s"
    hwm=$(vm_hwm "$WARDEN_PID")
    stop "$WARDEN_PID"
    stop "$BROKER_PID"
    check "memory messages" "$(sq "$d/warden.db" "$MSGS_SQL")" "$published" "Warden counted "
    check "memory devices" "$(sq "$d/warden.db" 'SELECT count(*) FROM devices')" "$MEM_DEVICES" "devices rows "
    check "memory flows-stored" "$(sq "$d/warden.db" 'SELECT count(*) FROM flow_pack, json_each(flows)')" "$(jget "$d/sim.json" flows)" \
        "count(*) FROM flow_pack, json_each(flows) "
    printf '{"devices": %s, "ranges": %s, "messages": %s, "vm_hwm_kib_before_load": %s, "vm_hwm_kib": %s}\n' \
        "$MEM_DEVICES" "$MEM_RANGES" "$published" "$before" "$hwm" > "$d/memory.json"
    raw memory "$d/memory.json"
    figure "memory" "peak RSS of warden run, $MEM_DEVICES devices, $MEM_RANGES-range list, FlatBuffers ingest" \
        "$(calc "$hwm / 1024")" "MiB" "-" "-" "value<$RSS_TARGET_MIB"
    figure "memory" "the same before the ingest (list loaded, matcher built)" "$(calc "$before / 1024")" \
        "MiB" "-" "-" "-"
    rm -f "$d/warden.db" "$d/warden.db-wal" "$d/warden.db-shm" "$d/intel.txt"
    if [ -s "$T/hwm-flatbuffers" ]; then
        figure "memory" "peak RSS of warden run, FlatBuffers ingest ($DEVICES devices, no list)" \
            "$(calc "$(cat "$T/hwm-flatbuffers") / 1024")" "MiB" "-" "-" "-"
    fi
    if [ -s "$T/hwm-json" ]; then
        figure "memory" "peak RSS of warden run, JSON ingest ($DEVICES devices, no list)" \
            "$(calc "$(cat "$T/hwm-json") / 1024")" "MiB" "-" "-" "-"
    fi
}

# ---- web ---------------------------------------------------------------------------

# to_ms VALUE: a wrk duration (12.5us, 3.2ms, 1.1s, 2m) in milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        if (v ~ /us$/) printf "%.4g", substr(v, 1, length(v) - 2) / 1000
        else if (v ~ /ms$/) printf "%.4g", substr(v, 1, length(v) - 2)
        else if (v ~ /m$/) printf "%.4g", substr(v, 1, length(v) - 1) * 60000
        else if (v ~ /s$/) printf "%.4g", substr(v, 1, length(v) - 1) * 1000
        else printf "0"
    }'
}

# wrk_run NAME URL [SCRIPT]: the issue's wrk settings (32 connections) for
# WRK_SECONDS, with a wrk Lua script if given. Sets RPS, P50, P99 (ms); checks
# that every answer was a 2xx and no socket failed; keeps the summary as JSON
# for latest.json.
wrk_run() {
    wrk -c 32 -t 2 -d "${WRK_SECONDS}s" --latency ${3:+-s "$3"} "$2" > "$d/$1.wrk" 2>&1 ||
        fail "web $1" "wrk failed: $(tail -3 "$d/$1.wrk")"
    RPS=$(awk '/^Requests\/sec:/ { print $2 }' "$d/$1.wrk")
    P50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$d/$1.wrk")")
    P99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$d/$1.wrk")")
    n=$(awk '/requests in/ { print $1 }' "$d/$1.wrk")
    bad=$(awk '/Non-2xx/ { n += $NF } /Socket errors/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' \
        "$d/$1.wrk")
    check "web $1" "$bad" 0 "$n requests, failed or not 2xx: "
    RPS=${RPS:-0}
    printf '{"url": "%s", "requests": %s, "rps": %s, "p50_ms": %s, "p99_ms": %s}\n' "$2" "${n:-0}" "$RPS" \
        "${P50:-0}" "${P99:-0}" > "$d/$1.json"
    raw "web.$1" "$d/$1.json"
}

# ceiling_run NAME FILE URL_PATH: wrk against bench/http_ceiling serving FILE.
ceiling_run() {
    port=$(free_port)
    "$BIN/http_ceiling" "$port" "$2" > "$d/$1.out" 2> "$d/$1.err" &
    hc=$!
    track "$hc"
    wait_until 10 listening "$port" || { fail "web $1" "http_ceiling did not listen"; return; }
    wrk_run "$1" "http://127.0.0.1:$port$3"
    stop "$hc"
}

# GET /api/v1/alerts?limit=100 and / with WEB_ALERTS alerts stored, under wrk
# -c 32, alone and while `warden sim` publishes at half the FlatBuffers
# ceiling; beside a bare evhttp server answering with the same bytes.
bench_web() {
    run_bench ingest_flatbuffers
    d=$T/web
    mkdir -p "$d"
    say "web: $WEB_ALERTS alerts of $WEB_DEVICES devices, written into Warden's tables"
    "$WARDEN" db migrate --db "$d/warden.db" > "$d/fill.log" 2>&1 &&
        sqlite3 -batch "$d/warden.db" ".parameter set @n $WEB_ALERTS" ".parameter set @devices $WEB_DEVICES" \
            ".parameter set @active 500" ".parameter set @now $(date +%s)000" ".read bench/web_fill.sql" \
            >> "$d/fill.log" 2>&1 || { fail web "fill: $(tail -3 "$d/fill.log")"; return; }
    check "web alerts-stored" "$(sq "$d/warden.db" 'SELECT count(*) FROM alerts')" "$WEB_ALERTS" "alerts rows "
    start_broker "$d/broker"
    start_warden "$d"
    wait_until 20 listening "$WEB_PORT" || { fail web "the web server did not listen"; return; }
    base="http://127.0.0.1:$WEB_PORT"
    api="$base/api/v1/alerts?limit=100"
    curl -sf "$api" > "$d/api.json" || fail web "GET $api failed"
    curl -sf "$base/" > "$d/overview.html" || fail web "GET / failed"
    # The answer is what it claims: 100 alerts, the newest first, and a next page.
    check "web api-items" "$(sq "$d/warden.db" "SELECT json_array_length(readfile('$d/api.json'), '\$.items')")" 100 \
        "alerts in the API's answer "
    check "web api-newest" \
        "$(sq "$d/warden.db" "SELECT json_extract(readfile('$d/api.json'), '\$.items[0].alert_id')")" \
        "$(sq "$d/warden.db" 'SELECT max(alert_id) FROM alerts')" "first alert_id "
    check "web api-cursor" \
        "$(sq "$d/warden.db" "SELECT json_extract(readfile('$d/api.json'), '\$.next_cursor') IS NOT NULL")" 1 \
        "next_cursor set "
    check "web overview-page" "$(grep -c '<h1>Overview</h1>' "$d/overview.html")" 1 "overview heading "
    api_bytes=$(wc -c < "$d/api.json")
    page_bytes=$(wc -c < "$d/overview.html")

    say "web: the ceiling (bare evhttp, the same $api_bytes and $page_bytes bytes), wrk -c 32 ${WRK_SECONDS}s each"
    ceiling_run ceiling-api "$d/api.json" /api/v1/alerts
    C_API_RPS=$RPS C_API_P50=$P50 C_API_P99=$P99
    ceiling_run ceiling-overview "$d/overview.html" /
    C_PAGE_RPS=$RPS C_PAGE_P50=$P50

    say "web: Warden alone"
    wrk_run api-alone "$api"
    figure "web" "GET /api/v1/alerts?limit=100 ($api_bytes bytes), alone" "$RPS" "req/s" "bare evhttp" "$C_API_RPS" "-"
    figure "web" "the same, p50" "$P50" "ms" "bare evhttp" "$C_API_P50" "-"
    figure "web" "the same, p99" "$P99" "ms" "bare evhttp" "$C_API_P99" "-"
    # Warden keeps the last page while the database is unchanged; with a page no
    # request asked for before (bench/web_fresh.lua), every answer is written anew.
    wrk_run api-fresh-alone "$api" bench/web_fresh.lua
    figure "web" "the same, each request a page not asked before (written anew), alone" "$RPS" "req/s" \
        "bare evhttp" "$C_API_RPS" "-"
    figure "web" "the same, p99" "$P99" "ms" "bare evhttp" "$C_API_P99" "-"
    wrk_run overview-alone "$base/"
    figure "web" "GET / (overview, $page_bytes bytes), alone" "$RPS" "req/s" "bare evhttp" "$C_PAGE_RPS" "-"
    figure "web" "the same, p50" "$P50" "ms" "bare evhttp" "$C_PAGE_P50" "value<50"

    rate=$(awk -v c="$FB_CEILING" 'BEGIN { printf "%d", c / 2 }')
    secs=$((3 * WRK_SECONDS + 4))
    say "web: Warden while ingesting $rate msg/s (half the FlatBuffers ceiling) for ${secs}s"
    before=$(sq "$d/warden.db" "$MSGS_SQL")
    timeout 900 "$WARDEN" sim --mqtt.port="$BROKER_PORT" --rate "$rate" --flows "$FLOWS" --devices "$DEVICES" \
        --format flatbuffers --duration "$secs" > "$d/sim.json" 2> "$d/sim.err" &
    sp=$!
    track "$sp"
    sleep 2
    wrk_run api-ingest "$api"
    API_RPS=$RPS API_P99=$P99 API_P50=$P50
    wrk_run api-fresh-ingest "$api" bench/web_fresh.lua
    FRESH_RPS=$RPS FRESH_P99=$P99
    wrk_run overview-ingest "$base/"
    PAGE_RPS=$RPS PAGE_P50=$P50
    wait "$sp" || fail web "sim failed: $(tail -3 "$d/sim.err")"
    stop "$sp"
    published=$(jget "$d/sim.json" published)
    wait_stored "$d/warden.db" $((before + published)) ||
        fail web "Warden stored $(sq "$d/warden.db" "$MSGS_SQL") of $published messages"
    stop "$WARDEN_PID"
    stop "$BROKER_PID"
    check "web ingest-stored" "$(($(sq "$d/warden.db" "$MSGS_SQL") - before))" "$published" \
        "messages Warden counted during the load "
    load=$(printf '%.0f' "$(jget "$d/sim.json" rate)")
    figure "web" "GET /api/v1/alerts?limit=100, while ingesting $load msg/s" "$API_RPS" "req/s" "bare evhttp" \
        "$C_API_RPS" "value>=3000"
    figure "web" "the same, p50" "$API_P50" "ms" "bare evhttp" "$C_API_P50" "-"
    figure "web" "the same, p99" "$API_P99" "ms" "bare evhttp" "$C_API_P99" "value<50"
    figure "web" "the same, each request a page not asked before (written anew), while ingesting" \
        "$FRESH_RPS" "req/s" "bare evhttp" "$C_API_RPS" "-"
    figure "web" "the same, p99" "$FRESH_P99" "ms" "bare evhttp" "$C_API_P99" "-"
    figure "web" "GET / (overview), while ingesting" "$PAGE_RPS" "req/s" "bare evhttp" "$C_PAGE_RPS" "-"
    figure "web" "the same, p50" "$PAGE_P50" "ms" "bare evhttp" "$C_PAGE_P50" "value<50"
    raw web.sim "$d/sim.json"
    rm -f "$d/warden.db" "$d/warden.db-wal" "$d/warden.db-shm"
}

# ---- running and reporting ---------------------------------------------------------

# run_bench NAME: run bench_NAME once; a benchmark that needs another's figures calls this.
# The load average before each benchmark goes into latest.json: other work on
# the machine lowers the figures, the ceilings' and Warden's at different times.
# ---- evaluator and threat intelligence ---------------------------------------------

# eval_run DEVICES DAYS RANGES: one eval_bench run; its JSON line in $T/eval-DAYS.json.
eval_run() {
    say "evaluator: $1 devices, $2 days of history, $3 ranges (synthesising)"
    "$BIN/eval_bench" "$T/eval.db" "$1" "$2" "$3" > "$T/eval-$2.json" 2> "$T/eval-$2.log" ||
        fail "evaluator $2 days" "eval_bench failed: $(tail -2 "$T/eval-$2.log")"
    rm -f "$T/eval.db" "$T/eval.db-wal" "$T/eval.db-shm"
    raw "evaluator-$2d" "$T/eval-$2.json"
    check "evaluator $2 days: no alerts from a fleet inside its rules" "$(jget "$T/eval-$2.json" alerts)" 0
}

# evaluator_figures SHORT LONG DEVICES: the pass times and their ratio.
evaluator_figures() {
    short=$(jget "$T/eval-$1.json" pass_ms)
    long=$(jget "$T/eval-$2.json" pass_ms)
    figure "evaluator" "pass, $3 devices, every rule, $EVAL_RANGES ranges, $1 days of history ($(jget "$T/eval-$1.json" count_rows) count rows)" \
        "$short" "ms" "-" "-" "value<1000"
    figure "evaluator" "pass, $2 days of history ($(jget "$T/eval-$2.json" count_rows) count rows), against the $1-day pass" \
        "$long" "ms" "the $1-day pass" "$short" "value<1000"
    # Judged on the passes' CPU time: their wall time is stretched by whatever else
    # runs on the machine, at different moments for the two passes.
    check "evaluator: longer history within 1.2x (CPU time)" \
        "$(awk -v a="$(jget "$T/eval-$2.json" pass_cpu_ms)" -v b="$(jget "$T/eval-$1.json" pass_cpu_ms)" \
            'BEGIN { print (a <= 1.2 * b + 20) ? "yes" : "no" }')" yes
}

bench_evaluator() {
    set -- $EVAL_DAYS
    eval_run "$EVAL_DEVICES" "$1" "$EVAL_RANGES"
    eval_run "$EVAL_DEVICES" "$2" "$EVAL_RANGES"
    evaluator_figures "$1" "$2" "$EVAL_DEVICES"
}

bench_evaluator_days() {
    eval_run 10000 1 1000000
    eval_run 10000 7 1000000
    evaluator_figures 1 7 10000
}

bench_intel() {
    "$BIN/intel_bench" "$INTEL_RANGES" "$INTEL_SECONDS" > "$T/intel.json" 2> "$T/intel.log" ||
        fail "intel" "intel_bench failed: $(tail -2 "$T/intel.log")"
    raw "intel" "$T/intel.json"
    check "intel matcher built every range" "$(jget "$T/intel.json" ranges)" "$INTEL_RANGES"
    figure "intel matcher" "lookups/s, $INTEL_RANGES ranges, random IPv4 and IPv6" \
        "$(jget "$T/intel.json" lookups_per_s)" "lookups/s" "binary search over the sorted ranges" \
        "$(jget "$T/intel.json" ceiling_lookups_per_s)" "ratio>=1"
    figure "intel matcher" "memory for $INTEL_RANGES ranges" \
        "$(calc "$(jget "$T/intel.json" memory_bytes) / 1048576")" "MiB" "-" "-" "-"
}

# ---- the lab hub plugin ------------------------------------------------------------

# What the lab hub plugin (broker/plugin.c) costs the broker: bench/hub_bench.c
# (devices logged in as on IoT Hub, publishing QoS 1 to a service subscriber)
# against a fresh broker with the plugin and one without it, the same
# credentials sent to both, in HUB_ROUNDS rounds of alternating order. The
# first run of a round tends to be the faster (by up to 10% on a busy
# machine), so the full run has an even number: each order as often.
if [ "$QUICK" = 1 ]; then
    HUB_DEVICES=4 HUB_PER_DEVICE=500 HUB_ROUNDS=1
else
    HUB_DEVICES=8 HUB_PER_DEVICE=20000 HUB_ROUNDS=6
fi
HUB_BYTES=600            # about a FlatBuffers security message
HUB_WINDOW=100           # unacknowledged messages a device may have

# cpu_ticks PID: user + system clock ticks a process has used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# median: of the numbers on stdin, one a line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# hub_run plugin|none ROUND DIR: one hub_bench run against a fresh broker; its
# JSON line, with the broker's CPU microseconds per message, in DIR/MODE-ROUND.json.
hub_run() {
    hr=$3/$1-$2
    if [ "$1" = plugin ]; then
        HUB_PLUGIN=$HUB_SO HUB_KEYS=$3/warden-hub.keys
        export HUB_PLUGIN HUB_KEYS
        start_broker "$hr"
        unset HUB_PLUGIN HUB_KEYS
    else
        start_broker "$hr"
    fi
    before=$(cpu_ticks "$BROKER_PID")
    "$BIN/hub_bench" "$BROKER_PORT" "$3/warden-hub.keys" "$HUB_DEVICES" "$HUB_PER_DEVICE" "$HUB_BYTES" \
        "$HUB_WINDOW" > "$hr.out" 2> "$hr.err" || fail "hub-plugin $1-$2" "hub_bench: $(tail -3 "$hr.err")"
    ticks=$(($(cpu_ticks "$BROKER_PID") - before))
    stop "$BROKER_PID"
    want=$((HUB_DEVICES * HUB_PER_DEVICE))
    received=$(jget "$hr.out" received) || received=0
    check "hub-plugin $1-$2 received" "$received/$(jget "$hr.out" duplicates)" "$want/0" \
        "the service subscriber received/duplicates "
    if [ "$1" = plugin ]; then
        # The plugin decided every login: it loaded the key store and refused nobody.
        check "hub-plugin $1-$2 plugin-loaded" "$(grep -c 'warden_hub: key store loaded' "$hr/mosquitto.log")" 1 \
            "key store loads in the broker's log "
        check "hub-plugin $1-$2 refusals" "$(grep -c 'warden_hub: refused' "$hr/mosquitto.log")" 0 \
            "refusals in the broker's log "
    fi
    [ -s "$hr.out" ] || return 0
    sed "s/}\$/, \"broker_cpu_us_per_msg\": $(calc "$ticks * 1000000 / $(getconf CLK_TCK) / $want")}/" \
        "$hr.out" > "$hr.json"
    raw "hub_plugin.$1-$2" "$hr.json"
}

bench_hub_plugin() {
    d=$T/hub-plugin
    mkdir -p "$d"
    case $B in /*) HUB_SO=$B/warden_hub.so ;; *) HUB_SO=$HERE/$B/warden_hub.so ;; esac
    for f in "$HUB_SO" "$BIN/hub_bench"; do
        [ -e "$f" ] || { fail hub-plugin "$f is missing: run make B=$B all bench"; return; }
    done
    # The devices, registered as `warden registry import` registers them; the
    # key store it writes beside the database is what the plugin reads.
    awk -v n="$HUB_DEVICES" 'BEGIN { printf "[" }
        { printf "%s{\"deviceId\": \"bench-%03d\", \"authentication\": {\"type\": \"sas\", \"symmetricKey\": {\"primaryKey\": \"%s\"}}}\n",
            (NR > 1 ? "," : ""), NR, $1 } END { print "]" }' <<KEYS > "$d/registry.json"
$(i=0; while [ $i -lt "$HUB_DEVICES" ]; do head -c 32 /dev/urandom | base64 -w 0; echo; i=$((i + 1)); done)
KEYS
    "$WARDEN" registry import "$d/registry.json" --db "$d/warden.db" > "$d/registry.log" 2>&1 ||
        { fail hub-plugin "registry import: $(tail -3 "$d/registry.log")"; return; }
    check "hub-plugin registered" "$(grep -c '^device' "$d/warden-hub.keys")" "$HUB_DEVICES" "devices in the key store "
    say "hub plugin: $HUB_DEVICES devices x $HUB_PER_DEVICE QoS 1 messages of $HUB_BYTES bytes, with and without the plugin, $HUB_ROUNDS rounds"
    r=1
    while [ $r -le "$HUB_ROUNDS" ]; do
        if [ $((r % 2)) = 1 ]; then order="plugin none"; else order="none plugin"; fi
        for mode in $order; do hub_run "$mode" "$r" "$d"; done
        r=$((r + 1))
    done
    for mode in plugin none; do
        eval "HUB_RATE_$mode=\$(for f in \"\$d\"/$mode-*.json; do jget \"\$f\" rate; done | median)"
        eval "HUB_CPU_$mode=\$(for f in \"\$d\"/$mode-*.json; do jget \"\$f\" broker_cpu_us_per_msg; done | median)"
    done
    what="$HUB_DEVICES devices x $HUB_PER_DEVICE msgs of $HUB_BYTES bytes, QoS 1, median of $HUB_ROUNDS"
    figure "hub plugin" "messages/s through the lab hub plugin, $what" "$HUB_RATE_plugin" "msg/s" \
        "the same broker without the plugin" "$HUB_RATE_none" "ratio>=0.9"
    figure "hub plugin" "broker CPU per message with the plugin" "$HUB_CPU_plugin" "us" \
        "without the plugin" "$HUB_CPU_none" "-"
    # The two runs of a round are next to each other in time: their ratio
    # suffers less from load that comes and goes than the ratio of the medians.
    r=1
    while [ $r -le "$HUB_ROUNDS" ]; do
        calc "$(jget "$d/plugin-$r.json" rate) / $(jget "$d/none-$r.json" rate)" 2> /dev/null || printf 0
        echo
        r=$((r + 1))
    done > "$d/ratios"
    figure "hub plugin" "rate with / without the plugin, median of the rounds' own ratios" \
        "$(median < "$d/ratios")" "x" "-" "-" "-"
}

run_bench() {
    grep -qx "$1" "$T/done" && return 0
    echo "$1" >> "$T/done"
    printf 'loadavg_before.%s\t"%s"\n' "$1" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$T/raw.tsv"
    "bench_$1"
}

machine() {
    CPU=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    MEM_MIB=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
    NPROC=$(nproc)
    DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
    COMMIT=$(git rev-parse --short HEAD 2> /dev/null || echo unknown)
    git diff --quiet HEAD 2> /dev/null || COMMIT="$COMMIT+changes"
    LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
    VERSIONS="$(mosquitto -h 2> /dev/null | awk 'NR == 1 { print $1, $3 }'), SQLite $(sqlite3 --version | awk '{ print $1 }')"
}

# The table, for people: every figure, its ceiling, the ratio, the target.
print_table() {
    awk -F'\t' -v md="$1" '
    function fmt(v) {
        if (v == "-" || v == "") return "-"
        if (v + 0 >= 1000) { s = sprintf("%.0f", v); o = ""
            while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) }
            return s o }
        if (v + 0 >= 100) return sprintf("%.0f", v)
        return sprintf("%.3g", v)
    }
    function target(t) {
        if (t ~ /^ratio>=/) return ">= " substr(t, 8) " x ceiling"
        if (t ~ /^value</) return "< " substr(t, 7)
        if (t ~ /^value>=/) return ">= " substr(t, 8)
        return "-"
    }
    {
        ceil = ($5 == "-") ? "-" : $5 " " fmt($6)
        row[NR] = $1 "\t" $2 "\t" fmt($3) " " $4 "\t" ceil "\t" ($7 == "-" ? "-" : sprintf("%.2f", $7)) "\t" target($8) "\t" $9
    }
    END {
        head = "benchmark\tfigure\tWarden\tceiling\tratio\ttarget\tresult"
        n = split(head, h, "\t")
        for (i = 1; i <= n; i++) w[i] = length(h[i])
        for (r = 1; r <= NR; r++) { split(row[r], c, "\t"); for (i = 1; i <= n; i++) if (length(c[i]) > w[i]) w[i] = length(c[i]) }
        if (md) {
            print "| " gensub_tab(head) " |"
            line = "|"; for (i = 1; i <= n; i++) line = line (i >= 3 && i <= 5 ? "---:|" : "---|"); print line
            for (r = 1; r <= NR; r++) print "| " gensub_tab(row[r]) " |"
        } else {
            for (i = 1; i <= n; i++) printf "%-*s%s", w[i], h[i], (i < n ? "  " : "\n")
            for (r = 1; r <= NR; r++) { split(row[r], c, "\t"); for (i = 1; i <= n; i++) printf "%-*s%s", w[i], c[i], (i < n ? "  " : "\n") }
        }
    }
    function gensub_tab(s) { gsub(/\t/, " | ", s); return s }
    ' "$T/figures.tsv"
}

jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }

write_json() {
    {
        printf '{\n  "date": %s,\n  "commit": %s,\n  "quick": %s,\n' "$(jstr "$DATE")" "$(jstr "$COMMIT")" \
            "$([ "$QUICK" = 1 ] && echo true || echo false)"
        printf '  "machine": {"nproc": %s, "cpu": %s, "memory_mib": %s, "software": %s,\n' \
            "$NPROC" "$(jstr "$CPU")" "$MEM_MIB" "$(jstr "$VERSIONS")"
        printf '              "loadavg_start": %s, "loadavg_end": %s},\n' "$(jstr "$LOAD_START")" "$(jstr "$LOAD_END")"
        printf '  "seconds": %s,\n' "$ELAPSED"
        printf '  "figures": [\n'
        awk -F'\t' '
            function q(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
            function n(v) { return (v == "-" || v == "") ? "null" : sprintf("%.6g", v) }
            { printf "%s    {\"benchmark\": %s, \"figure\": %s, \"value\": %s, \"unit\": %s, \"ceiling\": %s, \"ceiling_value\": %s, \"ratio\": %s, \"target\": %s, \"result\": %s}",
                (NR > 1 ? ",\n" : ""), q($1), q($2), n($3), q($4), ($5 == "-" ? "null" : q($5)), n($6), n($7),
                ($8 == "-" ? "null" : q($8)), q($9) }
            END { print "" }' "$T/figures.tsv"
        printf '  ],\n  "checks": [\n'
        awk -F'\t' 'function q(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
            { printf "%s    {\"check\": %s, \"result\": %s, \"detail\": %s}", (NR > 1 ? ",\n" : ""), q($2), q($1), q($3) }
            END { print "" }' "$T/checks.tsv"
        printf '  ],\n  "raw": {\n'
        awk -F'\t' '{ printf "%s    \"%s\": %s", (NR > 1 ? ",\n" : ""), $1, $2 } END { print "" }' "$T/raw.tsv"
        printf '  }\n}\n'
    } > "$1"
}

write_md() {
    {
        echo "# Warden benchmarks"
        echo
        echo "$DATE, commit $COMMIT, \`$CMDLINE\`."
        echo "Machine: $NPROC cores, $CPU, $MEM_MIB MiB of memory; $VERSIONS;"
        echo "load average $LOAD_START at the start, $LOAD_END at the end; the run took $ELAPSED s."
        echo
        print_table 1
        echo
        echo "Ratios are Warden's figure divided by the ceiling measured in the same run"
        echo "(for storage: bytes per flow over the bytes a flow takes on the wire)."
        echo "Checks: $(grep -c '^ok' "$T/checks.tsv") passed, $(grep -c '^FAIL' "$T/checks.tsv") failed"
        echo "(counts reported against the rows in the database; see latest.json)."
        echo "What each figure measures and how to reproduce it: bench/README.md."
    } > "$1"
}

main() {
    started=$(date +%s)
    machine
    if awk -v l="${LOAD_START%% *}" -v n="$NPROC" 'BEGIN { exit !(l > n / 2) }'; then
        say "the machine is busy (load average $LOAD_START on $NPROC cores): expect low figures"
    fi
    list=${SELECTED:-$BENCHES}
    for b in $list; do
        case " $BENCHES $EXTRA_BENCHES " in *" $b "*) ;; *) echo "bench: unknown benchmark $b" >&2; exit 2 ;; esac
    done
    for b in $list; do run_bench "$b"; done
    LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
    ELAPSED=$(($(date +%s) - started))

    if [ "$QUICK" = 0 ] && [ -z "$SELECTED" ]; then
        out=bench/results
        CMDLINE="make bench"
    else
        out=$B/bench-results
        CMDLINE="sh bench/run.sh $*"
    fi
    mkdir -p "$out"
    write_json "$out/latest.json"
    write_md "$out/latest.md"
    echo
    echo "Warden benchmarks, $DATE, $NPROC cores, $CPU$([ "$QUICK" = 1 ] && echo ', quick sizes')"
    print_table 0
    echo
    echo "checks: $(grep -c '^ok' "$T/checks.tsv") ok, $NFAIL FAIL; $ELAPSED s; load average $LOAD_START -> $LOAD_END;"
    echo "results in $out/latest.json and latest.md"
    [ "$NFAIL" -eq 0 ] || { echo "FAIL: $NFAIL checks failed"; exit 1; }
}

# On one line, so that the shell reads nothing after main returns (the file may
# have been edited meanwhile).
main "$@"; exit
